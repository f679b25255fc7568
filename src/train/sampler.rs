//! Drawing samples from a trained run: the EMA generator of a checkpoint, in evaluation mode.
//! This is the contract `metrics`, `report` and `probegan sample` use.

use super::checkpoint::{latest_checkpoint, run_dir_of, RunInfo};
use crate::nets::{Generator, Mode, ParamStore};
use anyhow::{bail, Result};
use candle_core::{Device, Tensor};
use rand::SeedableRng;
use std::path::Path;

pub struct GeneratorSampler {
    generator: Generator,
    _store: ParamStore,
    info: RunInfo,
    device: Device,
}

/// `checkpoint`: a checkpoint folder, or a run folder (its newest checkpoint is used).
pub fn load_sampler(checkpoint: &Path, device: &Device) -> Result<GeneratorSampler> {
    let ckpt = latest_checkpoint(checkpoint)?;
    let run_dir = run_dir_of(&ckpt)?;
    let info = RunInfo::load(&run_dir)?;
    let store = ParamStore::new(device, 0);
    let generator = Generator::new(&store.root(), &info.net, info.class_names.len())?;
    store.load(&ckpt.join("generator_ema.safetensors"))?;
    Ok(GeneratorSampler {
        generator,
        _store: store,
        info,
        device: device.clone(),
    })
}

impl GeneratorSampler {
    /// `n` samples of `class`: [n, C, H, W] in [-1, 1]. Same seed, same samples.
    pub fn sample(&self, class: usize, n: usize, seed: u64) -> Result<Tensor> {
        if class >= self.info.class_names.len() {
            bail!(
                "class index {class} out of range: the run has {} classes",
                self.info.class_names.len()
            );
        }
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
        let zd = self.generator.config.z_dim;
        let z: Vec<f32> = (0..n * zd)
            .map(|_| crate::nets::params::gaussian(&mut rng) as f32)
            .collect();
        let z = Tensor::from_vec(z, (n, zd), &self.device)?;
        let y = Tensor::from_vec(vec![class as u32; n], n, &self.device)?;
        // Chunks keep memory flat for large n; BN is in evaluation mode so chunks are independent.
        let mut parts = vec![];
        let chunk = 256;
        for start in (0..n).step_by(chunk) {
            let len = chunk.min(n - start);
            parts.push(self.generator.forward(
                &z.narrow(0, start, len)?,
                &y.narrow(0, start, len)?,
                Mode::EVAL,
            )?);
        }
        if parts.is_empty() {
            bail!("asked for 0 samples");
        }
        Ok(Tensor::cat(&parts, 0)?)
    }

    pub fn class_names(&self) -> &[String] {
        &self.info.class_names
    }

    pub fn unseen(&self) -> &[usize] {
        &self.info.unseen_indices
    }

    pub fn class_index(&self, name: &str) -> Result<usize> {
        if let Some(i) = self.info.class_names.iter().position(|c| c == name) {
            return Ok(i);
        }
        if let Some(i) = self
            .info
            .class_names
            .iter()
            .position(|c| c.eq_ignore_ascii_case(name))
        {
            return Ok(i);
        }
        if let Ok(i) = name.parse::<usize>() {
            if i < self.info.class_names.len() {
                return Ok(i);
            }
        }
        bail!(
            "unknown class `{name}`; the run's classes are: {}",
            self.info.class_names.join(", ")
        )
    }

    pub fn info(&self) -> &RunInfo {
        &self.info
    }
}
