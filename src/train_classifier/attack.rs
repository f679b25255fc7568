//! Projected gradient descent attacks (Madry et al., 2018), in generator space.
//!
//! `eps` and step sizes are given in *pixel units of [0, 1]* (the convention papers report,
//! e.g. eps = 0.1 for Fashion-MNIST L-inf) and doubled internally because generator space
//! spans [-1, 1]. Adversarial images are clamped to the valid range after every step.

use super::arch::{Mode, Net};
use anyhow::{bail, Result};
use candle_core::{Tensor, Var};
use rand::Rng;
use rand_chacha::ChaCha8Rng;

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Norm {
    Linf,
    L2,
}

#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct PgdConfig {
    pub norm: Norm,
    /// Radius in [0, 1] pixel units.
    pub eps: f64,
    pub steps: usize,
    /// Step size in [0, 1] pixel units (default 2.5 * eps / steps, Madry et al.'s choice).
    pub step_size: f64,
    /// Start from a uniformly random point of the ball (L-inf) or from x (L2).
    pub random_start: bool,
}

impl PgdConfig {
    pub fn new(norm: Norm, eps: f64, steps: usize) -> Result<Self> {
        if !(eps > 0.0 && eps.is_finite()) {
            bail!("--eps {eps}: must be positive");
        }
        if steps == 0 {
            bail!("--steps must be at least 1");
        }
        Ok(PgdConfig {
            norm,
            eps,
            steps,
            step_size: 2.5 * eps / steps as f64,
            random_start: true,
        })
    }
}

/// Per-image L2 norm, shaped `[N, 1, 1, 1]` for broadcasting.
fn l2_norms(t: &Tensor) -> Result<Tensor> {
    let n = t.dim(0)?;
    Ok(t.sqr()?
        .flatten_from(1)?
        .sum_keepdim(1)?
        .sqrt()?
        .reshape((n, 1, 1, 1))?)
}

/// Adversarial versions of `x` (detached) that raise the cross-entropy of `labels`.
/// `rng` draws the random start (seeded, so training runs repeat exactly).
pub fn pgd(
    net: &Net,
    x: &Tensor,
    labels: &Tensor,
    cfg: &PgdConfig,
    mode: Mode,
    rng: &mut ChaCha8Rng,
) -> Result<Tensor> {
    let x = x.detach();
    let eps = 2.0 * cfg.eps;
    let step = 2.0 * cfg.step_size;
    let mut adv = if cfg.random_start && cfg.norm == Norm::Linf {
        let noise: Vec<f32> = (0..x.elem_count())
            .map(|_| rng.random_range(-eps..eps) as f32)
            .collect();
        let noise = Tensor::from_vec(noise, x.shape(), x.device())?.to_dtype(x.dtype())?;
        (&x + noise)?.clamp(-1f32, 1f32)?
    } else {
        x.clone()
    };
    for _ in 0..cfg.steps {
        let v = Var::from_tensor(&adv)?;
        let loss = candle_nn::loss::cross_entropy(&net.forward(v.as_tensor(), mode)?, labels)?;
        let grads = loss.backward()?;
        let g = grads
            .get(v.as_tensor())
            .ok_or_else(|| anyhow::anyhow!("PGD: no input gradient"))?
            .detach();
        adv = match cfg.norm {
            Norm::Linf => {
                let moved = (&adv + (g.sign()? * step)?)?;
                // Project back into the eps-box around x.
                moved.minimum(&(&x + eps)?)?.maximum(&(&x - eps)?)?
            }
            Norm::L2 => {
                let unit = g.broadcast_div(&(l2_norms(&g)? + 1e-12)?)?;
                let moved = (&adv + (unit * step)?)?;
                let delta = (&moved - &x)?;
                let scale = (l2_norms(&delta)? + 1e-12)?
                    .recip()?
                    .affine(eps, 0.0)?
                    .clamp(0f32, 1f32)?;
                (&x + delta.broadcast_mul(&scale)?)?
            }
        }
        .clamp(-1f32, 1f32)?
        .detach();
    }
    Ok(adv)
}
