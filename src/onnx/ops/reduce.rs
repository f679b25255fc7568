//! Reduce{Mean,Sum,Max,Min,L1,L2,SumSquare,Prod,LogSumExp}: axes as attribute (older opsets)
//! or input (ReduceSum from 13, the rest from 18), keepdims, noop_with_empty_axes.

use super::{input, norm_axis, op, opt_input, NodeInfo, Op};
use crate::onnx::value::Value;
use anyhow::{bail, Result};
use candle_core::Tensor;

pub fn reduce(info: &NodeInfo) -> Result<Box<dyn Op>> {
    let kind = info.node.op_type.clone();
    let axes_from_input = info.opset >= if kind == "ReduceSum" { 13 } else { 18 };
    let known = if axes_from_input {
        info.const_i64s(1)?
    } else {
        info.attrs.opt_ints("axes")?
    };
    let keep = info.attrs.int("keepdims", 1)? != 0;
    let noop_empty = info.attrs.int("noop_with_empty_axes", 0)? != 0;
    op(move |ctx, ins| {
        let x = input(ins, 0)?.float(ctx)?;
        let axes = match (&known, axes_from_input) {
            (Some(k), _) => Some(k.clone()),
            (None, true) => opt_input(ins, 1).map(|v| v.to_i64s()).transpose()?,
            (None, false) => None,
        };
        let axes: Vec<usize> = match axes {
            Some(a) if !a.is_empty() => {
                let mut v: Vec<usize> = a
                    .iter()
                    .map(|&i| norm_axis(i, x.rank()))
                    .collect::<Result<_>>()?;
                v.sort_unstable();
                v.dedup();
                v
            }
            _ if noop_empty => return Ok(vec![Value::Device(x)]),
            _ => (0..x.rank()).collect(),
        };
        let mut y = x.clone();
        // Reduce the highest axis first so the lower indices stay valid.
        let apply = |t: &Tensor,
                     f: &dyn Fn(&Tensor, usize) -> candle_core::Result<Tensor>|
         -> Result<Tensor> {
            let mut t = t.clone();
            for &a in axes.iter().rev() {
                t = f(&t, a)?;
            }
            Ok(t)
        };
        y = match kind.as_str() {
            "ReduceSum" => apply(&y, &|t, a| t.sum_keepdim(a))?,
            "ReduceMean" => apply(&y, &|t, a| t.mean_keepdim(a))?,
            "ReduceMax" => apply(&y, &|t, a| t.max_keepdim(a))?,
            "ReduceMin" => apply(&y, &|t, a| t.min_keepdim(a))?,
            "ReduceSumSquare" => apply(&y.sqr()?, &|t, a| t.sum_keepdim(a))?,
            "ReduceL2" => apply(&y.sqr()?, &|t, a| t.sum_keepdim(a))?.sqrt()?,
            "ReduceL1" => apply(&y.abs()?, &|t, a| t.sum_keepdim(a))?,
            "ReduceLogSumExp" => {
                let m = apply(&y, &|t, a| t.max_keepdim(a))?.detach();
                (apply(&y.broadcast_sub(&m)?.exp()?, &|t, a| t.sum_keepdim(a))?.log()? + m)?
            }
            "ReduceProd" => apply(&y, &|t, a| {
                let n = t.dim(a)?;
                let mut acc = t.narrow(a, 0, 1)?;
                for i in 1..n {
                    acc = (acc * t.narrow(a, i, 1)?)?;
                }
                Ok(acc)
            })?,
            other => bail!("unexpected reduction {other}"),
        };
        if !keep {
            let d: Vec<usize> = y
                .dims()
                .iter()
                .enumerate()
                .filter(|(i, _)| !axes.contains(i))
                .map(|(_, &s)| s)
                .collect();
            y = y.reshape(d)?;
        }
        Ok(vec![Value::Device(y)])
    })
}
