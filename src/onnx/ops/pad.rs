//! Pad: constant, reflect and edge modes (attribute form before opset 11, inputs after;
//! `axes` from 18). Negative pads crop. Reflect/edge are index gathers, so their backward
//! accumulates into the reflected source positions as it must.

use super::shape::select;
use super::{input, norm_axis, op, opt_input, NodeInfo, Op};
use crate::onnx::value::{checked_elements, Value};
use anyhow::{bail, Context, Result};
use candle_core::Tensor;

pub fn pad(info: &NodeInfo) -> Result<Box<dyn Op>> {
    let mode = info.attrs.string("mode", "constant")?;
    if !matches!(mode.as_str(), "constant" | "reflect" | "edge") {
        bail!("Pad mode `{mode}` is not supported (constant, reflect, edge)");
    }
    let legacy = info.opset < 11;
    let known_pads = if legacy {
        Some(
            info.attrs
                .opt_ints(if info.opset < 2 { "paddings" } else { "pads" })?
                .context("Pad needs pads")?,
        )
    } else {
        info.const_i64s(1)?
    };
    let legacy_value = info.attrs.float("value", 0.0)? as f64;
    let known_axes = if legacy { None } else { info.const_i64s(3)? };
    op(move |ctx, ins| {
        let x = input(ins, 0)?;
        let pads = match &known_pads {
            Some(p) => p.clone(),
            None => input(ins, 1)?.to_i64s()?,
        };
        let value = if legacy {
            legacy_value
        } else {
            match opt_input(ins, 2) {
                Some(v) if v.tensor().elem_count() > 0 => v.scalar_f64()?,
                _ => 0.0,
            }
        };
        let r = x.rank();
        let axes: Vec<usize> = match known_axes
            .clone()
            .or(opt_input(ins, 3).map(|v| v.to_i64s()).transpose()?)
        {
            Some(a) => a.iter().map(|&i| norm_axis(i, r)).collect::<Result<_>>()?,
            None => (0..r).collect(),
        };
        if pads.len() != 2 * axes.len() {
            bail!("Pad: {} pads for {} axes", pads.len(), axes.len());
        }
        let x = if x.is_host() {
            x.clone()
        } else {
            Value::Device(x.float(ctx)?)
        };
        let mut out_dims = x.dims().to_vec();
        for (i, &a) in axes.iter().enumerate() {
            let (b, e) = (pads[i] as i128, pads[i + axes.len()] as i128);
            let len = out_dims[a] as i128;
            // Each side may crop at most what the axis holds (the crops run one after the other).
            if -b.min(0) - e.min(0) > len || len + b + e < 0 {
                bail!("Pad: pads {pads:?} crop axis {a} (length {len}) below zero");
            }
            out_dims[a] = usize::try_from(len + b + e).unwrap_or(usize::MAX);
        }
        checked_elements(&out_dims, "Pad output")?;
        let mut v = x;
        for (i, &a) in axes.iter().enumerate() {
            let (mut b, mut e) = (pads[i], pads[i + axes.len()]);
            if b < 0 {
                let len = v.dims()[a] - (-b) as usize;
                v = v.map(|t| t.narrow(a, (-b) as usize, len))?;
                b = 0;
            }
            if e < 0 {
                let len = v.dims()[a] - (-e) as usize;
                v = v.map(|t| t.narrow(a, 0, len))?;
                e = 0;
            }
            let (b, e) = (b as usize, e as usize);
            if b == 0 && e == 0 {
                continue;
            }
            let n = v.dims()[a];
            v = match mode.as_str() {
                "constant" if value == 0.0 => v.map(|t| t.pad_with_zeros(a, b, e))?,
                "constant" => v.map(|t| {
                    let side = |k: usize| {
                        let mut d = t.dims().to_vec();
                        d[a] = k;
                        Tensor::full(value, d, t.device())?.to_dtype(t.dtype())
                    };
                    Tensor::cat(&[&side(b)?, t, &side(e)?], a)
                })?,
                _ => {
                    if n == 0 || (mode == "reflect" && (b >= n || e >= n)) {
                        bail!("Pad: {mode} padding of {b},{e} needs a larger axis than {n}");
                    }
                    let idx: Vec<i64> = (-(b as i64)..(n + e) as i64)
                        .map(|j| {
                            let last = n as i64 - 1;
                            if mode == "edge" {
                                j.clamp(0, last)
                            } else if j < 0 {
                                -j
                            } else if j > last {
                                2 * last - j
                            } else {
                                j
                            }
                        })
                        .collect();
                    select(&v, a, &idx)?
                }
            };
        }
        Ok(vec![v])
    })
}
