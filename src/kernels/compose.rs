//! Device-agnostic versions of every kernel, built only from candle's stock ops whose autodiff
//! is exact to any order (narrow, reshape, broadcast, cat, conv2d, conv_transpose2d, max, sum).
//!
//! They are the reference the fast CPU ops are tested against, and the path taken on devices
//! without a custom op (CUDA, Metal). Candle's own pooling and upsampling are avoided on purpose:
//! their backward passes are wrong without an error (see docs/ARCHITECTURE.md).

use super::geometry::{pool_out_len, ConvGeometry};
use super::{Conv2dSpec, ConvTranspose2dSpec, Pad2d, Pool2dSpec};
use candle_core::{bail, Result, Tensor};

/// Pads `dim` with a constant (zeros use candle's own pad; other values are concatenated).
pub(crate) fn pad_const(
    x: &Tensor,
    dim: usize,
    before: usize,
    after: usize,
    value: f64,
) -> Result<Tensor> {
    if before == 0 && after == 0 {
        return Ok(x.clone());
    }
    if value == 0.0 {
        return x.pad_with_zeros(dim, before, after);
    }
    let mut parts = Vec::with_capacity(3);
    let mut dims = x.dims().to_vec();
    if before > 0 {
        dims[dim] = before;
        parts.push(Tensor::full(value, dims.as_slice(), x.device())?.to_dtype(x.dtype())?);
    }
    parts.push(x.clone());
    if after > 0 {
        dims[dim] = after;
        parts.push(Tensor::full(value, dims.as_slice(), x.device())?.to_dtype(x.dtype())?);
    }
    Tensor::cat(&parts, dim)
}

/// Every `stride`-th entry of `dim`, starting at `offset`, `count` of them: a strided view made
/// from narrow + reshape so that its backward is an exact scatter.
pub(crate) fn strided_narrow(
    x: &Tensor,
    dim: usize,
    offset: usize,
    count: usize,
    stride: usize,
) -> Result<Tensor> {
    if stride == 1 {
        return x.narrow(dim, offset, count);
    }
    let len = x.dim(dim)?;
    let need = offset + count * stride;
    let x = if need > len {
        x.pad_with_zeros(dim, 0, need - len)?
    } else {
        x.clone()
    };
    let v = x.narrow(dim, offset, count * stride)?;
    let mut dims = v.dims().to_vec();
    dims[dim] = count;
    dims.insert(dim + 1, stride);
    v.reshape(dims.as_slice())?
        .narrow(dim + 1, 0, 1)?
        .squeeze(dim + 1)
}

/// All pooling windows, stacked on a new last axis: [N, C, OH, OW, kh*kw]. Cells outside the
/// input (padding, and the overhang that `ceil_mode` allows) hold `fill`.
fn pool_windows(x: &Tensor, spec: &Pool2dSpec, fill: f64) -> Result<Tensor> {
    let (_, _, h, w) = x.dims4()?;
    let (kh, kw) = spec.kernel;
    let (sh, sw) = spec.stride;
    let (dh, dw) = spec.dilation;
    let p = spec.padding;
    let oh = pool_out_len(h, kh, sh, p.top, p.bottom, dh, spec.ceil_mode)?;
    let ow = pool_out_len(w, kw, sw, p.left, p.right, dw, spec.ceil_mode)?;
    // Extend the bottom/right so every window (and the strided reshape) stays inside.
    let need_h = ((kh - 1) * dh + oh * sh).max(h + p.top + p.bottom);
    let need_w = ((kw - 1) * dw + ow * sw).max(w + p.left + p.right);
    let xp = pad_const(x, 2, p.top, need_h - h - p.top, fill)?;
    let xp = pad_const(&xp, 3, p.left, need_w - w - p.left, fill)?;
    let mut taps = Vec::with_capacity(kh * kw);
    for i in 0..kh {
        let rows = strided_narrow(&xp, 2, i * dh, oh, sh)?;
        for j in 0..kw {
            taps.push(strided_narrow(&rows, 3, j * dw, ow, sw)?);
        }
    }
    Tensor::stack(&taps, 4)
}

pub fn max_pool2d(x: &Tensor, spec: &Pool2dSpec) -> Result<Tensor> {
    pool_windows(x, spec, f64::NEG_INFINITY)?.max(4)
}

/// The divisor of each average-pooling window: cells of the input, plus padded cells when
/// `count_include_pad` (never the ceil-mode overhang, as in PyTorch and onnxruntime).
pub(crate) fn avg_pool_divisor(h: usize, w: usize, spec: &Pool2dSpec) -> Result<Vec<f64>> {
    let (kh, kw) = spec.kernel;
    let (sh, sw) = spec.stride;
    let (dh, dw) = spec.dilation;
    let p = spec.padding;
    let oh = pool_out_len(h, kh, sh, p.top, p.bottom, dh, spec.ceil_mode)?;
    let ow = pool_out_len(w, kw, sw, p.left, p.right, dw, spec.ceil_mode)?;
    let (lo_h, hi_h, lo_w, hi_w) = if spec.count_include_pad {
        (0, h + p.top + p.bottom, 0, w + p.left + p.right)
    } else {
        (p.top, p.top + h, p.left, p.left + w)
    };
    let count = |o: usize, k: usize, s: usize, d: usize, lo: usize, hi: usize| {
        (0..k)
            .filter(|t| (lo..hi).contains(&(o * s + t * d)))
            .count()
    };
    let mut out = Vec::with_capacity(oh * ow);
    for i in 0..oh {
        let ch = count(i, kh, sh, dh, lo_h, hi_h);
        for j in 0..ow {
            // A window with no counted cell cannot happen for valid pads; max(1) avoids 0/0.
            out.push((ch * count(j, kw, sw, dw, lo_w, hi_w)).max(1) as f64);
        }
    }
    Ok(out)
}

pub fn avg_pool2d(x: &Tensor, spec: &Pool2dSpec) -> Result<Tensor> {
    let (_, _, h, w) = x.dims4()?;
    let sums = pool_windows(x, spec, 0.0)?.sum(4)?;
    let (_, _, oh, ow) = sums.dims4()?;
    let div = Tensor::from_vec(avg_pool_divisor(h, w, spec)?, (1, 1, oh, ow), x.device())?
        .to_dtype(x.dtype())?;
    sums.broadcast_div(&div)
}

/// Inserts `factor - 1` zeros between the entries of `dim` (length L -> (L-1)*factor+1).
fn zero_insert(x: &Tensor, dim: usize, factor: usize) -> Result<Tensor> {
    if factor == 1 {
        return Ok(x.clone());
    }
    let len = x.dim(dim)?;
    let v = x
        .unsqueeze(dim + 1)?
        .pad_with_zeros(dim + 1, 0, factor - 1)?;
    let mut dims = x.dims().to_vec();
    dims[dim] = len * factor;
    v.reshape(dims.as_slice())?
        .narrow(dim, 0, (len - 1) * factor + 1)
}

fn add_bias(y: Tensor, bias: Option<&Tensor>) -> Result<Tensor> {
    match bias {
        Some(b) => y.broadcast_add(&b.reshape((1, (), 1, 1))?),
        None => Ok(y),
    }
}

pub fn conv2d(x: &Tensor, w: &Tensor, bias: Option<&Tensor>, spec: &Conv2dSpec) -> Result<Tensor> {
    let geo = ConvGeometry::for_conv(x.dims(), w.dims(), spec)?;
    if spec.groups > 1 && spec.groups == geo.c && geo.o == geo.c {
        return add_bias(depthwise_by_taps(x, w, spec, &geo)?, bias);
    }
    let p = spec.padding;
    // Rows/cols the windows actually reach, in padded coordinates. Candle's conv2d backward
    // derives one output_padding from the height and applies it to the width too, so the
    // input must be cut to exactly what the windows read (the cut's backward is exact).
    let used_h = (geo.oh - 1) * spec.stride.0 + (geo.kh - 1) * spec.dilation.0 + 1;
    let used_w = (geo.ow - 1) * spec.stride.1 + (geo.kw - 1) * spec.dilation.1 + 1;
    let exact = used_h == geo.h + p.top + p.bottom && used_w == geo.w + p.left + p.right;
    let (x, pad) = if exact && p.is_symmetric() && p.top == p.left {
        (x.clone(), p.top)
    } else {
        let xp = x
            .pad_with_zeros(2, p.top, p.bottom)?
            .pad_with_zeros(3, p.left, p.right)?;
        (xp.narrow(2, 0, used_h)?.narrow(3, 0, used_w)?, 0)
    };
    // Unequal dilations: dilate the kernel itself with zeros.
    let (w, dil) = if spec.dilation.0 == spec.dilation.1 {
        (w.clone(), spec.dilation.0)
    } else {
        (
            zero_insert(&zero_insert(w, 2, spec.dilation.0)?, 3, spec.dilation.1)?,
            1,
        )
    };
    let y = if spec.stride.0 == spec.stride.1 {
        x.conv2d(&w, pad, spec.stride.0, dil, spec.groups)?
    } else {
        // Unequal strides: stride-1 convolution, then keep every stride-th row/column.
        let full = x.conv2d(&w, pad, 1, dil, spec.groups)?;
        let (_, _, fh, fw) = full.dims4()?;
        let rows = strided_narrow(&full, 2, 0, (fh - 1) / spec.stride.0 + 1, spec.stride.0)?;
        strided_narrow(&rows, 3, 0, (fw - 1) / spec.stride.1 + 1, spec.stride.1)?
    };
    add_bias(y, bias)
}

/// Depthwise convolution (one input and one output channel per group) as a sum over the
/// kernel's taps of a shifted, strided view of the padded input scaled per channel. Candle's
/// grouped conv2d runs one convolution per group: thousands of kernel launches per
/// EfficientNet pass on a GPU, where this takes 2·kh·kw elementwise ops at any channel count.
fn depthwise_by_taps(
    x: &Tensor,
    w: &Tensor,
    spec: &Conv2dSpec,
    geo: &ConvGeometry,
) -> Result<Tensor> {
    let p = spec.padding;
    let xp = x
        .pad_with_zeros(2, p.top, p.bottom)?
        .pad_with_zeros(3, p.left, p.right)?;
    let mut sum: Option<Tensor> = None;
    for i in 0..geo.kh {
        let rows = strided_narrow(&xp, 2, i * spec.dilation.0, geo.oh, spec.stride.0)?;
        for j in 0..geo.kw {
            let tap = strided_narrow(&rows, 3, j * spec.dilation.1, geo.ow, spec.stride.1)?;
            let wij = w
                .narrow(2, i, 1)?
                .narrow(3, j, 1)?
                .reshape((1, geo.c, 1, 1))?;
            let term = tap.broadcast_mul(&wij)?;
            sum = Some(match sum {
                None => term,
                Some(s) => (s + term)?,
            });
        }
    }
    sum.ok_or_else(|| candle_core::Error::Msg("depthwise conv2d: empty kernel".into()))
}

pub fn conv_transpose2d(
    x: &Tensor,
    w: &Tensor,
    bias: Option<&Tensor>,
    spec: &ConvTranspose2dSpec,
) -> Result<Tensor> {
    let geo = ConvGeometry::for_conv_transpose(x.dims(), w.dims(), spec)?;
    let g = spec.groups;
    let y = if g > 1 {
        let (cin_g, cout_g) = (x.dim(1)? / g, w.dim(1)?);
        let mut outs = Vec::with_capacity(g);
        for gi in 0..g {
            let spec1 = ConvTranspose2dSpec { groups: 1, ..*spec };
            let xg = x.narrow(1, gi * cin_g, cin_g)?;
            let wg = w.narrow(0, gi * cin_g, cin_g)?;
            let yg = conv_transpose2d(&xg, &wg, None, &spec1)?;
            debug_assert_eq!(yg.dim(1)?, cout_g);
            outs.push(yg);
        }
        Tensor::cat(&outs, 1)?
    } else {
        let full = if spec.stride.0 == spec.stride.1 && spec.dilation.0 == spec.dilation.1 {
            x.conv_transpose2d(w, 0, 0, spec.stride.0, spec.dilation.0)?
        } else {
            let xs = zero_insert(&zero_insert(x, 2, spec.stride.0)?, 3, spec.stride.1)?;
            let wd = zero_insert(&zero_insert(w, 2, spec.dilation.0)?, 3, spec.dilation.1)?;
            xs.conv_transpose2d(&wd, 0, 0, 1, 1)?
        };
        let p = spec.padding;
        let full = full
            .pad_with_zeros(2, 0, spec.output_padding.0)?
            .pad_with_zeros(3, 0, spec.output_padding.1)?;
        full.narrow(2, p.top, geo.h)?.narrow(3, p.left, geo.w)?
    };
    add_bias(y, bias)
}

pub fn upsample_nearest2d(x: &Tensor, factor_h: usize, factor_w: usize) -> Result<Tensor> {
    let (n, c, h, w) = x.dims4()?;
    x.reshape((n, c, h, 1, w, 1))?
        .broadcast_as((n, c, h, factor_h, w, factor_w))?
        .reshape((n, c, h * factor_h, w * factor_w))
}

/// Checks a padding against a kernel's extent: ONNX and PyTorch both require each pad to be
/// smaller than the kernel, otherwise whole windows see only padding.
pub(crate) fn check_pool_pads(spec: &Pool2dSpec) -> Result<()> {
    let Pad2d {
        top,
        left,
        bottom,
        right,
    } = spec.padding;
    let sizes = [
        spec.kernel.0,
        spec.kernel.1,
        spec.dilation.0,
        spec.dilation.1,
    ];
    if sizes.contains(&0) || spec.stride.0 == 0 || spec.stride.1 == 0 {
        bail!(
            "pool2d: kernel {:?}, stride {:?} and dilation {:?} must be positive",
            spec.kernel,
            spec.stride,
            spec.dilation
        )
    }
    let eh = (spec.kernel.0 - 1) * spec.dilation.0 + 1;
    let ew = (spec.kernel.1 - 1) * spec.dilation.1 + 1;
    if top.max(bottom) >= eh || left.max(right) >= ew {
        bail!(
            "pool2d: padding {:?} must be smaller than the kernel extent ({eh}, {ew})",
            spec.padding
        )
    }
    Ok(())
}
