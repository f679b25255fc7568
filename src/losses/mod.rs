//! GAN and classifier losses, each a small function on candle tensors (all differentiable).
//!
//! Conventions: discriminator outputs are [N] tensors; losses are scalars to *minimise*.
//! Masked variants take a 0/1 f32 mask [N] and average over the selected entries only
//! (ProbeGAN's D_c ignores fakes of the unseen class).

pub mod confusion;
pub mod infonce;
pub mod mode_seeking;
pub mod neighbour_embedding;
pub mod rotation;
pub mod substrate;

/// d`loss`/d`x` flattened, for the loss tests that take a descent step by hand.
#[cfg(test)]
pub(crate) fn gradient_of(loss: &Tensor, x: &candle_core::Var) -> Vec<f64> {
    let grads = loss.backward().unwrap();
    let g = grads.get(x.as_tensor()).expect("x takes part in the loss");
    let g = g.flatten_all().unwrap();
    g.to_dtype(candle_core::DType::F64)
        .unwrap()
        .to_vec1()
        .unwrap()
}

pub use confusion::confusion;
pub use mode_seeking::mode_seeking;
pub use neighbour_embedding::neighbour_embedding;

use anyhow::{bail, Result};
use candle_core::{Tensor, Var, D};

/// Mean over entries where `mask` is 1; 0 when the mask is empty (no gradient then).
pub fn masked_mean(x: &Tensor, mask: &Tensor) -> Result<Tensor> {
    let count = mask.sum_all()?.to_scalar::<f32>()?;
    if count == 0.0 {
        return Ok(x.zeros_like()?.sum_all()?);
    }
    Ok(((x * mask)?.sum_all()? / count as f64)?)
}

/// Hinge loss for D on real outputs: E[max(0, 1 - D(x))].
pub fn hinge_d_real(out: &Tensor, mask: Option<&Tensor>) -> Result<Tensor> {
    let v = (1.0 - out)?.relu()?;
    mean_opt(&v, mask)
}

/// Hinge loss for D on fake outputs: E[max(0, 1 + D(G(z)))].
pub fn hinge_d_fake(out: &Tensor, mask: Option<&Tensor>) -> Result<Tensor> {
    let v = (out + 1.0)?.relu()?;
    mean_opt(&v, mask)
}

/// Hinge (and WGAN) loss for G: -E[D(G(z))].
pub fn hinge_g(out: &Tensor, mask: Option<&Tensor>) -> Result<Tensor> {
    Ok(mean_opt(out, mask)?.neg()?)
}

/// WGAN critic loss: E[D(fake)] - E[D(real)].
pub fn wgan_d(real: &Tensor, fake: &Tensor) -> Result<Tensor> {
    Ok((fake.mean_all()? - real.mean_all()?)?)
}

/// WGAN critic loss with per-fake weights: Σ w·D(fake) / Σ w − E[D(real)]. ProbeGAN's class
/// dilution made stronger: unseen-class fakes weighted below 1 give the critic less to gain
/// from learning that their shapes never occur among the reals. All-zero weights drop the fake
/// term.
pub fn wgan_d_weighted(real: &Tensor, fake: &Tensor, weights: &[f32]) -> Result<Tensor> {
    if weights.len() != fake.dim(0)? {
        bail!("{} weights for {} fakes", weights.len(), fake.dim(0)?);
    }
    let total: f32 = weights.iter().sum();
    if total <= 0.0 {
        return Ok(real.mean_all()?.neg()?);
    }
    let w = Tensor::from_vec(weights.to_vec(), weights.len(), fake.device())?;
    Ok(((fake * w)?.sum_all()? / total as f64 - real.mean_all()?)?)
}

/// Drift term keeping critic outputs near zero: weight * E[D²] (ProGAN's epsilon_drift).
pub fn drift(out: &Tensor, weight: f64) -> Result<Tensor> {
    Ok((out.sqr()?.mean_all()? * weight)?)
}

/// Non-saturating GAN loss for D: E[softplus(-D(x))] + E[softplus(D(G(z)))].
pub fn non_saturating_d(real: &Tensor, fake: &Tensor) -> Result<Tensor> {
    Ok((softplus(&real.neg()?)?.mean_all()? + softplus(fake)?.mean_all()?)?)
}

/// Non-saturating GAN loss for G: E[softplus(-D(G(z)))].
pub fn non_saturating_g(fake: &Tensor) -> Result<Tensor> {
    Ok(softplus(&fake.neg()?)?.mean_all()?)
}

/// log(1 + e^x), stable for large |x|: max(x, 0) + log(1 + e^{-|x|}).
pub fn softplus(x: &Tensor) -> Result<Tensor> {
    Ok((x.relu()? + (x.abs()?.neg()?.exp()? + 1.0)?.log()?)?)
}

/// Row-wise log-softmax ([N, K]), built from differentiable ops (candle's fused
/// `softmax_last_dim` has no gradient).
pub fn log_softmax(logits: &Tensor) -> Result<Tensor> {
    let m = logits.max_keepdim(D::Minus1)?.detach();
    let shifted = logits.broadcast_sub(&m)?;
    let lse = shifted.exp()?.sum_keepdim(D::Minus1)?.log()?;
    Ok(shifted.broadcast_sub(&lse)?)
}

/// Per-sample cross-entropy -log p(label | x): logits [N, K], labels [N] u32 -> [N].
pub fn cross_entropy_per_sample(logits: &Tensor, labels: &Tensor) -> Result<Tensor> {
    let lp = log_softmax(logits)?;
    Ok(lp.gather(&labels.unsqueeze(1)?, 1)?.squeeze(1)?.neg()?)
}

/// Mean of per-sample cross-entropies `ce` [N] above −ln `margin`: a sample whose label
/// already has probability ≥ `margin` adds nothing, so a satisfied classifier stops pulling
/// it towards its most confident prototype (AC-GAN's loss of diversity). 0 = the plain mean.
pub fn ce_above_margin(ce: &Tensor, margin: f64) -> Result<Tensor> {
    if !(0.0..1.0).contains(&margin) {
        bail!("a probability margin must lie in [0, 1), got {margin}");
    }
    if margin == 0.0 {
        return Ok(ce.mean_all()?);
    }
    Ok(ce.affine(1.0, margin.ln())?.relu()?.mean_all()?)
}

/// Mean cross-entropy.
pub fn cross_entropy(logits: &Tensor, labels: &Tensor) -> Result<Tensor> {
    Ok(cross_entropy_per_sample(logits, labels)?.mean_all()?)
}

/// Cross-entropy against soft targets `probs` ([N, K], rows summing to 1).
pub fn soft_cross_entropy(logits: &Tensor, probs: &Tensor) -> Result<Tensor> {
    Ok((probs * log_softmax(logits)?)?.sum(1)?.neg()?.mean_all()?)
}

/// WGAN-GP gradient penalty (Gulrajani et al. 2017) on `critic`:
/// E[(||∇_x̂ critic(x̂)||₂ - 1)²], x̂ = α·real + (1-α)·fake with α [N] per sample.
///
/// The gradient is taken with candle's backward and then differentiated again when the
/// caller backpropagates the returned penalty; that needs `CANDLE_GRAD_DO_NOT_DETACH=1`
/// (set by `probegan::init()`), otherwise the penalty would carry no gradient to the critic.
pub fn gradient_penalty(
    critic: impl Fn(&Tensor) -> Result<Tensor>,
    real: &Tensor,
    fake: &Tensor,
    alpha: &Tensor,
) -> Result<Tensor> {
    if real.dims() != fake.dims() {
        bail!(
            "gradient penalty: real {:?} and fake {:?} batches differ in shape",
            real.dims(),
            fake.dims()
        );
    }
    let n = real.dim(0)?;
    let a = alpha.reshape((n, 1, 1, 1))?;
    let mixed = (real.detach().broadcast_mul(&a)? + fake.detach().broadcast_mul(&(1.0 - &a)?)?)?;
    let x_hat = Var::from_tensor(&mixed)?;
    let out = critic(x_hat.as_tensor())?;
    // Only ∂/∂x̂ is read: skip the weight-gradient convolutions of this first backward.
    let grads = crate::kernels::grad_scope::input_gradients_only(|| out.sum_all()?.backward())?;
    let g = match grads.get(x_hat.as_tensor()) {
        Some(g) => g.clone(),
        None => bail!("gradient penalty: the critic output does not depend on its input"),
    };
    let norm = (g.sqr()?.flatten_from(1)?.sum(1)? + 1e-12)?.sqrt()?;
    Ok((norm - 1.0)?.sqr()?.mean_all()?)
}

fn mean_opt(x: &Tensor, mask: Option<&Tensor>) -> Result<Tensor> {
    match mask {
        Some(m) => masked_mean(x, m),
        None => Ok(x.mean_all()?),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::Device;

    fn t(v: &[f32]) -> Tensor {
        Tensor::new(v, &Device::Cpu).unwrap()
    }

    #[test]
    fn hinge_and_masks() {
        let out = t(&[2.0, 0.5, -1.0, 0.0]);
        // real: max(0, 1-x) = [0, .5, 2, 1] -> mean .875
        assert!(
            (hinge_d_real(&out, None)
                .unwrap()
                .to_scalar::<f32>()
                .unwrap()
                - 0.875)
                .abs()
                < 1e-6
        );
        // fake: max(0, 1+x) = [3, 1.5, 0, 1] masked to first two -> 2.25
        let m = t(&[1.0, 1.0, 0.0, 0.0]);
        assert!(
            (hinge_d_fake(&out, Some(&m))
                .unwrap()
                .to_scalar::<f32>()
                .unwrap()
                - 2.25)
                .abs()
                < 1e-6
        );
        let empty = t(&[0.0; 4]);
        assert_eq!(
            hinge_g(&out, Some(&empty))
                .unwrap()
                .to_scalar::<f32>()
                .unwrap(),
            0.0
        );
    }

    #[test]
    fn cross_entropy_matches_direct_formula() {
        let logits =
            Tensor::new(&[[1.0f32, 2.0, 3.0], [100.0, 0.0, -100.0]], &Device::Cpu).unwrap();
        let labels = Tensor::new(&[2u32, 1], &Device::Cpu).unwrap();
        let ce = cross_entropy_per_sample(&logits, &labels)
            .unwrap()
            .to_vec1::<f32>()
            .unwrap();
        let e0 = -(3f64.exp() / (1f64.exp() + 2f64.exp() + 3f64.exp())).ln();
        assert!((ce[0] as f64 - e0).abs() < 1e-5);
        assert!(
            (ce[1] - 100.0).abs() < 1e-3,
            "stable for large logits: {}",
            ce[1]
        );
        let soft = soft_cross_entropy(
            &logits.narrow(0, 0, 1).unwrap(),
            &t(&[0.0, 0.0, 1.0]).unsqueeze(0).unwrap(),
        )
        .unwrap()
        .to_scalar::<f32>()
        .unwrap();
        assert!((soft as f64 - e0).abs() < 1e-5);
    }

    #[test]
    fn weighted_wgan_critic_dilutes_the_weighted_fakes() {
        let real = t(&[1.0, 3.0]);
        let fake = t(&[2.0, -4.0, 6.0]);
        let v = |w: &[f32]| {
            wgan_d_weighted(&real, &fake, w)
                .unwrap()
                .to_scalar::<f32>()
                .unwrap()
        };
        // (1*2 + 0.25*(-4) + 1*6) / 2.25 - 2 = 7/2.25 - 2
        assert!((v(&[1.0, 0.25, 1.0]) - (7.0 / 2.25 - 2.0)).abs() < 1e-6);
        // all-ones weights are the plain critic loss: 4/3 - 2
        let plain = wgan_d(&real, &fake).unwrap().to_scalar::<f32>().unwrap();
        assert!((v(&[1.0; 3]) - plain).abs() < 1e-6);
        // no weight: only the real term remains
        assert!((v(&[0.0; 3]) + 2.0).abs() < 1e-6);
        assert!(wgan_d_weighted(&real, &fake, &[1.0]).is_err());
    }

    /// ce (0.05, 0.5, 2.0) with margin 0.9 (−ln 0.9 = 0.10536): (0 + 0.39464 + 1.89464) / 3.
    #[test]
    fn ce_above_margin_by_hand() {
        let ce = t(&[0.05, 0.5, 2.0]);
        let v = |m: f64| ce_above_margin(&ce, m).unwrap().to_scalar::<f32>().unwrap();
        let floor = -(0.9f32.ln());
        assert!((v(0.9) - (0.5 - floor + 2.0 - floor) / 3.0).abs() < 1e-6);
        assert!((v(0.0) - 2.55 / 3.0).abs() < 1e-6);
        assert!(ce_above_margin(&ce, 1.0).is_err());
    }

    #[test]
    fn softplus_is_stable() {
        let v = softplus(&t(&[-50.0, 0.0, 50.0]))
            .unwrap()
            .to_vec1::<f32>()
            .unwrap();
        assert!(v[0] < 1e-20 && (v[1] - 2f32.ln()).abs() < 1e-6 && (v[2] - 50.0).abs() < 1e-5);
    }

    /// Critic f(x) = sum(w * x) per sample has gradient w: penalty = (||w|| - 1)², and the
    /// penalty's gradient w.r.t. w (second order) is 2(||w|| - 1) w/||w||.
    #[test]
    fn gradient_penalty_value_and_second_order_gradient() {
        crate::init();
        let dev = Device::Cpu;
        let w = Var::from_tensor(&Tensor::new(&[[[[0.6f32, 0.3], [0.9, 1.2]]]], &dev).unwrap())
            .unwrap();
        let real = Tensor::new(
            &[[[[1.0f32, 2.0], [3.0, 4.0]]], [[[0.0, 1.0], [0.0, 1.0]]]],
            &dev,
        )
        .unwrap();
        let fake = real.affine(-1.0, 0.5).unwrap();
        let alpha = t(&[0.3, 0.8]);
        let critic = |x: &Tensor| -> Result<Tensor> {
            Ok(x.broadcast_mul(w.as_tensor())?.flatten_from(1)?.sum(1)?)
        };
        let gp = gradient_penalty(critic, &real, &fake, &alpha).unwrap();
        let norm = (0.36f64 + 0.09 + 0.81 + 1.44).sqrt();
        assert!((gp.to_scalar::<f32>().unwrap() as f64 - (norm - 1.0).powi(2)).abs() < 1e-5);
        let g = gp.backward().unwrap();
        let gw = g
            .get(w.as_tensor())
            .expect("second-order gradient reaches the critic")
            .flatten_all()
            .unwrap();
        let gw = gw.to_vec1::<f32>().unwrap();
        let expect = 2.0 * (norm - 1.0) * 0.6 / norm;
        assert!(
            (gw[0] as f64 - expect).abs() < 1e-4,
            "{} vs {expect}",
            gw[0]
        );
    }

    /// The penalty skips the weight-gradient convolutions of its first backward
    /// (`kernels::grad_scope`): its value and its second-order gradients w.r.t. a conv critic's
    /// weights (one of them a tracked intermediate, as spectral norm makes it) and bias must
    /// equal those of the same penalty computed with an ordinary first backward.
    #[test]
    fn gradient_penalty_input_only_backward_matches_full_backward() {
        use crate::kernels::{self, Conv2dSpec, Pad2d};
        crate::init();
        let dev = Device::Cpu;
        let randn = |shape: &[usize], seed: u64| {
            let n: usize = shape.iter().product();
            let v: Vec<f64> = (0..n)
                .map(|i| (((i as u64 * 2654435761 + seed * 97) % 1000) as f64 / 500.0) - 1.0)
                .collect();
            Tensor::from_vec(v, shape, &dev).unwrap()
        };
        let w1 = Var::from_tensor(&randn(&[4, 2, 3, 3], 1)).unwrap();
        let b1 = Var::from_tensor(&randn(&[4], 2)).unwrap();
        let w2 = Var::from_tensor(&randn(&[3, 4, 4, 4], 3)).unwrap();
        let spec1 = Conv2dSpec {
            padding: Pad2d::same(1),
            ..Default::default()
        };
        let spec2 = Conv2dSpec {
            stride: (2, 2),
            padding: Pad2d::same(1),
            ..Default::default()
        };
        let critic = |x: &Tensor| -> Result<Tensor> {
            // w2 / ||w2||: a tracked intermediate weight, like a spectrally normalised one
            let w2n = w2.broadcast_div(&w2.sqr()?.sum_all()?.sqrt()?)?;
            let h = kernels::conv2d(x, w1.as_tensor(), Some(b1.as_tensor()), &spec1)?;
            let h = kernels::leaky_relu(&h, 0.2)?;
            let h = kernels::conv2d(&h, &w2n, None, &spec2)?;
            Ok(h.sqr()?.flatten_from(1)?.sum(1)?)
        };
        let real = randn(&[3, 2, 6, 6], 4);
        let fake = randn(&[3, 2, 6, 6], 5);
        let alpha = Tensor::new(&[0.2f64, 0.5, 0.9], &dev).unwrap();
        let fast = gradient_penalty(critic, &real, &fake, &alpha).unwrap();
        // the same penalty with an ordinary first backward
        let a = alpha.reshape((3, 1, 1, 1)).unwrap();
        let mixed = (real.broadcast_mul(&a).unwrap()
            + fake.broadcast_mul(&(1.0 - &a).unwrap()).unwrap())
        .unwrap();
        let x_hat = Var::from_tensor(&mixed).unwrap();
        let g = critic(x_hat.as_tensor())
            .unwrap()
            .sum_all()
            .unwrap()
            .backward()
            .unwrap();
        let g = g.get(x_hat.as_tensor()).unwrap().clone();
        let norm = (g.sqr().unwrap().flatten_from(1).unwrap().sum(1).unwrap() + 1e-12)
            .unwrap()
            .sqrt()
            .unwrap();
        let full = (norm - 1.0).unwrap().sqr().unwrap().mean_all().unwrap();
        let v = |t: &Tensor| t.to_scalar::<f64>().unwrap();
        assert!((v(&fast) - v(&full)).abs() <= 1e-12 * v(&full).abs().max(1.0));
        let (gf, gs) = (fast.backward().unwrap(), full.backward().unwrap());
        for p in [&w1, &b1, &w2] {
            let a = gf
                .get(p.as_tensor())
                .expect("penalty gradient reaches the weight");
            let b = gs.get(p.as_tensor()).unwrap();
            let diff = (a - b).unwrap().abs().unwrap().max_all().unwrap();
            let scale = b.abs().unwrap().max_all().unwrap();
            assert!(
                v(&diff) <= 1e-10 * v(&scale).max(1.0),
                "second-order gradient differs by {} (scale {})",
                v(&diff),
                v(&scale)
            );
            assert!(v(&scale) > 0.0, "the test must exercise a nonzero gradient");
        }
    }
}
