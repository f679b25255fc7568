//! ProbeGAN (Zhang et al., AAAI 2022): learn a class the data lacks from the classifier alone.
//!
//! D_c (projection, hinge) is trained on seen classes only: fakes of the unseen class are
//! masked out, so nothing tells G what the unseen class looks like except the classifier.
//! D_u (linear, WGAN-GP + drift) sees all fakes, labels uniform over *all* classes, against
//! real seen images: the unseen class is diluted among the others, so D_u keeps unseen fakes
//! on the data manifold without pulling them towards any seen class. G minimises both
//! adversarial terms plus the classifier's cross-entropy over all classes.

use super::cgan::{CganMethod, CganNets, GanContext};
use super::common::{
    d_hinge_conditional, d_wgan_gp_unconditional, draw_fakes, generator_loss, Terms,
};
use super::tilemix::tilemix;
use super::unseen_anchor::UnseenAnchor;
use super::LossTerms;
use crate::losses;
use crate::nets::Mode;
use anyhow::{bail, Result};
use candle_core::Tensor;
use serde::{Deserialize, Serialize};

/// `[method]` options of ProbeGAN and ORACLE: D_u's critic and its weight in G's loss.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ProbeGanConfig {
    /// WGAN-GP weight on D_u.
    #[serde(default = "d_gp_weight")]
    pub gp_weight: f64,
    /// Lazy regularisation (StyleGAN2's): the gradient penalty runs on one step in
    /// `gp_every`, at `gp_every` times the weight. Its double backward through D_u's trunk
    /// is the dearest part of a D step, and a penalty that keeps D_u's slope near 1 need
    /// not be re-measured every step (1 = every step, the paper's).
    #[serde(default = "d_gp_every")]
    pub gp_every: usize,
    /// Drift weight: drift * E[D_u²] on real and fake outputs.
    #[serde(default = "d_drift")]
    pub drift: f64,
    /// Weight of D_u's adversarial term in G's loss.
    #[serde(default = "d_one")]
    pub d_u_weight: f64,
    /// TileMix on D_u's input: tiles per side (0 or 1 = off).
    #[serde(default)]
    pub tilemix: usize,
    /// Weight of unseen-class fakes in D_u's critic loss (1 = labels uniform over all classes,
    /// the paper's class dilution; below 1 dilutes the unseen class further, 0 leaves D_u
    /// nothing to learn about it). G's D_u term is unchanged. Per-sample, so TileMix (which
    /// mixes samples) ignores it.
    #[serde(default = "d_one")]
    pub unseen_dilution: f64,
    /// A class-blind D_u: weight of the confusion loss (`losses::confusion`) that D_u's trunk
    /// minimises through a linear probe learning to read the class from D_u's features
    /// (0 = off). The trunk learns to hide what the probe reads, so D_u's critic cannot single
    /// out the unseen class's shapes as never-real and chase them (the drift of
    /// docs/results.md, 2026-12-05; measured 2026-12-07: it does not help). Needs
    /// `model.separate_du_trunk` (D_c's projection must keep the class).
    #[serde(default)]
    pub class_blind: f64,
    /// What the class-blind probe reads: `all` (every class, on reals and fakes) or `unseen`
    /// (whether a fake is of the unseen class).
    #[serde(default)]
    pub class_blind_classes: ClassBlindTarget,
    /// From this step on, D_u's real batch holds a frozen pool of the EMA generator's samples
    /// of the unseen classes, at their share of the fake batch (0 = off;
    /// `methods::unseen_anchor`): D_u stops learning that the unseen class never occurs among
    /// the reals, the cause of its drift past ~2,000 steps.
    #[serde(default)]
    pub unseen_anchor_step: usize,
    /// Images in the unseen anchor's pool.
    #[serde(default = "d_anchor_size")]
    pub unseen_anchor_size: usize,
    /// EMA samples drawn per pool image: the pool keeps those the target classifier is surest
    /// of (1 = every sample, no selection).
    #[serde(default = "d_anchor_candidates")]
    pub unseen_anchor_candidates: usize,
}

/// `method.class_blind_classes`.
#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum ClassBlindTarget {
    #[default]
    All,
    Unseen,
}

/// Name of D's extra head that probes D_u's features for the class.
const CLASS_PROBE: &str = "class_probe";

fn d_gp_weight() -> f64 {
    10.0
}
fn d_gp_every() -> usize {
    1
}
fn d_drift() -> f64 {
    1e-4
}
fn d_one() -> f64 {
    1.0
}
fn d_anchor_size() -> usize {
    1024
}
fn d_anchor_candidates() -> usize {
    2
}

impl Default for ProbeGanConfig {
    fn default() -> Self {
        ProbeGanConfig {
            gp_weight: d_gp_weight(),
            gp_every: d_gp_every(),
            drift: d_drift(),
            d_u_weight: d_one(),
            tilemix: 0,
            unseen_dilution: d_one(),
            class_blind: 0.0,
            class_blind_classes: ClassBlindTarget::All,
            unseen_anchor_step: 0,
            unseen_anchor_size: d_anchor_size(),
            unseen_anchor_candidates: d_anchor_candidates(),
        }
    }
}

pub struct ProbeGan {
    nets: CganNets,
    options: ProbeGanConfig,
    /// All classes are seen (the ORACLE upper bound): nothing is masked.
    oracle: bool,
    /// The unseen classes' pool in D_u's reals (`unseen_anchor_step > 0`).
    anchor: Option<UnseenAnchor>,
}

impl ProbeGan {
    pub fn new(mut nets: CganNets, options: ProbeGanConfig, oracle: bool) -> Result<Self> {
        if options.gp_every == 0 {
            bail!("method.gp_every = 0: the gradient penalty runs on one step in gp_every, so it must be at least 1");
        }
        if options.class_blind > 0.0 {
            let outputs = match options.class_blind_classes {
                ClassBlindTarget::All => nets.num_classes(),
                ClassBlindTarget::Unseen => 2,
            };
            let width = nets.d.width()?;
            let root = nets.d_store.root();
            nets.d.add_head(&root, CLASS_PROBE, width, outputs)?;
        }
        let anchor = if options.unseen_anchor_step > 0 {
            // Refused by the config's validation; kept for methods built directly.
            if oracle || options.class_blind > 0.0 {
                bail!("method.unseen_anchor_step needs an unseen class and no class_blind probe");
            }
            let model = &nets.g.config;
            let device = nets.g_store.device();
            Some(UnseenAnchor::new(
                device,
                options.unseen_anchor_size,
                options.unseen_anchor_candidates,
                model.channels,
                model.dims(),
            )?)
        } else {
            None
        };
        Ok(ProbeGan {
            nets,
            options,
            oracle,
            anchor,
        })
    }

    /// The class-blind terms on D_u's features `hu` of [reals; fakes]: the probe learns to
    /// read the class from detached features, and D_u's trunk learns, through the frozen
    /// probe, to leave it nothing to read beyond the base rates.
    fn class_probe(
        &self,
        ctx: &GanContext,
        terms: &mut Terms,
        hu: &Tensor,
        real_labels: &Tensor,
        fake_labels: &[u32],
    ) -> Result<()> {
        let n = fake_labels.len();
        let (h, labels) = match self.options.class_blind_classes {
            ClassBlindTarget::All => {
                let fake = Tensor::from_vec(fake_labels.to_vec(), n, hu.device())?;
                (hu.clone(), Tensor::cat(&[real_labels, &fake], 0)?)
            }
            ClassBlindTarget::Unseen => {
                let is_unseen: Vec<u32> = fake_labels
                    .iter()
                    .map(|&l| u32::from(ctx.unseen.contains(&(l as usize))))
                    .collect();
                let start = hu.dim(0)? - n;
                (
                    hu.narrow(0, start, n)?,
                    Tensor::from_vec(is_unseen, n, hu.device())?,
                )
            }
        };
        let d = &ctx.nets.d;
        let probe = d.head(CLASS_PROBE, &h.detach(), Mode::TRAIN)?;
        // How much the probe reads: near chance when D_u is blind.
        let predicted: Vec<u32> = probe.argmax(1)?.to_vec1()?;
        let truth: Vec<u32> = labels.to_vec1()?;
        let hits = predicted.iter().zip(&truth).filter(|(p, t)| p == t).count();
        terms.log("d_u_probe_accuracy", hits as f64 / truth.len() as f64);
        terms.add(
            "d_u_class_probe",
            losses::cross_entropy(&probe, &labels)?,
            1.0,
        )?;
        // The probe may learn the base rates and nothing more: uniform over every class
        // (near enough the batch's frequencies), or the share of unseen fakes in this batch.
        let k = probe.dim(1)?;
        let rates = match self.options.class_blind_classes {
            ClassBlindTarget::All => vec![1.0 / k as f32; k],
            ClassBlindTarget::Unseen => {
                let share = truth.iter().sum::<u32>() as f32 / truth.len() as f32;
                vec![1.0 - share, share]
            }
        };
        let through_frozen_probe = d.head(CLASS_PROBE, &h, Mode::TRAIN_FROZEN)?;
        terms.add(
            "d_u_confusion",
            losses::confusion(&through_frozen_probe, &rates)?,
            self.options.class_blind,
        )
    }

    /// Per-fake weights of D_u's critic loss when the unseen class is diluted below uniform.
    fn dilution_weights(&self, ctx: &GanContext, labels: &[u32]) -> Option<Vec<f32>> {
        let w = self.options.unseen_dilution;
        if self.oracle || w == 1.0 || self.options.tilemix > 1 {
            return None;
        }
        let weights = labels
            .iter()
            .map(|&l| {
                if ctx.unseen.contains(&(l as usize)) {
                    w as f32
                } else {
                    1.0
                }
            })
            .collect();
        Some(weights)
    }

    /// D_u's real images: `real`, with the unseen classes' share of the batch taken from the
    /// anchor's pool once the anchor step is reached (the pool is filled then). `None` while
    /// D_u reads the plain reals.
    fn anchored_reals(&self, ctx: &mut GanContext, real: &Tensor) -> Result<Option<Tensor>> {
        let Some(anchor) = &self.anchor else {
            return Ok(None);
        };
        if ctx.step < self.options.unseen_anchor_step {
            return Ok(None);
        }
        if !anchor.is_filled()? {
            let seed = ctx.config.seed ^ 0xa9c4_0000 ^ ctx.step as u64;
            anchor.fill(ctx.nets, ctx.classifier, ctx.unseen, ctx.step, seed)?;
        }
        let n = real.dim(0)?;
        let share = ctx.unseen.len() as f64 / ctx.num_classes() as f64;
        let m = ((n as f64 * share).round() as usize).clamp(1, n);
        let pool = anchor.draw(ctx.rng, m)?;
        Ok(Some(Tensor::cat(&[&pool, &real.narrow(0, m, n - m)?], 0)?))
    }

    fn mask(&self, ctx: &GanContext, labels: &[u32]) -> Result<Option<Tensor>> {
        if self.oracle {
            Ok(None)
        } else {
            Ok(Some(ctx.seen_mask(labels)?))
        }
    }
}

impl CganMethod for ProbeGan {
    fn name(&self) -> &'static str {
        if self.oracle {
            "oracle"
        } else {
            "probegan"
        }
    }

    fn nets(&self) -> &CganNets {
        &self.nets
    }

    fn real_classes(&self, num_classes: usize, unseen: &[usize]) -> Vec<usize> {
        (0..num_classes)
            .filter(|c| self.oracle || !unseen.contains(c))
            .collect()
    }

    fn optional_stores(&self) -> Vec<(&'static str, &crate::nets::ParamStore)> {
        match &self.anchor {
            Some(anchor) => vec![("unseen_anchor", anchor.store())],
            None => vec![],
        }
    }

    fn d_loss(&self, ctx: &mut GanContext) -> Result<LossTerms> {
        let n = ctx.config.train.batch_size;
        let real = ctx.data.sample(ctx.rng, n)?;
        let all = ctx.all_classes();
        let fake = draw_fakes(ctx, &all, n, Mode::TRAIN_FROZEN)?;
        let x_fake = fake.images.detach();
        let d = &ctx.nets.d;
        // One trunk pass over reals and fakes together (D has no batch norm, so this is exact).
        let h = d.features(&Tensor::cat(&[&real.images, &x_fake], 0)?, Mode::TRAIN)?;
        let (h_real, h_fake) = (h.narrow(0, 0, n)?, h.narrow(0, n, n)?);
        let mut terms = Terms::default();
        let mask = self.mask(ctx, &fake.labels_host)?;
        d_hinge_conditional(
            ctx,
            &mut terms,
            &h_real,
            &real.labels,
            &h_fake,
            &fake.labels,
            mask.as_ref(),
        )?;
        let anchored = self.anchored_reals(ctx, &real.images)?;
        if anchored.is_some() {
            terms.log("d_u_anchored", 1.0);
        }
        let (xr, xf, shared) = if self.options.tilemix > 1 {
            let xr = tilemix(
                anchored.as_ref().unwrap_or(&real.images),
                self.options.tilemix,
                ctx.rng,
            )?;
            (xr, tilemix(&x_fake, self.options.tilemix, ctx.rng)?, None)
        } else if let Some(xr) = anchored {
            // A shared trunk's features of the plain reals do not describe these.
            (xr, x_fake.clone(), None)
        } else {
            (real.images.clone(), x_fake.clone(), Some(&h))
        };
        let hu = d.features_u(&Tensor::cat(&[&xr, &xf], 0)?, shared, Mode::TRAIN)?;
        let (hr, hf) = (hu.narrow(0, 0, n)?, hu.narrow(0, n, n)?);
        let weights = self.dilution_weights(ctx, &fake.labels_host);
        d_wgan_gp_unconditional(
            ctx,
            &self.options,
            &mut terms,
            &hr,
            &hf,
            &xr,
            &xf,
            weights.as_deref(),
        )?;
        if self.options.class_blind > 0.0 {
            self.class_probe(ctx, &mut terms, &hu, &real.labels, &fake.labels_host)?;
        }
        super::stabilisers::d_terms(ctx, &mut terms, &real.images, &x_fake)?;
        terms.finish()
    }

    fn g_loss(&self, ctx: &mut GanContext) -> Result<LossTerms> {
        let n = ctx.config.train.batch_size;
        let all = ctx.all_classes();
        let fake = draw_fakes(ctx, &all, n, Mode::TRAIN)?;
        let mask = self.mask(ctx, &fake.labels_host)?;
        generator_loss(ctx, &fake, |ctx, images, terms| {
            let d = &ctx.nets.d;
            let h = d.features(images, Mode::TRAIN_FROZEN)?;
            let dc = d.head_conditional(&h, &fake.labels, Mode::TRAIN_FROZEN)?;
            terms.add("g_c_hinge", losses::hinge_g(&dc, mask.as_ref())?, 1.0)?;
            let loss = &self.options;
            let du_in = if self.options.tilemix > 1 {
                let x = tilemix(images, self.options.tilemix, ctx.rng)?;
                d.features_u(&x, None, Mode::TRAIN_FROZEN)?
            } else {
                d.features_u(images, Some(&h), Mode::TRAIN_FROZEN)?
            };
            let du = d.head_unconditional(&du_in, Mode::TRAIN_FROZEN)?;
            terms.add("g_u_wgan", losses::hinge_g(&du, None)?, loss.d_u_weight)?;
            terms.add(
                "g_u_drift",
                losses::drift(&du, 1.0)?,
                loss.drift * loss.d_u_weight,
            )
        })
    }
}
