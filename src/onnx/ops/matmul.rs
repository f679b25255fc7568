//! Gemm and MatMul (numpy broadcasting, 1-D operands promoted as ONNX specifies).

use super::broadcast_shape;
use super::{input, op, opt_input, NodeInfo, Op};
use crate::onnx::value::{checked_elements, Value};
use anyhow::{bail, Result};
use candle_core::Tensor;

pub fn gemm(info: &NodeInfo) -> Result<Box<dyn Op>> {
    let a = &info.attrs;
    let (alpha, beta) = (a.float("alpha", 1.0)? as f64, a.float("beta", 1.0)? as f64);
    let (ta, tb) = (a.int("transA", 0)? != 0, a.int("transB", 0)? != 0);
    op(move |ctx, ins| {
        let x = input(ins, 0)?.float(ctx)?;
        let w = input(ins, 1)?.float(ctx)?;
        if x.rank() != 2 || w.rank() != 2 {
            bail!(
                "Gemm needs 2-D operands, got {:?} and {:?}",
                x.dims(),
                w.dims()
            );
        }
        let x = if ta { x.t()? } else { x };
        let w = if tb { w.t()? } else { w };
        if x.dim(1)? != w.dim(0)? {
            bail!(
                "Gemm: A {:?} and B {:?} (after transA/transB) do not multiply",
                x.dims(),
                w.dims()
            );
        }
        checked_elements(&[x.dim(0)?, w.dim(1)?], "Gemm output")?;
        let mut y = x.matmul(&w)?;
        if alpha != 1.0 {
            y = (y * alpha)?;
        }
        if let Some(c) = opt_input(ins, 2) {
            let c = c.float(ctx)?;
            let c = if beta != 1.0 { (c * beta)? } else { c };
            y = y.broadcast_add(&c)?;
        }
        Ok(vec![Value::Device(y)])
    })
}

pub fn matmul(_info: &NodeInfo) -> Result<Box<dyn Op>> {
    op(|ctx, ins| {
        let a = input(ins, 0)?.float(ctx)?;
        let b = input(ins, 1)?.float(ctx)?;
        Ok(vec![Value::Device(numpy_matmul(&a, &b)?)])
    })
}

pub fn numpy_matmul(a: &Tensor, b: &Tensor) -> Result<Tensor> {
    let (a1, b1) = (a.rank() == 1, b.rank() == 1);
    let a = if a1 { a.unsqueeze(0)? } else { a.clone() };
    let b = if b1 { b.unsqueeze(1)? } else { b.clone() };
    if a.dim(candle_core::D::Minus1)? != b.dim(candle_core::D::Minus2)? {
        bail!("MatMul: {:?} and {:?} do not multiply", a.dims(), b.dims());
    }
    // [M, 1] x [1, N] and broadcast batches can claim far more than the operands hold.
    let (ra, rb) = (a.rank(), b.rank());
    let mut out = broadcast_shape(&a.dims()[..ra - 2], &b.dims()[..rb - 2])?;
    out.extend([a.dims()[ra - 2], b.dims()[rb - 1]]);
    checked_elements(&out, "MatMul output")?;
    let mut y = if a.rank() == 2 && b.rank() == 2 {
        a.matmul(&b)?
    } else if b.rank() == 2 {
        // [.., M, K] x [K, N]: one big matmul instead of a broadcasted batch.
        let (k, n) = b.dims2()?;
        let mut out = a.dims().to_vec();
        let rows: usize = out[..out.len() - 1].iter().product();
        *out.last_mut().unwrap() = n;
        a.reshape((rows, k))?.matmul(&b)?.reshape(out)?
    } else {
        a.broadcast_matmul(&b)?
    };
    if a1 {
        y = y.squeeze(y.rank() - 2)?;
    }
    if b1 {
        y = y.squeeze(y.rank() - 1)?;
    }
    Ok(y)
}
