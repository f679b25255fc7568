//! Checkpoints and the run description: atomic writes, keep-last-K, finding the latest.

use crate::methods::LegacyOptimizerKeys;
use anyhow::{bail, Context, Result};
use candle_core::Tensor;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashMap};
use std::fs::File;
use std::path::{Path, PathBuf};

use super::rng_state::RngState;

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
        let path = run_dir.join("run.json");
        let text = std::fs::read_to_string(&path)
            .with_context(|| format!("reading {}", path.display()))?;
        serde_json::from_str(&text)
            .with_context(|| format!("{}: not a probegan run description", path.display()))
    }

    pub fn save(&self, run_dir: &Path) -> Result<()> {
        write_atomic(
            &run_dir.join("run.json"),
            serde_json::to_string_pretty(self)?.as_bytes(),
        )
    }
}

/// `state.json` of a checkpoint.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TrainState {
    /// Completed steps of the method's schedule.
    pub step: usize,
    pub rng: RngState,
    /// Adam's step count per parameter group.
    #[serde(default)]
    pub optimizer_steps: BTreeMap<String, u64>,
    /// Fields of checkpoints written before groups had names (their step counts).
    #[serde(flatten)]
    pub legacy: BTreeMap<String, serde_json::Value>,
}

impl TrainState {
    /// The key prefix of `group`'s moments in `optimizers` and its step count: under the
    /// group's name, or where checkpoints written before named groups kept them.
    pub fn optimizer_state_of(
        &self,
        group: &str,
        legacy: Option<LegacyOptimizerKeys>,
        optimizers: &HashMap<String, Tensor>,
        origin: &str,
    ) -> Result<(String, u64)> {
        if let Some(&step) = self.optimizer_steps.get(group) {
            return Ok((group.to_string(), step));
        }
        let has_prefix = |p: &str| optimizers.keys().any(|k| k.starts_with(&format!("{p}.")));
        if let Some(keys) = legacy {
            if let Some(step) = self.legacy.get(keys.step_field).and_then(|v| v.as_u64()) {
                if has_prefix(keys.prefix) || !has_prefix(group) {
                    return Ok((keys.prefix.to_string(), step));
                }
            }
        }
        bail!(
            "{origin}: no optimiser state for parameter group `{group}` (the checkpoint was written \
             by a different method); resume with the run's own config, or start a new run"
        )
    }
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

/// Write a checkpoint folder atomically: `fill` writes files into a temporary folder, which
/// is fsynced and renamed into place. Older checkpoints beyond `keep` are removed afterwards.
pub fn write_checkpoint(
    run_dir: &Path,
    step: usize,
    keep: usize,
    fill: impl FnOnce(&Path) -> Result<()>,
) -> Result<PathBuf> {
    let dir = run_dir.join(CHECKPOINTS);
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    let name = checkpoint_name(step);
    let tmp = dir.join(format!(".{name}.tmp"));
    if tmp.exists() {
        std::fs::remove_dir_all(&tmp)?;
    }
    std::fs::create_dir_all(&tmp)?;
    fill(&tmp)?;
    for e in std::fs::read_dir(&tmp)? {
        File::open(e?.path())?.sync_all()?;
    }
    File::open(&tmp)?.sync_all()?;
    let final_path = dir.join(&name);
    if final_path.exists() {
        std::fs::remove_dir_all(&final_path)?;
    }
    std::fs::rename(&tmp, &final_path)
        .with_context(|| format!("renaming {} into place", tmp.display()))?;
    File::open(&dir)?.sync_all()?;
    let all = list_checkpoints(run_dir)?;
    if all.len() > keep {
        for (_, old) in &all[..all.len() - keep] {
            std::fs::remove_dir_all(old)
                .with_context(|| format!("removing old checkpoint {}", old.display()))?;
        }
    }
    Ok(final_path)
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
