//! Pieces the methods share: drawing fakes, the conditional hinge terms, the unconditional
//! WGAN-GP terms, and the classifier loss.

use super::cgan::GanContext;
use super::config::CeBalance;
use super::LossTerms;
use crate::losses;
use crate::nets::Mode;
use anyhow::Result;
use candle_core::{Tensor, Var};

pub struct Fake {
    /// The latent codes the images were drawn from.
    pub z: Tensor,
    pub images: Tensor,
    pub labels: Tensor,
    pub labels_host: Vec<u32>,
}

/// n fakes with labels uniform over `classes`. `mode` decides whether G is differentiated.
pub fn draw_fakes(ctx: &mut GanContext, classes: &[usize], n: usize, mode: Mode) -> Result<Fake> {
    let (labels, labels_host) = ctx.labels_from(classes, n)?;
    let z = ctx.noise(n)?;
    let images = ctx.nets.g.forward(&z, &labels, mode)?;
    Ok(Fake {
        z,
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
    ctx: &GanContext,
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
pub fn d_loss_seen_cgan(ctx: &mut GanContext) -> Result<LossTerms> {
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
    super::stabilisers::d_terms(ctx, &mut terms, &real.images, &fake.images.detach())?;
    terms.finish()
}

/// D_u's WGAN critic loss with drift on both outputs, plus the gradient penalty on
/// interpolates of `x_real` and `x_fake` (D_u's inputs, possibly TileMixed). `fake_weights`
/// weigh the fakes in the critic's mean (the unseen class's dilution); `None` weighs all alike.
#[allow(clippy::too_many_arguments)]
pub fn d_wgan_gp_unconditional(
    ctx: &mut GanContext,
    options: &super::probegan::ProbeGanConfig,
    terms: &mut Terms,
    h_real: &Tensor,
    h_fake: &Tensor,
    x_real: &Tensor,
    x_fake: &Tensor,
    fake_weights: Option<&[f32]>,
) -> Result<()> {
    let loss = options;
    let d = &ctx.nets.d;
    let real = d.head_unconditional(h_real, Mode::TRAIN)?;
    let fake = d.head_unconditional(h_fake, Mode::TRAIN)?;
    let critic = match fake_weights {
        Some(w) => losses::wgan_d_weighted(&real, &fake, w)?,
        None => losses::wgan_d(&real, &fake)?,
    };
    terms.add("d_u_wgan", critic, 1.0)?;
    terms.add(
        "d_u_drift",
        (losses::drift(&real, 1.0)? + losses::drift(&fake, 1.0)?)?,
        loss.drift,
    )?;
    if loss.gp_weight > 0.0 && ctx.step % loss.gp_every == 0 {
        let n = x_real.dim(0)?;
        let alpha: Vec<f32> = (0..n).map(|_| rand::Rng::random::<f32>(ctx.rng)).collect();
        let alpha = Tensor::from_vec(alpha, n, x_real.device())?;
        let critic = |x: &Tensor| -> Result<Tensor> {
            d.head_unconditional(&d.features_u(x, None, Mode::TRAIN)?, Mode::TRAIN)
        };
        terms.add(
            "d_u_gp",
            losses::gradient_penalty(critic, x_real, x_fake, &alpha)?,
            loss.gp_weight * loss.gp_every as f64,
        )?;
    }
    Ok(())
}

/// Classifier cross-entropy of fakes against their labels, and the mean probability the
/// classifier gives the labels (logged as `cls_p`).
pub fn classifier_ce(
    ctx: &GanContext,
    terms: &mut Terms,
    images: &Tensor,
    labels: &Tensor,
    weight: f64,
) -> Result<()> {
    let margin = ctx.config.loss.ce_margin;
    add_classifier_ce(ctx, terms, "g_cls_ce", images, labels, weight, margin)
}

/// The classifier's mean cross-entropy on `images` against `labels` as the term `name`, and
/// the mean probability it gives the labels as `g_cls_p`. A fake the classifier gives at least
/// `margin` probability of its label adds nothing (0 = every fake counts;
/// `losses::ce_above_margin`).
pub fn add_classifier_ce(
    ctx: &GanContext,
    terms: &mut Terms,
    name: &str,
    images: &Tensor,
    labels: &Tensor,
    weight: f64,
    margin: f64,
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
    terms.add(name, losses::ce_above_margin(&ce, margin)?, weight)?;
    terms.log("g_cls_p", p);
    Ok(())
}

/// G's loss: the method's adversarial terms (`adversarial` adds them for images `x`) plus the
/// classifier's cross-entropy over all classes, weighted as `loss.ce_balance` says: `fixed`
/// builds one graph, `adversarial + ce_weight * CE`; `adaptive` goes through
/// [`balanced_total`].
pub fn generator_loss<F>(ctx: &mut GanContext, fake: &Fake, adversarial: F) -> Result<LossTerms>
where
    F: FnOnce(&mut GanContext, &Tensor, &mut Terms) -> Result<()>,
{
    let weight = ctx.config.loss.ce_weight;
    // The method's adversarial terms plus the shared stabilisers on the same images.
    let adversarial = |ctx: &mut GanContext, images: &Tensor, terms: &mut Terms| -> Result<()> {
        adversarial(ctx, images, terms)?;
        super::stabilisers::g_terms(ctx, terms, fake, images)
    };
    // The classifier term's view (`loss.ce_view_*`; the identity by default).
    let (n, _, h, w) = fake.images.dims4()?;
    let view = ctx.config.loss.ce_view().draw(ctx.rng, n, h, w)?;
    if ctx.config.loss.ce_balance == CeBalance::Fixed {
        let mut terms = Terms::default();
        adversarial(ctx, &fake.images, &mut terms)?;
        let seen = view.apply(&fake.images)?;
        classifier_ce(ctx, &mut terms, &seen, &fake.labels, weight)?;
        return terms.finish();
    }
    let x = Var::from_tensor(&fake.images.detach())?;
    let mut terms = Terms::default();
    adversarial(ctx, x.as_tensor(), &mut terms)?;
    let adv = terms.finish()?;
    balanced_total(
        &fake.images,
        (x, adv),
        |x| {
            let mut terms = Terms::default();
            classifier_ce(ctx, &mut terms, &view.apply(x)?, &fake.labels, 1.0)?;
            terms.finish()
        },
        BalanceLimits {
            weight,
            lambda_max: ctx.config.loss.ce_lambda_max,
        },
    )
}

/// The largest λ the adaptive balance ever uses, whatever `loss.ce_lambda_max` says.
const LAMBDA_SAFETY_LIMIT: f64 = 1e4;

/// How [`balanced_total`] weighs the classifier term: its gradient norm is `weight` times the
/// adversarial one's, with the multiplier never above `lambda_max` (when set).
#[derive(Debug, Clone, Copy)]
pub struct BalanceLimits {
    pub weight: f64,
    pub lambda_max: Option<f64>,
}

impl BalanceLimits {
    pub fn ratio(weight: f64) -> Self {
        BalanceLimits {
            weight,
            lambda_max: None,
        }
    }
}

/// The adaptive balance. `adversarial` is the adversarial loss already built on `x`, a
/// detached variable copy of `images`; `classifier` builds the classifier loss on `x`. Both
/// are differentiated to `x`; the classifier gradient is rescaled by λ so that its norm is
/// `limits.weight` times the adversarial gradient's norm (λ at most `limits.lambda_max`);
/// the returned total is the surrogate `sum(images * (g_adv + λ g_cls))`, whose backward
/// through whatever produced `images` (G) is exactly that combined gradient. λ and both
/// norms are logged (`g_cls_weight`, `g_grad_adv`, `g_grad_cls`) next to the parts' own terms.
pub fn balanced_total<C>(
    images: &Tensor,
    adversarial: (Var, LossTerms),
    classifier: C,
    limits: BalanceLimits,
) -> Result<LossTerms>
where
    C: FnOnce(&Tensor) -> Result<LossTerms>,
{
    let (x, adv) = adversarial;
    let g_adv = gradient_at(&adv.total, &x)?;
    let cls = classifier(x.as_tensor())?;
    let g_cls = gradient_at(&cls.total, &x)?;
    let norm = |g: &Tensor| -> Result<f64> {
        Ok(g.to_dtype(candle_core::DType::F64)?
            .sqr()?
            .sum_all()?
            .sqrt()?
            .to_scalar::<f64>()?)
    };
    let (n_adv, n_cls) = (norm(&g_adv)?, norm(&g_cls)?);
    // A vanishing classifier gradient (every fake already certain) needs no rescue, and the
    // safety limit keeps a near-vanishing one from blowing the step up.
    let cap = limits
        .lambda_max
        .map_or(LAMBDA_SAFETY_LIMIT, |m| m.min(LAMBDA_SAFETY_LIMIT));
    let lambda = if n_cls > 0.0 {
        (limits.weight * n_adv / n_cls).min(cap)
    } else {
        0.0
    };
    let combined = (g_adv + (g_cls * lambda)?)?;
    let total = (images * combined.detach())?.sum_all()?;
    let mut logs = adv.logs;
    logs.extend(cls.logs);
    logs.push(("g_cls_weight".into(), lambda));
    logs.push(("g_grad_adv".into(), n_adv));
    logs.push(("g_grad_cls".into(), n_cls));
    Ok(LossTerms { total, logs })
}

/// d loss / d x for a loss built on the variable `x` (zeros when the loss does not reach it).
fn gradient_at(loss: &Tensor, x: &Var) -> Result<Tensor> {
    let grads = loss.backward()?;
    Ok(match grads.get(x.as_tensor()) {
        Some(g) => g.detach(),
        None => x.as_tensor().zeros_like()?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::{DType, Device};

    /// images = θ ⊙ c (a stand-in for G), adversarial = Σ a·x², classifier = Σ sin(b·x).
    fn setup() -> (Var, Tensor, Tensor, Tensor) {
        let dev = Device::Cpu;
        let theta =
            Var::from_tensor(&Tensor::new(&[0.3f64, -0.7, 1.1, 0.2, -0.4, 0.9], &dev).unwrap())
                .unwrap();
        let c = Tensor::new(&[1.5f64, 0.5, -2.0, 1.0, 3.0, -0.5], &dev).unwrap();
        let a = Tensor::new(&[0.2f64, 1.0, 0.1, 0.4, 0.3, 0.6], &dev).unwrap();
        let b = Tensor::new(&[0.05f64, -0.02, 0.03, 0.01, 0.04, -0.03], &dev).unwrap();
        (theta, c, a, b)
    }

    fn adversarial_loss(x: &Tensor, a: &Tensor) -> Result<LossTerms> {
        let mut t = Terms::default();
        t.add("adv", (x.sqr()? * a)?.sum_all()?, 1.0)?;
        t.finish()
    }

    fn classifier_loss(x: &Tensor, b: &Tensor) -> Result<LossTerms> {
        let mut t = Terms::default();
        t.add("cls", (x * b)?.sin()?.sum_all()?, 1.0)?;
        t.finish()
    }

    fn log(terms: &LossTerms, name: &str) -> f64 {
        terms.logs.iter().find(|(k, _)| k == name).unwrap().1
    }

    /// `balanced_total` as G's step calls it: the adversarial loss on a detached variable
    /// copy of `images`, the classifier loss (weights `b`) built on that copy.
    fn balance(images: &Tensor, a: &Tensor, b: &Tensor, limits: BalanceLimits) -> LossTerms {
        let x = Var::from_tensor(&images.detach()).unwrap();
        let adv = adversarial_loss(x.as_tensor(), a).unwrap();
        balanced_total(images, (x, adv), |x| classifier_loss(x, b), limits).unwrap()
    }

    fn gradient(loss: &Tensor, theta: &Var) -> Vec<f64> {
        gradient_at(loss, theta).unwrap().to_vec1::<f64>().unwrap()
    }

    /// Reference: one graph, adversarial + λ * classifier, differentiated to θ directly.
    fn joint_gradient(theta: &Var, c: &Tensor, a: &Tensor, b: &Tensor, lambda: f64) -> Vec<f64> {
        let x = theta.as_tensor().mul(c).unwrap();
        let joint = (adversarial_loss(&x, a).unwrap().total
            + (classifier_loss(&x, b).unwrap().total * lambda).unwrap())
        .unwrap();
        gradient(&joint, theta)
    }

    fn assert_same_gradient(got: &[f64], want: &[f64]) {
        for (g, w) in got.iter().zip(want) {
            assert!(
                (g - w).abs() < 1e-9 * (1.0 + w.abs()),
                "{got:?} vs {want:?}"
            );
        }
    }

    #[test]
    fn surrogate_gives_the_generator_the_rescaled_combined_gradient() {
        let (theta, c, a, b) = setup();
        let images = theta.as_tensor().mul(&c).unwrap();
        let total = balance(&images, &a, &b, BalanceLimits::ratio(2.0));
        let lambda = log(&total, "g_cls_weight");
        // The classifier's gradient is much weaker here; λ makes its norm 2x the adversary's.
        let (n_adv, n_cls) = (log(&total, "g_grad_adv"), log(&total, "g_grad_cls"));
        assert!((lambda * n_cls / n_adv - 2.0).abs() < 1e-9, "ratio");
        assert!(lambda > 10.0, "λ = {lambda}: the weak term was boosted");
        let want = joint_gradient(&theta, &c, &a, &b, lambda);
        assert!(want.iter().any(|w| w.abs() > 1e-6), "θ gets a gradient");
        assert_same_gradient(&gradient(&total.total, &theta), &want);
    }

    #[test]
    fn the_cap_bounds_lambda_and_the_gradient_follows_it() {
        let (theta, c, a, b) = setup();
        let images = theta.as_tensor().mul(&c).unwrap();
        let lambda = |limits| log(&balance(&images, &a, &b, limits), "g_cls_weight");
        let free = lambda(BalanceLimits::ratio(2.0));
        let cap = free / 4.0;
        let capped = balance(
            &images,
            &a,
            &b,
            BalanceLimits {
                weight: 2.0,
                lambda_max: Some(cap),
            },
        );
        assert_eq!(log(&capped, "g_cls_weight"), cap, "λ is clamped to the cap");
        // A cap above the free λ changes nothing.
        let loose = lambda(BalanceLimits {
            weight: 2.0,
            lambda_max: Some(free * 2.0),
        });
        assert!((loose - free).abs() < 1e-12 * free);
        // The capped surrogate is the joint gradient of adversarial + cap * classifier.
        assert_same_gradient(
            &gradient(&capped.total, &theta),
            &joint_gradient(&theta, &c, &a, &b, cap),
        );
    }

    #[test]
    fn a_classifier_term_without_gradient_gets_no_weight() {
        let (theta, c, a, _) = setup();
        let images = theta.as_tensor().mul(&c).unwrap();
        let zeros = Tensor::zeros(6, DType::F64, &Device::Cpu).unwrap();
        let total = balance(&images, &a, &zeros, BalanceLimits::ratio(1.0));
        assert_eq!(log(&total, "g_cls_weight"), 0.0);
        assert!(total.total.to_scalar::<f64>().unwrap().is_finite());
    }
}
