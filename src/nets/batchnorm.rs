//! Batch normalisation for the generator: plain (affine) and class-conditional.
//!
//! Conditional BN (de Vries et al. 2017, as in BigGAN): normalise without affine, then scale
//! by `1 + gain(e)` and shift by `bias(e)`, both linear in the class embedding `e`, so a
//! class is a direction in embedding space (which is what AM optimises for a new class).
//! Running statistics are buffers; evaluation uses them (see `Generator::standing_stats`).

use super::mode::{weight, Mode};
use super::params::{Init, Scope};
use super::spectral::SnLinear;
use crate::kernels;
use anyhow::Result;
use candle_core::{Tensor, Var};

const EPS: f64 = 1e-5;
const MOMENTUM: f64 = 0.1;

/// The affine map after normalisation: per channel ([C]) or per sample and channel ([N, C]).
enum Affine<'a> {
    Channel(&'a Tensor, &'a Tensor),
    Sample(&'a Tensor, &'a Tensor),
}

/// Normalisation core shared by both flavours: batch statistics in training (recorded into
/// the running buffers), running statistics in evaluation.
struct Stats {
    mean: Var,
    var: Var,
    /// `Some(k)`: cumulative average over the k batches seen so far (standing statistics);
    /// `None`: exponential moving average with MOMENTUM (training).
    cumulative: std::sync::Mutex<Option<usize>>,
}

impl Stats {
    fn new(s: &Scope, c: usize) -> Result<Self> {
        Ok(Stats {
            mean: s.buffer("running_mean", &[c], Init::Zeros)?,
            var: s.buffer("running_var", &[c], Init::Ones)?,
            cumulative: std::sync::Mutex::new(None),
        })
    }

    /// Normalised `x` followed by its affine map (fused with the normalisation on CPU).
    fn normalize(&self, x: &Tensor, affine: Affine, mode: Mode) -> Result<Tensor> {
        if mode.train {
            let (y, mean, var) = match affine {
                Affine::Channel(g, b) => kernels::batch_norm_train(x, Some(g), Some(b), EPS)?,
                Affine::Sample(g, b) => kernels::batch_norm_train_per_sample(x, g, b, EPS)?,
            };
            let n = (x.elem_count() / x.dim(1)?) as f64;
            let unbiased = (var.detach() * (n / (n - 1.0).max(1.0)))?;
            let mut cumulative = self.cumulative.lock().unwrap();
            let momentum = match cumulative.as_mut() {
                Some(k) => {
                    *k += 1;
                    1.0 / *k as f64
                }
                None => MOMENTUM,
            };
            let new_mean = ((self.mean.as_detached_tensor() * (1.0 - momentum))?
                + (mean.detach() * momentum)?)?;
            let new_var =
                ((self.var.as_detached_tensor() * (1.0 - momentum))? + (unbiased * momentum)?)?;
            self.mean.set(&new_mean)?;
            self.var.set(&new_var)?;
            Ok(y)
        } else {
            let (mean, var) = (self.mean.as_tensor(), self.var.as_tensor());
            Ok(match affine {
                Affine::Channel(g, b) => {
                    kernels::batch_norm_eval(x, mean, var, Some(g), Some(b), EPS)?
                }
                Affine::Sample(g, b) => kernels::sample_channel_affine(
                    &kernels::batch_norm_eval(x, mean, var, None, None, EPS)?,
                    g,
                    b,
                )?,
            })
        }
    }

    /// Switch between cumulative averaging (standing statistics, restarted from zero) and the
    /// training moving average.
    fn set_cumulative(&self, on: bool) {
        *self.cumulative.lock().unwrap() = if on { Some(0) } else { None };
    }
}

/// BN with learned per-channel affine (the generator's output layer).
pub struct BatchNorm {
    stats: Stats,
    gamma: Var,
    beta: Var,
}

impl BatchNorm {
    pub fn new(s: &Scope, c: usize) -> Result<Self> {
        Ok(BatchNorm {
            stats: Stats::new(s, c)?,
            gamma: s.param("gamma", &[c], Init::Ones)?,
            beta: s.param("beta", &[c], Init::Zeros)?,
        })
    }

    pub fn forward(&self, x: &Tensor, mode: Mode) -> Result<Tensor> {
        let (g, b) = (weight(&self.gamma, mode), weight(&self.beta, mode));
        self.stats.normalize(x, Affine::Channel(&g, &b), mode)
    }

    pub fn set_cumulative_stats(&self, on: bool) {
        self.stats.set_cumulative(on)
    }
}

/// BN whose gain and bias are linear functions of a conditioning vector.
pub struct ConditionalBatchNorm {
    stats: Stats,
    gain: SnLinear,
    bias: SnLinear,
}

impl ConditionalBatchNorm {
    pub fn new(s: &Scope, c: usize, cond_dim: usize) -> Result<Self> {
        Ok(ConditionalBatchNorm {
            stats: Stats::new(s, c)?,
            gain: SnLinear::new(&s.pp("gain"), cond_dim, c, false)?,
            bias: SnLinear::new(&s.pp("bias"), cond_dim, c, false)?,
        })
    }

    /// `x`: [N, C, H, W]; `cond`: [N, cond_dim].
    pub fn forward(&self, x: &Tensor, cond: &Tensor, mode: Mode) -> Result<Tensor> {
        let g = (self.gain.forward(cond, mode)? + 1.0)?;
        let b = self.bias.forward(cond, mode)?;
        self.stats.normalize(x, Affine::Sample(&g, &b), mode)
    }

    pub fn set_cumulative_stats(&self, on: bool) {
        self.stats.set_cumulative(on)
    }
}
