//! CSV metadata datasets: a file column, a label column, and optional group and split
//! columns. Waterbirds' `metadata.csv` (`img_filename,y,split,place,place_filename`) works
//! as is: files resolve against the CSV's folder, `split` is 0/1/2 = train/val/test, and
//! `--group-col place` gives Sagawa et al.'s four groups (label x place).

use super::image_folder::decode_all;
use super::{Dataset, LoadOptions, LoadReport};
use anyhow::{anyhow, bail, Context, Result};
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

/// Which columns mean what. `None` columns are guessed from common names.
#[derive(Debug, Clone, Default)]
pub struct CsvSpec {
    /// Image file column (default: first of img_filename, filename, file, path, image).
    pub file_col: Option<String>,
    /// Label column (default: first of y, label, class, target).
    pub label_col: Option<String>,
    /// Group column; groups are (label, group value) pairs, as in group DRO.
    pub group_col: Option<String>,
    /// Split column (default: `split` if present).
    pub split_col: Option<String>,
    /// Folder the file column is relative to (default: the CSV's folder).
    pub root: Option<PathBuf>,
    /// Class names for the sorted label values (default: the values themselves).
    pub class_names: Option<Vec<String>>,
}

/// Which rows of the split column to keep: `train` (also `0`), `val` (`1`, `valid`),
/// `test` (`2`), or any literal value of the column.
pub fn split_matches(value: &str, wanted: &str) -> bool {
    let canon = |s: &str| match s.trim().to_ascii_lowercase().as_str() {
        "0" | "train" | "training" => "train".to_string(),
        "1" | "val" | "valid" | "validation" => "val".to_string(),
        "2" | "test" | "testing" => "test".to_string(),
        other => other.to_string(),
    };
    canon(value) == canon(wanted)
}

fn pick_column(
    header: &[String],
    given: Option<&str>,
    guesses: &[&str],
    what: &str,
    origin: &str,
) -> Result<Option<usize>> {
    match given {
        Some(name) => header
            .iter()
            .position(|h| h == name)
            .map(Some)
            .ok_or_else(|| {
                anyhow!("{origin}: no {what} column {name:?}; the header has {header:?}")
            }),
        None => Ok(guesses
            .iter()
            .find_map(|g| header.iter().position(|h| h.eq_ignore_ascii_case(g)))),
    }
}

/// Sort values numerically when they all are numbers, else lexically.
fn sorted_values(set: BTreeSet<String>) -> Vec<String> {
    let mut v: Vec<String> = set.into_iter().collect();
    if v.iter().all(|s| s.parse::<f64>().is_ok()) {
        v.sort_by(|a, b| {
            a.parse::<f64>()
                .unwrap()
                .partial_cmp(&b.parse::<f64>().unwrap())
                .unwrap()
        });
    }
    v
}

/// Load the rows of `split` (all rows when `None` or when there is no split column).
pub fn load_csv(
    csv_path: &Path,
    spec: &CsvSpec,
    split: Option<&str>,
    opts: &LoadOptions,
) -> Result<(Dataset, LoadReport)> {
    let origin = csv_path.display().to_string();
    let mut reader = csv::ReaderBuilder::new()
        .flexible(true)
        .from_path(csv_path)
        .with_context(|| format!("{origin}: cannot open CSV"))?;
    let header: Vec<String> = reader
        .headers()
        .with_context(|| format!("{origin}: cannot read the CSV header"))?
        .iter()
        .map(|s| s.trim().to_string())
        .collect();
    let file_col = pick_column(&header, spec.file_col.as_deref(), &["img_filename", "filename", "file", "path", "image"], "file", &origin)?
        .ok_or_else(|| anyhow!("{origin}: no file column (looked for img_filename, filename, file, path, image; header {header:?}); pass --file-col"))?;
    let label_col = pick_column(&header, spec.label_col.as_deref(), &["y", "label", "class", "target"], "label", &origin)?
        .ok_or_else(|| anyhow!("{origin}: no label column (looked for y, label, class, target; header {header:?}); pass --label-col"))?;
    let group_col = pick_column(&header, spec.group_col.as_deref(), &[], "group", &origin)?;
    let split_col = pick_column(
        &header,
        spec.split_col.as_deref(),
        &["split"],
        "split",
        &origin,
    )?;
    let root = spec
        .root
        .clone()
        .unwrap_or_else(|| csv_path.parent().map(Path::to_path_buf).unwrap_or_default());

    // First pass: every row, so class and group indices do not depend on the split.
    struct Row {
        line: usize,
        file: String,
        label: String,
        group: Option<String>,
        split: Option<String>,
    }
    let mut rows = Vec::new();
    let mut report = LoadReport::default();
    let needed = [Some(file_col), Some(label_col), group_col, split_col]
        .into_iter()
        .flatten()
        .max()
        .unwrap();
    for (i, rec) in reader.records().enumerate() {
        let line = i + 2; // 1-based, after the header
        let rec = match rec {
            Ok(r) => r,
            Err(e) => {
                let msg = format!("{origin} row {line}: unreadable CSV record: {e}");
                if opts.skip_bad {
                    report.skip(msg);
                    continue;
                }
                bail!(msg);
            }
        };
        if rec.len() <= needed || rec.iter().all(|f| f.trim().is_empty()) {
            if rec.iter().all(|f| f.trim().is_empty()) {
                continue; // blank line
            }
            let msg = format!(
                "{origin} row {line}: has {} fields but column {:?} is field {}",
                rec.len(),
                header[needed],
                needed + 1
            );
            if opts.skip_bad {
                report.skip(msg);
                continue;
            }
            bail!("{msg} (use --skip-bad to skip bad rows)");
        }
        let get = |c: usize| rec.get(c).unwrap().trim().to_string();
        let (file, label) = (get(file_col), get(label_col));
        if file.is_empty() || label.is_empty() {
            let msg = format!(
                "{origin} row {line}: empty {} field",
                if file.is_empty() { "file" } else { "label" }
            );
            if opts.skip_bad {
                report.skip(msg);
                continue;
            }
            bail!("{msg} (use --skip-bad to skip bad rows)");
        }
        rows.push(Row {
            line,
            file,
            label,
            group: group_col.map(get),
            split: split_col.map(get),
        });
    }
    if rows.is_empty() {
        bail!("{origin}: no data rows");
    }
    let label_values = sorted_values(rows.iter().map(|r| r.label.clone()).collect());
    let class_names = match &spec.class_names {
        Some(n) if n.len() == label_values.len() => n.clone(),
        Some(n) => bail!(
            "{origin}: {} class names given for {} label values {label_values:?}",
            n.len(),
            label_values.len()
        ),
        None => label_values.clone(),
    };
    let group_values =
        group_col.map(|_| sorted_values(rows.iter().filter_map(|r| r.group.clone()).collect()));
    let group_names = group_values.as_ref().map(|gv| {
        let col = &header[group_col.unwrap()];
        class_names
            .iter()
            .flat_map(|c| gv.iter().map(move |g| format!("{c}/{col}={g}")))
            .collect::<Vec<_>>()
    });
    let items: Vec<(PathBuf, u32, Option<u32>, String)> = rows
        .into_iter()
        .filter(|r| match (split, &r.split) {
            (Some(want), Some(v)) => split_matches(v, want),
            _ => true,
        })
        .map(|r| {
            let label = label_values.iter().position(|v| *v == r.label).unwrap();
            let group = match (&group_values, &r.group) {
                (Some(gv), Some(g)) => {
                    Some((label * gv.len() + gv.iter().position(|v| v == g).unwrap()) as u32)
                }
                _ => None,
            };
            (
                root.join(&r.file),
                label as u32,
                group,
                format!("{origin} row {}", r.line),
            )
        })
        .collect();
    if items.is_empty() {
        bail!("{origin}: no rows in split {:?}", split.unwrap_or(""));
    }
    let skipped_rows = report;
    let (ds, mut rep) = decode_all(items.into_iter(), class_names, group_names, opts)?;
    rep.skipped += skipped_rows.skipped;
    let mut problems = skipped_rows.problems;
    problems.extend(rep.problems);
    problems.truncate(20);
    rep.problems = problems;
    Ok((ds, rep))
}
