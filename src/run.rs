//! The run directory: what `train` writes and `eval`, `report` and `sample` read, typed once.
//!
//! ```text
//! RUN_DIR/run.json            RunInfo: method, resolved config, classifier (adapter/model),
//!                             class names, unseen classes (indices and names), seed, net config
//! RUN_DIR/config.toml         the resolved config (file + --set overrides)
//! RUN_DIR/metrics.jsonl       one MetricsRow per logged step
//! RUN_DIR/samples/step_NNNNNN.png   grid, one row per class, unseen rows framed in red
//! RUN_DIR/checkpoints/step_NNNNNN/  a checkpoint (see `train::checkpoint`)
//! RUN_DIR/eval/eval.json      written by `probegan eval` (optional)
//! ```

use anyhow::{bail, Context, Result};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fs::File;
use std::path::{Path, PathBuf};

pub const RUN_JSON: &str = "run.json";
pub const CONFIG_TOML: &str = "config.toml";
pub const METRICS: &str = "metrics.jsonl";
pub const SAMPLES: &str = "samples";
pub const EVAL_DIR: &str = "eval";

/// `RUN_DIR/samples/step_NNNNNN.png`.
pub fn sample_grid_path(run_dir: &Path, step: usize) -> PathBuf {
    run_dir.join(SAMPLES).join(format!("step_{step:06}.png"))
}

/// `run.json`: what a run is, enough to rebuild its generator without the config file.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RunInfo {
    pub method: String,
    pub seed: u64,
    pub class_names: Vec<String>,
    /// Unseen class names (what `report` reads) and their indices.
    pub unseen: Vec<String>,
    pub unseen_indices: Vec<usize>,
    pub classifier: ClassifierInfo,
    pub net: crate::nets::NetConfig,
    /// The resolved config, as JSON.
    pub config: serde_json::Value,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ClassifierInfo {
    pub adapter: String,
    pub model: Option<String>,
}

impl RunInfo {
    pub fn load(run_dir: &Path) -> Result<RunInfo> {
        let path = run_dir.join(RUN_JSON);
        let text = std::fs::read_to_string(&path)
            .with_context(|| format!("reading {}", path.display()))?;
        serde_json::from_str(&text)
            .with_context(|| format!("{}: not a probegan run description", path.display()))
    }

    pub fn save(&self, run_dir: &Path) -> Result<()> {
        write_atomic(
            &run_dir.join(RUN_JSON),
            serde_json::to_string_pretty(self)?.as_bytes(),
        )
    }
}

/// One line of `metrics.jsonl`. Every logged step has the step, the method's named losses and
/// scalars, and timing; previews add the collapse guard's reading.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct MetricsRow {
    pub step: u64,
    /// Classifier probability of the unseen classes on the method's samples (none when no
    /// class is unseen).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub p_unseen: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub it_per_s: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub time_s: Option<f64>,
    /// Per class: the samples' pixel diversity as a fraction of real images' (previews only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub diversity: Option<BTreeMap<String, f64>>,
    /// Classes below `run.collapse_fraction` at this preview.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub collapsed: Option<Vec<String>>,
    /// The method's named losses and scalars (`d_c_real`, `g_cls_ce`, ...).
    #[serde(flatten)]
    pub values: BTreeMap<String, f64>,
}

/// Read `metrics.jsonl` (none yet: no rows). A malformed line is an error naming file and
/// line, except the last one: a run killed mid-write leaves it cut short.
pub fn read_metrics(path: &Path) -> Result<Vec<MetricsRow>> {
    let Ok(text) = std::fs::read_to_string(path) else {
        return Ok(vec![]);
    };
    let lines: Vec<&str> = text.lines().collect();
    let mut rows = vec![];
    for (i, line) in lines.iter().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        match serde_json::from_str::<MetricsRow>(line) {
            Ok(row) => rows.push(row),
            Err(_) if i + 1 == lines.len() => {}
            Err(e) => bail!("{}:{}: {e}", path.display(), i + 1),
        }
    }
    Ok(rows)
}

pub const CHECKPOINTS: &str = "checkpoints";

pub fn checkpoint_name(step: usize) -> String {
    format!("step_{step:06}")
}

/// Step numbers of complete checkpoints in `run_dir`, ascending.
pub fn list_checkpoints(run_dir: &Path) -> Result<Vec<(usize, PathBuf)>> {
    let dir = run_dir.join(CHECKPOINTS);
    if !dir.is_dir() {
        return Ok(vec![]);
    }
    let mut out = vec![];
    for e in std::fs::read_dir(&dir).with_context(|| format!("listing {}", dir.display()))? {
        let path = e?.path();
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        if let Some(num) = name.strip_prefix("step_") {
            if let Ok(step) = num.parse::<usize>() {
                if path.join("state.json").is_file() {
                    out.push((step, path));
                }
            }
        }
    }
    out.sort();
    Ok(out)
}

/// The newest checkpoint of a run directory, or the path itself if it is a checkpoint.
pub fn latest_checkpoint(path: &Path) -> Result<PathBuf> {
    if path.join("state.json").is_file() {
        return Ok(path.to_path_buf());
    }
    if !path.exists() {
        bail!("{}: no such run or checkpoint directory", path.display());
    }
    match list_checkpoints(path)?.pop() {
        Some((_, p)) => Ok(p),
        None => bail!(
            "{}: no checkpoint found (expected {}/step_NNNNNN/state.json)",
            path.display(),
            CHECKPOINTS
        ),
    }
}

/// The run directory a checkpoint belongs to (RUN_DIR/checkpoints/step_N -> RUN_DIR).
pub fn run_dir_of(checkpoint: &Path) -> Result<PathBuf> {
    checkpoint
        .parent()
        .and_then(|p| p.parent())
        .map(Path::to_path_buf)
        .with_context(|| {
            format!(
                "{}: a checkpoint lives in RUN_DIR/checkpoints/",
                checkpoint.display()
            )
        })
}

/// Write a file via temp + fsync + rename.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    let tmp = path.with_extension("tmp");
    {
        use std::io::Write;
        let mut f = File::create(&tmp).with_context(|| format!("writing {}", tmp.display()))?;
        f.write_all(bytes)?;
        f.sync_all()?;
    }
    std::fs::rename(&tmp, path).with_context(|| format!("renaming {}", tmp.display()))?;
    Ok(())
}
