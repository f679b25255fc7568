//! Training methods. A method builds and owns its networks, declares the parameter groups the
//! loop optimises (each with its Adam settings and, optionally, an EMA copy), says which
//! groups step at each step, builds each group's loss, and samples from what it learned.
//! The loop in `crate::train` owns optimisers, EMA updates, checkpoints, logging, previews
//! and the NaN guard, and never asks which method it runs.
//!
//! | method | D | G loss | real data |
//! |---|---|---|---|
//! | `probegan` | D_c hinge (seen) + D_u WGAN-GP (all fakes) | hinge + WGAN + CE over all classes | seen |
//! | `naive` | D_c hinge (seen) | hinge + CE over all classes | seen |
//! | `oracle` | as ProbeGAN, nothing masked | as ProbeGAN | all classes |
//! | `am` | cGAN on seen, then a new class embedding maximises the classifier | | seen |
//! | `soft-label` | projection D on classifier soft labels (C2G / PreImageGAN) | hinge | seen |
//! | `substrate` | PatchGAN on (substrate, image) | cGAN + classifier presence on whole/crops + substrate + mask | substrates only |
//!
//! The first five are class-conditional GANs sharing one pair of networks (`cgan::CganNets`); a
//! method with other networks implements [`Method`] directly (`tests/custom_method.rs`
//! trains an image-to-image method through the same loop).

use crate::classifier::Classifier;
use crate::data::TrainData;
use crate::nets::{EmaPairs, ParamStore};
use anyhow::{bail, Result};
use candle_core::{Device, Tensor, Var};
use rand_chacha::ChaCha8Rng;

pub mod am;
pub mod cgan;
pub mod class_focus;
pub mod common;
pub mod config;
pub mod naive;
pub mod oracle;
pub mod probegan;
pub mod soft_label;
pub mod stabilisers;
pub mod substrate;
pub mod testing;
pub mod tilemix;
pub mod unseen_anchor;
pub mod views;

pub use config::{CeBalance, LossConfig, MethodConfig, Settings, TrainConfig};

/// What a method sees during one loss computation: everything but its own networks.
pub struct StepContext<'a> {
    pub classifier: &'a dyn Classifier,
    /// Real images of the classes the method may see (`Method::real_classes`).
    pub data: &'a TrainData,
    /// The run's RNG (seeded and checkpointed, so runs are reproducible and resume exactly).
    pub rng: &'a mut ChaCha8Rng,
    pub config: &'a Settings,
    pub unseen: &'a [usize],
    pub step: usize,
}

/// A loss to minimise plus named scalars for the metrics log.
pub struct LossTerms {
    pub total: Tensor,
    pub logs: Vec<(String, f64)>,
}

/// Adam's settings for one parameter group.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct AdamSettings {
    pub lr: f64,
    pub beta1: f64,
    pub beta2: f64,
}

/// Where a group's optimiser state lived in checkpoints written before groups had names.
#[derive(Debug, Clone, Copy)]
pub struct LegacyOptimizerKeys {
    /// Prefix of its moments in `optimizers.safetensors`.
    pub prefix: &'static str,
    /// Its step count's field in `state.json`.
    pub step_field: &'static str,
}

/// Parameters the loop optimises together with one Adam.
pub struct ParamGroup {
    /// Names the group in schedules and its optimiser state in checkpoints.
    pub name: &'static str,
    pub params: Vec<(String, Var)>,
    pub adam: AdamSettings,
    /// An EMA copy of the group's networks, updated by the loop after each step of the group
    /// (decay from `[train]`).
    pub ema: Option<EmaPairs>,
    pub legacy: Option<LegacyOptimizerKeys>,
}

/// One entry of a step's schedule: step `group` `repeats` times, in order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Phase {
    pub group: &'static str,
    pub repeats: usize,
}

/// What to sample: the conditions a sampler may take. A method answers the ones it supports
/// and refuses the others with an error.
#[derive(Debug, Clone)]
pub enum Condition {
    /// One problem class (index into the run's classes).
    Class(usize),
    /// A mix of classes, (class, weight) with weights summing to 1.
    Mix(Vec<(usize, f32)>),
    /// Class content painted onto an input image `[1, C, H, W]` in generator space (a
    /// substrate), for methods that take one. `target` holds (class, weight) pairs: one
    /// class, a mix, or none at all (an image free of every class).
    OnImage {
        image: Tensor,
        target: Vec<(usize, f32)>,
    },
    /// A class within one group of a grouped dataset (e.g. Waterbirds' landbird-on-water),
    /// for methods conditioned on groups.
    Group { class: usize, group: usize },
}

/// The real images a method trains on: labelled images of some of the classifier's classes,
/// or substrates whose own labels mean nothing to the classifier (every image of the run's
/// data, whatever its folder).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RealImages {
    Classes(Vec<usize>),
    Substrates,
}

/// Samples in generator space (`[N, C, H, W]`, values in [-1, 1]), the same for the same seed,
/// detached from the generator's graph (callers keep thousands of them).
pub trait Sampler {
    fn sample(&self, condition: &Condition, n: usize, seed: u64) -> Result<Tensor>;
}

pub trait Method: Sampler + Send {
    /// The name in configs, `run.json` and reports.
    fn name(&self) -> &'static str;

    /// Which real images the method reads (default: those of the seen classes).
    fn real_images(&self, num_classes: usize, unseen: &[usize]) -> RealImages {
        RealImages::Classes((0..num_classes).filter(|c| !unseen.contains(c)).collect())
    }

    /// One-off work before the first step (e.g. soft labels from the classifier).
    fn prepare(&mut self, _ctx: &mut StepContext) -> Result<()> {
        Ok(())
    }

    /// Substrates to paint on when sampling a stored run (methods whose `real_images` are
    /// `Substrates`; `prepare` gives them the training ones).
    fn use_substrates(&mut self, _images: Tensor) -> Result<()> {
        bail!("method `{}` does not paint on substrates", self.name())
    }

    /// The groups the loop optimises, each once; names are unique.
    fn param_groups(&self) -> Result<Vec<ParamGroup>>;

    /// Every store the method owns, by name: checkpoints save and load `NAME.safetensors`.
    fn stores(&self) -> Vec<(&'static str, &ParamStore)>;

    /// Stores a checkpoint may lack: state that starts empty and is filled during training
    /// (ProbeGAN's unseen anchor), so that a run can resume from checkpoints written before it
    /// existed. Saved like `stores`, loaded when present; sampling never needs them.
    fn optional_stores(&self) -> Vec<(&'static str, &ParamStore)> {
        vec![]
    }

    /// The groups that step at `step`, in order.
    fn schedule(&self, step: usize) -> Vec<Phase>;

    /// The loss whose gradient steps `group`.
    fn loss(&mut self, group: &'static str, ctx: &mut StepContext) -> Result<LossTerms>;

    /// Called before the loop samples from or saves the method's networks after `step`
    /// steps: the time to refresh derived state such as batch-norm statistics.
    fn before_snapshot(&self, _step: usize) -> Result<()> {
        Ok(())
    }
}

/// Build the method a config names, with fresh networks for `num_classes` classes.
pub fn build(
    config: &MethodConfig,
    settings: &Settings,
    num_classes: usize,
    unseen: &[usize],
    device: &Device,
) -> Result<Box<dyn Method>> {
    if num_classes == 0 {
        bail!("a method needs at least one class");
    }
    let nets = |stats_classes: Vec<usize>| {
        cgan::CganNets::new(settings, num_classes, stats_classes, device)
    };
    let all: Vec<usize> = (0..num_classes).collect();
    let seen: Vec<usize> = all
        .iter()
        .copied()
        .filter(|c| !unseen.contains(c))
        .collect();
    Ok(match config {
        MethodConfig::Probegan(c) => {
            Box::new(probegan::ProbeGan::new(nets(all)?, c.clone(), false)?)
        }
        MethodConfig::Oracle(c) => Box::new(oracle::oracle(nets(all)?, c.clone())?),
        MethodConfig::Naive {} => Box::new(naive::Naive::new(nets(all)?)),
        // AM's second phase optimises the new embedding against statistics of the seen classes.
        MethodConfig::Am(c) => Box::new(am::Am::new(nets(seen)?, c.clone(), settings)),
        MethodConfig::SoftLabel {} => Box::new(soft_label::SoftLabel::new(nets(all)?)),
        MethodConfig::Substrate(c) => Box::new(substrate::SubstrateMethod::new(
            c.clone(),
            settings,
            num_classes,
            device,
        )?),
    })
}
