//! Shape and data-movement ops. They work the same on host integers (shape arithmetic) and on
//! device floats, so `Shape -> Gather -> Concat -> Reshape` chains run entirely on the CPU.

use super::{broadcast_shape, input, norm_axis, op, opt_input, NodeInfo, Op};
use crate::onnx::proto::{kind_of, tensor_from_proto, Kind};
use crate::onnx::value::{checked_elements, unify, Ctx, Value};
use anyhow::{bail, Context, Result};
use candle_core::{DType, Device, Tensor};

/// An int-list operand: known at load time, else read from the (host) value at run time.
fn ints(known: &Option<Vec<i64>>, ins: &[Option<Value>], i: usize) -> Result<Option<Vec<i64>>> {
    if let Some(k) = known {
        return Ok(Some(k.clone()));
    }
    opt_input(ins, i).map(|v| v.to_i64s()).transpose()
}

pub fn flatten(info: &NodeInfo) -> Result<Box<dyn Op>> {
    let axis = info.attrs.int("axis", 1)?;
    op(move |_, ins| {
        let x = input(ins, 0)?;
        let r = x.rank() as i64;
        let a = if axis < 0 { axis + r } else { axis };
        if a < 0 || a > r {
            bail!("Flatten axis {axis} out of range for rank {r}");
        }
        let d = x.dims();
        let outer: usize = d[..a as usize].iter().product();
        let inner: usize = d[a as usize..].iter().product();
        Ok(vec![x.map(|t| t.reshape((outer, inner)))?])
    })
}

/// Resolve a Reshape target against the input dims (`0` copies, `-1` is inferred).
pub fn resolve_reshape(dims: &[usize], shape: &[i64], allowzero: bool) -> Result<Vec<usize>> {
    let total: usize = dims.iter().product();
    let mut out = Vec::with_capacity(shape.len());
    let mut infer = None;
    for (i, &s) in shape.iter().enumerate() {
        match s {
            -1 if infer.is_none() => {
                infer = Some(i);
                out.push(1);
            }
            0 if !allowzero => out.push(*dims.get(i).with_context(|| {
                format!("Reshape: 0 at position {i} but input {dims:?} has no such dim")
            })?),
            s if s >= 0 => out.push(s as usize),
            _ => bail!("Reshape: invalid target shape {shape:?}"),
        }
    }
    let known: usize = checked_elements(&out, "Reshape target")?;
    if let Some(i) = infer {
        if known == 0 || total % known != 0 {
            bail!("Reshape: cannot reshape {dims:?} ({total} elements) to {shape:?}");
        }
        out[i] = total / known;
    } else if known != total {
        bail!("Reshape: cannot reshape {dims:?} ({total} elements) to {shape:?}");
    }
    Ok(out)
}

pub fn reshape(info: &NodeInfo) -> Result<Box<dyn Op>> {
    let allowzero = info.attrs.int("allowzero", 0)? != 0;
    let mut known = if info.opset < 5 {
        info.attrs.opt_ints("shape")?
    } else {
        info.const_i64s(1)?
    };
    if let Some(s) = known.as_mut() {
        // A batch-1 shape constant applied to a value that carries the batch as dim 0 refers
        // to that batch: copy it (0) instead, so any batch size runs.
        if info.batch_major.first() == Some(&true) && s.len() >= 2 && s[0] == 1 && !allowzero {
            info.notes.borrow_mut().push(format!(
                "Reshape '{}': batch-1 shape constant {:?} rewritten to copy the batch dimension",
                info.name(),
                s
            ));
            s[0] = 0;
        }
    }
    op(move |_, ins| {
        let x = input(ins, 0)?;
        let shape = ints(&known, ins, 1)?.context("Reshape needs a shape")?;
        let target = resolve_reshape(x.dims(), &shape, allowzero)?;
        Ok(vec![x.map(|t| t.reshape(target))?])
    })
}

pub fn transpose(info: &NodeInfo) -> Result<Box<dyn Op>> {
    let perm = info.attrs.usizes("perm")?;
    op(move |_, ins| {
        let x = input(ins, 0)?;
        let r = x.rank();
        let p: Vec<usize> = perm.clone().unwrap_or_else(|| (0..r).rev().collect());
        let mut seen = vec![false; r];
        if p.len() != r
            || p.iter()
                .any(|&i| i >= r || std::mem::replace(&mut seen[i], true))
        {
            bail!("Transpose: perm {p:?} is not a permutation of rank {r}");
        }
        Ok(vec![x.map(|t| t.permute(p.as_slice()))?])
    })
}

fn axes_operand(info: &NodeInfo) -> Result<Option<Vec<i64>>> {
    Ok(if info.opset < 13 {
        info.attrs.opt_ints("axes")?
    } else {
        info.const_i64s(1)?
    })
}

pub fn squeeze(info: &NodeInfo) -> Result<Box<dyn Op>> {
    let known = axes_operand(info)?;
    let from_input = info.opset >= 13;
    op(move |_, ins| {
        let x = input(ins, 0)?;
        let axes = if from_input {
            ints(&known, ins, 1)?
        } else {
            known.clone()
        };
        let d = x.dims().to_vec();
        let keep: Vec<usize> = match axes {
            None => d.iter().copied().filter(|&s| s != 1).collect(),
            Some(axes) => {
                let axes: Vec<usize> = axes
                    .iter()
                    .map(|&a| norm_axis(a, d.len()))
                    .collect::<Result<_>>()?;
                for &a in &axes {
                    if d[a] != 1 {
                        bail!("Squeeze: axis {a} of shape {d:?} is not 1");
                    }
                }
                d.iter()
                    .enumerate()
                    .filter(|(i, _)| !axes.contains(i))
                    .map(|(_, &s)| s)
                    .collect()
            }
        };
        Ok(vec![x.map(|t| t.reshape(keep))?])
    })
}

pub fn unsqueeze(info: &NodeInfo) -> Result<Box<dyn Op>> {
    let known = axes_operand(info)?;
    let from_input = info.opset >= 13;
    op(move |_, ins| {
        let x = input(ins, 0)?;
        let axes = if from_input {
            ints(&known, ins, 1)?
        } else {
            known.clone()
        };
        let axes = axes.context("Unsqueeze needs axes")?;
        let r = x.rank() + axes.len();
        let mut axes: Vec<usize> = axes
            .iter()
            .map(|&a| norm_axis(a, r))
            .collect::<Result<_>>()?;
        axes.sort_unstable();
        let mut d = x.dims().to_vec();
        for a in axes {
            d.insert(a, 1);
        }
        Ok(vec![x.map(|t| t.reshape(d))?])
    })
}

pub fn concat(info: &NodeInfo) -> Result<Box<dyn Op>> {
    let axis = info.attrs.int("axis", 0)?;
    op(move |ctx, ins| {
        let vals: Vec<&Value> = ins.iter().flatten().collect();
        let host = vals.iter().all(|v| v.is_host());
        let first = vals.first().context("Concat needs inputs")?;
        let a = norm_axis(axis, first.rank())?;
        let ts: Vec<Tensor> = vals
            .iter()
            .map(|v| {
                if host {
                    Ok(v.tensor().to_dtype(DType::I64)?)
                } else {
                    v.float(ctx)
                }
            })
            .collect::<Result<_>>()?;
        let ts: Vec<&Tensor> = ts
            .iter()
            .filter(|t| t.elem_count() > 0 || ts.len() == 1)
            .collect();
        if ts.is_empty() {
            return Ok(vec![(*first).clone()]);
        }
        let t = Tensor::cat(&ts, a)?;
        Ok(vec![if host {
            Value::Host(t)
        } else {
            Value::Device(t)
        }])
    })
}

pub fn split(info: &NodeInfo) -> Result<Box<dyn Op>> {
    let axis = info.attrs.int("axis", 0)?;
    let known = if info.opset < 13 {
        info.attrs.opt_ints("split")?
    } else {
        info.const_i64s(1)?
    };
    let from_input = info.opset >= 13;
    let n_out = info.node.output.len();
    op(move |_, ins| {
        let x = input(ins, 0)?;
        let a = norm_axis(axis, x.rank())?;
        let len = x.dims()[a];
        let sizes: Vec<usize> = match if from_input {
            ints(&known, ins, 1)?
        } else {
            known.clone()
        } {
            Some(s) => s
                .iter()
                .map(|&v| usize::try_from(v).context("Split: negative size"))
                .collect::<Result<_>>()?,
            None => {
                let chunk = len.div_ceil(n_out.max(1));
                (0..n_out)
                    .map(|i| chunk.min(len.saturating_sub(i * chunk)))
                    .collect()
            }
        };
        if sizes.iter().sum::<usize>() != len || sizes.len() != n_out {
            bail!("Split: sizes {sizes:?} do not split dim {len} into {n_out} outputs");
        }
        let mut start = 0;
        let mut out = Vec::new();
        for s in sizes {
            out.push(x.map(|t| t.narrow(a, start, s))?);
            start += s;
        }
        Ok(out)
    })
}

pub fn slice(info: &NodeInfo) -> Result<Box<dyn Op>> {
    let old = info.opset < 10;
    let k = |name: &str, i: usize| -> Result<Option<Vec<i64>>> {
        if old {
            info.attrs.opt_ints(name)
        } else {
            info.const_i64s(i)
        }
    };
    let (starts, ends, axes, steps) = (
        k("starts", 1)?,
        k("ends", 2)?,
        k("axes", 3)?,
        if old { None } else { info.const_i64s(4)? },
    );
    op(move |_, ins| {
        let x = input(ins, 0)?;
        let get = |known: &Option<Vec<i64>>, i: usize| {
            if old {
                Ok(known.clone())
            } else {
                ints(known, ins, i)
            }
        };
        let starts = get(&starts, 1)?.context("Slice needs starts")?;
        let ends = get(&ends, 2)?.context("Slice needs ends")?;
        let axes = get(&axes, 3)?.unwrap_or_else(|| (0..starts.len() as i64).collect());
        let steps = get(&steps, 4)?.unwrap_or_else(|| vec![1; starts.len()]);
        if ends.len() != starts.len() || axes.len() != starts.len() || steps.len() != starts.len() {
            bail!("Slice: starts/ends/axes/steps lengths differ");
        }
        let mut v = x.clone();
        for i in 0..starts.len() {
            let a = norm_axis(axes[i], x.rank())?;
            let dim = v.dims()[a] as i64;
            let step = steps[i];
            if step == 0 {
                bail!("Slice: step 0");
            }
            let fix = |s: i64| if s < 0 { s + dim } else { s };
            let (start, end) = (
                fix(starts[i].max(-dim - 1).min(dim + 1)),
                fix(ends[i].max(-dim - 1).min(dim + 1)),
            );
            let idx: Vec<i64> = if step > 0 {
                let (s, e) = (start.clamp(0, dim), end.clamp(0, dim));
                (s..e.max(s)).step_by(step as usize).collect()
            } else {
                let (s, e) = (start.clamp(0, dim - 1), end.clamp(-1, dim - 1));
                let mut out = Vec::new();
                let mut j = s;
                while j > e {
                    out.push(j);
                    j += step;
                }
                out
            };
            if step == 1 {
                let s = idx.first().copied().unwrap_or(0) as usize;
                v = v.map(|t| t.narrow(a, s, idx.len()))?;
            } else {
                v = select(&v, a, &idx)?;
            }
        }
        Ok(vec![v])
    })
}

/// `index_select` along `axis` with host indices, placed where the data is.
pub fn select(v: &Value, axis: usize, idx: &[i64]) -> Result<Value> {
    let dev = v.tensor().device().clone();
    let ids = Tensor::from_vec(
        idx.iter().map(|&i| i as u32).collect::<Vec<u32>>(),
        idx.len(),
        &dev,
    )?;
    v.map(|t| t.contiguous()?.index_select(&ids, axis))
}

pub fn gather(info: &NodeInfo) -> Result<Box<dyn Op>> {
    let axis = info.attrs.int("axis", 0)?;
    op(move |_, ins| {
        let x = input(ins, 0)?;
        let ind = input(ins, 1)?;
        let a = norm_axis(axis, x.rank())?;
        let dim = x.dims()[a] as i64;
        let idx: Vec<i64> = ind
            .to_i64s()?
            .into_iter()
            .map(|i| {
                let j = if i < 0 { i + dim } else { i };
                if j < 0 || j >= dim {
                    bail!("Gather: index {i} out of range for dim {dim}");
                }
                Ok(j)
            })
            .collect::<Result<_>>()?;
        let mut shape = x.dims()[..a].to_vec();
        shape.extend_from_slice(ind.dims());
        shape.extend_from_slice(&x.dims()[a + 1..]);
        // Many indices into a wide tensor multiply its size: bound the result first.
        checked_elements(&shape, "Gather output")?;
        let picked = select(x, a, &idx)?;
        Ok(vec![picked.map(|t| t.reshape(shape))?])
    })
}

fn host_i64(v: Vec<i64>) -> Result<Value> {
    let n = v.len();
    Ok(Value::Host(Tensor::from_vec(v, n, &Device::Cpu)?))
}

pub fn shape(info: &NodeInfo) -> Result<Box<dyn Op>> {
    let start = info.attrs.int("start", 0)?;
    let end = info.attrs.opt_int("end")?;
    op(move |_, ins| {
        let d: Vec<i64> = input(ins, 0)?.dims().iter().map(|&v| v as i64).collect();
        let r = d.len() as i64;
        let clampi = |i: i64| (if i < 0 { i + r } else { i }).clamp(0, r) as usize;
        let (s, e) = (clampi(start), clampi(end.unwrap_or(r)));
        host_i64(d[s..e.max(s)].to_vec()).map(|v| vec![v])
    })
}

pub fn size(_info: &NodeInfo) -> Result<Box<dyn Op>> {
    op(|_, ins| {
        Ok(vec![Value::Host(Tensor::new(
            input(ins, 0)?.tensor().elem_count() as i64,
            &Device::Cpu,
        )?)])
    })
}

/// Place a decoded constant: floats on the device in the plan's precision, others on the host.
pub fn place(t: &Tensor, ctx: &Ctx) -> Result<Value> {
    Ok(match t.dtype() {
        DType::I64 | DType::U8 | DType::U32 => Value::Host(t.clone()),
        _ => Value::Device(t.to_dtype(ctx.dtype)?.to_device(&ctx.device)?),
    })
}

pub fn constant(info: &NodeInfo) -> Result<Box<dyn Op>> {
    let a = &info.attrs;
    let cpu = &Device::Cpu;
    let t = if let Some(t) = a.tensor("value") {
        tensor_from_proto(t, None, DType::F64, "Constant value")?
    } else if let Some(v) = a.opt_float("value_float")? {
        Tensor::new(v as f64, cpu)?
    } else if let Some(v) = a.opt_floats("value_floats")? {
        Tensor::from_vec(
            v.iter().map(|&x| x as f64).collect::<Vec<_>>(),
            v.len(),
            cpu,
        )?
    } else if let Some(v) = a.opt_int("value_int")? {
        Tensor::new(v, cpu)?
    } else if let Some(v) = a.opt_ints("value_ints")? {
        let n = v.len();
        Tensor::from_vec(v, n, cpu)?
    } else {
        bail!("Constant without a supported value attribute (sparse and string constants are not supported)");
    };
    op(move |ctx, _| Ok(vec![place(&t, ctx)?]))
}

pub fn constant_of_shape(info: &NodeInfo) -> Result<Box<dyn Op>> {
    let value = match info.attrs.tensor("value") {
        Some(t) => {
            tensor_from_proto(t, None, DType::F64, "ConstantOfShape value")?.flatten_all()?
        }
        None => Tensor::new(&[0.0f64], &Device::Cpu)?,
    };
    op(move |ctx, ins| {
        let shape: Vec<usize> = input(ins, 0)?
            .to_i64s()?
            .iter()
            .map(|&d| usize::try_from(d).context("ConstantOfShape: negative dim"))
            .collect::<Result<_>>()?;
        checked_elements(&shape, "ConstantOfShape")?;
        let t = value
            .reshape(())?
            .broadcast_as(shape.as_slice())?
            .contiguous()?;
        place(&t, ctx).map(|v| vec![v])
    })
}

pub fn identity(info: &NodeInfo) -> Result<Box<dyn Op>> {
    let want_mask = info.node.output.len() > 1 && !info.node.output[1].is_empty();
    op(move |_, ins| {
        let x = input(ins, 0)?.clone();
        let mut out = vec![x.clone()];
        if want_mask {
            out.push(Value::Host(Tensor::ones(
                x.dims(),
                DType::U8,
                &Device::Cpu,
            )?));
        }
        Ok(out)
    })
}

pub fn cast(info: &NodeInfo) -> Result<Box<dyn Op>> {
    let to = info.attrs.int("to", 1)? as i32;
    let kind = kind_of(to).with_context(|| format!("Cast to type {to} is not supported"))?;
    op(move |ctx, ins| {
        let x = input(ins, 0)?;
        Ok(vec![match kind {
            Kind::Float => Value::Device(x.float(ctx)?),
            Kind::Int => {
                let t = x.tensor().to_device(&Device::Cpu)?;
                let t = if t.dtype().is_float() {
                    t.to_dtype(DType::F64)?.trunc_()?
                } else {
                    t
                };
                Value::Host(t.to_dtype(DType::I64)?)
            }
            Kind::Bool => Value::Host(
                x.tensor()
                    .to_device(&Device::Cpu)?
                    .to_dtype(DType::F64)?
                    .ne(0.0f64)?,
            ),
        }])
    })
}

trait Trunc {
    fn trunc_(&self) -> candle_core::Result<Tensor>;
}
impl Trunc for Tensor {
    // Cast truncates toward zero.
    fn trunc_(&self) -> candle_core::Result<Tensor> {
        let pos = self.ge(0.0f64)?;
        pos.where_cond(&self.floor()?, &self.ceil()?)
    }
}

pub fn expand(_info: &NodeInfo) -> Result<Box<dyn Op>> {
    op(|_, ins| {
        let x = input(ins, 0)?;
        let shape: Vec<usize> = input(ins, 1)?
            .to_i64s()?
            .iter()
            .map(|&d| d.max(0) as usize)
            .collect();
        let out = broadcast_shape(x.dims(), &shape)?;
        checked_elements(&out, "Expand")?;
        Ok(vec![x.map(|t| t.broadcast_as(out.as_slice()))?])
    })
}

pub fn tile(_info: &NodeInfo) -> Result<Box<dyn Op>> {
    op(|_, ins| {
        let x = input(ins, 0)?;
        let reps: Vec<usize> = input(ins, 1)?
            .to_i64s()?
            .iter()
            .map(|&d| d.max(0) as usize)
            .collect();
        if reps.len() != x.rank() {
            bail!("Tile: {} repeats for rank {}", reps.len(), x.rank());
        }
        let out: Vec<usize> = x
            .dims()
            .iter()
            .zip(&reps)
            .map(|(a, b)| a.saturating_mul(*b))
            .collect();
        checked_elements(&out, "Tile")?;
        Ok(vec![x.map(|t| t.repeat(reps.as_slice()))?])
    })
}

pub fn range(_info: &NodeInfo) -> Result<Box<dyn Op>> {
    op(|ctx, ins| {
        let (s, l, d) = (input(ins, 0)?, input(ins, 1)?, input(ins, 2)?);
        let (a, b, c) = (s.scalar_f64()?, l.scalar_f64()?, d.scalar_f64()?);
        if c == 0.0 {
            bail!("Range: delta is 0");
        }
        let n = ((b - a) / c).ceil().max(0.0);
        if !(n <= crate::onnx::value::max_elements() as f64) {
            bail!("Range: {n} elements; refusing to allocate");
        }
        let v: Vec<f64> = (0..n as usize).map(|i| a + c * i as f64).collect();
        let len = v.len();
        if s.is_host() {
            let (_, _, _) = unify(s, l, ctx)?;
            return host_i64(v.into_iter().map(|x| x as i64).collect()).map(|v| vec![v]);
        }
        Ok(vec![Value::Device(
            Tensor::from_vec(v, len, &Device::Cpu)?
                .to_dtype(ctx.dtype)?
                .to_device(&ctx.device)?,
        )])
    })
}
