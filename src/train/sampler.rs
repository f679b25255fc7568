//! Drawing samples from a trained run: the EMA generator of a checkpoint, in evaluation mode.
//! This is the contract `metrics`, `report` and `probegan sample` use.

use super::config::Config;
use crate::data::ClassSpace;
use crate::data::{MelFeatures, Split, TrainData};
use crate::methods::{self, Condition, Method, RealImages};
use crate::run::{latest_checkpoint, run_dir_of, RunInfo};
use anyhow::{bail, Context, Result};
use candle_core::{Device, Tensor};
use std::path::Path;

/// Held-out substrates a stored substrate run paints on.
const SAMPLER_SUBSTRATES: usize = 64;

/// A trained run's method, rebuilt from `run.json` with a checkpoint's weights.
pub struct RunSampler {
    method: Box<dyn Method>,
    info: RunInfo,
    /// The held-out substrates a substrate run paints `Condition::Class` samples on.
    substrates: Option<Tensor>,
    /// An audio run's front end (from its classifier's adapter), or why it could not be read.
    mel: std::result::Result<Option<MelFeatures>, String>,
}

/// `checkpoint`: a checkpoint folder, or a run folder (its newest checkpoint is used).
pub fn load_sampler(checkpoint: &Path, device: &Device) -> Result<RunSampler> {
    let ckpt = latest_checkpoint(checkpoint)?;
    let run_dir = run_dir_of(&ckpt)?;
    let info = RunInfo::load(&run_dir)?;
    let config = Config::from_run_json(&info.config)
        .with_context(|| format!("{}/run.json: its config", run_dir.display()))?;
    let mut method = methods::build(
        &config.method,
        &super::setup::method_settings(&config)?,
        info.class_names.len(),
        &info.unseen_indices,
        device,
    )?;
    for (name, store) in method.stores() {
        store.load(&ckpt.join(format!("{name}.safetensors")))?;
    }
    let k = info.class_names.len();
    let mut held_out = None;
    if method.real_images(k, &info.unseen_indices) == RealImages::Substrates {
        // Paint on the run's held-out substrates (files it never trained on).
        let substrates = super::setup::load_dataset_split(&config, Split::Test)
            .with_context(|| format!("{}: loading the run's substrates", run_dir.display()))?;
        // At the painter's size, as training saw them (a non-folder source keeps its own).
        let all: Vec<usize> = (0..substrates.class_names.len()).collect();
        let substrates = TrainData::from_dataset(
            &substrates,
            &all,
            config.model.dims(),
            config.model.channels,
            device,
        )?;
        let len = substrates.len;
        let n = len.min(SAMPLER_SUBSTRATES);
        let rows: Vec<usize> = (0..n).map(|i| i * len / n).collect();
        let images = substrates.batch(&rows)?.images;
        method.use_substrates(images.clone())?;
        held_out = Some(images);
    }
    let mel = super::setup::classifier_mel_features(&config).map_err(|e| format!("{e:#}"));
    Ok(RunSampler {
        method,
        info,
        substrates: held_out,
        mel,
    })
}

impl RunSampler {
    /// `n` samples of `class`: [n, C, H, W] in [-1, 1]. Same seed, same samples.
    pub fn sample(&self, class: usize, n: usize, seed: u64) -> Result<Tensor> {
        self.sample_condition(&Condition::Class(class), n, seed)
    }

    /// `n` samples of any condition the run's method takes.
    pub fn sample_condition(&self, condition: &Condition, n: usize, seed: u64) -> Result<Tensor> {
        if n == 0 {
            bail!("asked for 0 samples");
        }
        Ok(self.method.sample(condition, n, seed)?.detach())
    }

    pub fn class_names(&self) -> &[String] {
        &self.info.class_names
    }

    /// A substrate run's held-out substrates [N, C, R, R] (files it never trained on), in
    /// the order `Condition::Class` samples paint on them; `None` for class generators.
    pub fn substrates(&self) -> Option<&Tensor> {
        self.substrates.as_ref()
    }

    pub fn unseen(&self) -> &[usize] {
        &self.info.unseen_indices
    }

    /// The run's class a user means by `name` (the rule of `ClassSpace::index`).
    pub fn class_index(&self, name: &str) -> Result<usize> {
        ClassSpace::new(self.info.class_names.clone()).index(name, "the run")
    }

    /// The mel front end of an audio run (its samples are spectrograms to be heard);
    /// `None` for image runs. An error when the run's adapter cannot be read.
    pub fn mel(&self) -> Result<Option<&MelFeatures>> {
        match &self.mel {
            Ok(m) => Ok(m.as_ref()),
            Err(e) => bail!("the run's classifier adapter: {e}"),
        }
    }

    /// Whether the run's samples are audio, `false` when that cannot be told.
    pub fn is_audio(&self) -> bool {
        matches!(self.mel, Ok(Some(_)))
    }

    pub fn info(&self) -> &RunInfo {
        &self.info
    }
}
