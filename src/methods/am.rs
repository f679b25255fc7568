//! BigGAN-AM style activation maximisation (Li et al. 2020): first a conditional GAN on the
//! seen classes (no classifier involved), then, with the generator frozen, a new class
//! embedding is optimised so that the classifier recognises its samples as the unseen class.
//! The run's last `am.steps` steps are the second phase; it works on the EMA generator, the
//! one sampling uses, whose batch-norm statistics the loop fixes from seen classes first.

use super::common::{d_loss_seen_cgan, draw_fakes, Terms};
use super::{GUpdate, LossTerms, Method, StepContext};
use crate::losses;
use crate::nets::Mode;
use crate::train::Config;
use anyhow::{bail, Result};

pub struct Am;

impl Am {
    fn in_embedding_phase(step: usize, config: &Config) -> bool {
        step >= config.run.steps.saturating_sub(config.am.steps)
    }
}

impl Method for Am {
    fn name(&self) -> &'static str {
        "am"
    }

    fn d_steps(&self, step: usize, config: &Config) -> usize {
        if Self::in_embedding_phase(step, config) {
            0
        } else {
            config.train.d_steps
        }
    }

    fn g_update(&self, step: usize, config: &Config) -> GUpdate {
        if Self::in_embedding_phase(step, config) {
            GUpdate::EmaClassEmbedding
        } else {
            GUpdate::Generator
        }
    }

    fn d_loss(&self, ctx: &mut StepContext) -> Result<LossTerms> {
        d_loss_seen_cgan(ctx)
    }

    fn g_loss(&self, ctx: &mut StepContext) -> Result<LossTerms> {
        let mut terms = Terms::default();
        if Self::in_embedding_phase(ctx.step, ctx.config) {
            if ctx.unseen.is_empty() {
                bail!("method `am` needs an unseen class (data.unseen)");
            }
            let n = ctx.config.am.batch_size;
            let unseen = ctx.unseen.to_vec();
            let (labels, _) = ctx.labels_from(&unseen, n)?;
            let z = ctx.noise(n)?;
            let g = &ctx.nets.g_ema;
            // Only the embedding is differentiated; G itself is frozen, BN uses fixed statistics.
            let e = g.embed(
                &labels,
                Mode {
                    train: false,
                    frozen: false,
                },
            )?;
            let x = g.forward_embedded(&z, &e, Mode::EVAL)?;
            let logits = ctx.classifier.logits(&x)?;
            let ce = losses::cross_entropy_per_sample(&logits, &labels)?;
            let p = ce
                .detach()
                .neg()?
                .exp()?
                .mean_all()?
                .to_dtype(candle_core::DType::F64)?
                .to_scalar::<f64>()?;
            terms.add("am_cls_ce", ce.mean_all()?, 1.0)?;
            terms.log("g_cls_p", p);
        } else {
            let n = ctx.config.train.batch_size;
            let seen = ctx.seen_classes();
            let fake = draw_fakes(ctx, &seen, n, Mode::TRAIN)?;
            let d = &ctx.nets.d;
            let h = d.features(&fake.images, Mode::TRAIN_FROZEN)?;
            let dc = d.head_conditional(&h, &fake.labels, Mode::TRAIN_FROZEN)?;
            terms.add("g_c_hinge", losses::hinge_g(&dc, None)?, 1.0)?;
        }
        terms.finish()
    }
}
