//! `probegan audit MODEL --data D [--unseen CLASS...]`: the one-command audit. Pre-flight
//! (`check`), training against the frozen model (the demo's config with the flags filled
//! in), evaluation (the bundled open judge on Fashion-MNIST data, a given `--judge`, or the
//! judge-free metrics, said plainly) and the HTML report, all in one run directory that
//! `--resume` (or the same command after Ctrl-C) continues.
//!
//! Each stage reuses its command's code: `check::run_checks`, `adapter_guess::guess_adapter`,
//! the `Trainer`, `eval::evaluate_run` and `report::write_report_with`. `--mode` names the
//! kinds of audit; only `classes` (a class-conditional generator) is built so far.

use super::{check, eval};
use crate::adapter::Adapter;
use crate::data::{CsvSpec, DataSource, Dataset, LoadOptions, Split};
use crate::device::DeviceArgs;
use crate::metrics::evaluation::{EvalReport, EVAL_FILE};
use crate::run::{CONFIG_TOML, EVAL_DIR};
use crate::train::trainer::Timings;
use crate::train::{setup, Config, StopReason, Trainer};
use anyhow::{bail, Context, Result};
use candle_core::Device;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Instant;

/// The audit's training template: the demo's config, tuned for a few hundred CPU steps.
const TEMPLATE: &str = super::demo::DEMO_CONFIG;
/// The demo's collapse study (README, "Collapse guard"): past ~1,000 steps a generator as fast
/// as D collapses; the long configs train G at a quarter of D's rate.
const LONG_RUN_STEPS: usize = 1000;
/// Steps timed for `--minutes`, after one warm-up step.
const TIMED_STEPS: usize = 3;
/// The summary `audit` leaves in the run directory (what `--json` prints).
pub const AUDIT_JSON: &str = "audit.json";
pub const REPORT_HTML: &str = "report.html";

/// What kind of audit: what the generator draws and what data it reads.
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// A class-conditional generator; the data are labelled images of the seen classes.
    Classes,
    /// A painter that draws class content onto substrate photographs (no labelled data).
    Substrate,
    /// Mel spectrograms for an audio classifier.
    Audio,
}

#[derive(clap::Args, Debug)]
pub struct Args {
    /// ONNX file, zoo name, or a bundled classifier (`embedded:regular`, `embedded:robust`).
    pub model: String,
    /// Adapter TOML; without one the zoo's, or one guessed from the model (said, and written
    /// to RUN/adapter.toml).
    #[arg(long)]
    pub adapter: Option<PathBuf>,
    /// The data you have: a folder (class subfolders or IDX files), a CSV, `fashion-mnist`,
    /// or `embedded` (the bundled Fashion-MNIST subset).
    #[arg(long)]
    pub data: String,
    /// Classes to withhold (names or indices): learned from the classifier alone.
    #[arg(long, num_args = 1..)]
    pub unseen: Vec<String>,
    #[arg(long, default_value = "probegan",
          value_parser = ["probegan", "naive", "am", "oracle", "soft-label"])]
    pub method: String,
    #[arg(long, value_enum, default_value_t = Mode::Classes)]
    pub mode: Mode,
    /// Training budget in minutes: a step count from a few timed steps.
    #[arg(long, conflicts_with = "steps")]
    pub minutes: Option<f64>,
    /// Training budget in generator steps (the total, also with --resume; default 400).
    #[arg(long)]
    pub steps: Option<usize>,
    /// The run directory (config, checkpoints, samples, eval/, report.html, audit.json).
    #[arg(long, default_value = "probegan-audit")]
    pub out: PathBuf,
    /// Continue the run in --out (to a larger --steps, or for --minutes more).
    #[arg(long)]
    pub resume: bool,
    /// Train even if the pre-flight check fails.
    #[arg(long)]
    pub skip_check: bool,
    /// A judge of your own (ONNX, independent of MODEL); default: the bundled open judge for
    /// Fashion-MNIST data, none otherwise.
    #[arg(long)]
    pub judge: Option<PathBuf>,
    /// The judge's adapter (default: the .toml beside it).
    #[arg(long, requires = "judge")]
    pub judge_adapter: Option<PathBuf>,
    /// Generated samples per class the evaluation scores.
    #[arg(long, default_value_t = 500)]
    pub eval_samples: usize,
    /// Override a training config value (see configs/demo.toml), e.g. `train.batch_size=16`.
    #[arg(long = "set", value_name = "KEY=VALUE")]
    pub overrides: Vec<String>,
    /// Print one JSON summary on stdout instead of the tables.
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub device: DeviceArgs,
}

/// The classifier under audit, as the training config and the pre-flight need it.
struct Target {
    /// `classifier.adapter` and `classifier.model` of the training config.
    adapter_config: String,
    model_config: Option<String>,
    adapter: Adapter,
    /// How the adapter was found (given, zoo, guessed, bundled).
    adapter_origin: &'static str,
    /// A guessed adapter's TOML, written into the run directory.
    guessed_toml: Option<String>,
    /// The ONNX file the pre-flight checks (None: bundled, written out for the check).
    model_file: Option<PathBuf>,
}

fn absolute(p: &Path) -> Result<PathBuf> {
    std::fs::canonicalize(p).with_context(|| format!("{}: cannot resolve the path", p.display()))
}

fn resolve_target(args: &Args, run_dir: &Path) -> Result<Target> {
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
    let guess = super::adapter_guess::guess_adapter(&model, &model_path)?;
    guess.adapter.validate_against(&model)?;
    // Absolute, so that the run resumes and evaluates from any directory.
    let written = std::env::current_dir()?.join(run_dir).join("adapter.toml");
    eprintln!("{} (used here: {})", guess.summary, written.display());
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

/// Training pairs data label i with classifier class i: the two must agree in count and,
/// where both are named, in order.
fn check_class_alignment(data: &Dataset, clf: &[String], data_spec: &str) -> Result<()> {
    let d = &data.class_names;
    if d.len() != clf.len() {
        bail!(
            "--data {data_spec} has {} classes ({}) but the classifier has {}; \
             an adapter's [classes] subset can pick the data's classes from the model's \
             (start from `probegan adapter init MODEL > my.toml`)",
            d.len(),
            d.join(", "),
            clf.len()
        );
    }
    if is_index_names(d) || is_index_names(clf) {
        return Ok(());
    }
    let wrong: Vec<String> = d
        .iter()
        .zip(clf)
        .enumerate()
        .filter(|(_, (a, b))| !a.eq_ignore_ascii_case(b))
        .map(|(i, (a, b))| format!("data class {i} `{a}` vs classifier class {i} `{b}`"))
        .collect();
    if !wrong.is_empty() {
        bail!(
            "--data {data_spec}: its classes do not line up with the classifier's ({}); \
             rename the folders or give the adapter's [classes] names in the data's order",
            wrong.join("; ")
        );
    }
    Ok(())
}

fn toml_string(s: &str) -> String {
    toml::Value::String(s.to_string()).to_string()
}

/// The training config: the template, the flags, the budget, then the user's `--set`s.
fn build_config(args: &Args, target: &Target, steps: usize) -> Result<Config> {
    let unseen: Vec<String> = args.unseen.iter().map(|u| toml_string(u)).collect();
    let mut o = vec![
        format!(
            "run.out_dir={}",
            toml_string(&args.out.display().to_string())
        ),
        format!("run.steps={steps}"),
        format!("data.source={}", toml_string(&args.data)),
        format!("data.unseen=[{}]", unseen.join(", ")),
        format!("classifier.adapter={}", toml_string(&target.adapter_config)),
        format!("method.name={}", toml_string(&args.method)),
    ];
    if let Some(m) = &target.model_config {
        o.push(format!("classifier.model={}", toml_string(m)));
    }
    // The template's nets draw 32x32 grey images; a larger or colour model gets 64x64 and its
    // channels (the adapter resizes to the model's input).
    let input = target.adapter.input();
    o.push(format!("model.channels={}", input.channels));
    if input.height.max(input.width) > 32 {
        o.push("model.resolution=64".into());
        o.push("model.g_widths=[64, 64, 32, 32, 16]".into());
        o.push("model.d_widths=[16, 32, 32, 32]".into());
    }
    o.extend(args.overrides.iter().cloned());
    let mut config = Config::from_toml_str(TEMPLATE, &o).context("the audit's training config")?;
    let lr_g_given = args
        .overrides
        .iter()
        .any(|o| o.trim_start().starts_with("train.lr_g"));
    if steps > LONG_RUN_STEPS && !lr_g_given {
        config.train.lr_g = config.train.lr_d / 4.0;
    }
    Ok(config)
}

/// Image folders and CSVs are decoded at the generator's size and channels, so photos of
/// mixed sizes and colour images for a grey model load (Fashion-MNIST and IDX ignore this).
fn load_options(config: &Config) -> LoadOptions {
    let c = config.model.channels;
    LoadOptions {
        size: Some(config.model.dims()),
        channels: matches!(c, 1 | 3).then_some(c),
        skip_bad: false,
    }
}

/// Seconds per generator step of `config`, timed on a throwaway trainer after a warm-up step.
fn measure_step_seconds(
    config: &Config,
    data: &Dataset,
    device: &Device,
) -> Result<(f64, Timings)> {
    let (classifier, info) = setup::load_classifier(config, device)?;
    let mut t = Trainer::new(config.clone(), data, classifier, info, device)?;
    t.train_step()?;
    t.timings = Timings::default();
    for _ in 0..TIMED_STEPS {
        t.train_step()?;
    }
    Ok((t.timings.total_s() / TIMED_STEPS as f64, t.timings.clone()))
}

/// The bundled open judge (Fashion-MNIST with a "not a garment" output), written into the
/// run directory so that `eval` and the report read it like any judge file.
fn bundled_judge(run_dir: &Path) -> Result<(PathBuf, PathBuf)> {
    let m = crate::embedded::bundled_model("judge_open")?;
    let dir = run_dir.join("judge");
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    let model = dir.join("fmnist_judge_open.onnx");
    let adapter = dir.join("fmnist_judge_open.toml");
    std::fs::write(&model, m.onnx).with_context(|| format!("writing {}", model.display()))?;
    // Its `model` line points at the repository's models/; beside it here.
    std::fs::write(&adapter, m.adapter_toml.replace("../models/", ""))
        .with_context(|| format!("writing {}", adapter.display()))?;
    Ok((model, adapter))
}

/// The judge: a given one, the bundled open judge when the data and classes are
/// Fashion-MNIST's, or none.
fn choose_judge(
    args: &Args,
    source: &DataSource,
    class_names: &[String],
    run_dir: &Path,
) -> Result<Option<(PathBuf, Option<PathBuf>)>> {
    if let Some(j) = &args.judge {
        return Ok(Some((j.clone(), args.judge_adapter.clone())));
    }
    if !matches!(
        source,
        DataSource::Embedded | DataSource::SystemFashionMnist
    ) {
        return Ok(None);
    }
    let m = crate::embedded::bundled_model("judge_open")?;
    let judge = Adapter::from_toml_str_in(m.adapter_toml, m.file, Path::new("adapters"))?;
    let same = class_names.len() < judge.class_names().len()
        && class_names
            .iter()
            .zip(judge.class_names())
            .all(|(a, b)| a.eq_ignore_ascii_case(b));
    if !same {
        return Ok(None);
    }
    let (model, adapter) = bundled_judge(run_dir)?;
    Ok(Some((model, Some(adapter))))
}

/// The pre-flight: `check`'s rows for the model (a bundled one is written out for it).
fn preflight(target: &Target, args: &Args, run_dir: &Path, device: &Device) -> Result<()> {
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

/// The stored config of a run being resumed, after checking the flags describe the same run.
fn stored_config(args: &Args, fresh: &Config) -> Result<Config> {
    let path = args.out.join(CONFIG_TOML);
    let stored = Config::load(&path, &[])?;
    let mut differ = vec![];
    if stored.classifier != fresh.classifier {
        differ.push(format!(
            "the classifier (stored: {}, given: {})",
            stored
                .classifier
                .model
                .as_deref()
                .unwrap_or(&stored.classifier.adapter),
            fresh
                .classifier
                .model
                .as_deref()
                .unwrap_or(&fresh.classifier.adapter)
        ));
    }
    if stored.data.source != fresh.data.source {
        differ.push(format!(
            "--data (stored: {}, given: {})",
            stored.data.source, fresh.data.source
        ));
    }
    if stored.data.unseen != fresh.data.unseen {
        differ.push(format!(
            "--unseen (stored: {:?}, given: {:?})",
            stored.data.unseen, fresh.data.unseen
        ));
    }
    if stored.method.name() != fresh.method.name() {
        differ.push(format!(
            "--method (stored: {}, given: {})",
            stored.method.name(),
            fresh.method.name()
        ));
    }
    if !differ.is_empty() {
        bail!(
            "--resume: {} holds another audit; these differ: {}. Give the same flags, or a new --out to start another",
            args.out.display(),
            differ.join("; ")
        );
    }
    let mut config = stored;
    config.run.out_dir = args.out.clone();
    Ok(config)
}

/// What `--json` prints and `audit.json` keeps.
#[derive(Debug, serde::Serialize)]
pub struct AuditSummary {
    pub run_dir: PathBuf,
    pub model: String,
    pub adapter: String,
    pub adapter_origin: String,
    pub method: String,
    pub unseen: Vec<String>,
    /// The run's step now, and the steps this command trained.
    pub steps: usize,
    pub steps_trained: usize,
    pub seconds_per_step: Option<f64>,
    pub train_seconds: f64,
    pub wall_seconds: f64,
    pub judge: Option<String>,
    pub unseen_recognition: Option<f64>,
    pub seen_recognition: Option<f64>,
    /// The audited classifier's mean confidence in each unseen class on its samples.
    pub unseen_target_confidence: Option<f64>,
    pub fid: Option<f64>,
    pub coverage: Option<f64>,
    pub collapsed: Vec<String>,
    pub eval: PathBuf,
    pub report: PathBuf,
}

fn mean(v: impl Iterator<Item = f64>) -> Option<f64> {
    let v: Vec<f64> = v.collect();
    (!v.is_empty()).then(|| v.iter().sum::<f64>() / v.len() as f64)
}

pub fn run(args: Args) -> Result<()> {
    let wall = Instant::now();
    match args.mode {
        Mode::Classes => {}
        Mode::Substrate => bail!(
            "--mode substrate is not built into `audit` yet; train it with \
             `probegan train --config configs/substrate_imagenet.toml` (README, \"Substrate method\")"
        ),
        Mode::Audio => bail!("--mode audio is not built yet: probegan has no audio generator"),
    }
    if let Some(m) = args.minutes {
        if !(m.is_finite() && m > 0.0) {
            bail!("--minutes {m}: expected a positive number of minutes");
        }
    }
    if args.steps == Some(0) {
        bail!("--steps 0: expected at least one step");
    }
    if args.resume && !args.overrides.is_empty() {
        bail!("--set changes a run's config; with --resume the stored {}/{CONFIG_TOML} is used as it is", args.out.display());
    }
    let device = args.device.device()?;
    let source = DataSource::parse(&args.data, CsvSpec::default())
        .with_context(|| format!("--data {}", args.data))?;
    if matches!(source, DataSource::Substrates(_)) {
        bail!(
            "--data {}: substrate folders are for --mode substrate",
            args.data
        );
    }
    let target = resolve_target(&args, &args.out)?;
    let names = target.adapter.class_names().to_vec();
    crate::data::ClassSpace::new(names.clone()).indices(&args.unseen, "--unseen")?;
    let has_run = !crate::run::list_checkpoints(&args.out)?.is_empty();
    if has_run && !args.resume {
        bail!(
            "{} already holds an audit; pass --resume to continue it (with a larger --steps or --minutes), or choose another --out",
            args.out.display()
        );
    }
    let resuming = args.resume && has_run;
    if args.resume && !has_run {
        eprintln!(
            "--resume: nothing to resume in {}; starting",
            args.out.display()
        );
    }
    let template_steps = Config::from_toml_str(TEMPLATE, &[])?.run.steps;
    let mut config = build_config(&args, &target, args.steps.unwrap_or(template_steps))?;
    if resuming {
        config = stored_config(&args, &config)?;
        if let Some(n) = args.steps {
            config.run.steps = n;
        }
    }
    let load_options = load_options(&config);
    let data = source
        .load(Split::Train, &load_options)
        .with_context(|| format!("--data {}", args.data))?
        .0;
    check_class_alignment(&data, &names, &args.data)?;
    std::fs::create_dir_all(&args.out)
        .with_context(|| format!("creating {}", args.out.display()))?;
    if let Some(toml) = &target.guessed_toml {
        std::fs::write(&target.adapter_config, toml)
            .with_context(|| format!("writing {}", target.adapter_config))?;
    }
    if !resuming {
        preflight(&target, &args, &args.out, &device)?;
    }

    let start_step = if resuming {
        crate::run::list_checkpoints(&args.out)?
            .last()
            .map(|(s, _)| *s)
            .unwrap_or(0)
    } else {
        0
    };
    let mut seconds_per_step = None;
    if let Some(minutes) = args.minutes {
        let (s, timings) = measure_step_seconds(&config, &data, &device)?;
        let n = ((minutes * 60.0 / s).floor() as usize).max(1);
        let total = start_step + n;
        eprintln!(
            "{minutes} minutes ≈ {n} steps at {s:.2} s/step (timed on {TIMED_STEPS} steps: {}; previews and checkpoints add a little, the evaluation comes after)",
            timings.per_step_summary()
        );
        if resuming {
            config.run.steps = total;
        } else {
            config = build_config(&args, &target, total)?;
        }
        seconds_per_step = Some(s);
    }

    let (classifier, info) = setup::load_classifier(&config, &device)?;
    let mut trainer = Trainer::new(config, &data, classifier, info, &device)?;
    if resuming {
        let step = trainer.resume()?;
        eprintln!("resuming {} from step {step}", args.out.display());
    }
    trainer.init_run_dir()?;
    trainer.progress = !args.json;
    let total = trainer.config.run.steps;
    let unseen_names: Vec<String> = trainer
        .unseen()
        .iter()
        .map(|&u| trainer.class_names()[u].clone())
        .collect();
    let train_start = Instant::now();
    let from = trainer.step();
    if from < total {
        eprintln!(
            "training {} against {} to step {total}{}",
            args.method,
            args.model,
            if unseen_names.is_empty() {
                String::new()
            } else {
                format!(" (no data for {})", unseen_names.join(", "))
            }
        );
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        ctrlc::set_handler(move || {
            if flag.swap(true, Ordering::SeqCst) {
                eprintln!("\nsecond Ctrl-C: exiting without a checkpoint");
                std::process::exit(130);
            }
            eprintln!(
                "\nCtrl-C: saving a checkpoint after this step (press again to quit at once)"
            );
        })
        .context("installing the Ctrl-C handler")?;
        if trainer.run(&stop)? == StopReason::Interrupted {
            eprintln!(
                "interrupted at step {}; run the same command with --resume to continue",
                trainer.step()
            );
            std::process::exit(130);
        }
        eprintln!(
            "{} steps: {}",
            trainer.timings.steps,
            trainer.timings.per_step_summary()
        );
    } else {
        eprintln!(
            "{} is at step {from} of {total}: evaluating it again",
            args.out.display()
        );
    }
    let train_seconds = train_start.elapsed().as_secs_f64();
    let steps_trained = trainer.step() - from;
    let step = trainer.step();
    let collapsed: Vec<String> = trainer
        .read_diversity()?
        .collapsed
        .iter()
        .map(|&c| trainer.class_names()[c].clone())
        .collect();
    drop(trainer);

    let judge = choose_judge(&args, &source, &names, &args.out)?;
    let eval_args = eval::Args {
        run: Some(args.out.clone()),
        checkpoint: None,
        judge: judge.as_ref().map(|(j, _)| j.clone()),
        judge_adapter: judge.as_ref().and_then(|(_, a)| a.clone()),
        real: Some(args.data.clone()),
        real_split: "test".into(),
        feature_model: None,
        feature_adapter: None,
        feature_layer: None,
        n: args.eval_samples,
        seed: 0,
        select: false,
        neighbours: "feature".into(),
        leakage: false,
        leakage_n: 500,
        out: Some(args.out.join(EVAL_DIR)),
        json: false,
        real_options: load_options,
        device: args.device.clone(),
    };
    eprintln!("evaluating {} samples per class", args.eval_samples);
    let (report, eval_dir) = eval::evaluate_run(&eval_args, &device)?;
    let report_path = args.out.join(REPORT_HTML);
    crate::report::write_report_with(
        &args.out,
        &report_path,
        &crate::report::ReportOptions { neighbours: None },
    )?;

    let summary = AuditSummary {
        run_dir: args.out.clone(),
        model: args.model.clone(),
        adapter: target.adapter_config.clone(),
        adapter_origin: target.adapter_origin.into(),
        method: args.method.clone(),
        unseen: unseen_names.clone(),
        steps: step,
        steps_trained,
        seconds_per_step: seconds_per_step
            .or((steps_trained > 0).then(|| train_seconds / steps_trained as f64)),
        train_seconds,
        wall_seconds: wall.elapsed().as_secs_f64(),
        judge: judge.as_ref().map(|_| report.judge.clone()),
        unseen_recognition: report.overall.unseen_recognition,
        seen_recognition: report.overall.seen_recognition,
        unseen_target_confidence: mean(
            report
                .classes
                .iter()
                .filter(|c| c.unseen)
                .filter_map(|c| c.target_confidence),
        ),
        fid: report.overall.fid,
        coverage: report.overall.prdc.map(|p| p.coverage),
        collapsed,
        eval: eval_dir.join(EVAL_FILE),
        report: report_path,
    };
    crate::run::write_atomic(
        &args.out.join(AUDIT_JSON),
        serde_json::to_string_pretty(&summary)?.as_bytes(),
    )?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&summary)?);
    } else {
        eval::print_summary(&report, &eval_dir);
        println!("{}", verdict(&summary, &report));
        println!(
            "report: {} ({} steps, {:.0} s wall)",
            summary.report.display(),
            summary.steps,
            summary.wall_seconds
        );
    }
    Ok(())
}

/// One plain sentence on what the evidence says, and what it cannot say.
fn verdict(s: &AuditSummary, report: &EvalReport) -> String {
    let pct = |v: Option<f64>| crate::report::html::pct(v);
    let unseen = if s.unseen.is_empty() {
        "every class".to_string()
    } else {
        s.unseen
            .iter()
            .map(|u| format!("`{u}`"))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let mut out = match &s.judge {
        Some(_) => format!(
            "verdict: the independent judge recognises {} of generated {unseen} images (no data for them in training; seen classes: {})",
            pct(s.unseen_recognition),
            pct(s.seen_recognition)
        ),
        None => format!(
            "verdict: no independent judge was available for this data, so these are judge-free figures: \
             the audited classifier's own confidence in {unseen} on its samples is {}, FID in its own features {}. \
             They say whether samples are diverse and convince the classifier, not that another model sees the class \
             (pass --judge J.onnx for that)",
            pct(s.unseen_target_confidence),
            crate::report::html::num(report.overall.fid)
        ),
    };
    if !s.collapsed.is_empty() {
        out.push_str(&format!(
            ". COLLAPSED: {} (a few images repeated: not evidence)",
            s.collapsed.join(", ")
        ));
    }
    out
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
    fn data_classes_must_line_up_with_the_classifier() {
        let clf = strings(&["cat", "dog"]);
        check_class_alignment(&dataset(&["Cat", "dog"]), &clf, "d").unwrap();
        // Unnamed (index) classes on either side cannot be checked and pass.
        check_class_alignment(&dataset(&["0", "1"]), &clf, "d").unwrap();
        check_class_alignment(&dataset(&["dog", "cat"]), &strings(&["0", "1"]), "d").unwrap();
        let e = check_class_alignment(&dataset(&["dog", "cat"]), &clf, "d")
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("data class 0 `dog` vs classifier class 0 `cat`"),
            "{e}"
        );
        let e = check_class_alignment(&dataset(&["cat"]), &clf, "d")
            .unwrap_err()
            .to_string();
        assert!(e.contains("1 classes") && e.contains("subset"), "{e}");
    }

    fn args(extra: &[&str]) -> Args {
        #[derive(clap::Parser)]
        struct Cli {
            #[command(flatten)]
            a: Args,
        }
        let mut argv = vec!["audit", "embedded:regular", "--data", "embedded"];
        argv.extend(extra);
        <Cli as clap::Parser>::try_parse_from(argv).unwrap().a
    }

    #[test]
    fn the_config_takes_the_flags_and_slows_g_for_long_budgets() {
        let a = args(&[
            "--unseen",
            "Bag",
            "--method",
            "naive",
            "--set",
            "train.batch_size=8",
        ]);
        let target = resolve_target(&a, &a.out).unwrap();
        let c = build_config(&a, &target, 300).unwrap();
        assert_eq!(c.classifier.adapter, "embedded:regular");
        assert_eq!(
            (c.data.source.as_str(), c.data.unseen.clone()),
            ("embedded", strings(&["Bag"]))
        );
        assert_eq!(
            (c.method.name(), c.run.steps, c.train.batch_size),
            ("naive", 300, 8)
        );
        assert_eq!(c.train.lr_g, c.train.lr_d);
        let long = build_config(&a, &target, 2000).unwrap();
        assert_eq!(long.train.lr_g * 4.0, long.train.lr_d);
    }
}
