//! Reading a training run directory for the report: its `RunInfo`, metrics rows, sample
//! grids, checkpoints and evaluation, as `crate::run` defines them.
//!
//! The reader is lenient about *optional* parts (a run without eval or samples still gets a
//! report) and strict about broken ones (a malformed metrics line names file and line).

use crate::metrics::evaluation::{EvalReport, EVAL_FILE};
use crate::run::{
    read_metrics, MetricsRow, RunInfo, CONFIG_TOML, EVAL_DIR, METRICS, RUN_JSON, SAMPLES,
};
use anyhow::{bail, Context, Result};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

pub struct RunDir {
    pub path: PathBuf,
    pub run: RunInfo,
    pub config_toml: Option<String>,
    /// One row per metrics line, in file order.
    pub metrics: Vec<MetricsRow>,
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
        if !path.join(RUN_JSON).is_file() {
            bail!(
                "{}: a run directory needs {RUN_JSON} (written by `probegan train`)",
                path.display()
            );
        }
        let run = RunInfo::load(path)?;
        let config_toml = std::fs::read_to_string(path.join(CONFIG_TOML)).ok();
        let metrics = read_metrics(&path.join(METRICS))?;
        let samples = numbered_entries(&path.join(SAMPLES), ".png")?;
        let checkpoints = numbered_entries(&path.join(crate::run::CHECKPOINTS), "")?
            .into_iter()
            .map(|(s, _)| s)
            .collect();
        let eval_path = path.join(EVAL_DIR).join(EVAL_FILE);
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
        self.run.method.clone()
    }

    pub fn class_names(&self) -> Vec<String> {
        self.run.class_names.clone()
    }

    pub fn unseen(&self) -> Vec<String> {
        self.run.unseen.clone()
    }

    /// The classifier the run trained against: its model file, or its adapter when the
    /// adapter names the model.
    pub fn classifier(&self) -> String {
        let c = &self.run.classifier;
        c.model.clone().unwrap_or_else(|| c.adapter.clone())
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
            .filter(|p| p.join(RUN_JSON).is_file() && p.canonicalize().ok() != me)
            // a broken sibling should not break this run's report
            .filter_map(|p| RunDir::open(&p).ok())
            .collect();
        out.sort_by_key(|r| r.name());
        out
    }

    /// Numeric series of metrics.jsonl: key -> (step, value), keys in alphabetical order.
    pub fn metric_series(&self) -> Vec<(String, Vec<(f64, f64)>)> {
        let mut series: BTreeMap<String, Vec<(f64, f64)>> = BTreeMap::new();
        for row in &self.metrics {
            let step = row.step as f64;
            let timing = [
                ("p_unseen", row.p_unseen),
                ("it_per_s", row.it_per_s),
                ("time_s", row.time_s),
            ];
            let values = row.values.iter().map(|(k, v)| (k.as_str(), Some(*v)));
            for (k, v) in timing.into_iter().chain(values) {
                if let Some(x) = v {
                    series.entry(k.to_string()).or_default().push((step, x));
                }
            }
        }
        series.into_iter().collect()
    }
}

impl RunDir {
    /// The collapse guard's per-class diversity (generated / real) by step: class -> points.
    pub fn diversity_series(&self) -> Vec<(String, Vec<(f64, f64)>)> {
        let mut series: Vec<(String, Vec<(f64, f64)>)> = vec![];
        for row in &self.metrics {
            let Some(d) = &row.diversity else { continue };
            for (class, &x) in d {
                match series.iter_mut().find(|(name, _)| name == class) {
                    Some((_, pts)) => pts.push((row.step as f64, x)),
                    None => series.push((class.clone(), vec![(row.step as f64, x)])),
                }
            }
        }
        series
    }

    /// The last preview's verdict of the collapse guard: (step, collapsed classes).
    pub fn last_collapse_reading(&self) -> Option<(u64, Vec<String>)> {
        self.metrics
            .iter()
            .rev()
            .find_map(|row| Some((row.step, row.collapsed.clone()?)))
    }
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
