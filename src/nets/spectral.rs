//! Spectral normalisation (Miyato et al. 2018) for convolutions and linear layers.
//!
//! The weight is divided by an estimate of its largest singular value, from one power
//! iteration per call that trains this network (`Mode::TRAIN`; not when the network is
//! frozen for the other player's step or for standing statistics). The left singular vector `u` is a buffer: it is saved in
//! checkpoints so that a resumed run continues the same estimate (bit-identical resume).

use super::mode::{weight, Mode};
use super::params::{Init, Scope};
use crate::kernels::{self, Conv2dSpec, Pad2d};
use anyhow::Result;
use candle_core::{Tensor, Var};

/// Weight (viewed as [out, rest]) divided by sigma; u and v enter detached so the gradient
/// flows only through W, as in the reference implementations.
struct SpectralNorm {
    u: Var,
}

impl SpectralNorm {
    fn new(s: &Scope, out_dim: usize) -> Result<Self> {
        let u = s.buffer("sn_u", &[out_dim], Init::Normal(1.0))?;
        let un = normalize(u.as_tensor())?;
        u.set(&un)?;
        Ok(SpectralNorm { u })
    }

    fn apply(&self, w: &Tensor, mode: Mode) -> Result<Tensor> {
        let out_dim = w.dim(0)?;
        let w_mat = w.reshape((out_dim, ()))?;
        let w_det = w_mat.detach();
        let mut u = self.u.as_detached_tensor().copy()?.reshape((1, out_dim))?;
        let v = if mode.train && !mode.frozen {
            let v = normalize(&u.matmul(&w_det)?)?; // [1, rest]
            u = normalize(&v.matmul(&w_det.t()?)?)?; // [1, out]
            self.u.set(&u.flatten_all()?)?;
            v
        } else {
            normalize(&u.matmul(&w_det)?)?
        };
        // sigma = u^T W v, differentiable in W only.
        let sigma = u.matmul(&w_mat)?.matmul(&v.t()?)?.reshape(())?;
        Ok(w.broadcast_div(&sigma)?)
    }
}

fn normalize(x: &Tensor) -> Result<Tensor> {
    let norm = (x.sqr()?.sum_all()?.sqrt()? + 1e-12)?;
    Ok(x.broadcast_div(&norm)?)
}

/// Spectrally normalised 2-D convolution (square kernel, "same"-style padding).
pub struct SnConv2d {
    w: Var,
    b: Var,
    sn: SpectralNorm,
    spec: Conv2dSpec,
}

impl SnConv2d {
    pub fn new(s: &Scope, c_in: usize, c_out: usize, k: usize, padding: usize) -> Result<Self> {
        Self::strided(s, c_in, c_out, k, 1, padding)
    }

    /// A `k`×`k` convolution with the given stride and padding per side.
    pub fn strided(
        s: &Scope,
        c_in: usize,
        c_out: usize,
        k: usize,
        stride: usize,
        padding: usize,
    ) -> Result<Self> {
        let init = Init::Xavier {
            fan_in: c_in * k * k,
            fan_out: c_out * k * k,
        };
        let w = s.param("weight", &[c_out, c_in, k, k], init)?;
        let b = s.param("bias", &[c_out], Init::Zeros)?;
        let sn = SpectralNorm::new(s, c_out)?;
        let spec = Conv2dSpec {
            stride: (stride, stride),
            padding: Pad2d::same(padding),
            ..Default::default()
        };
        Ok(SnConv2d { w, b, sn, spec })
    }

    pub fn forward(&self, x: &Tensor, mode: Mode) -> Result<Tensor> {
        let w = self.sn.apply(&weight(&self.w, mode), mode)?;
        let b = weight(&self.b, mode);
        Ok(kernels::conv2d(x, &w, Some(&b), &self.spec)?)
    }
}

/// Spectrally normalised linear layer, `x @ W^T + b`.
pub struct SnLinear {
    w: Var,
    b: Option<Var>,
    sn: SpectralNorm,
}

impl SnLinear {
    pub fn new(s: &Scope, d_in: usize, d_out: usize, bias: bool) -> Result<Self> {
        let w = s.param(
            "weight",
            &[d_out, d_in],
            Init::Xavier {
                fan_in: d_in,
                fan_out: d_out,
            },
        )?;
        let b = if bias {
            Some(s.param("bias", &[d_out], Init::Zeros)?)
        } else {
            None
        };
        let sn = SpectralNorm::new(s, d_out)?;
        Ok(SnLinear { w, b, sn })
    }

    pub fn forward(&self, x: &Tensor, mode: Mode) -> Result<Tensor> {
        let w = self.sn.apply(&weight(&self.w, mode), mode)?;
        let y = x.matmul(&w.t()?)?;
        Ok(match &self.b {
            Some(b) => y.broadcast_add(&weight(b, mode))?,
            None => y,
        })
    }
}

/// An embedding table [num, dim] (class embeddings), optionally spectrally normalised as a
/// matrix (the projection discriminator's class embedding: without it D's class term has no
/// Lipschitz bound).
pub struct Embedding {
    pub table: Var,
    sn: Option<SpectralNorm>,
}

impl Embedding {
    pub fn new(s: &Scope, num: usize, dim: usize, init: Init) -> Result<Self> {
        Ok(Embedding {
            table: s.param("weight", &[num, dim], init)?,
            sn: None,
        })
    }

    /// A table divided by its largest singular value (BigGAN's `SNEmbedding`).
    pub fn new_spectral(s: &Scope, num: usize, dim: usize, init: Init) -> Result<Self> {
        Ok(Embedding {
            table: s.param("weight", &[num, dim], init)?,
            sn: Some(SpectralNorm::new(s, num)?),
        })
    }

    fn weights(&self, mode: Mode) -> Result<Tensor> {
        let w = weight(&self.table, mode);
        match &self.sn {
            Some(sn) => sn.apply(&w, mode),
            None => Ok(w),
        }
    }

    /// Rows for integer labels ([N] u32).
    pub fn lookup(&self, labels: &Tensor, mode: Mode) -> Result<Tensor> {
        Ok(self.weights(mode)?.index_select(labels, 0)?)
    }

    /// Probability-weighted mixture of rows ([N, num] -> [N, dim]), for soft labels.
    pub fn mix(&self, probs: &Tensor, mode: Mode) -> Result<Tensor> {
        Ok(probs.matmul(&self.weights(mode)?)?)
    }
}
