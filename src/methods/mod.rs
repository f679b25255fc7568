//! Training methods, each a small `Method` on the one shared loop in `crate::train`.
//!
//! A method says which real classes it may see, builds the discriminator's and the
//! generator's loss for one step from the shared nets and losses, and returns them with
//! named scalars for the log. The loop owns optimisers, EMA, checkpoints and I/O.
//!
//! | method | D | G loss | real data |
//! |---|---|---|---|
//! | `probegan` | D_c hinge (seen) + D_u WGAN-GP (all fakes) | hinge + WGAN + CE over all classes | seen |
//! | `naive` | D_c hinge (seen) | hinge + CE over all classes | seen |
//! | `oracle` | as ProbeGAN, nothing masked | as ProbeGAN | all classes |
//! | `am` | cGAN on seen, then a new class embedding maximises the classifier | | seen |
//! | `soft-label` | projection D on classifier soft labels (C2G / PreImageGAN) | hinge | seen |

use crate::classifier::Classifier;
use crate::data::TrainData;
use crate::nets::{Discriminator, Generator, ParamStore};
use crate::train::Config;
use anyhow::{bail, Result};
use candle_core::{Device, Tensor};
use rand::Rng;
use rand_chacha::ChaCha8Rng;

pub mod am;
pub mod common;
pub mod naive;
pub mod oracle;
pub mod probegan;
pub mod soft_label;
pub mod stabilisers;
pub mod testing;
pub mod tilemix;

/// The networks of one run. `g_ema` is what sampling uses.
pub struct Nets {
    pub g: Generator,
    pub g_store: ParamStore,
    pub g_ema: Generator,
    pub ema_store: ParamStore,
    pub d: Discriminator,
    pub d_store: ParamStore,
}

/// What a method sees during one loss computation.
pub struct StepContext<'a> {
    pub nets: &'a Nets,
    pub classifier: &'a dyn Classifier,
    pub data: &'a TrainData,
    pub rng: &'a mut ChaCha8Rng,
    pub config: &'a Config,
    pub unseen: &'a [usize],
    pub step: usize,
}

impl StepContext<'_> {
    pub fn num_classes(&self) -> usize {
        self.nets.g.num_classes
    }

    pub fn device(&self) -> &Device {
        self.nets.g_store.device()
    }

    pub fn seen_classes(&self) -> Vec<usize> {
        (0..self.num_classes())
            .filter(|c| !self.unseen.contains(c))
            .collect()
    }

    pub fn all_classes(&self) -> Vec<usize> {
        (0..self.num_classes()).collect()
    }

    /// Standard normal noise [n, z_dim] from the run's RNG (seeded, so runs are reproducible).
    pub fn noise(&mut self, n: usize) -> Result<Tensor> {
        let zd = self.nets.g.config.z_dim;
        let v: Vec<f32> = (0..n * zd)
            .map(|_| crate::nets::params::gaussian(self.rng) as f32)
            .collect();
        Ok(Tensor::from_vec(v, (n, zd), self.device())?)
    }

    /// Labels drawn uniformly from `classes`: (device tensor [n] u32, host copy).
    pub fn labels_from(&mut self, classes: &[usize], n: usize) -> Result<(Tensor, Vec<u32>)> {
        if classes.is_empty() {
            bail!("no classes to draw labels from");
        }
        let host: Vec<u32> = (0..n)
            .map(|_| classes[self.rng.random_range(0..classes.len())] as u32)
            .collect();
        Ok((Tensor::from_vec(host.clone(), n, self.device())?, host))
    }

    /// 1.0 where the label is a seen class, else 0.0 ([n] f32).
    pub fn seen_mask(&self, labels: &[u32]) -> Result<Tensor> {
        let m: Vec<f32> = labels
            .iter()
            .map(|&l| {
                if self.unseen.contains(&(l as usize)) {
                    0.0
                } else {
                    1.0
                }
            })
            .collect();
        Ok(Tensor::from_vec(m, labels.len(), self.device())?)
    }
}

/// A loss to minimise plus named scalars for the metrics log.
pub struct LossTerms {
    pub total: Tensor,
    pub logs: Vec<(String, f64)>,
}

/// What the generator-side update changes this step.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GUpdate {
    /// All of G's parameters, then the EMA follows.
    Generator,
    /// Only the EMA generator's class-embedding table (BigGAN-AM's second phase).
    EmaClassEmbedding,
}

pub trait Method: Send {
    fn name(&self) -> &'static str;

    /// Classes whose real images the method may use (default: the seen ones).
    fn real_classes(&self, num_classes: usize, unseen: &[usize]) -> Vec<usize> {
        (0..num_classes).filter(|c| !unseen.contains(c)).collect()
    }

    /// One-off work before the first step (e.g. soft labels from the classifier).
    fn prepare(&mut self, _ctx: &mut StepContext) -> Result<()> {
        Ok(())
    }

    fn d_steps(&self, step: usize, config: &Config) -> usize {
        let _ = step;
        config.train.d_steps
    }

    fn g_update(&self, step: usize, config: &Config) -> GUpdate {
        let _ = (step, config);
        GUpdate::Generator
    }

    fn d_loss(&self, ctx: &mut StepContext) -> Result<LossTerms>;
    fn g_loss(&self, ctx: &mut StepContext) -> Result<LossTerms>;
}

pub const METHODS: [&str; 5] = ["probegan", "naive", "oracle", "am", "soft-label"];

pub fn check_method_name(name: &str) -> Result<()> {
    if METHODS.contains(&name) {
        Ok(())
    } else {
        bail!(
            "unknown method `{name}`; expected one of {}",
            METHODS.join(", ")
        )
    }
}

pub fn build(name: &str, config: &Config) -> Result<Box<dyn Method>> {
    check_method_name(name)?;
    Ok(match name {
        "probegan" => Box::new(probegan::ProbeGan::new(config)),
        "naive" => Box::new(naive::Naive),
        "oracle" => Box::new(oracle::Oracle::new(config)),
        "am" => Box::new(am::Am),
        "soft-label" => Box::new(soft_label::SoftLabel::default()),
        _ => unreachable!(),
    })
}
