//! Load-time fusion: an inference BatchNormalization right after a Conv (its only consumer,
//! all parameters constant) is folded into the conv's weight and bias. Exact in real
//! arithmetic, gradients w.r.t. the input are unchanged, and it removes two full passes over
//! every activation (forward and backward) — the bulk of BN's cost in a CNN classifier.

use super::proto::tensor_from_proto;
use anyhow::Result;
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

/// Returns the rewritten graph and the number of folds (None when nothing was folded).
pub fn fold_conv_batch_norm(
    graph: &pb::GraphProto,
    base_dir: Option<&Path>,
) -> Result<Option<(pb::GraphProto, usize)>> {
    let mut uses: HashMap<&str, usize> = HashMap::new();
    for n in &graph.node {
        for i in &n.input {
            *uses.entry(i.as_str()).or_default() += 1;
        }
    }
    for o in &graph.output {
        *uses.entry(o.name.as_str()).or_default() += 100;
    }
    let init: HashMap<&str, &pb::TensorProto> = graph
        .initializer
        .iter()
        .map(|t| (t.name.as_str(), t))
        .collect();
    let producer: HashMap<&str, usize> = graph
        .node
        .iter()
        .enumerate()
        .flat_map(|(i, n)| n.output.iter().map(move |o| (o.as_str(), i)))
        .collect();
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
    if folds == 0 {
        return Ok(None);
    }
    let mut i = 0;
    out.node.retain(|_| {
        i += 1;
        !removed[i - 1]
    });
    Ok(Some((out, folds)))
}
