//! The networks the class-conditional methods share: G (class-conditional BN, projection
//! embedding), its EMA copy (what sampling uses) and the two-headed D, with their parameter
//! groups, checkpoint stores, standing statistics and sampler; and `GanContext`, the step
//! context those methods' losses read.

use super::{
    AdamSettings, Condition, LegacyOptimizerKeys, LossTerms, Method, ParamGroup, Phase, Sampler,
    Settings, StepContext,
};
use crate::classifier::Classifier;
use crate::data::TrainData;
use crate::nets::params::gaussian_noise;
use crate::nets::{Discriminator, EmaPairs, Generator, Mode, ParamStore};
use anyhow::{bail, Result};
use candle_core::{Device, Tensor};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use std::cell::Cell;

/// Samples per generator pass when sampling (keeps memory flat for large n; BN is in
/// evaluation mode, so chunks are independent).
const SAMPLE_CHUNK: usize = 256;

pub struct CganNets {
    pub g: Generator,
    pub g_store: ParamStore,
    pub g_ema: Generator,
    pub ema_store: ParamStore,
    pub d: Discriminator,
    pub d_store: ParamStore,
    adam_g: AdamSettings,
    adam_d: AdamSettings,
    /// Classes the EMA generator's batch-norm statistics are computed from.
    stats_classes: Vec<usize>,
    stats_batch: usize,
    d_steps: usize,
    seed: u64,
    /// The step whose EMA weights the standing statistics were last computed for: previews,
    /// the collapse guard and checkpoints of one step share one computation.
    stats_at: Cell<Option<usize>>,
    /// Set once the statistics must no longer change (AM's second phase).
    stats_frozen: Cell<bool>,
}

impl CganNets {
    pub fn new(
        settings: &Settings,
        num_classes: usize,
        stats_classes: Vec<usize>,
        device: &Device,
    ) -> Result<Self> {
        if stats_classes.is_empty() {
            bail!("no classes to compute the generator's batch-norm statistics from");
        }
        let seed = settings.seed;
        let g_store = ParamStore::new(device, seed ^ 0x6e6e_0001);
        let mel = settings.mel.as_ref();
        let g = Generator::with_mel(&g_store.root(), &settings.model, num_classes, mel)?;
        let ema_store = ParamStore::new(device, seed ^ 0x6e6e_0001);
        let g_ema = Generator::with_mel(&ema_store.root(), &settings.model, num_classes, mel)?;
        ema_store.copy_from(&g_store)?;
        let d_store = ParamStore::new(device, seed ^ 0x6e6e_0002);
        let mut d = Discriminator::new(&d_store.root(), &settings.model, num_classes)?;
        super::stabilisers::add_discriminator_heads(&mut d, &d_store.root(), &settings.loss)?;
        let t = &settings.train;
        let adam = |lr| AdamSettings {
            lr,
            beta1: t.beta1,
            beta2: t.beta2,
        };
        Ok(CganNets {
            g,
            g_store,
            g_ema,
            ema_store,
            d,
            d_store,
            adam_g: adam(t.lr_g),
            adam_d: adam(t.lr_d),
            stats_classes,
            stats_batch: t.batch_size,
            d_steps: t.d_steps,
            seed,
            stats_at: Cell::new(None),
            stats_frozen: Cell::new(false),
        })
    }

    pub fn num_classes(&self) -> usize {
        self.g.num_classes
    }

    /// `generator` (with its EMA copy) and `discriminator`.
    pub fn param_groups(&self) -> Result<Vec<ParamGroup>> {
        Ok(vec![
            ParamGroup {
                name: GENERATOR,
                params: self.g_store.trainable(),
                adam: self.adam_g,
                ema: Some(EmaPairs::new(&self.ema_store, &self.g_store)?),
                legacy: Some(LegacyOptimizerKeys {
                    prefix: "g",
                    step_field: "opt_g_step",
                }),
            },
            ParamGroup {
                name: DISCRIMINATOR,
                params: self.d_store.trainable(),
                adam: self.adam_d,
                ema: None,
                legacy: Some(LegacyOptimizerKeys {
                    prefix: "d",
                    step_field: "opt_d_step",
                }),
            },
        ])
    }

    pub fn stores(&self) -> Vec<(&'static str, &ParamStore)> {
        vec![
            ("generator", &self.g_store),
            ("generator_ema", &self.ema_store),
            ("discriminator", &self.d_store),
        ]
    }

    /// `train.d_steps` discriminator steps, then one generator step.
    pub fn schedule(&self) -> Vec<Phase> {
        vec![
            Phase {
                group: DISCRIMINATOR,
                repeats: self.d_steps,
            },
            Phase {
                group: GENERATOR,
                repeats: 1,
            },
        ]
    }

    /// Standing statistics for the EMA generator after `step` steps, from a fixed seed (never
    /// the run's RNG); nothing to do when they are current or frozen.
    pub fn refresh_stats(&self, step: usize) -> Result<()> {
        if self.stats_frozen.get() || self.stats_at.get() == Some(step) {
            return Ok(());
        }
        let classes = &self.stats_classes;
        let n = self.stats_batch;
        let zd = self.g_ema.config.z_dim;
        let dev = self.ema_store.device().clone();
        let mut rng = ChaCha8Rng::seed_from_u64(self.seed ^ 0x5747_a7d5);
        self.g_ema.standing_stats(8, |_| {
            let z = gaussian_noise(&mut rng, n, zd, &dev)?;
            let y: Vec<u32> = (0..n).map(|i| classes[i % classes.len()] as u32).collect();
            Ok((z, Tensor::from_vec(y, n, &dev)?))
        })?;
        self.stats_at.set(Some(step));
        Ok(())
    }

    /// Compute the statistics once more and keep them from now on.
    pub fn freeze_stats(&self, step: usize) -> Result<()> {
        self.refresh_stats(step)?;
        self.stats_frozen.set(true);
        Ok(())
    }

    /// `n` EMA samples of `condition` in evaluation mode; the same seed gives the same samples.
    pub fn sample(&self, condition: &Condition, n: usize, seed: u64) -> Result<Tensor> {
        let k = self.num_classes();
        let dev = self.ema_store.device();
        let g = &self.g_ema;
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let z = gaussian_noise(&mut rng, n, g.config.z_dim, dev)?;
        let embedding = match condition {
            Condition::Class(c) => {
                if *c >= k {
                    bail!("class index {c} out of range: the run has {k} classes");
                }
                g.embed(&Tensor::from_vec(vec![*c as u32; n], n, dev)?, Mode::EVAL)?
            }
            Condition::Mix(parts) => {
                let mut p = vec![0f32; k];
                for &(c, w) in parts {
                    if c >= k {
                        bail!("class index {c} out of range: the run has {k} classes");
                    }
                    p[c] += w;
                }
                let p = Tensor::from_vec(p, (1, k), dev)?.repeat((n, 1))?;
                g.embedding.mix(&p, Mode::EVAL)?
            }
            Condition::OnImage { .. } => {
                bail!("this method's generator is conditioned on classes, not on an image")
            }
            Condition::Group { .. } => {
                bail!("this method's generator is conditioned on classes, not on groups")
            }
        };
        let mut parts = vec![];
        for start in (0..n).step_by(SAMPLE_CHUNK) {
            let len = SAMPLE_CHUNK.min(n - start);
            // Detached: G's weights are variables, so each output would otherwise keep its
            // chunk's whole forward graph alive (an audio eval of 500 clips per class held
            // 10 GB).
            let x = g.forward_embedded(
                &z.narrow(0, start, len)?,
                &embedding.narrow(0, start, len)?,
                Mode::EVAL,
            )?;
            parts.push(x.detach());
        }
        Ok(Tensor::cat(&parts, 0)?)
    }

    /// The context the shared class-conditional losses read.
    pub fn context<'a>(&'a self, ctx: &'a mut StepContext) -> GanContext<'a> {
        GanContext {
            nets: self,
            classifier: ctx.classifier,
            data: ctx.data,
            rng: &mut *ctx.rng,
            config: ctx.config,
            unseen: ctx.unseen,
            step: ctx.step,
        }
    }
}

/// A class-conditional method on [`CganNets`]: it writes D's and G's losses and gets the rest
/// of [`Method`] (groups, stores, schedule, statistics, sampling) from the shared networks.
pub trait CganMethod: Send {
    fn name(&self) -> &'static str;
    fn nets(&self) -> &CganNets;

    /// Classes whose real images the method may use (default: the seen ones).
    fn real_classes(&self, num_classes: usize, unseen: &[usize]) -> Vec<usize> {
        (0..num_classes).filter(|c| !unseen.contains(c)).collect()
    }

    fn prepare(&mut self, _ctx: &mut StepContext) -> Result<()> {
        Ok(())
    }

    /// Groups beyond `generator` and `discriminator`.
    fn extra_groups(&self) -> Vec<ParamGroup> {
        vec![]
    }

    /// [`Method::optional_stores`]: state beyond the shared networks.
    fn optional_stores(&self) -> Vec<(&'static str, &ParamStore)> {
        vec![]
    }

    fn schedule(&self, _step: usize) -> Vec<Phase> {
        self.nets().schedule()
    }

    fn d_loss(&self, ctx: &mut GanContext) -> Result<LossTerms>;
    fn g_loss(&self, ctx: &mut GanContext) -> Result<LossTerms>;

    /// The loss of a group from `extra_groups`.
    fn extra_loss(&self, group: &'static str, _ctx: &mut GanContext) -> Result<LossTerms> {
        bail!("{}: no parameter group `{group}`", self.name())
    }
}

impl<T: CganMethod> Method for T {
    fn name(&self) -> &'static str {
        CganMethod::name(self)
    }

    fn real_images(&self, num_classes: usize, unseen: &[usize]) -> super::RealImages {
        super::RealImages::Classes(CganMethod::real_classes(self, num_classes, unseen))
    }

    fn prepare(&mut self, ctx: &mut StepContext) -> Result<()> {
        CganMethod::prepare(self, ctx)
    }

    fn param_groups(&self) -> Result<Vec<ParamGroup>> {
        let mut groups = self.nets().param_groups()?;
        groups.extend(self.extra_groups());
        Ok(groups)
    }

    fn stores(&self) -> Vec<(&'static str, &ParamStore)> {
        self.nets().stores()
    }

    fn optional_stores(&self) -> Vec<(&'static str, &ParamStore)> {
        CganMethod::optional_stores(self)
    }

    fn schedule(&self, step: usize) -> Vec<Phase> {
        CganMethod::schedule(self, step)
    }

    fn loss(&mut self, group: &'static str, ctx: &mut StepContext) -> Result<LossTerms> {
        let mut ctx = self.nets().context(ctx);
        match group {
            DISCRIMINATOR => self.d_loss(&mut ctx),
            GENERATOR => self.g_loss(&mut ctx),
            other => self.extra_loss(other, &mut ctx),
        }
    }

    fn before_snapshot(&self, step: usize) -> Result<()> {
        self.nets().refresh_stats(step)
    }
}

impl<T: CganMethod> Sampler for T {
    fn sample(&self, condition: &Condition, n: usize, seed: u64) -> Result<Tensor> {
        self.nets().sample(condition, n, seed)
    }
}

/// Parameter-group names of the class-conditional methods.
pub const GENERATOR: &str = "generator";
pub const DISCRIMINATOR: &str = "discriminator";

/// What a class-conditional method's loss sees: the shared networks and the step context.
pub struct GanContext<'a> {
    pub nets: &'a CganNets,
    pub classifier: &'a dyn Classifier,
    pub data: &'a TrainData,
    pub rng: &'a mut ChaCha8Rng,
    pub config: &'a Settings,
    pub unseen: &'a [usize],
    pub step: usize,
}

impl GanContext<'_> {
    pub fn num_classes(&self) -> usize {
        self.nets.num_classes()
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

    /// Standard normal noise [n, z_dim] from the run's RNG.
    pub fn noise(&mut self, n: usize) -> Result<Tensor> {
        let dev = self.device().clone();
        gaussian_noise(self.rng, n, self.nets.g.config.z_dim, &dev)
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
            .map(|&l| f32::from(!self.unseen.contains(&(l as usize))))
            .collect();
        Ok(Tensor::from_vec(m, labels.len(), self.device())?)
    }
}
