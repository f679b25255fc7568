//! Pieces the methods share: drawing fakes, the conditional hinge terms, the unconditional
//! WGAN-GP terms, and the classifier loss.

use super::{LossTerms, StepContext};
use crate::losses;
use crate::nets::Mode;
use anyhow::Result;
use candle_core::Tensor;

pub struct Fake {
    pub images: Tensor,
    pub labels: Tensor,
    pub labels_host: Vec<u32>,
}

/// n fakes with labels uniform over `classes`. `mode` decides whether G is differentiated.
pub fn draw_fakes(ctx: &mut StepContext, classes: &[usize], n: usize, mode: Mode) -> Result<Fake> {
    let (labels, labels_host) = ctx.labels_from(classes, n)?;
    let z = ctx.noise(n)?;
    let images = ctx.nets.g.forward(&z, &labels, mode)?;
    Ok(Fake {
        images,
        labels,
        labels_host,
    })
}

/// Collects named terms into a total.
#[derive(Default)]
pub struct Terms {
    total: Option<Tensor>,
    logs: Vec<(String, f64)>,
}

impl Terms {
    /// Add `weight * term`, logging the unweighted value under `name`.
    pub fn add(&mut self, name: &str, term: Tensor, weight: f64) -> Result<()> {
        self.logs.push((
            name.to_string(),
            term.to_dtype(candle_core::DType::F64)?.to_scalar::<f64>()?,
        ));
        let w = if weight == 1.0 {
            term
        } else {
            (term * weight)?
        };
        self.total = Some(match self.total.take() {
            Some(t) => (t + w)?,
            None => w,
        });
        Ok(())
    }

    pub fn log(&mut self, name: &str, value: f64) {
        self.logs.push((name.to_string(), value));
    }

    pub fn finish(self) -> Result<LossTerms> {
        let total = self
            .total
            .ok_or_else(|| anyhow::anyhow!("a method produced no loss terms"))?;
        Ok(LossTerms {
            total,
            logs: self.logs,
        })
    }
}

/// D's hinge loss on the projection head: reals, and fakes where `fake_mask` is 1.
pub fn d_hinge_conditional(
    ctx: &StepContext,
    terms: &mut Terms,
    h_real: &Tensor,
    y_real: &Tensor,
    h_fake: &Tensor,
    y_fake: &Tensor,
    fake_mask: Option<&Tensor>,
) -> Result<()> {
    let d = &ctx.nets.d;
    let real = d.head_conditional(h_real, y_real, Mode::TRAIN)?;
    let fake = d.head_conditional(h_fake, y_fake, Mode::TRAIN)?;
    terms.add("d_c_real", losses::hinge_d_real(&real, None)?, 1.0)?;
    terms.add("d_c_fake", losses::hinge_d_fake(&fake, fake_mask)?, 1.0)?;
    Ok(())
}

/// The D step of a conditional GAN on the seen classes only (NAIVE, and AM's first phase):
/// D_c's hinge loss on real images and on fakes of seen labels. D_c never sees unseen-class
/// fakes, so only seen labels are drawn (no compute wasted).
pub fn d_loss_seen_cgan(ctx: &mut StepContext) -> Result<LossTerms> {
    let n = ctx.config.train.batch_size;
    let real = ctx.data.sample(ctx.rng, n)?;
    let seen = ctx.seen_classes();
    let fake = draw_fakes(ctx, &seen, n, Mode::TRAIN_FROZEN)?;
    let h = ctx.nets.d.features(
        &Tensor::cat(&[&real.images, &fake.images.detach()], 0)?,
        Mode::TRAIN,
    )?;
    let mut terms = Terms::default();
    d_hinge_conditional(
        ctx,
        &mut terms,
        &h.narrow(0, 0, n)?,
        &real.labels,
        &h.narrow(0, n, n)?,
        &fake.labels,
        None,
    )?;
    terms.finish()
}

/// D_u's WGAN critic loss with drift on both outputs, plus the gradient penalty on
/// interpolates of `x_real` and `x_fake` (D_u's inputs, possibly TileMixed).
#[allow(clippy::too_many_arguments)]
pub fn d_wgan_gp_unconditional(
    ctx: &mut StepContext,
    terms: &mut Terms,
    h_real: &Tensor,
    h_fake: &Tensor,
    x_real: &Tensor,
    x_fake: &Tensor,
) -> Result<()> {
    let loss = &ctx.config.loss;
    let d = &ctx.nets.d;
    let real = d.head_unconditional(h_real, Mode::TRAIN)?;
    let fake = d.head_unconditional(h_fake, Mode::TRAIN)?;
    terms.add("d_u_wgan", losses::wgan_d(&real, &fake)?, 1.0)?;
    terms.add(
        "d_u_drift",
        (losses::drift(&real, 1.0)? + losses::drift(&fake, 1.0)?)?,
        loss.drift,
    )?;
    if loss.gp_weight > 0.0 {
        let n = x_real.dim(0)?;
        let alpha: Vec<f32> = (0..n).map(|_| rand::Rng::random::<f32>(ctx.rng)).collect();
        let alpha = Tensor::from_vec(alpha, n, x_real.device())?;
        let critic = |x: &Tensor| -> Result<Tensor> {
            d.head_unconditional(&d.features(x, Mode::TRAIN)?, Mode::TRAIN)
        };
        terms.add(
            "d_u_gp",
            losses::gradient_penalty(critic, x_real, x_fake, &alpha)?,
            loss.gp_weight,
        )?;
    }
    Ok(())
}

/// Classifier cross-entropy of fakes against their labels, and the mean probability the
/// classifier gives the labels (logged as `cls_p`).
pub fn classifier_ce(
    ctx: &StepContext,
    terms: &mut Terms,
    images: &Tensor,
    labels: &Tensor,
    weight: f64,
) -> Result<()> {
    let logits = ctx.classifier.logits(images)?;
    let ce = losses::cross_entropy_per_sample(&logits, labels)?;
    let p = ce
        .detach()
        .neg()?
        .exp()?
        .mean_all()?
        .to_dtype(candle_core::DType::F64)?
        .to_scalar::<f64>()?;
    terms.add("g_cls_ce", ce.mean_all()?, weight)?;
    terms.log("g_cls_p", p);
    Ok(())
}
