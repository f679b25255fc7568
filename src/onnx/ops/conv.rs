//! Conv and ConvTranspose (1-D and 2-D; groups, depthwise, dilation, explicit/asymmetric pads,
//! auto_pad), computed by `crate::kernels` (fast CPU paths, exact backward). 1-D runs as 2-D
//! with a unit height.

use super::{input, op, opt_input, NodeInfo, Op};
use crate::kernels::geometry::ConvGeometry;
use crate::kernels::{self, Conv2dSpec, ConvTranspose2dSpec, Pad2d};
use crate::onnx::value::{checked_elements, Value, MAX_ELEMENTS};
use anyhow::{bail, Context, Result};
use candle_core::Tensor;

/// Spatial attributes shared by conv and pool ops, normalised to two spatial dims.
#[derive(Clone, Debug)]
pub struct Window {
    pub rank: usize,
    pub kernel: Option<Vec<usize>>,
    pub strides: Vec<usize>,
    pub dilations: Vec<usize>,
    pub pads: Vec<usize>,
    pub auto_pad: String,
}

impl Window {
    pub fn parse(info: &NodeInfo) -> Result<Window> {
        let a = &info.attrs;
        let kernel = a.usizes("kernel_shape")?;
        let auto_pad = a.string("auto_pad", "NOTSET")?;
        let strides = a.usizes("strides")?;
        let rank = kernel
            .as_ref()
            .map(|k| k.len())
            .or(strides.as_ref().map(|s| s.len()))
            .unwrap_or(0);
        let w = Window {
            rank,
            strides: strides.unwrap_or_else(|| vec![1; rank]),
            dilations: a.usizes("dilations")?.unwrap_or_else(|| vec![1; rank]),
            pads: a.usizes("pads")?.unwrap_or_else(|| vec![0; 2 * rank]),
            kernel,
            auto_pad,
        };
        if !matches!(
            w.auto_pad.as_str(),
            "NOTSET" | "SAME_UPPER" | "SAME_LOWER" | "VALID" | ""
        ) {
            bail!("unknown auto_pad `{}`", w.auto_pad);
        }
        if w.strides.contains(&0) || w.dilations.contains(&0) {
            bail!("strides and dilations must be positive");
        }
        Ok(w)
    }

    /// Resolve to 2-D: (kernel, stride, dilation, pads) for input spatial dims `sp` and a
    /// kernel of `k` (taken from the weight when the attribute is absent).
    pub fn resolve(
        &self,
        sp: &[usize],
        k: &[usize],
    ) -> Result<((usize, usize), (usize, usize), (usize, usize), Pad2d)> {
        let r = sp.len();
        if r == 0 || r > 2 {
            bail!("only 1-D and 2-D spatial inputs are supported, got {r}-D");
        }
        if sp.contains(&0) {
            bail!("empty spatial input {sp:?}");
        }
        let get = |v: &[usize], i: usize, d: usize| v.get(i).copied().unwrap_or(d);
        let mut pads = [0usize; 4];
        for i in 0..r {
            let (kk, s, d) = (
                get(k, i, 1),
                get(&self.strides, i, 1),
                get(&self.dilations, i, 1),
            );
            let (b, e) = match self.auto_pad.as_str() {
                "SAME_UPPER" | "SAME_LOWER" => {
                    let out = sp[i].div_ceil(s);
                    let total = ((out - 1) * s + (kk - 1) * d + 1).saturating_sub(sp[i]);
                    if self.auto_pad == "SAME_UPPER" {
                        (total / 2, total - total / 2)
                    } else {
                        (total - total / 2, total / 2)
                    }
                }
                "VALID" => (0, 0),
                _ => (get(&self.pads, i, 0), get(&self.pads, i + r, 0)),
            };
            pads[i] = b;
            pads[i + 2] = e;
        }
        let two = |v: &[usize], d: usize| {
            if r == 1 {
                (1, get(v, 0, d))
            } else {
                (get(v, 0, d), get(v, 1, d))
            }
        };
        let pad = if r == 1 {
            Pad2d {
                top: 0,
                bottom: 0,
                left: pads[0],
                right: pads[2],
            }
        } else {
            Pad2d {
                top: pads[0],
                left: pads[1],
                bottom: pads[2],
                right: pads[3],
            }
        };
        Ok((
            two(k, 1),
            two(&self.strides, 1),
            two(&self.dilations, 1),
            pad,
        ))
    }
}

/// [N, C, L] -> [N, C, 1, L]; 2-D passes through.
pub fn to_2d(t: &Tensor) -> Result<Tensor> {
    Ok(match t.rank() {
        3 => t.unsqueeze(2)?,
        4 => t.clone(),
        r => bail!(
            "expected a 1-D or 2-D spatial tensor (rank 3 or 4), got rank {r} {:?}",
            t.dims()
        ),
    })
}

pub fn from_2d(t: Tensor, rank: usize) -> Result<Tensor> {
    Ok(if rank == 3 { t.squeeze(2)? } else { t })
}

/// The `group` attribute (absent or non-positive means 1), bounded so channel arithmetic on it
/// cannot overflow.
fn group_attr(info: &NodeInfo) -> Result<usize> {
    let g = info.attrs.int("group", 1)?.max(1);
    if g as u64 > MAX_ELEMENTS as u64 {
        bail!("attribute `group` value {g} is absurdly large");
    }
    Ok(g as usize)
}

/// Refuse a convolution whose output, or the im2col matrix the kernel lowers one image into,
/// would pass the engine's size limit: a small file can claim a huge output through its pads,
/// strides or output_shape, and the kernel would otherwise allocate first and abort.
fn check_conv_size(geo: &ConvGeometry, output: [usize; 4]) -> Result<()> {
    checked_elements(&output, "output")?;
    checked_elements(
        &[geo.c, geo.kh, geo.kw, geo.oh, geo.ow],
        "im2col workspace (input channels x kernel x output positions)",
    )?;
    Ok(())
}

pub fn conv(info: &NodeInfo) -> Result<Box<dyn Op>> {
    conv_then(info, None)
}

/// Conv, optionally with an activation applied in the kernel's output loop (the load-time
/// Conv→Relu/Clip fusion in `onnx::fuse`): the same checks and attribute forms either way.
pub(crate) fn conv_then(
    info: &NodeInfo,
    activation: Option<kernels::ConvActivation>,
) -> Result<Box<dyn Op>> {
    let w = Window::parse(info)?;
    let groups = group_attr(info)?;
    op(move |ctx, ins| {
        let x = input(ins, 0)?.float(ctx)?;
        let wt = input(ins, 1)?.float(ctx)?;
        let b = opt_input(ins, 2).map(|b| b.float(ctx)).transpose()?;
        let rank = x.rank();
        if wt.rank() != rank {
            bail!(
                "input {:?} and weight {:?} ranks differ",
                x.dims(),
                wt.dims()
            );
        }
        if x.dim(1)? != wt.dim(1)? * groups {
            bail!(
                "input has {} channels, weight {:?} with group={groups} expects {}",
                x.dim(1)?,
                wt.dims(),
                wt.dim(1)? * groups
            );
        }
        let k = w.kernel.clone().unwrap_or_else(|| wt.dims()[2..].to_vec());
        let (_, stride, dilation, padding) = w.resolve(&x.dims()[2..], &k)?;
        let spec = Conv2dSpec {
            stride,
            padding,
            dilation,
            groups,
        };
        let (x2, w2) = (to_2d(&x)?, to_2d(&wt)?);
        let geo = ConvGeometry::for_conv(x2.dims(), w2.dims(), &spec)?;
        check_conv_size(&geo, [geo.n, geo.o, geo.oh, geo.ow])?;
        let y = match activation {
            None => kernels::conv2d(&x2, &w2, b.as_ref(), &spec)?,
            Some(a) => kernels::conv2d_activation(&x2, &w2, b.as_ref(), &spec, a)?,
        };
        Ok(vec![Value::Device(from_2d(y, rank)?)])
    })
}

pub fn conv_transpose(info: &NodeInfo) -> Result<Box<dyn Op>> {
    let w = Window::parse(info)?;
    let groups = group_attr(info)?;
    let output_padding = info.attrs.usizes("output_padding")?;
    let output_shape = info.attrs.usizes("output_shape")?;
    op(move |ctx, ins| {
        let x = input(ins, 0)?.float(ctx)?;
        let wt = input(ins, 1)?.float(ctx)?;
        let b = opt_input(ins, 2).map(|b| b.float(ctx)).transpose()?;
        let rank = x.rank();
        if !(3..=4).contains(&rank) || wt.rank() != rank {
            bail!(
                "ConvTranspose supports 1-D and 2-D only (input {:?}, weight {:?})",
                x.dims(),
                wt.dims()
            );
        }
        let sp = &x.dims()[2..];
        let r = sp.len();
        let k = w.kernel.clone().unwrap_or_else(|| wt.dims()[2..].to_vec());
        if k.len() != r || k.contains(&0) || sp.contains(&0) {
            bail!(
                "ConvTranspose: kernel_shape {k:?} does not fit input {:?} (one positive size per spatial axis)",
                x.dims()
            );
        }
        if w.strides.contains(&0) || w.dilations.contains(&0) {
            bail!(
                "ConvTranspose: strides {:?} and dilations {:?} must be positive",
                w.strides,
                w.dilations
            );
        }
        let g = |v: &[usize], i: usize, d: usize| v.get(i).copied().unwrap_or(d);
        let mut op_ = vec![0; r];
        let mut pads = vec![0; 2 * r];
        for i in 0..r {
            let (s, d, kk) = (g(&w.strides, i, 1), g(&w.dilations, i, 1), k[i]);
            op_[i] = output_padding.as_ref().map(|v| g(v, i, 0)).unwrap_or(0);
            let full = s * (sp[i] - 1) + op_[i] + (kk - 1) * d + 1;
            let target = match (&output_shape, w.auto_pad.as_str()) {
                (Some(os), _) => Some(
                    *os.get(os.len().wrapping_sub(r) + i)
                        .context("output_shape too short")?,
                ),
                (None, "SAME_UPPER" | "SAME_LOWER") => Some(sp[i] * s),
                _ => None,
            };
            match target {
                Some(t) => {
                    // A target beyond the full output grows it at the end, like output_padding.
                    if t > full {
                        op_[i] += t - full;
                    }
                    let total = full.saturating_sub(t);
                    let upper = w.auto_pad != "SAME_LOWER";
                    pads[i] = if upper { total / 2 } else { total - total / 2 };
                    pads[i + r] = total - pads[i];
                }
                None if w.auto_pad == "VALID" => {}
                None => {
                    pads[i] = g(&w.pads, i, 0);
                    pads[i + r] = g(&w.pads, i + r, 0);
                }
            }
        }
        let two = |v: &[usize]| if r == 1 { (1, v[0]) } else { (v[0], v[1]) };
        let padding = if r == 1 {
            Pad2d {
                top: 0,
                bottom: 0,
                left: pads[0],
                right: pads[1],
            }
        } else {
            Pad2d {
                top: pads[0],
                left: pads[1],
                bottom: pads[2],
                right: pads[3],
            }
        };
        let strides: Vec<usize> = (0..r).map(|i| g(&w.strides, i, 1)).collect();
        let dil: Vec<usize> = (0..r).map(|i| g(&w.dilations, i, 1)).collect();
        let spec = ConvTranspose2dSpec {
            stride: two(&strides),
            padding,
            output_padding: if r == 1 {
                (0, op_[0])
            } else {
                (op_[0], op_[1])
            },
            dilation: two(&dil),
            groups,
        };
        let (x2, w2) = (to_2d(&x)?, to_2d(&wt)?);
        // The adjoint convolution's input is this op's output.
        let geo = ConvGeometry::for_conv_transpose(x2.dims(), w2.dims(), &spec)?;
        check_conv_size(&geo, [geo.n, geo.c, geo.h, geo.w])?;
        let y = kernels::conv_transpose2d(&x2, &w2, b.as_ref(), &spec)?;
        Ok(vec![Value::Device(from_2d(y, rank)?)])
    })
}
