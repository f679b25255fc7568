//! What `probegan inspect` reports: producer, opset, inputs/outputs, op histogram, parameter
//! count and bytes, unsupported ops, and how the batch dimension is handled. Works on models
//! the engine cannot run, so a user learns *why* before training.

use super::graph::{onnx_opset, unsupported_nodes};
use super::proto::{decode_model, kind_of, tensor_dims, value_info_dims, Kind};
use super::{Dim, IoInfo, OnnxModel};
use anyhow::{Context, Result};
use candle_core::Device;
use std::collections::BTreeMap;
use std::path::Path;

#[derive(Debug, Clone, serde::Serialize)]
pub struct Summary {
    pub path: String,
    pub producer: String,
    pub producer_version: String,
    pub ir_version: i64,
    pub opset: i64,
    pub inputs: Vec<IoInfo>,
    pub outputs: Vec<IoInfo>,
    pub nodes: usize,
    pub op_histogram: BTreeMap<String, usize>,
    pub parameters: u64,
    pub parameter_bytes: u64,
    pub unsupported: Vec<String>,
    /// Batch handling and other load-time remarks (only when the model compiles).
    pub notes: Vec<String>,
    /// Why the engine cannot load it, if it cannot.
    pub load_error: Option<String>,
}

pub fn summarize(path: &Path) -> Result<Summary> {
    let bytes = std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
    let origin = path.display().to_string();
    let model = decode_model(&bytes, &origin)?;
    let graph = model.graph.as_ref().context("no graph")?;
    let opset = onnx_opset(&model);
    let mut hist = BTreeMap::new();
    for n in &graph.node {
        *hist.entry(n.op_type.clone()).or_insert(0) += 1;
    }
    let (mut params, mut bytes_total) = (0u64, 0u64);
    for t in &graph.initializer {
        if let Ok(d) = tensor_dims(t, &t.name) {
            let n = d.iter().fold(1u64, |a, &b| a.saturating_mul(b as u64));
            if kind_of(t.data_type) == Some(Kind::Float) {
                params = params.saturating_add(n);
            }
            let size = match t.data_type {
                1 | 6 | 12 => 4,
                7 | 11 | 13 => 8,
                10 | 16 | 5 | 4 => 2,
                _ => 1,
            };
            bytes_total = bytes_total.saturating_add(n.saturating_mul(size));
        }
    }
    let io = |v: &[tract_onnx::pb::ValueInfoProto]| -> Vec<IoInfo> {
        v.iter()
            .filter(|i| !graph.initializer.iter().any(|t| t.name == i.name))
            .map(|i| {
                let (elem_type, dims) = value_info_dims(i);
                IoInfo {
                    name: i.name.clone(),
                    dims: dims.unwrap_or_default(),
                    elem_type,
                }
            })
            .collect()
    };
    let unsupported = unsupported_nodes(graph, opset);
    let (mut inputs, mut outputs) = (io(&graph.input), io(&graph.output));
    let (notes, load_error) = match OnnxModel::load(path, &Device::Cpu) {
        Ok(m) => {
            inputs = m.inputs().to_vec();
            outputs = m.outputs().to_vec();
            let mut notes = m.notes().to_vec();
            let (steps, folded) = m.step_counts();
            notes.push(format!(
                "{steps} nodes run per forward, {folded} folded into constants at load"
            ));
            (notes, None)
        }
        Err(e) => (Vec::new(), Some(format!("{e:#}"))),
    };
    Ok(Summary {
        path: origin,
        producer: model.producer_name.clone(),
        producer_version: model.producer_version.clone(),
        ir_version: model.ir_version,
        opset,
        inputs,
        outputs,
        nodes: graph.node.len(),
        op_histogram: hist,
        parameters: params,
        parameter_bytes: bytes_total,
        unsupported,
        notes,
        load_error,
    })
}

pub fn dims_to_string(dims: &[Dim]) -> String {
    let v: Vec<String> = dims
        .iter()
        .map(|d| match d {
            Dim::Fixed(n) => n.to_string(),
            Dim::Free(s) => s.clone(),
        })
        .collect();
    format!("[{}]", v.join(", "))
}

impl Summary {
    /// The human-readable report.
    pub fn to_text(&self) -> String {
        use std::fmt::Write;
        let mut s = String::new();
        let _ = writeln!(s, "model      {}", self.path);
        let _ = writeln!(s, "producer   {} {}", self.producer, self.producer_version);
        let _ = writeln!(s, "ir/opset   {} / {}", self.ir_version, self.opset);
        for i in &self.inputs {
            let _ = writeln!(
                s,
                "input      {} {} {}",
                i.name,
                i.elem_type,
                dims_to_string(&i.dims)
            );
        }
        for o in &self.outputs {
            let _ = writeln!(
                s,
                "output     {} {} {}",
                o.name,
                o.elem_type,
                dims_to_string(&o.dims)
            );
        }
        let _ = writeln!(
            s,
            "parameters {} ({:.2} MB)",
            self.parameters,
            self.parameter_bytes as f64 / 1e6
        );
        let _ = writeln!(s, "nodes      {}", self.nodes);
        for (op, n) in &self.op_histogram {
            let _ = writeln!(s, "  {op:<24} {n}");
        }
        if self.unsupported.is_empty() {
            let _ = writeln!(s, "support    all ops supported");
        } else {
            let _ = writeln!(
                s,
                "support    {} unsupported node(s):",
                self.unsupported.len()
            );
            for u in &self.unsupported {
                let _ = writeln!(s, "  {u}");
            }
        }
        for n in &self.notes {
            let _ = writeln!(s, "note       {n}");
        }
        if let Some(e) = &self.load_error {
            let _ = writeln!(s, "load       FAILED: {e}");
        }
        s
    }
}
