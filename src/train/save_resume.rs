//! Saving the loop's state as a checkpoint (the method's stores by name, one Adam per
//! parameter group, the RNG) and resuming from the newest one.

use super::checkpoint::{write_checkpoint, TrainState};
use super::metrics_log::truncate_metrics;
use super::rng_state::RngState;
use super::trainer::Trainer;
use crate::run::{RunInfo, METRICS};
use anyhow::{bail, Context, Result};
use std::collections::HashMap;
use std::path::PathBuf;

impl Trainer {
    /// All parameters finite (checked before a checkpoint is written).
    fn params_finite(&self) -> Result<bool> {
        for (_, store) in self.method.stores() {
            for (_, v) in store.all() {
                let s = v
                    .as_detached_tensor()
                    .sum_all()?
                    .to_dtype(candle_core::DType::F64)?
                    .to_scalar::<f64>()?;
                if !s.is_finite() {
                    return Ok(false);
                }
            }
        }
        Ok(true)
    }

    /// Write a checkpoint of the current step (atomic; keeps the newest K).
    pub fn save_checkpoint(&self) -> Result<PathBuf> {
        if !self.params_finite()? {
            bail!(
                "step {}: parameters are not finite; not overwriting the last good checkpoint",
                self.step
            );
        }
        self.method.before_snapshot(self.step)?;
        let state = TrainState {
            step: self.step,
            rng: RngState::capture(&self.rng),
            optimizer_steps: self
                .groups
                .iter()
                .map(|g| (g.name.to_string(), g.adam.step))
                .collect(),
            legacy: Default::default(),
        };
        write_checkpoint(
            &self.run_dir,
            self.step,
            self.config.run.keep_checkpoints,
            |dir| {
                let optional = self.method.optional_stores();
                for (name, store) in self.method.stores().into_iter().chain(optional) {
                    store.save(&dir.join(format!("{name}.safetensors")))?;
                }
                let mut opt = HashMap::new();
                for g in &self.groups {
                    g.adam.state_tensors(g.name, &mut opt);
                }
                candle_core::safetensors::save(&opt, dir.join("optimizers.safetensors"))?;
                std::fs::write(
                    dir.join("state.json"),
                    serde_json::to_string_pretty(&state)?,
                )?;
                Ok(())
            },
        )
    }

    /// Continue from the newest checkpoint in the run dir. Returns its step.
    pub fn resume(&mut self) -> Result<usize> {
        let ckpt = crate::run::latest_checkpoint(&self.run_dir).with_context(|| {
            format!("--resume: nothing to resume in {}", self.run_dir.display())
        })?;
        let info = RunInfo::load(&self.run_dir)?;
        if info.net != self.config.model || info.method != self.method.name() {
            bail!(
                "--resume: {} was trained with method `{}` and a different [model] config; resume with the same config",
                self.run_dir.display(),
                info.method
            );
        }
        let state: TrainState = serde_json::from_str(
            &std::fs::read_to_string(ckpt.join("state.json"))
                .with_context(|| format!("reading {}/state.json", ckpt.display()))?,
        )
        .with_context(|| format!("{}/state.json: invalid", ckpt.display()))?;
        for (name, store) in self.method.stores() {
            store.load(&ckpt.join(format!("{name}.safetensors")))?;
        }
        for (name, store) in self.method.optional_stores() {
            let path = ckpt.join(format!("{name}.safetensors"));
            if path.exists() {
                store.load(&path)?;
            }
        }
        let opt_path = ckpt.join("optimizers.safetensors");
        let device = self.data.images.device().clone();
        let opt = candle_core::safetensors::load(&opt_path, &device)
            .with_context(|| format!("reading {}", opt_path.display()))?;
        let origin = opt_path.display().to_string();
        for g in &mut self.groups {
            let (prefix, step) = state.optimizer_state_of(g.name, g.legacy, &opt, &origin)?;
            g.adam.load_state(&prefix, &opt, step, &origin)?;
        }
        self.rng = state.rng.restore()?;
        self.step = state.step;
        truncate_metrics(&self.run_dir.join(METRICS), self.step)?;
        Ok(self.step)
    }
}
