//! NAIVE: a conditional GAN on the seen classes plus the classifier loss over all classes,
//! without ProbeGAN's unconditional discriminator. Unseen-class fakes are constrained by the
//! classifier only, so they drift off the data manifold (adversarial-looking patterns).

use super::common::{classifier_ce, d_hinge_conditional, draw_fakes, Terms};
use super::{LossTerms, Method, StepContext};
use crate::losses;
use crate::nets::Mode;
use anyhow::Result;
use candle_core::Tensor;

pub struct Naive;

impl Method for Naive {
    fn name(&self) -> &'static str {
        "naive"
    }

    fn d_loss(&self, ctx: &mut StepContext) -> Result<LossTerms> {
        let n = ctx.config.train.batch_size;
        let real = ctx.data.sample(ctx.rng, n)?;
        // D_c never sees unseen-class fakes, so draw only seen labels (no compute wasted).
        let seen = ctx.seen_classes();
        let fake = draw_fakes(ctx, &seen, n, Mode::TRAIN_FROZEN)?;
        let h = ctx.nets.d.features(&Tensor::cat(&[&real.images, &fake.images.detach()], 0)?, Mode::TRAIN)?;
        let mut terms = Terms::default();
        d_hinge_conditional(ctx, &mut terms, &h.narrow(0, 0, n)?, &real.labels, &h.narrow(0, n, n)?, &fake.labels, None)?;
        terms.finish()
    }

    fn g_loss(&self, ctx: &mut StepContext) -> Result<LossTerms> {
        let n = ctx.config.train.batch_size;
        let all = ctx.all_classes();
        let fake = draw_fakes(ctx, &all, n, Mode::TRAIN)?;
        let d = &ctx.nets.d;
        let h = d.features(&fake.images, Mode::TRAIN_FROZEN)?;
        let mask = ctx.seen_mask(&fake.labels_host)?;
        let dc = d.head_conditional(&h, &fake.labels, Mode::TRAIN_FROZEN)?;
        let mut terms = Terms::default();
        terms.add("g_c_hinge", losses::hinge_g(&dc, Some(&mask))?, 1.0)?;
        classifier_ce(ctx, &mut terms, &fake.images, &fake.labels, ctx.config.loss.ce_weight)?;
        terms.finish()
    }
}
