//! Load-time fusion.
//!
//! * An inference BatchNormalization right after a Conv (its only consumer, all parameters
//!   constant) is folded into the conv's weight and bias. Exact in real arithmetic, gradients
//!   w.r.t. the input are unchanged, and it removes two full passes over every activation
//!   (forward and backward) — the bulk of BN's cost in a CNN classifier.
//! * A Relu or constant-bound Clip (ReLU6) right after a Conv (its only consumer, not a graph
//!   output) becomes one fused op, `Conv+Relu` / `Conv+Clip`, run by
//!   `kernels::conv2d_activation`: same values and gradients, one pass and one gradient edge
//!   fewer per activation.

use super::ops::conv::conv_then;
use super::ops::{Ctor, NodeInfo, Op};
use super::proto::tensor_from_proto;
use crate::kernels::ConvActivation;
use anyhow::{Context, Result};
use candle_core::{DType, Tensor};
use std::collections::HashMap;
use std::path::Path;
use tract_onnx::pb;

fn f64_tensor_proto(name: &str, t: &Tensor) -> Result<pb::TensorProto> {
    let v: Vec<f64> = t.flatten_all()?.to_vec1()?;
    Ok(pb::TensorProto {
        dims: t.dims().iter().map(|&d| d as i64).collect(),
        data_type: pb::tensor_proto::DataType::Double as i32,
        name: name.into(),
        raw_data: v.iter().flat_map(|x| x.to_le_bytes()).collect(),
        ..Default::default()
    })
}

/// How many nodes read each value; graph outputs and subgraph reads count as many readers, so
/// a value that leaves the graph is never fused away.
fn readers(graph: &pb::GraphProto) -> HashMap<&str, usize> {
    let mut uses: HashMap<&str, usize> = HashMap::new();
    for n in &graph.node {
        for i in &n.input {
            *uses.entry(i.as_str()).or_default() += 1;
        }
        // A value a subgraph reads must keep its name: count it as a graph output.
        for i in super::graph::implicit_inputs(n) {
            *uses.entry(i).or_default() += 100;
        }
    }
    for o in &graph.output {
        *uses.entry(o.name.as_str()).or_default() += 100;
    }
    uses
}

/// The index of the node producing each value.
fn producers(graph: &pb::GraphProto) -> HashMap<&str, usize> {
    graph
        .node
        .iter()
        .enumerate()
        .flat_map(|(i, n)| n.output.iter().map(move |o| (o.as_str(), i)))
        .collect()
}

/// The rewritten graph without the nodes marked `removed`, and the rewrite count (None when
/// nothing was rewritten).
fn drop_removed(
    mut out: pb::GraphProto,
    removed: &[bool],
    rewrites: usize,
) -> Option<(pb::GraphProto, usize)> {
    if rewrites == 0 {
        return None;
    }
    let mut i = 0;
    out.node.retain(|_| {
        i += 1;
        !removed[i - 1]
    });
    Some((out, rewrites))
}

/// Returns the rewritten graph and the number of folds (None when nothing was folded).
pub fn fold_conv_batch_norm(
    graph: &pb::GraphProto,
    base_dir: Option<&Path>,
) -> Result<Option<(pb::GraphProto, usize)>> {
    let uses = readers(graph);
    let init: HashMap<&str, &pb::TensorProto> = graph
        .initializer
        .iter()
        .map(|t| (t.name.as_str(), t))
        .collect();
    let producer = producers(graph);
    let mut out = graph.clone();
    let mut removed = vec![false; graph.node.len()];
    let mut folds = 0;
    for (bi, bn) in graph.node.iter().enumerate() {
        if bn.op_type != "BatchNormalization" || bn.input.len() < 5 || bn.output.len() != 1 {
            continue;
        }
        if bn
            .attribute
            .iter()
            .any(|a| a.name == "training_mode" && a.i != 0)
        {
            continue;
        }
        let Some(&ci) = producer.get(bn.input[0].as_str()) else {
            continue;
        };
        let conv = &graph.node[ci];
        if conv.op_type != "Conv" || uses.get(bn.input[0].as_str()) != Some(&1) || removed[ci] {
            continue;
        }
        let params: Option<Vec<&pb::TensorProto>> = bn.input[1..5]
            .iter()
            .map(|n| init.get(n.as_str()).copied())
            .collect();
        let (Some(params), Some(w)) = (
            params,
            init.get(conv.input.get(1).map(|s| s.as_str()).unwrap_or("")),
        ) else {
            continue;
        };
        let bias = conv.input.get(2).filter(|s| !s.is_empty());
        if bias.is_some_and(|b| !init.contains_key(b.as_str())) {
            continue;
        }
        let eps = bn
            .attribute
            .iter()
            .find(|a| a.name == "epsilon")
            .map(|a| a.f as f64)
            .unwrap_or(1e-5);
        let dec = |t: &pb::TensorProto| {
            tensor_from_proto(
                t,
                base_dir,
                DType::F64,
                &format!("initializer '{}'", t.name),
            )
        };
        let w = dec(w)?;
        let [g, beta, mean, var] = [
            dec(params[0])?,
            dec(params[1])?,
            dec(params[2])?,
            dec(params[3])?,
        ];
        let cout = w.dim(0)?;
        if [&g, &beta, &mean, &var]
            .iter()
            .any(|t| t.elem_count() != cout)
        {
            continue;
        }
        let scale = (g / (var + eps)?.sqrt()?)?;
        let mut shape = vec![1; w.rank()];
        shape[0] = cout;
        let w2 = w.broadcast_mul(&scale.reshape(shape)?)?;
        let b0 = match bias {
            Some(b) => dec(init[b.as_str()])?,
            None => Tensor::zeros(cout, DType::F64, &candle_core::Device::Cpu)?,
        };
        let b2 = ((b0 - mean)? * &scale)?.add(&beta)?;
        let (wn, bn_name) = (
            format!("{}__bnfold_w", conv.output[0]),
            format!("{}__bnfold_b", conv.output[0]),
        );
        out.initializer.push(f64_tensor_proto(&wn, &w2)?);
        out.initializer.push(f64_tensor_proto(&bn_name, &b2)?);
        let c = &mut out.node[ci];
        c.input.truncate(1);
        c.input.push(wn);
        c.input.push(bn_name);
        c.output[0] = bn.output[0].clone();
        removed[bi] = true;
        folds += 1;
    }
    Ok(drop_removed(out, &removed, folds))
}

// ---------- Conv followed by Relu / Clip ----------

/// Op type of a Conv whose Relu was fused in (inputs as Conv's).
pub const CONV_RELU: &str = "Conv+Relu";
/// Op type of a Conv whose Clip was fused in: inputs `[x, w, b, min, max]` (missing ones
/// empty), or, below opset 11, Clip's `min`/`max` attributes beside Conv's.
pub const CONV_CLIP: &str = "Conv+Clip";

/// Fuse each Relu, or Clip with constant bounds, whose input is a Conv output read by nothing
/// else (and not a graph output) into that Conv: one kernel pass and one gradient edge fewer
/// per activation (see `kernels::conv2d_activation`). Returns the rewritten graph and the
/// number of fusions (None when nothing was fused).
pub fn fuse_conv_activation(
    graph: &pb::GraphProto,
    opset: i64,
) -> Result<Option<(pb::GraphProto, usize)>> {
    let uses = readers(graph);
    let constant: std::collections::HashSet<&str> = graph
        .initializer
        .iter()
        .map(|t| t.name.as_str())
        .chain(
            graph
                .node
                .iter()
                .filter(|n| n.op_type == "Constant" && n.input.is_empty())
                .flat_map(|n| n.output.iter().map(|o| o.as_str())),
        )
        .collect();
    let producer = producers(graph);
    let mut out = graph.clone();
    let mut removed = vec![false; graph.node.len()];
    let mut fusions = 0;
    for (ai, act) in graph.node.iter().enumerate() {
        let fused_type = match act.op_type.as_str() {
            "Relu" if act.input.len() == 1 => CONV_RELU,
            "Clip" if !act.input.is_empty() => {
                // Runtime bounds stay a separate node; constant ones are read at load time.
                let runtime_bound = opset >= 11
                    && act.input[1..]
                        .iter()
                        .any(|b| !b.is_empty() && !constant.contains(b.as_str()));
                if runtime_bound || act.input.len() > 3 {
                    continue;
                }
                CONV_CLIP
            }
            _ => continue,
        };
        if act.output.len() != 1 || !act.domain.is_empty() && act.domain != "ai.onnx" {
            continue;
        }
        let Some(&ci) = producer.get(act.input[0].as_str()) else {
            continue;
        };
        let conv = &graph.node[ci];
        if conv.op_type != "Conv"
            || !conv.domain.is_empty() && conv.domain != "ai.onnx"
            || conv.input.len() > 3
            || conv.output.len() != 1
            || uses.get(act.input[0].as_str()) != Some(&1)
        {
            continue;
        }
        let c = &mut out.node[ci];
        c.op_type = fused_type.to_string();
        c.output[0] = act.output[0].clone();
        if fused_type == CONV_CLIP {
            if opset >= 11 {
                c.input.resize(3, String::new());
                c.input.extend(act.input[1..].iter().cloned());
            } else {
                c.attribute.extend(
                    act.attribute
                        .iter()
                        .filter(|a| a.name == "min" || a.name == "max")
                        .cloned(),
                );
            }
        }
        removed[ai] = true;
        fusions += 1;
    }
    Ok(drop_removed(out, &removed, fusions))
}

/// The constructor for a fused op type, if `op_type` is one.
pub fn fused_constructor(op_type: &str) -> Option<Ctor> {
    match op_type {
        CONV_RELU | CONV_CLIP => Some(conv_activation),
        _ => None,
    }
}

/// The op type a fused node stands in for where its batch behaviour is asked (Conv).
pub fn unfused_op_type(op_type: &str) -> Option<&'static str> {
    fused_constructor(op_type).map(|_| "Conv")
}

/// Clip's bounds as the unfused Clip node reads them (`ops::activation::clip` and `clamp`):
/// a bound at the float limits is no bound, and `min > max` gives `max` everywhere.
fn clip_bounds(info: &NodeInfo) -> Result<ConvActivation> {
    let (lo, hi) = if info.opset < 11 {
        (
            info.attrs.opt_float("min")?.map(f64::from),
            info.attrs.opt_float("max")?.map(f64::from),
        )
    } else {
        let bound = |i: usize| -> Result<Option<f64>> {
            if !info.has_input(i) {
                return Ok(None);
            }
            let v = info
                .const_f64s(i)?
                .context("Clip bound fused into Conv is not a constant")?;
            Ok(v.first().copied())
        };
        (bound(3)?, bound(4)?)
    };
    let lo = lo.filter(|v| v.abs() < 1e30);
    let hi = hi.filter(|v| v.abs() < 1e30);
    let lo = match (lo, hi) {
        (Some(l), Some(h)) if l > h => Some(h),
        _ => lo,
    };
    Ok(ConvActivation::Clamp {
        lo: lo.unwrap_or(f64::NEG_INFINITY),
        hi: hi.unwrap_or(f64::INFINITY),
    })
}

/// A Conv with its activation fused in: Conv's own constructor (same checks and attribute
/// forms), computed by `kernels::conv2d_activation`.
fn conv_activation(info: &NodeInfo) -> Result<Box<dyn Op>> {
    let act = match info.node.op_type.as_str() {
        CONV_RELU => ConvActivation::Relu,
        _ => clip_bounds(info)?,
    };
    conv_then(info, Some(act))
}
