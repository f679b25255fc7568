//! Writing checkpoints (atomic, keep-last-K) and their `state.json`; where they live and how
//! the newest is found is the run directory's contract (`crate::run`).

use crate::methods::LegacyOptimizerKeys;
use crate::run::{checkpoint_name, list_checkpoints, CHECKPOINTS};
use anyhow::{bail, Context, Result};
use candle_core::Tensor;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashMap};
use std::fs::File;
use std::path::{Path, PathBuf};

use super::rng_state::RngState;

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
