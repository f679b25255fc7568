//! Resize (opsets 10-19) and Upsample (7-9): nearest and linear, any coordinate
//! transformation mode except tf_crop_and_resize. Integer nearest upsampling of H and W uses
//! `kernels::upsample_nearest2d`; everything else is separable per-axis index gathers (and a
//! weighted pair of gathers for linear), whose backward accumulates correctly.

use super::{input, op, opt_input, NodeInfo, Op};
use crate::kernels;
use crate::onnx::value::{checked_elements, Ctx, Value};
use anyhow::{bail, Result};
use candle_core::Tensor;

#[derive(Clone)]
struct Spec {
    linear: bool,
    coord: String,
    nearest: String,
    /// Upsample/Resize-10 carry only scales (attribute or input 1); later Resize has
    /// roi (1), scales (2), sizes (3).
    scales_attr: Option<Vec<f32>>,
    scales_input: usize,
    sizes_input: Option<usize>,
    axes: Option<Vec<i64>>,
}

pub fn resize(info: &NodeInfo) -> Result<Box<dyn Op>> {
    let a = &info.attrs;
    let upsample = info.node.op_type == "Upsample";
    let mode = a.string("mode", "nearest")?;
    let linear = match mode.as_str() {
        "nearest" => false,
        "linear" | "bilinear" => true,
        m => bail!(
            "{} mode `{m}` is not supported (nearest, linear)",
            info.node.op_type
        ),
    };
    let modern = !upsample && info.opset >= 11;
    let coord = if modern {
        a.string("coordinate_transformation_mode", "half_pixel")?
    } else {
        "asymmetric".into()
    };
    if coord == "tf_crop_and_resize" {
        bail!("Resize coordinate_transformation_mode tf_crop_and_resize is not supported");
    }
    if a.int("antialias", 0)? != 0 {
        bail!("Resize antialias=1 is not supported");
    }
    let nearest = if modern {
        a.string("nearest_mode", "round_prefer_floor")?
    } else {
        "floor".into()
    };
    let spec = Spec {
        linear,
        coord,
        nearest,
        scales_attr: if upsample && info.opset < 9 {
            a.opt_floats("scales")?
        } else {
            None
        },
        scales_input: if modern { 2 } else { 1 },
        sizes_input: if modern { Some(3) } else { None },
        axes: a.opt_ints("axes")?,
    };
    op(move |ctx, ins| run(&spec, ctx, ins))
}

fn run(s: &Spec, ctx: &Ctx, ins: &[Option<Value>]) -> Result<Vec<Value>> {
    let x = input(ins, 0)?.float(ctx)?;
    let d = x.dims().to_vec();
    let r = d.len();
    let axes: Vec<usize> = match &s.axes {
        Some(a) => a
            .iter()
            .map(|&i| super::norm_axis(i, r))
            .collect::<Result<_>>()?,
        None => (0..r).collect(),
    };
    let sizes = s
        .sizes_input
        .and_then(|i| opt_input(ins, i))
        .filter(|v| v.tensor().elem_count() > 0);
    let mut scales = vec![1.0f64; r];
    let mut out = d.clone();
    if let Some(sz) = sizes {
        let v = sz.to_i64s()?;
        if v.len() != axes.len() {
            bail!("Resize: {} sizes for {} axes", v.len(), axes.len());
        }
        for (k, &a) in axes.iter().enumerate() {
            out[a] = usize::try_from(v[k]).map_err(|_| anyhow::anyhow!("Resize: negative size"))?;
            scales[a] = out[a] as f64 / d[a] as f64;
        }
    } else {
        let v: Vec<f64> = match &s.scales_attr {
            Some(v) => v.iter().map(|&f| f as f64).collect(),
            None => match opt_input(ins, s.scales_input) {
                Some(v) => v.to_f64s()?,
                None => bail!("Resize needs scales or sizes"),
            },
        };
        if v.len() != axes.len() {
            bail!("Resize: {} scales for rank {}", v.len(), axes.len());
        }
        for (k, &a) in axes.iter().enumerate() {
            if !(v[k] > 0.0) || !v[k].is_finite() {
                bail!("Resize: invalid scale {}", v[k]);
            }
            scales[a] = v[k];
            let o = (d[a] as f64 * v[k]).floor();
            if o > crate::onnx::value::max_elements() as f64 {
                bail!("Resize: output dim {o} too large");
            }
            out[a] = o as usize;
        }
    }
    checked_elements(&out, "Resize output")?;
    if r == 4 && !s.linear && out[0] == d[0] && out[1] == d[1] && fast_nearest(s) {
        let (fh, fw) = (out[2] / d[2].max(1), out[3] / d[3].max(1));
        if fh * d[2] == out[2]
            && fw * d[3] == out[3]
            && fh as f64 == scales[2]
            && fw as f64 == scales[3]
            && fh > 0
            && fw > 0
        {
            return Ok(vec![Value::Device(kernels::upsample_nearest2d(
                &x, fh, fw,
            )?)]);
        }
    }
    let mut y = x;
    for a in 0..r {
        if out[a] == d[a] && scales[a] == 1.0 {
            continue;
        }
        y = resize_axis(&y, a, d[a], out[a], scales[a], s)?;
    }
    Ok(vec![Value::Device(y)])
}

/// For integer factors, these modes all pick source index floor(i / f).
fn fast_nearest(s: &Spec) -> bool {
    match s.coord.as_str() {
        "asymmetric" => s.nearest == "floor",
        "half_pixel" | "pytorch_half_pixel" => s.nearest.starts_with("round_prefer"),
        _ => false,
    }
}

fn source_coord(s: &Spec, i: usize, n_in: usize, n_out: usize, scale: f64) -> f64 {
    let i = i as f64;
    // ONNX uses the unrounded resized length in_len * scale here.
    let len_out = n_in as f64 * scale;
    match s.coord.as_str() {
        "half_pixel" => (i + 0.5) / scale - 0.5,
        "pytorch_half_pixel" => {
            if n_out > 1 {
                (i + 0.5) / scale - 0.5
            } else {
                0.0
            }
        }
        "align_corners" => {
            if n_out == 1 || len_out <= 1.0 {
                0.0
            } else {
                i * (n_in as f64 - 1.0) / (len_out - 1.0)
            }
        }
        "tf_half_pixel_for_nn" => (i + 0.5) / scale,
        "half_pixel_symmetric" => {
            let adj = n_out as f64 / (n_in as f64 * scale);
            let center = n_in as f64 / 2.0;
            center * (1.0 - adj) + (i + 0.5) / scale * adj - 0.5
        }
        _ => i / scale,
    }
}

fn resize_axis(
    x: &Tensor,
    axis: usize,
    n_in: usize,
    n_out: usize,
    scale: f64,
    s: &Spec,
) -> Result<Tensor> {
    let dev = x.device();
    let last = n_in as f64 - 1.0;
    let ids = |v: Vec<u32>| Tensor::from_vec(v, n_out, dev);
    if !s.linear {
        let idx: Vec<u32> = (0..n_out)
            .map(|i| {
                let c = source_coord(s, i, n_in, n_out, scale);
                let j = match s.nearest.as_str() {
                    "floor" => c.floor(),
                    "ceil" => c.ceil(),
                    "round_prefer_ceil" => (c + 0.5).floor(),
                    _ => {
                        if c.fract() == 0.5 || c.fract() == -0.5 {
                            c.floor()
                        } else {
                            c.round()
                        }
                    }
                };
                j.clamp(0.0, last) as u32
            })
            .collect();
        return Ok(x.contiguous()?.index_select(&ids(idx)?, axis)?);
    }
    let (mut i0, mut i1, mut w1) = (Vec::new(), Vec::new(), Vec::new());
    for i in 0..n_out {
        let c = source_coord(s, i, n_in, n_out, scale).clamp(0.0, last);
        let f = c.floor();
        i0.push(f as u32);
        i1.push((f + 1.0).min(last) as u32);
        w1.push(c - f);
    }
    let mut wshape = vec![1; x.rank()];
    wshape[axis] = n_out;
    let w1 = Tensor::from_vec(w1, wshape, dev)?.to_dtype(x.dtype())?;
    let x = x.contiguous()?;
    let a = x.index_select(&ids(i0)?, axis)?;
    let b = x.index_select(&ids(i1)?, axis)?;
    Ok(a.broadcast_add(&(b - &a)?.broadcast_mul(&w1)?)?)
}
