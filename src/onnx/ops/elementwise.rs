//! Broadcasting binary arithmetic and comparisons, variadic Max/Min/Sum/Mean, Where, Not.
//! Integer operands on the host stay on the host (shape arithmetic).

use super::{broadcast_shape, input, op, NodeInfo, Op};
use crate::onnx::value::{checked_elements, unify, Value};
use anyhow::{bail, Result};
use candle_core::{DType, Tensor};

fn wrap(t: Tensor, host: bool) -> Value {
    if host {
        Value::Host(t)
    } else {
        Value::Device(t)
    }
}

pub fn binary(info: &NodeInfo) -> Result<Box<dyn Op>> {
    let kind = info.node.op_type.clone();
    if kind == "Pow" {
        return pow(info);
    }
    op(move |ctx, ins| {
        let (a, b, host) = unify(input(ins, 0)?, input(ins, 1)?, ctx)?;
        // Broadcasting [L, 1] against [1, L] squares the size: bound the result first.
        checked_elements(&broadcast_shape(a.dims(), b.dims())?, "broadcast output")?;
        let t = match kind.as_str() {
            "Add" => a.broadcast_add(&b)?,
            "Sub" => a.broadcast_sub(&b)?,
            "Mul" => a.broadcast_mul(&b)?,
            "Div" => a.broadcast_div(&b)?,
            "Equal" => a.broadcast_eq(&b)?,
            "Greater" => a.broadcast_gt(&b)?,
            "Less" => a.broadcast_lt(&b)?,
            "GreaterOrEqual" => a.broadcast_ge(&b)?,
            "LessOrEqual" => a.broadcast_le(&b)?,
            other => bail!("unexpected binary op {other}"),
        };
        Ok(vec![wrap(t, host)])
    })
}

/// `x ^ e`: a constant scalar exponent takes exact, sign-safe paths (x² as `sqr`, √x as
/// `sqrt`, otherwise `powf`); a tensor exponent uses exp(e·ln x) as ONNX allows for x > 0.
fn pow(info: &NodeInfo) -> Result<Box<dyn Op>> {
    let const_e = match info.const_f64s(1)? {
        Some(v) if v.len() == 1 => Some(v[0]),
        _ => None,
    };
    op(move |ctx, ins| {
        let x = input(ins, 0)?;
        let e = input(ins, 1)?;
        let scalar = match const_e {
            Some(e) => Some(e),
            None if e.tensor().elem_count() == 1 => Some(e.scalar_f64()?),
            None => None,
        };
        if x.is_host() && e.is_host() {
            // Integer power on the host (rare: shape arithmetic).
            let (a, b, _) = unify(x, e, ctx)?;
            let shape = broadcast_shape(a.dims(), b.dims())?;
            checked_elements(&shape, "broadcast output")?;
            let av = Value::Host(a.broadcast_as(shape.as_slice())?.contiguous()?).to_i64s()?;
            let bv = Value::Host(b.broadcast_as(shape.as_slice())?.contiguous()?).to_i64s()?;
            let v: Vec<i64> = av
                .iter()
                .zip(&bv)
                .map(|(&a, &b)| (a as f64).powf(b as f64) as i64)
                .collect();
            return Ok(vec![Value::Host(Tensor::from_vec(
                v,
                shape,
                &candle_core::Device::Cpu,
            )?)]);
        }
        let xt = x.float(ctx)?;
        let y = match scalar {
            Some(p) if p == 1.0 => xt,
            Some(p) if p == 2.0 => xt.sqr()?,
            Some(p) if p == 0.5 => xt.sqrt()?,
            Some(p) => xt.powf(p)?,
            None => {
                let et = e.float(ctx)?;
                let shape = broadcast_shape(xt.dims(), et.dims())?;
                checked_elements(&shape, "broadcast output")?;
                xt.broadcast_as(shape.as_slice())?
                    .pow(&et.broadcast_as(shape.as_slice())?)?
            }
        };
        Ok(vec![Value::Device(y)])
    })
}

pub fn variadic(info: &NodeInfo) -> Result<Box<dyn Op>> {
    let kind = info.node.op_type.clone();
    op(move |ctx, ins| {
        let vals: Vec<&Value> = ins.iter().flatten().collect();
        let Some(first) = vals.first() else {
            bail!("{kind} needs at least one input")
        };
        let mut acc = (*first).clone();
        for v in &vals[1..] {
            let (a, b, host) = unify(&acc, v, ctx)?;
            checked_elements(&broadcast_shape(a.dims(), b.dims())?, "broadcast output")?;
            let t = match kind.as_str() {
                "Max" => a.broadcast_maximum(&b)?,
                "Min" => a.broadcast_minimum(&b)?,
                _ => a.broadcast_add(&b)?,
            };
            acc = wrap(t, host);
        }
        if kind == "Mean" && vals.len() > 1 {
            acc = Value::Device((acc.float(ctx)? / vals.len() as f64)?);
        }
        Ok(vec![acc])
    })
}

pub fn where_op(_info: &NodeInfo) -> Result<Box<dyn Op>> {
    op(|ctx, ins| {
        let cond = input(ins, 0)?;
        let (x, y, host) = unify(input(ins, 1)?, input(ins, 2)?, ctx)?;
        let shape = broadcast_shape(&broadcast_shape(cond.dims(), x.dims())?, y.dims())?;
        checked_elements(&shape, "broadcast output")?;
        let mut c = cond.tensor().clone();
        if c.dtype() != DType::U8 {
            c = c.ne(0.0f64)?;
        }
        if !host {
            c = c.to_device(&ctx.device)?;
        }
        let s = shape.as_slice();
        let t = c
            .broadcast_as(s)?
            .where_cond(&x.broadcast_as(s)?, &y.broadcast_as(s)?)?;
        Ok(vec![wrap(t, host)])
    })
}

pub fn not(_info: &NodeInfo) -> Result<Box<dyn Op>> {
    op(|_, ins| Ok(vec![input(ins, 0)?.map(|t| t.eq(0u8))?]))
}
