//! BatchNormalization (inference statistics, or batch statistics when `training_mode`),
//! InstanceNormalization, LayerNormalization and LRN (AlexNet-era local response
//! normalisation across channels).

use super::{input, norm_axis, op, opt_input, NodeInfo, Op};
use crate::kernels;
use crate::onnx::value::Value;
use anyhow::{bail, Result};
use candle_core::{Tensor, D};

pub fn batch_norm(info: &NodeInfo) -> Result<Box<dyn Op>> {
    let eps = info.attrs.float("epsilon", 1e-5)? as f64;
    let training = info.attrs.int("training_mode", 0)? != 0;
    let momentum = info.attrs.float("momentum", 0.9)? as f64;
    op(move |ctx, ins| {
        let x = input(ins, 0)?.float(ctx)?;
        let f = |i: usize| -> Result<Tensor> { input(ins, i)?.float(ctx) };
        let (scale, bias) = (f(1)?, f(2)?);
        if x.rank() < 2 || scale.elem_count() != x.dim(1)? {
            bail!(
                "BatchNormalization: input {:?} does not match {} channel parameters",
                x.dims(),
                scale.elem_count()
            );
        }
        if training {
            // Batch statistics; the extra outputs are the updated running statistics.
            let (y, mean, var) = kernels::batch_norm_train(&x, Some(&scale), Some(&bias), eps)?;
            let run_mean = ((f(3)? * momentum)? + (mean * (1.0 - momentum))?)?;
            let run_var = ((f(4)? * momentum)? + (var * (1.0 - momentum))?)?;
            return Ok(vec![
                Value::Device(y),
                Value::Device(run_mean),
                Value::Device(run_var),
            ]);
        }
        let y = kernels::batch_norm_eval(&x, &f(3)?, &f(4)?, Some(&scale), Some(&bias), eps)?;
        Ok(vec![Value::Device(y)])
    })
}

/// Normalise `x` over its dims from `first` on (biased variance, as ONNX defines).
fn normalize_from(x: &Tensor, first: usize, eps: f64) -> Result<Tensor> {
    Ok(normalize_with_stats(x, first, eps)?.0)
}

/// (normalised x, mean, 1/std), the statistics shaped like x with the normalised dims as 1.
fn normalize_with_stats(x: &Tensor, first: usize, eps: f64) -> Result<(Tensor, Tensor, Tensor)> {
    let d = x.dims().to_vec();
    let outer: usize = d[..first].iter().product();
    let flat = x.reshape((outer, ()))?;
    let mean = flat.mean_keepdim(D::Minus1)?;
    let centered = flat.broadcast_sub(&mean)?;
    let var = centered.sqr()?.mean_keepdim(D::Minus1)?;
    let inv_std = (var + eps)?.sqrt()?.recip()?;
    let y = centered.broadcast_mul(&inv_std)?.reshape(d.clone())?;
    let mut sd = d[..first].to_vec();
    sd.extend(std::iter::repeat_n(1, d.len() - first));
    Ok((y, mean.reshape(sd.clone())?, inv_std.reshape(sd)?))
}

pub fn instance_norm(info: &NodeInfo) -> Result<Box<dyn Op>> {
    let eps = info.attrs.float("epsilon", 1e-5)? as f64;
    op(move |ctx, ins| {
        let x = input(ins, 0)?.float(ctx)?;
        if x.rank() < 3 {
            bail!(
                "InstanceNormalization needs [N, C, spatial...], got {:?}",
                x.dims()
            );
        }
        let y = normalize_from(&x, 2, eps)?;
        let mut shape = vec![1; x.rank()];
        shape[1] = x.dim(1)?;
        let s = input(ins, 1)?.float(ctx)?.reshape(shape.clone())?;
        let b = input(ins, 2)?.float(ctx)?.reshape(shape)?;
        Ok(vec![Value::Device(y.broadcast_mul(&s)?.broadcast_add(&b)?)])
    })
}

pub fn layer_norm(info: &NodeInfo) -> Result<Box<dyn Op>> {
    let eps = info.attrs.float("epsilon", 1e-5)? as f64;
    let axis = info.attrs.int("axis", -1)?;
    op(move |ctx, ins| {
        let x = input(ins, 0)?.float(ctx)?;
        let a = norm_axis(axis, x.rank())?;
        let (mut y, mean, inv_std) = normalize_with_stats(&x, a, eps)?;
        if let Some(s) = opt_input(ins, 1) {
            y = y.broadcast_mul(&s.float(ctx)?)?;
        }
        if let Some(b) = opt_input(ins, 2) {
            y = y.broadcast_add(&b.float(ctx)?)?;
        }
        Ok(vec![
            Value::Device(y),
            Value::Device(mean),
            Value::Device(inv_std),
        ])
    })
}

/// LRN: `y = x / (bias + alpha / size * sum of x² over a window of `size` channels)^beta`,
/// the window running from `c - floor((size-1)/2)` to `c + ceil((size-1)/2)`, cut at the
/// edges. Stock ops only (zero-padded channel shifts), so it differentiates on any device.
pub fn lrn(info: &NodeInfo) -> Result<Box<dyn Op>> {
    let alpha = info.attrs.float("alpha", 1e-4)? as f64;
    let beta = info.attrs.float("beta", 0.75)? as f64;
    let bias = info.attrs.float("bias", 1.0)? as f64;
    let size = info.attrs.opt_int("size")?;
    let Some(size) = size.filter(|&s| s >= 1) else {
        bail!(
            "LRN `{}`: attribute `size` must be a positive int, got {size:?}",
            info.name()
        );
    };
    let size = size as usize;
    op(move |ctx, ins| {
        let x = input(ins, 0)?.float(ctx)?;
        if x.rank() < 3 {
            bail!("LRN needs [N, C, spatial...], got {:?}", x.dims());
        }
        let c = x.dim(1)?;
        let (before, after) = ((size - 1) / 2, size / 2);
        let padded = x.sqr()?.pad_with_zeros(1, before, after)?;
        let mut window = padded.narrow(1, 0, c)?;
        for k in 1..size {
            window = (window + padded.narrow(1, k, c)?)?;
        }
        let denom = ((window * (alpha / size as f64))? + bias)?.powf(-beta)?;
        Ok(vec![Value::Device((x * denom)?)])
    })
}
