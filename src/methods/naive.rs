//! NAIVE: a conditional GAN on the seen classes plus the classifier loss over all classes,
//! without ProbeGAN's unconditional discriminator. Unseen-class fakes are constrained by the
//! classifier only, so they drift off the data manifold (adversarial-looking patterns).

use super::cgan::{CganMethod, CganNets, GanContext};
use super::common::{d_loss_seen_cgan, draw_fakes, generator_loss};
use super::LossTerms;
use crate::losses;
use crate::nets::Mode;
use anyhow::Result;

pub struct Naive {
    nets: CganNets,
}

impl Naive {
    pub fn new(nets: CganNets) -> Self {
        Naive { nets }
    }
}

impl CganMethod for Naive {
    fn name(&self) -> &'static str {
        "naive"
    }

    fn nets(&self) -> &CganNets {
        &self.nets
    }

    fn d_loss(&self, ctx: &mut GanContext) -> Result<LossTerms> {
        d_loss_seen_cgan(ctx)
    }

    fn g_loss(&self, ctx: &mut GanContext) -> Result<LossTerms> {
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
