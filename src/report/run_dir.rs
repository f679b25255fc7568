//! Reading a training run directory as the trainer writes it:
//!
//! ```text
//! RUN_DIR/run.json          method, config, classifier/adapter, class names, unseen, seed
//! RUN_DIR/config.toml       the resolved config
//! RUN_DIR/metrics.jsonl     one JSON object per logged step (losses, unseen prob, it/s)
//! RUN_DIR/samples/step_NNNNNN.png      sample grids, one row per class
//! RUN_DIR/checkpoints/step_NNNNNN/...  checkpoints
//! RUN_DIR/eval/eval.json    written by `probegan eval` (optional)
//! ```
//!
//! The reader is lenient about *optional* parts (a run without eval or samples still gets a
//! report) and strict about broken ones (a malformed metrics line names file and line).

use crate::metrics::evaluation::{EvalReport, EVAL_FILE};
use anyhow::{bail, Context, Result};
use serde_json::{Map, Value};
use std::path::{Path, PathBuf};

pub struct RunDir {
    pub path: PathBuf,
    pub run: Map<String, Value>,
    pub config_toml: Option<String>,
    /// One object per metrics line, in file order.
    pub metrics: Vec<Map<String, Value>>,
    /// (step, file) of sample grids, by step.
    pub samples: Vec<(u64, PathBuf)>,
    /// Checkpoint steps found.
    pub checkpoints: Vec<u64>,
    pub eval: Option<EvalReport>,
}

impl RunDir {
    pub fn open(path: &Path) -> Result<RunDir> {
        if !path.is_dir() {
            bail!(
                "{}: not a run directory (it does not exist or is not a folder)",
                path.display()
            );
        }
        let run_json = path.join("run.json");
        let text = std::fs::read_to_string(&run_json).with_context(|| {
            format!(
                "{}: a run directory needs run.json (written by `probegan train`)",
                path.display()
            )
        })?;
        let run = match serde_json::from_str::<Value>(&text)
            .with_context(|| format!("{}: invalid JSON", run_json.display()))?
        {
            Value::Object(m) => m,
            _ => bail!("{}: expected a JSON object", run_json.display()),
        };
        let config_toml = std::fs::read_to_string(path.join("config.toml")).ok();
        let metrics = read_metrics(&path.join("metrics.jsonl"))?;
        let samples = numbered_entries(&path.join("samples"), ".png")?;
        let checkpoints = numbered_entries(&path.join("checkpoints"), "")?
            .into_iter()
            .map(|(s, _)| s)
            .collect();
        let eval_path = path.join("eval").join(EVAL_FILE);
        let eval = if eval_path.exists() {
            Some(EvalReport::load(&eval_path)?)
        } else {
            None
        };
        Ok(RunDir {
            path: path.to_path_buf(),
            run,
            config_toml,
            metrics,
            samples,
            checkpoints,
            eval,
        })
    }

    /// The run's name: its folder name.
    pub fn name(&self) -> String {
        self.path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| self.path.display().to_string())
    }

    pub fn method(&self) -> String {
        self.string(&["method"]).unwrap_or_else(|| "unknown".into())
    }

    /// First of `keys` present as a string (or a number, shown as text).
    pub fn string(&self, keys: &[&str]) -> Option<String> {
        keys.iter().find_map(|k| match self.run.get(*k)? {
            Value::String(s) => Some(s.clone()),
            Value::Number(n) => Some(n.to_string()),
            Value::Object(o) => o
                .get("path")
                .or_else(|| o.get("model"))
                .and_then(|v| v.as_str())
                .map(String::from),
            _ => None,
        })
    }

    /// First of `keys` present as a list of strings (a single string counts as one).
    pub fn strings(&self, keys: &[&str]) -> Vec<String> {
        keys.iter()
            .find_map(|k| match self.run.get(*k)? {
                Value::Array(a) => Some(
                    a.iter()
                        .filter_map(|v| v.as_str().map(String::from))
                        .collect(),
                ),
                Value::String(s) => Some(vec![s.clone()]),
                _ => None,
            })
            .unwrap_or_default()
    }

    pub fn class_names(&self) -> Vec<String> {
        let names = self.strings(&["class_names", "classes"]);
        if names.is_empty() {
            self.eval
                .as_ref()
                .map(|e| e.class_names.clone())
                .unwrap_or_default()
        } else {
            names
        }
    }

    pub fn unseen(&self) -> Vec<String> {
        let u = self.strings(&["unseen", "unseen_classes", "unseen_class"]);
        if u.is_empty() {
            self.eval
                .as_ref()
                .map(|e| e.unseen.clone())
                .unwrap_or_default()
        } else {
            u
        }
    }

    /// Other runs in the same parent folder (baselines of the same experiment).
    pub fn siblings(&self) -> Vec<RunDir> {
        let Some(parent) = self.path.parent() else {
            return vec![];
        };
        let Ok(entries) = std::fs::read_dir(parent) else {
            return vec![];
        };
        let me = self.path.canonicalize().ok();
        let mut out: Vec<RunDir> = entries
            .filter_map(|e| e.ok())
            .map(|e| e.path())
            .filter(|p| p.join("run.json").is_file() && p.canonicalize().ok() != me)
            // a broken sibling should not break this run's report
            .filter_map(|p| RunDir::open(&p).ok())
            .collect();
        out.sort_by_key(|r| r.name());
        out
    }

    /// Numeric series of metrics.jsonl: key -> (step, value), keys in alphabetical order.
    pub fn metric_series(&self) -> Vec<(String, Vec<(f64, f64)>)> {
        let mut series: Vec<(String, Vec<(f64, f64)>)> = vec![];
        for (i, row) in self.metrics.iter().enumerate() {
            let step = row.get("step").and_then(|v| v.as_f64()).unwrap_or(i as f64);
            for (k, v) in row {
                if k == "step" {
                    continue;
                }
                if let Some(x) = v.as_f64() {
                    match series.iter_mut().find(|(name, _)| name == k) {
                        Some((_, pts)) => pts.push((step, x)),
                        None => series.push((k.clone(), vec![(step, x)])),
                    }
                }
            }
        }
        series
    }
}

impl RunDir {
    /// The collapse guard's per-class diversity (generated / real) by step: class -> points.
    pub fn diversity_series(&self) -> Vec<(String, Vec<(f64, f64)>)> {
        let mut series: Vec<(String, Vec<(f64, f64)>)> = vec![];
        for row in &self.metrics {
            let (Some(step), Some(Value::Object(d))) = (
                row.get("step").and_then(|v| v.as_f64()),
                row.get("diversity"),
            ) else {
                continue;
            };
            for (class, v) in d {
                let Some(x) = v.as_f64() else { continue };
                match series.iter_mut().find(|(name, _)| name == class) {
                    Some((_, pts)) => pts.push((step, x)),
                    None => series.push((class.clone(), vec![(step, x)])),
                }
            }
        }
        series
    }

    /// The last preview's verdict of the collapse guard: (step, collapsed classes).
    pub fn last_collapse_reading(&self) -> Option<(u64, Vec<String>)> {
        self.metrics.iter().rev().find_map(|row| {
            let collapsed = row.get("collapsed")?.as_array()?;
            let step = row.get("step")?.as_u64()?;
            Some((
                step,
                collapsed
                    .iter()
                    .filter_map(|c| c.as_str().map(String::from))
                    .collect(),
            ))
        })
    }
}

fn read_metrics(path: &Path) -> Result<Vec<Map<String, Value>>> {
    let Ok(text) = std::fs::read_to_string(path) else {
        return Ok(vec![]);
    };
    let mut rows = vec![];
    for (i, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        match serde_json::from_str::<Value>(line) {
            Ok(Value::Object(m)) => rows.push(m),
            // A run killed mid-write leaves a truncated last line; that one is not an error.
            Err(_) if i + 1 == text.lines().count() => {}
            Ok(_) => bail!(
                "{}:{}: expected a JSON object per line",
                path.display(),
                i + 1
            ),
            Err(e) => bail!("{}:{}: invalid JSON: {e}", path.display(), i + 1),
        }
    }
    Ok(rows)
}

/// Entries named `step_NNNNNN{suffix}` in `dir`, sorted by step (empty when `dir` is absent).
fn numbered_entries(dir: &Path, suffix: &str) -> Result<Vec<(u64, PathBuf)>> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Ok(vec![]);
    };
    let mut out = vec![];
    for e in entries {
        let e = e.with_context(|| format!("listing {}", dir.display()))?;
        let name = e.file_name().to_string_lossy().into_owned();
        if let Some(n) = name
            .strip_prefix("step_")
            .and_then(|r| r.strip_suffix(suffix))
        {
            if let Ok(step) = n.parse::<u64>() {
                out.push((step, e.path()));
            }
        }
    }
    out.sort();
    Ok(out)
}
