//! Softmax and LogSoftmax along any axis, with both opset semantics: before 13 the input is
//! coerced to 2-D at `axis` (default 1); from 13 on the op acts along `axis` (default -1).
//! Uses `candle_nn::ops::softmax` (exact backward), never `softmax_last_dim` (no backward).

use super::{input, norm_axis, op, NodeInfo, Op};
use crate::onnx::value::Value;
use anyhow::Result;
use candle_core::Tensor;

pub fn softmax(info: &NodeInfo) -> Result<Box<dyn Op>> {
    let log = info.node.op_type == "LogSoftmax";
    let legacy = info.opset < 13;
    let axis = info.attrs.int("axis", if legacy { 1 } else { -1 })?;
    op(move |ctx, ins| {
        let x = input(ins, 0)?.float(ctx)?;
        let a = norm_axis(axis, x.rank())?;
        let y = if legacy {
            let d = x.dims().to_vec();
            let outer: usize = d[..a].iter().product();
            let flat = x.reshape((outer, ()))?;
            along(&flat, 1, log)?.reshape(d)?
        } else {
            along(&x, a, log)?
        };
        Ok(vec![Value::Device(y)])
    })
}

fn along(x: &Tensor, axis: usize, log: bool) -> Result<Tensor> {
    if log {
        // x - max - log(sum(exp(x - max))): stable; the max's gradient cancels exactly.
        let m = x.max_keepdim(axis)?.detach();
        let shifted = x.broadcast_sub(&m)?;
        let lse = shifted.exp()?.sum_keepdim(axis)?.log()?;
        Ok(shifted.broadcast_sub(&lse)?)
    } else {
        Ok(candle_nn::ops::softmax(x, axis)?)
    }
}
