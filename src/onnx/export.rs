//! Writing ONNX models: a small graph builder over `tract_onnx::pb` types, encoded with
//! prost. Used to export classifiers trained by `probegan train-classifier`; the models it
//! writes are plain opset-13 graphs that onnxruntime, tract and our engine load.

use anyhow::{bail, Context, Result};
use prost::Message;
use std::path::Path;
use tract_onnx::pb;

/// ONNX IR version 7 goes with opset 13 (ONNX 1.8), old enough for every runtime.
pub const IR_VERSION: i64 = 7;
pub const OPSET: i64 = 13;

/// A dimension of a graph input/output: fixed, or a named free one (the batch).
#[derive(Debug, Clone)]
pub enum ExportDim {
    Fixed(i64),
    Free(&'static str),
}

/// Collects nodes, initializers and graph inputs/outputs, then encodes a `ModelProto`.
#[derive(Default)]
pub struct OnnxGraphBuilder {
    nodes: Vec<pb::NodeProto>,
    initializers: Vec<pb::TensorProto>,
    inputs: Vec<pb::ValueInfoProto>,
    outputs: Vec<pb::ValueInfoProto>,
    counter: usize,
}

fn value_info(name: &str, dims: &[ExportDim]) -> pb::ValueInfoProto {
    use pb::tensor_shape_proto::{dimension::Value, Dimension};
    let dim = dims
        .iter()
        .map(|d| Dimension {
            denotation: String::new(),
            value: Some(match d {
                ExportDim::Fixed(n) => Value::DimValue(*n),
                ExportDim::Free(s) => Value::DimParam(s.to_string()),
            }),
        })
        .collect();
    pb::ValueInfoProto {
        name: name.to_string(),
        r#type: Some(pb::TypeProto {
            denotation: String::new(),
            value: Some(pb::type_proto::Value::TensorType(pb::type_proto::Tensor {
                elem_type: pb::tensor_proto::DataType::Float as i32,
                shape: Some(pb::TensorShapeProto { dim }),
            })),
        }),
        doc_string: String::new(),
    }
}

/// An `ints` attribute.
pub fn attr_ints(name: &str, v: &[i64]) -> pb::AttributeProto {
    pb::AttributeProto {
        name: name.to_string(),
        r#type: pb::attribute_proto::AttributeType::Ints as i32,
        ints: v.to_vec(),
        ..Default::default()
    }
}

/// An `int` attribute.
pub fn attr_int(name: &str, v: i64) -> pb::AttributeProto {
    pb::AttributeProto {
        name: name.to_string(),
        r#type: pb::attribute_proto::AttributeType::Int as i32,
        i: v,
        ..Default::default()
    }
}

/// A `float` attribute.
pub fn attr_float(name: &str, v: f32) -> pb::AttributeProto {
    pb::AttributeProto {
        name: name.to_string(),
        r#type: pb::attribute_proto::AttributeType::Float as i32,
        f: v,
        ..Default::default()
    }
}

impl OnnxGraphBuilder {
    pub fn new() -> Self {
        Self::default()
    }

    /// Declare a float graph input.
    pub fn input(&mut self, name: &str, dims: &[ExportDim]) -> String {
        self.inputs.push(value_info(name, dims));
        name.to_string()
    }

    /// Declare a float graph output (an existing value's name).
    pub fn output(&mut self, name: &str, dims: &[ExportDim]) {
        self.outputs.push(value_info(name, dims));
    }

    /// Add a float32 constant (raw little-endian data). Returns its name.
    pub fn initializer(&mut self, name: &str, dims: &[usize], data: &[f32]) -> Result<String> {
        let n: usize = dims.iter().product();
        if n != data.len() {
            bail!(
                "ONNX export: initializer {name} has shape {dims:?} but {} values",
                data.len()
            );
        }
        self.initializers.push(pb::TensorProto {
            name: name.to_string(),
            dims: dims.iter().map(|&d| d as i64).collect(),
            data_type: pb::tensor_proto::DataType::Float as i32,
            raw_data: data.iter().flat_map(|v| v.to_le_bytes()).collect(),
            ..Default::default()
        });
        Ok(name.to_string())
    }

    /// Add an int64 constant (shapes for Reshape). Returns its name.
    pub fn initializer_i64(&mut self, name: &str, dims: &[usize], data: &[i64]) -> String {
        self.initializers.push(pb::TensorProto {
            name: name.to_string(),
            dims: dims.iter().map(|&d| d as i64).collect(),
            data_type: pb::tensor_proto::DataType::Int64 as i32,
            raw_data: data.iter().flat_map(|v| v.to_le_bytes()).collect(),
            ..Default::default()
        });
        name.to_string()
    }

    /// Add a node with one output; returns the output's (fresh) name, or `output` if given.
    pub fn node(
        &mut self,
        op_type: &str,
        inputs: &[&str],
        attributes: Vec<pb::AttributeProto>,
        output: Option<&str>,
    ) -> String {
        self.counter += 1;
        let out = output
            .map(str::to_string)
            .unwrap_or_else(|| format!("{}_{}", op_type.to_lowercase(), self.counter));
        self.nodes.push(pb::NodeProto {
            input: inputs.iter().map(|s| s.to_string()).collect(),
            output: vec![out.clone()],
            name: format!("{op_type}_{}", self.counter),
            op_type: op_type.to_string(),
            attribute: attributes,
            ..Default::default()
        });
        out
    }

    /// The finished model; `doc` lands in `doc_string` (e.g. how it was trained).
    pub fn finish(self, graph_name: &str, doc: &str) -> pb::ModelProto {
        pb::ModelProto {
            ir_version: IR_VERSION,
            opset_import: vec![pb::OperatorSetIdProto {
                domain: String::new(),
                version: OPSET,
            }],
            producer_name: "probegan".to_string(),
            producer_version: env!("CARGO_PKG_VERSION").to_string(),
            doc_string: doc.to_string(),
            graph: Some(pb::GraphProto {
                node: self.nodes,
                name: graph_name.to_string(),
                initializer: self.initializers,
                input: self.inputs,
                output: self.outputs,
                ..Default::default()
            }),
            ..Default::default()
        }
    }
}

/// Encode a model to protobuf bytes.
pub fn encode_model(model: &pb::ModelProto) -> Vec<u8> {
    model.encode_to_vec()
}

/// Write a model atomically (temp file + rename), so an interrupted export never leaves a
/// truncated `.onnx` behind.
pub fn write_model(model: &pb::ModelProto, path: &Path) -> Result<()> {
    let bytes = encode_model(model);
    let tmp = path.with_extension("onnx.tmp");
    std::fs::write(&tmp, &bytes).with_context(|| format!("{}: cannot write", tmp.display()))?;
    std::fs::rename(&tmp, path)
        .with_context(|| format!("{}: cannot move into place", path.display()))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encodes_a_model_tract_can_load() {
        use tract_onnx::prelude::*;
        let mut b = OnnxGraphBuilder::new();
        let x = b.input("x", &[ExportDim::Free("N"), ExportDim::Fixed(3)]);
        let w = b
            .initializer("w", &[3, 2], &[1.0, 0.0, 0.0, 1.0, 1.0, 1.0])
            .unwrap();
        let y = b.node("MatMul", &[&x, &w], vec![], Some("y"));
        b.output(&y, &[ExportDim::Free("N"), ExportDim::Fixed(2)]);
        let bytes = encode_model(&b.finish("g", "test"));
        let model = tract_onnx::onnx()
            .model_for_read(&mut std::io::Cursor::new(bytes))
            .unwrap()
            .with_input_fact(0, f32::fact([1, 3]).into())
            .unwrap()
            .into_runnable()
            .unwrap();
        let out = model
            .run(tvec!(tract_ndarray::arr2(&[[1f32, 2., 3.]])
                .into_tensor()
                .into()))
            .unwrap();
        let v: Vec<f32> = out[0]
            .clone()
            .into_tensor()
            .to_plain_array_view::<f32>()
            .unwrap()
            .iter()
            .copied()
            .collect();
        assert_eq!(v, vec![4.0, 5.0]);
    }
}
