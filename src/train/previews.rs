//! What the loop shows while training: sample grids, the collapse guard's diversity reading and
//! the classifier's probability of the unseen classes, all through the method's sampler with
//! fixed noise, so that they compare across steps.

use super::diversity_watch::DiversityReading;
use super::grid::save_class_grid;
use super::trainer::Trainer;
use crate::methods::Condition;
use crate::run::sample_grid_path;
use anyhow::Result;
use std::path::PathBuf;

impl Trainer {
    /// Mean classifier probability of the unseen classes on the method's samples (fixed noise).
    pub fn unseen_probability(&self, n: usize) -> Result<Option<f64>> {
        if self.unseen.is_empty() {
            return Ok(None);
        }
        let mut total = 0.0;
        for &c in &self.unseen {
            let x = self
                .method
                .sample(&Condition::Class(c), n, 0x0b5e_47ed ^ c as u64)?;
            let logits = self.classifier.logits(&x)?.detach();
            let p = crate::losses::log_softmax(&logits)?
                .exp()?
                .narrow(1, c, 1)?
                .mean_all()?;
            total += p.to_dtype(candle_core::DType::F64)?.to_scalar::<f64>()?;
        }
        Ok(Some(total / self.unseen.len() as f64))
    }

    /// Grid of samples, one row per class (fixed noise, so grids compare across steps).
    pub fn write_samples(&self) -> Result<PathBuf> {
        self.method.before_snapshot(self.step)?;
        let cols = self.config.run.grid_columns;
        let seed = self.config.run.seed ^ 0x9e1d;
        let rows = (0..self.class_names.len())
            .map(|c| {
                self.method
                    .sample(&Condition::Class(c), cols, seed ^ c as u64)
            })
            .collect::<Result<Vec<_>>>()?;
        let x = candle_core::Tensor::cat(&rows, 0)?;
        let path = sample_grid_path(&self.run_dir, self.step);
        save_class_grid(&x, cols, &self.unseen, &path)?;
        Ok(path)
    }

    /// The collapse guard's reading: 32 samples per class (fixed noise, as the grids are drawn).
    pub fn read_diversity(&self) -> Result<DiversityReading> {
        self.method.before_snapshot(self.step)?;
        const PER_CLASS: usize = 32;
        let seed = self.config.run.seed ^ 0xd1e5;
        self.diversity_watch.read(|class| {
            self.method
                .sample(&Condition::Class(class), PER_CLASS, seed ^ class as u64)
        })
    }
}
