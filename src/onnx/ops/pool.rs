//! MaxPool, AveragePool (any kernel, stride, pads, dilation, ceil_mode, count_include_pad) via
//! `crate::kernels` (candle's own pooling backward is wrong), and global pooling as reductions.

use super::conv::{from_2d, to_2d, Window};
use super::{input, op, NodeInfo, Op};
use crate::kernels::geometry::pool_out_len;
use crate::kernels::{self, Pool2dSpec};
use crate::onnx::value::{checked_elements, Value};
use anyhow::{bail, Context, Result};

fn pool(info: &NodeInfo, max: bool) -> Result<Box<dyn Op>> {
    let w = Window::parse(info)?;
    let kernel = w.kernel.clone().context("pooling needs kernel_shape")?;
    let ceil_mode = info.attrs.int("ceil_mode", 0)? != 0;
    let count_include_pad = info.attrs.int("count_include_pad", 0)? != 0;
    if max && info.node.output.get(1).is_some_and(|o| !o.is_empty()) {
        bail!("MaxPool's Indices output is not supported");
    }
    if max && info.attrs.int("storage_order", 0)? != 0 {
        bail!("MaxPool storage_order=1 is not supported");
    }
    op(move |ctx, ins| {
        let x = input(ins, 0)?.float(ctx)?;
        let rank = x.rank();
        if kernel.len() + 2 != rank {
            bail!("kernel_shape {kernel:?} does not fit input {:?}", x.dims());
        }
        let (k, stride, dilation, padding) = w.resolve(&x.dims()[2..], &kernel)?;
        let spec = Pool2dSpec {
            kernel: k,
            stride,
            padding,
            dilation,
            ceil_mode,
            count_include_pad,
        };
        let x2 = to_2d(&x)?;
        // Pads can claim a huge output from a small input: refuse it before the kernel allocates.
        let (n, c, h, wd) = x2.dims4()?;
        let (p, d) = (padding, dilation);
        let oh = pool_out_len(h, k.0, stride.0, p.top, p.bottom, d.0, ceil_mode)?;
        let ow = pool_out_len(wd, k.1, stride.1, p.left, p.right, d.1, ceil_mode)?;
        checked_elements(&[n, c, oh, ow], "output")?;
        let y = if max {
            kernels::max_pool2d(&x2, &spec)?
        } else {
            kernels::avg_pool2d(&x2, &spec)?
        };
        Ok(vec![Value::Device(from_2d(y, rank)?)])
    })
}

pub fn max_pool(info: &NodeInfo) -> Result<Box<dyn Op>> {
    pool(info, true)
}

pub fn avg_pool(info: &NodeInfo) -> Result<Box<dyn Op>> {
    pool(info, false)
}

fn global(max: bool) -> Result<Box<dyn Op>> {
    op(move |ctx, ins| {
        let x = input(ins, 0)?.float(ctx)?;
        let d = x.dims().to_vec();
        if d.len() < 3 {
            bail!("global pooling needs [N, C, spatial...], got {d:?}");
        }
        let flat = x.reshape((d[0], d[1], ()))?;
        let y = if max {
            flat.max_keepdim(2)?
        } else {
            flat.mean_keepdim(2)?
        };
        let mut out = vec![d[0], d[1]];
        out.extend(std::iter::repeat_n(1, d.len() - 2));
        Ok(vec![Value::Device(y.reshape(out)?)])
    })
}

pub fn global_avg_pool(_info: &NodeInfo) -> Result<Box<dyn Op>> {
    global(false)
}

pub fn global_max_pool(_info: &NodeInfo) -> Result<Box<dyn Op>> {
    global(true)
}
