//! NAIVE: a conditional GAN on the seen classes plus the classifier loss over all classes,
//! without ProbeGAN's unconditional discriminator. Unseen-class fakes are constrained by the
//! classifier only, so they drift off the data manifold (adversarial-looking patterns).

use super::common::{d_loss_seen_cgan, draw_fakes, generator_loss};
use super::{LossTerms, Method, StepContext};
use crate::losses;
use crate::nets::Mode;
use anyhow::Result;

pub struct Naive;

impl Method for Naive {
    fn name(&self) -> &'static str {
        "naive"
    }

    fn d_loss(&self, ctx: &mut StepContext) -> Result<LossTerms> {
        d_loss_seen_cgan(ctx)
    }

    fn g_loss(&self, ctx: &mut StepContext) -> Result<LossTerms> {
        let n = ctx.config.train.batch_size;
        let all = ctx.all_classes();
        let fake = draw_fakes(ctx, &all, n, Mode::TRAIN)?;
        let mask = ctx.seen_mask(&fake.labels_host)?;
        generator_loss(ctx, &fake, |ctx, images, terms| {
            let d = &ctx.nets.d;
            let h = d.features(images, Mode::TRAIN_FROZEN)?;
            let dc = d.head_conditional(&h, &fake.labels, Mode::TRAIN_FROZEN)?;
            terms.add("g_c_hinge", losses::hinge_g(&dc, Some(&mask))?, 1.0)
        })
    }
}
