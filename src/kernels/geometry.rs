//! Shapes of convolutions and pools: output sizes and the shape checks shared by every path.

use super::{Conv2dSpec, ConvTranspose2dSpec, Pad2d};
use candle_core::{bail, Result};

/// Output length of a pooling window sweep, PyTorch/onnxruntime rules: with `ceil_mode` a last,
/// partial window is kept only if it starts inside the input or the leading padding.
pub fn pool_out_len(
    len: usize,
    k: usize,
    s: usize,
    p0: usize,
    p1: usize,
    d: usize,
    ceil: bool,
) -> Result<usize> {
    if k == 0 || s == 0 || d == 0 {
        bail!("pool2d: kernel, stride and dilation must be positive (got k={k}, s={s}, d={d})")
    }
    let extent = (k - 1) * d + 1;
    let padded = len + p0 + p1;
    if padded < extent {
        bail!("pool2d: window extent {extent} exceeds padded input length {padded}")
    }
    let span = padded - extent;
    let mut n = if ceil { span.div_ceil(s) } else { span / s } + 1;
    if ceil && (n - 1) * s >= len + p0 {
        n -= 1;
    }
    Ok(n)
}

/// One convolution's full geometry. A transposed convolution is described by the convolution
/// it is the adjoint of (its output is this geometry's input), so one set of kernels serves both.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConvGeometry {
    pub n: usize,
    /// Convolution input channels and size.
    pub c: usize,
    pub h: usize,
    pub w: usize,
    /// Convolution output channels and size.
    pub o: usize,
    pub oh: usize,
    pub ow: usize,
    pub kh: usize,
    pub kw: usize,
    pub stride: (usize, usize),
    pub dilation: (usize, usize),
    pub pad: Pad2d,
    pub groups: usize,
}

/// Largest convolution output (elements) the kernels build: past it the geometry is corrupt
/// or hostile, and allocating first would abort the process instead of failing.
pub const MAX_CONV_OUTPUT: usize = 1 << 31;

fn check_output_size(what: &str, dims: [usize; 4]) -> Result<()> {
    match dims.iter().try_fold(1usize, |n, &d| n.checked_mul(d)) {
        Some(n) if n <= MAX_CONV_OUTPUT => Ok(()),
        _ => bail!("{what}: output {dims:?} has more than {MAX_CONV_OUTPUT} elements; refusing to allocate"),
    }
}

fn dims4(what: &str, d: &[usize]) -> Result<(usize, usize, usize, usize)> {
    match d {
        [a, b, c, e] => Ok((*a, *b, *c, *e)),
        _ => bail!("{what}: expected a rank-4 tensor, got shape {d:?}"),
    }
}

impl ConvGeometry {
    pub fn for_conv(x: &[usize], w: &[usize], spec: &Conv2dSpec) -> Result<Self> {
        let (n, c, h, wd) = dims4("conv2d input", x)?;
        let (o, cg, kh, kw) = dims4("conv2d weight", w)?;
        let g = spec.groups;
        if g == 0 || c % g != 0 || o % g != 0 || cg * g != c {
            bail!("conv2d: input channels {c}, weight {w:?} and groups {g} do not agree (need C = groups * weight[1], O % groups = 0)")
        }
        if spec.stride.0 == 0
            || spec.stride.1 == 0
            || spec.dilation.0 == 0
            || spec.dilation.1 == 0
            || kh == 0
            || kw == 0
        {
            bail!("conv2d: stride, dilation and kernel must be positive ({spec:?}, weight {w:?})")
        }
        let out =
            |len: usize, p0: usize, p1: usize, k: usize, s: usize, d: usize| -> Result<usize> {
                let ext = (k - 1) * d + 1;
                if len + p0 + p1 < ext {
                    bail!(
                        "conv2d: kernel extent {ext} exceeds padded input length {}",
                        len + p0 + p1
                    )
                }
                Ok((len + p0 + p1 - ext) / s + 1)
            };
        let p = spec.padding;
        let oh = out(h, p.top, p.bottom, kh, spec.stride.0, spec.dilation.0)?;
        let ow = out(wd, p.left, p.right, kw, spec.stride.1, spec.dilation.1)?;
        check_output_size("conv2d", [n, o, oh, ow])?;
        Ok(ConvGeometry {
            n,
            c,
            h,
            w: wd,
            o,
            oh,
            ow,
            kh,
            kw,
            stride: spec.stride,
            dilation: spec.dilation,
            pad: p,
            groups: g,
        })
    }

    /// Geometry of the convolution whose adjoint is this transposed convolution.
    pub fn for_conv_transpose(
        x: &[usize],
        w: &[usize],
        spec: &ConvTranspose2dSpec,
    ) -> Result<Self> {
        let (n, cin, h, wd) = dims4("conv_transpose2d input", x)?;
        let (wc, og, kh, kw) = dims4("conv_transpose2d weight", w)?;
        let g = spec.groups;
        if g == 0 || wc != cin || cin % g != 0 {
            bail!("conv_transpose2d: input channels {cin}, weight {w:?} and groups {g} do not agree (need weight[0] = C, C % groups = 0)")
        }
        if spec.stride.0 == 0
            || spec.stride.1 == 0
            || spec.dilation.0 == 0
            || spec.dilation.1 == 0
            || kh == 0
            || kw == 0
        {
            bail!("conv_transpose2d: stride, dilation and kernel must be positive ({spec:?}, weight {w:?})")
        }
        let (op_h, op_w) = spec.output_padding;
        if op_h >= spec.stride.0.max(spec.dilation.0) || op_w >= spec.stride.1.max(spec.dilation.1)
        {
            bail!(
                "conv_transpose2d: output_padding {:?} must be smaller than stride or dilation",
                spec.output_padding
            )
        }
        let out = |len: usize,
                   p0: usize,
                   p1: usize,
                   k: usize,
                   s: usize,
                   d: usize,
                   op: usize|
         -> Result<usize> {
            let full = (len - 1) * s + (k - 1) * d + 1 + op;
            if full <= p0 + p1 {
                bail!(
                    "conv_transpose2d: padding {p0}+{p1} removes the whole output (length {full})"
                )
            }
            Ok(full - p0 - p1)
        };
        if h == 0 || wd == 0 {
            bail!("conv_transpose2d: empty input {x:?}")
        }
        let p = spec.padding;
        let oh = out(h, p.top, p.bottom, kh, spec.stride.0, spec.dilation.0, op_h)?;
        let ow = out(
            wd,
            p.left,
            p.right,
            kw,
            spec.stride.1,
            spec.dilation.1,
            op_w,
        )?;
        check_output_size("conv_transpose2d", [n, og * g, oh, ow])?;
        Ok(ConvGeometry {
            n,
            c: og * g,
            h: oh,
            w: ow,
            o: cin,
            oh: h,
            ow: wd,
            kh,
            kw,
            stride: spec.stride,
            dilation: spec.dilation,
            pad: p,
            groups: g,
        })
    }

    /// Whether the convolution of `h`×`w` lands exactly on `oh`×`ow` (false for a transposed
    /// convolution whose output_padding reaches past a stride).
    pub fn is_exact_adjoint(&self) -> bool {
        let o = |len: usize, p0: usize, p1: usize, k: usize, s: usize, d: usize| {
            (len + p0 + p1 - (k - 1) * d - 1) / s + 1
        };
        let p = self.pad;
        self.h + p.top + p.bottom > (self.kh - 1) * self.dilation.0
            && self.w + p.left + p.right > (self.kw - 1) * self.dilation.1
            && o(
                self.h,
                p.top,
                p.bottom,
                self.kh,
                self.stride.0,
                self.dilation.0,
            ) == self.oh
            && o(
                self.w,
                p.left,
                p.right,
                self.kw,
                self.stride.1,
                self.dilation.1,
            ) == self.ow
    }
}
