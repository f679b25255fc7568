//! The project's own hot kernels, shared by the ONNX engine and the GAN nets.
//!
//! Every function here takes and returns candle `Tensor`s, works on any device, and is
//! differentiable to second order (the WGAN-GP penalty differentiates through D's backward).
//! On CPU (f32, and f64 for exact tests) they dispatch to fast custom ops; on other devices or
//! dtypes to `compose`, compositions of candle's stock ops.
//!
//! Layout is always NCHW; weights are OIHW (conv) and IOHW (conv-transpose), as in ONNX/PyTorch.
//!
//! Files: `geometry` (output sizes, shape checks), `compose` (device-agnostic compositions of
//! stock candle ops with exact autodiff; the reference and the non-CPU path), `conv` (im2col +
//! `gemm` convolution: forward, input-gradient and weight-gradient ops, each the others'
//! derivative; transposed convolution is the input-gradient op), `channel` (per-channel sums,
//! dot products and affine maps), `batchnorm` (training batch norm, alone and with its affine
//! map fused, each with a fused backward), `depthwise` (direct-loop depthwise convolution),
//! `conv_activation` (a conv with ReLU/ReLU6/clamp applied in its output loop and the mask
//! applied in its backward), `activation`, `pool` (max/avg pooling, nearest upsampling), `cpu`
//! (element types, storage access, matrix multiply).
//!
//! ```
//! use candle_core::{Device, Tensor};
//! use probegan::kernels::{conv2d, Conv2dSpec, Pad2d};
//! let x = Tensor::zeros((2, 3, 8, 8), candle_core::DType::F32, &Device::Cpu)?;
//! let w = Tensor::zeros((4, 3, 3, 3), candle_core::DType::F32, &Device::Cpu)?;
//! let spec = Conv2dSpec { padding: Pad2d::same(1), ..Default::default() };
//! assert_eq!(conv2d(&x, &w, None, &spec)?.dims(), &[2, 4, 8, 8]);
//! # Ok::<(), candle_core::Error>(())
//! ```

use candle_core::{Result, Tensor, D};

mod batchnorm;
mod channel;
pub mod compose;
mod conv;
mod cpu;
pub mod geometry;
pub mod grad_scope;
mod pool;

/// Padding as (top, left, bottom, right), the ONNX `pads` order regrouped per side.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Pad2d {
    pub top: usize,
    pub left: usize,
    pub bottom: usize,
    pub right: usize,
}

impl Pad2d {
    pub fn same(p: usize) -> Self {
        Pad2d {
            top: p,
            left: p,
            bottom: p,
            right: p,
        }
    }
    pub fn is_symmetric(&self) -> bool {
        self.top == self.bottom && self.left == self.right
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Conv2dSpec {
    pub stride: (usize, usize),
    pub padding: Pad2d,
    pub dilation: (usize, usize),
    pub groups: usize,
}

impl Default for Conv2dSpec {
    fn default() -> Self {
        Conv2dSpec {
            stride: (1, 1),
            padding: Pad2d::default(),
            dilation: (1, 1),
            groups: 1,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConvTranspose2dSpec {
    pub stride: (usize, usize),
    /// Cropped from the full transposed output, per side.
    pub padding: Pad2d,
    /// Extra rows/cols added at the bottom/right of the output.
    pub output_padding: (usize, usize),
    pub dilation: (usize, usize),
    pub groups: usize,
}

impl Default for ConvTranspose2dSpec {
    fn default() -> Self {
        ConvTranspose2dSpec {
            stride: (1, 1),
            padding: Pad2d::default(),
            output_padding: (0, 0),
            dilation: (1, 1),
            groups: 1,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Pool2dSpec {
    pub kernel: (usize, usize),
    pub stride: (usize, usize),
    pub padding: Pad2d,
    pub dilation: (usize, usize),
    pub ceil_mode: bool,
    /// Average pooling only: whether padded cells count in the divisor.
    pub count_include_pad: bool,
}

/// 2-D convolution. `x`: [N, C, H, W]; `w`: [O, C/groups, kh, kw]; `bias`: [O].
pub fn conv2d(x: &Tensor, w: &Tensor, bias: Option<&Tensor>, spec: &Conv2dSpec) -> Result<Tensor> {
    if x.device().is_cpu() && is_fast_dtype(x) {
        let geo = geometry::ConvGeometry::for_conv(x.dims(), w.dims(), spec)?;
        return match bias {
            // The bias is written first and the matrix multiply accumulates onto it: one op
            // (and one gradient accumulation) fewer per conv than conv + add.
            Some(b) if b.dtype() == x.dtype() => conv::conv2d_bias(x, w, &b.flatten_all()?, geo),
            _ => add_channel_bias(conv::conv2d(x, w, geo)?, bias),
        };
    }
    compose::conv2d(x, w, bias, spec)
}

/// Transposed 2-D convolution. `x`: [N, C, H, W]; `w`: [C, O/groups, kh, kw]; `bias`: [O].
pub fn conv_transpose2d(
    x: &Tensor,
    w: &Tensor,
    bias: Option<&Tensor>,
    spec: &ConvTranspose2dSpec,
) -> Result<Tensor> {
    if x.device().is_cpu() && is_fast_dtype(x) {
        let geo = geometry::ConvGeometry::for_conv_transpose(x.dims(), w.dims(), spec)?;
        // output_padding reaching past a stride (allowed when dilation > stride) has no exact
        // adjoint convolution; that rare case takes the composed path.
        if geo.is_exact_adjoint() {
            return add_channel_bias(conv::conv_transpose2d(x, w, geo)?, bias);
        }
    }
    compose::conv_transpose2d(x, w, bias, spec)
}

/// Whether the CPU custom ops handle this dtype (f32, and f64 for exact tests).
fn is_fast_dtype(x: &Tensor) -> bool {
    matches!(x.dtype(), candle_core::DType::F32 | candle_core::DType::F64)
}

/// Adds a per-channel bias. On CPU a fused op: the stock broadcast add's backward is a slow
/// single-threaded reduction over N, H, W.
fn add_channel_bias(y: Tensor, bias: Option<&Tensor>) -> Result<Tensor> {
    match bias {
        Some(b) if y.device().is_cpu() && is_fast_dtype(&y) && b.dtype() == y.dtype() => {
            channel::channel_shift(&y, &b.flatten_all()?)
        }
        Some(b) => y.broadcast_add(&b.reshape((1, (), 1, 1))?),
        None => Ok(y),
    }
}

/// Batch norm with batch statistics (training mode). Returns (y, batch_mean, batch_biased_var),
/// mean/var shaped [C], so callers can update running statistics (on CPU they carry no
/// gradient: they feed running averages only; `y` is differentiable to any order).
/// `x` is [N, C, ...] (any rank >= 2).
pub fn batch_norm_train(
    x: &Tensor,
    gamma: Option<&Tensor>,
    beta: Option<&Tensor>,
    eps: f64,
) -> Result<(Tensor, Tensor, Tensor)> {
    if x.device().is_cpu() && is_fast_dtype(x) && x.rank() >= 2 {
        if gamma.is_none() && beta.is_none() {
            return batchnorm::bn_normalize(x, eps);
        }
        // One fused op (normalise + affine, and one backward op for all three gradients); a
        // missing coefficient is a constant.
        let c = x.dim(1)?;
        let g = match gamma {
            Some(g) => g.clone(),
            None => Tensor::ones(c, x.dtype(), x.device())?,
        };
        let b = match beta {
            Some(b) => b.clone(),
            None => Tensor::zeros(c, x.dtype(), x.device())?,
        };
        return batchnorm::bn_affine_train(x, &g, &b, eps, false);
    }
    compose_batch_norm_train(x, gamma, beta, eps)
}

/// Class-conditional batch norm in training mode: `x̂ · scale[n, c] + shift[n, c]` with batch
/// statistics, `x` [N, C, ...], `scale`, `shift` [N, C]. Returns (y, batch_mean,
/// batch_biased_var) as `batch_norm_train`. On CPU one fused op forward and one backward (the
/// composition writes x̂ and gives autodiff one more full-size gradient edge).
pub fn batch_norm_train_per_sample(
    x: &Tensor,
    scale: &Tensor,
    shift: &Tensor,
    eps: f64,
) -> Result<(Tensor, Tensor, Tensor)> {
    if x.device().is_cpu()
        && is_fast_dtype(x)
        && x.rank() >= 2
        && scale.dtype() == x.dtype()
        && shift.dtype() == x.dtype()
    {
        let (n, c) = (x.dim(0)?, x.dim(1)?);
        for (what, t) in [("scale", scale), ("shift", shift)] {
            if t.dims() != [n, c] {
                candle_core::bail!(
                    "per-sample batch norm: {what} must be [N, C] = [{n}, {c}], got {:?}",
                    t.dims()
                )
            }
        }
        return batchnorm::bn_affine_train(x, scale, shift, eps, true);
    }
    let (y, mean, var) = batch_norm_train(x, None, None, eps)?;
    Ok((sample_channel_affine(&y, scale, shift)?, mean, var))
}

fn compose_batch_norm_train(
    x: &Tensor,
    gamma: Option<&Tensor>,
    beta: Option<&Tensor>,
    eps: f64,
) -> Result<(Tensor, Tensor, Tensor)> {
    let c = x.dim(1)?;
    let xt = x.transpose(0, 1)?.contiguous()?.reshape((c, ()))?;
    let mean = xt.mean_keepdim(D::Minus1)?;
    let centered = xt.broadcast_sub(&mean)?;
    let var = centered.sqr()?.mean_keepdim(D::Minus1)?;
    let y = centered.broadcast_div(&(var.clone() + eps)?.sqrt()?)?;
    let y = y.reshape(x.transpose(0, 1)?.shape())?.transpose(0, 1)?;
    let y = affine_per_channel(&y, gamma, beta)?;
    Ok((y, mean.flatten_all()?, var.flatten_all()?))
}

/// Batch norm with given statistics (inference mode).
pub fn batch_norm_eval(
    x: &Tensor,
    mean: &Tensor,
    var: &Tensor,
    gamma: Option<&Tensor>,
    beta: Option<&Tensor>,
    eps: f64,
) -> Result<Tensor> {
    if x.device().is_cpu() && is_fast_dtype(x) && x.rank() >= 2 {
        // Fold the statistics into one per-channel affine map (differentiable in all of them).
        let rstd = (var + eps)?.sqrt()?.recip()?;
        let scale = match gamma {
            Some(g) => (g * &rstd)?,
            None => rstd,
        };
        let shift = (mean * &scale)?.neg()?;
        let shift = match beta {
            Some(b) => (b + shift)?,
            None => shift,
        };
        return channel::channel_affine(x, &scale, &shift);
    }

    let shape = per_channel_shape(x)?;
    let y = x
        .broadcast_sub(&mean.reshape(shape.clone())?)?
        .broadcast_div(&(var.reshape(shape)? + eps)?.sqrt()?)?;
    affine_per_channel(&y, gamma, beta)
}

fn per_channel_shape(x: &Tensor) -> Result<Vec<usize>> {
    let mut s = vec![1; x.rank()];
    s[1] = x.dim(1)?;
    Ok(s)
}

fn affine_per_channel(y: &Tensor, gamma: Option<&Tensor>, beta: Option<&Tensor>) -> Result<Tensor> {
    let shape = per_channel_shape(y)?;
    let y = match gamma {
        Some(g) => y.broadcast_mul(&g.reshape(shape.clone())?)?,
        None => y.clone(),
    };
    match beta {
        Some(b) => y.broadcast_add(&b.reshape(shape)?),
        None => Ok(y),
    }
}

/// Max pooling with exact gradients (any kernel, stride, padding, dilation, ceil mode).
pub fn max_pool2d(x: &Tensor, spec: &Pool2dSpec) -> Result<Tensor> {
    compose::check_pool_pads(spec)?;
    if x.device().is_cpu() && is_fast_dtype(x) {
        return pool::max_pool2d(x, spec);
    }
    compose::max_pool2d(x, spec)
}

/// Average pooling with exact gradients (`count_include_pad` honoured).
pub fn avg_pool2d(x: &Tensor, spec: &Pool2dSpec) -> Result<Tensor> {
    compose::check_pool_pads(spec)?;
    if x.device().is_cpu() && is_fast_dtype(x) {
        return pool::avg_pool2d(x, spec);
    }
    compose::avg_pool2d(x, spec)
}

/// Nearest-neighbour upsampling by integer factors. Built from broadcast views because
/// candle's `upsample_nearest2d` backward overwrites instead of accumulating.
pub fn upsample_nearest2d(x: &Tensor, factor_h: usize, factor_w: usize) -> Result<Tensor> {
    if x.device().is_cpu() && is_fast_dtype(x) {
        return pool::upsample_nearest2d(x, factor_h, factor_w);
    }
    compose::upsample_nearest2d(x, factor_h, factor_w)
}

// Direct-loop depthwise convolution kernels, dispatched from `conv`.
mod depthwise;

// ---------- activations (fused CPU ops, differentiable to any order) ----------

mod activation;
pub use activation::{clamp, leaky_relu, relu};

// ---------- convolution with a fused activation ----------

mod conv_activation;

/// An activation a convolution applies in its own output loop ([`conv2d_activation`]).
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum ConvActivation {
    /// `max(x, 0)`.
    Relu,
    /// `min(max(x, lo), hi)`; either bound may be infinite. ReLU6 is `Clamp { lo: 0, hi: 6 }`.
    Clamp { lo: f64, hi: f64 },
}

/// `act(conv2d(x, w, bias))`, value and gradients as the composition [`conv2d`] then
/// [`relu`]/[`clamp`] (the gradient passes where the activation's slope is 1: `x > 0`, or
/// strictly inside (lo, hi)). On CPU one op: the activation runs in the convolution's output
/// loop and its backward masks the gradient from the output — one pass and one gradient edge
/// fewer than the composition, which the other devices and dtypes run.
pub fn conv2d_activation(
    x: &Tensor,
    w: &Tensor,
    bias: Option<&Tensor>,
    spec: &Conv2dSpec,
    act: ConvActivation,
) -> Result<Tensor> {
    let kind = match act {
        ConvActivation::Relu => activation::Kind::Relu,
        ConvActivation::Clamp { lo, hi } => {
            if lo.is_nan() || hi.is_nan() || lo > hi {
                candle_core::bail!(
                    "conv2d_activation: clamp bounds must satisfy lo <= hi, got [{lo}, {hi}]"
                )
            }
            if lo == 0.0 && hi == f64::INFINITY {
                activation::Kind::Relu
            } else {
                activation::Kind::Clamp(lo, hi)
            }
        }
    };
    let same_dtype = w.dtype() == x.dtype() && bias.is_none_or(|b| b.dtype() == x.dtype());
    if x.device().is_cpu() && is_fast_dtype(x) && same_dtype {
        let geo = geometry::ConvGeometry::for_conv(x.dims(), w.dims(), spec)?;
        let b = match bias {
            Some(b) => b.flatten_all()?,
            None => Tensor::zeros(geo.o, x.dtype(), x.device())?,
        };
        return conv_activation::conv2d_activation(x, w, &b, geo, kind);
    }
    let y = conv2d(x, w, bias, spec)?;
    match act {
        ConvActivation::Relu => relu(&y),
        ConvActivation::Clamp { lo, hi } => clamp(&y, Some(lo), Some(hi)),
    }
}

/// `x · scale[n, c] + shift[n, c]` for `x` [N, C, ...] and `scale`, `shift` [N, C]: the
/// class-conditional batch-norm affine map. On CPU a fused op (the stock broadcast ops'
/// backward reduces over H, W with a slow path).
pub fn sample_channel_affine(x: &Tensor, scale: &Tensor, shift: &Tensor) -> Result<Tensor> {
    if x.device().is_cpu()
        && is_fast_dtype(x)
        && x.rank() >= 2
        && scale.dtype() == x.dtype()
        && shift.dtype() == x.dtype()
    {
        return channel::sample_affine(x, scale, shift);
    }
    let mut shape = vec![1; x.rank()];
    shape[0] = x.dim(0)?;
    shape[1] = x.dim(1)?;
    x.broadcast_mul(&scale.reshape(shape.clone())?)?
        .broadcast_add(&shift.reshape(shape)?)
}
