//! The classifier under audit: the model, its adapter (given, the zoo's, guessed from the
//! model or bundled), whether the data's classes line up with it, and the pre-flight check.

use super::Args;
use crate::adapter::Adapter;
use crate::cli::check;
use crate::data::Dataset;
use anyhow::{bail, Context, Result};
use candle_core::Device;
use std::path::{Path, PathBuf};

/// The classifier under audit, as the training config and the pre-flight need it.
pub(super) struct Target {
    /// `classifier.adapter` and `classifier.model` of the training config.
    pub(super) adapter_config: String,
    pub(super) model_config: Option<String>,
    pub(super) adapter: Adapter,
    /// How the adapter was found (given, zoo, guessed, bundled).
    pub(super) adapter_origin: &'static str,
    /// A guessed adapter's TOML, written into the run directory.
    pub(super) guessed_toml: Option<String>,
    /// The ONNX file the pre-flight checks (None: bundled, written out for the check).
    pub(super) model_file: Option<PathBuf>,
}

fn absolute(p: &Path) -> Result<PathBuf> {
    std::fs::canonicalize(p).with_context(|| format!("{}: cannot resolve the path", p.display()))
}

/// `announce`: say which adapter was guessed and where it is written (the audit does; `bench`,
/// which has said it already, does not).
pub(super) fn resolve_target(args: &Args, run_dir: &Path, announce: bool) -> Result<Target> {
    if let Some(name) = args.model.strip_prefix("embedded:") {
        if args.adapter.is_some() {
            bail!(
                "{}: the bundled classifiers carry their adapters; drop --adapter",
                args.model
            );
        }
        let m = crate::embedded::bundled_model(name)?;
        let adapter = Adapter::from_toml_str_in(m.adapter_toml, m.file, Path::new("adapters"))?;
        return Ok(Target {
            adapter_config: args.model.clone(),
            model_config: None,
            adapter,
            adapter_origin: "bundled",
            guessed_toml: None,
            model_file: None,
        });
    }
    let resolved = crate::zoo::resolve_model_arg(&args.model)?;
    let model_path = absolute(&resolved.path)?;
    let model = crate::onnx::OnnxModel::load(&model_path, &Device::Cpu)
        .with_context(|| format!("loading {}", model_path.display()))?;
    let given = args
        .adapter
        .as_ref()
        .map(|p| (p, "given"))
        .or(resolved.adapter.as_ref().map(|p| (p, "zoo")));
    if let Some((path, origin)) = given {
        let adapter = Adapter::load(path)?;
        adapter.validate_against(&model)?;
        return Ok(Target {
            adapter_config: absolute(path)?.display().to_string(),
            model_config: Some(model_path.display().to_string()),
            adapter,
            adapter_origin: origin,
            guessed_toml: None,
            model_file: Some(model_path),
        });
    }
    let guess = crate::cli::adapter_guess::guess_adapter(&model, &model_path)?;
    guess.adapter.validate_against(&model)?;
    // Absolute, so that the run resumes and evaluates from any directory.
    let written = std::env::current_dir()?.join(run_dir).join("adapter.toml");
    if announce {
        eprintln!("{} (used here: {})", guess.summary, written.display());
    }
    Ok(Target {
        adapter_config: written.display().to_string(),
        model_config: Some(model_path.display().to_string()),
        adapter: guess.adapter,
        adapter_origin: "guessed",
        guessed_toml: Some(guess.toml),
        model_file: Some(model_path),
    })
}

fn is_index_names(names: &[String]) -> bool {
    names.iter().enumerate().all(|(i, n)| n == &i.to_string())
}

/// Training pairs data label i with classifier class i. Data whose classes carry the
/// classifier's names are put in the classifier's order, and a class the data lack entirely is
/// accepted when it is one of `unseen` (indices into `clf`): no data for it is the point of the
/// audit, so no empty folder is needed. Unnamed (index) classes must already agree in count.
pub(super) fn align_classes(
    data: Dataset,
    clf: &[String],
    unseen: &[usize],
    data_spec: &str,
) -> Result<Dataset> {
    let d = &data.class_names;
    let same = |a: &String, b: &String| a.eq_ignore_ascii_case(b);
    if d.len() == clf.len() && (is_index_names(d) || is_index_names(clf)) {
        return Ok(data);
    }
    if d.len() == clf.len() && d.iter().zip(clf).all(|(a, b)| same(a, b)) {
        return Ok(data);
    }
    let position: Vec<Option<usize>> = d
        .iter()
        .map(|n| clf.iter().position(|c| same(c, n)))
        .collect();
    let unknown: Vec<&str> = d
        .iter()
        .zip(&position)
        .filter(|(_, p)| p.is_none())
        .map(|(n, _)| n.as_str())
        .collect();
    if !unknown.is_empty() || is_index_names(d) {
        bail!(
            "--data {data_spec} has {} classes ({}) and the classifier {}{}; \
             name the data's classes after the classifier's, or give an adapter whose [classes] \
             subset picks the data's classes from the model's (start from \
             `probegan adapter init MODEL > my.toml`)",
            d.len(),
            d.join(", "),
            clf.len(),
            if unknown.is_empty() || is_index_names(clf) {
                String::new()
            } else {
                format!(
                    "; not among the classifier's classes: {}",
                    unknown.join(", ")
                )
            }
        );
    }
    let missing: Vec<&str> = (0..clf.len())
        .filter(|c| !position.contains(&Some(*c)) && !unseen.contains(c))
        .map(|c| clf[c].as_str())
        .collect();
    if !missing.is_empty() {
        let shown: Vec<&str> = missing.iter().take(8).copied().collect();
        bail!(
            "--data {data_spec} has no images of {} classifier class(es) that are not --unseen \
             ({}{}); add their images, name them with --unseen, or give an adapter whose \
             [classes] subset keeps only the classes you audit",
            missing.len(),
            shown.join(", "),
            if missing.len() > shown.len() {
                ", …"
            } else {
                ""
            }
        );
    }
    let mut aligned = data;
    for l in aligned.labels.iter_mut() {
        *l = position[*l as usize].expect("every data class was found above") as u32;
    }
    aligned.class_names = clf.to_vec();
    Ok(aligned)
}

/// The pre-flight: `check`'s rows for the model (a bundled one is written out for it).
pub(super) fn preflight(
    target: &Target,
    args: &Args,
    run_dir: &Path,
    device: &Device,
) -> Result<()> {
    let scratch = run_dir.join("preflight");
    let (model, adapter) = match &target.model_file {
        Some(m) => {
            let adapter = match target.adapter_origin {
                "guessed" => Some(PathBuf::from(&target.adapter_config)),
                _ => target.adapter.origin.clone(),
            };
            (m.clone(), adapter)
        }
        None => {
            let name = args.model.trim_start_matches("embedded:");
            let m = crate::embedded::bundled_model(name)?;
            std::fs::create_dir_all(&scratch)?;
            let (model, adapter) = (scratch.join("model.onnx"), scratch.join("adapter.toml"));
            std::fs::write(&model, m.onnx)?;
            std::fs::write(&adapter, m.adapter_toml.replace("../models/", ""))?;
            (model, Some(adapter))
        }
    };
    let rows = check::run_checks(&model, adapter.as_deref(), device, 4);
    if scratch.is_dir() {
        let _ = std::fs::remove_dir_all(&scratch);
    }
    let rows = rows?;
    let failed = check::failures(&rows);
    let shown = if target.model_file.is_some() {
        model.clone()
    } else {
        PathBuf::from(&args.model)
    };
    if failed > 0 {
        eprintln!("{}", check::table(&shown, &rows));
        if args.skip_check {
            eprintln!("pre-flight: {failed} check(s) FAIL; training anyway (--skip-check)");
            return Ok(());
        }
        bail!(
            "pre-flight: {failed} check(s) FAIL for {} (table above): a classifier whose \
             forward or gradients are wrong makes the audit meaningless. Fix the adapter or the \
             model, or pass --skip-check to audit anyway",
            shown.display()
        );
    }
    let count = |s: &str| rows.iter().filter(|r| r.status == s).count();
    eprintln!(
        "pre-flight: {} checks pass ({} at a kink), {} skipped (`probegan check {}` shows them)",
        rows.len() - count("SKIP"),
        count("PASS (kink)"),
        count("SKIP"),
        shown.display()
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dataset(names: &[&str]) -> Dataset {
        let k = names.len();
        Dataset::new(
            vec![0.0; k * 4],
            (1, 2, 2),
            (0..k as u32).collect(),
            names.iter().map(|n| n.to_string()).collect(),
            None,
        )
        .unwrap()
    }

    fn strings(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn data_classes_are_put_in_the_classifiers_order_and_may_lack_only_unseen_ones() {
        let clf = strings(&["cat", "dog", "owl"]);
        let names = |d: &Dataset| d.class_names.clone();
        let a = align_classes(dataset(&["Cat", "dog", "owl"]), &clf, &[], "d").unwrap();
        assert_eq!(a.labels, vec![0, 1, 2]);
        // Unnamed (index) classes on either side cannot be checked and pass when counts agree.
        align_classes(dataset(&["0", "1", "2"]), &clf, &[], "d").unwrap();
        align_classes(
            dataset(&["owl", "cat", "dog"]),
            &strings(&["0", "1", "2"]),
            &[],
            "d",
        )
        .unwrap();
        // Sorted folder names in another order are relabelled to the classifier's indices.
        let a = align_classes(dataset(&["dog", "cat", "owl"]), &clf, &[], "d").unwrap();
        assert_eq!((a.labels.clone(), names(&a)), (vec![1, 0, 2], clf.clone()));
        // The unseen class may be absent; any other absent class is refused by name.
        let a = align_classes(dataset(&["owl", "cat"]), &clf, &[1], "d").unwrap();
        assert_eq!((a.labels.clone(), names(&a)), (vec![2, 0], clf.clone()));
        let e = align_classes(dataset(&["owl", "cat"]), &clf, &[], "d")
            .unwrap_err()
            .to_string();
        assert!(e.contains("no images of 1") && e.contains("(dog)"), "{e}");
        let e = align_classes(dataset(&["cat", "emu"]), &clf, &[1], "d")
            .unwrap_err()
            .to_string();
        assert!(e.contains("not among the classifier's classes: emu"), "{e}");
        assert!(e.contains("subset"), "{e}");
        let e = align_classes(dataset(&["0", "1"]), &clf, &[2], "d")
            .unwrap_err()
            .to_string();
        assert!(e.contains("2 classes"), "{e}");
    }
}
