//! Building small ONNX graphs in code: for tests, fuzzing seeds and examples. Produces the
//! same protobuf bytes an exporter would.
//!
//! ```
//! use probegan::onnx::builder::{GraphBuilder, attr_ints};
//! let mut g = GraphBuilder::new(13);
//! g.input("x", &[1, 3, 8, 8]);
//! g.node("MaxPool", &["x"], &["y"], vec![attr_ints("kernel_shape", &[2, 2]), attr_ints("strides", &[2, 2])]);
//! g.output("y");
//! let bytes = g.to_bytes();
//! assert!(!bytes.is_empty());
//! ```

use prost::Message;
use tract_onnx::pb;
use tract_onnx::pb::attribute_proto::AttributeType;
use tract_onnx::pb::tensor_proto::DataType;

#[derive(Default, Clone)]
pub struct GraphBuilder {
    opset: i64,
    nodes: Vec<pb::NodeProto>,
    inits: Vec<pb::TensorProto>,
    inputs: Vec<pb::ValueInfoProto>,
    outputs: Vec<pb::ValueInfoProto>,
}

fn value_info(name: &str, elem: DataType, dims: Option<&[i64]>) -> pb::ValueInfoProto {
    use pb::tensor_shape_proto::{dimension::Value as DV, Dimension};
    let shape = dims.map(|d| pb::TensorShapeProto {
        dim: d
            .iter()
            .map(|&v| Dimension {
                denotation: String::new(),
                value: Some(if v < 0 {
                    DV::DimParam("N".into())
                } else {
                    DV::DimValue(v)
                }),
            })
            .collect(),
    });
    pb::ValueInfoProto {
        name: name.into(),
        r#type: Some(pb::TypeProto {
            denotation: String::new(),
            value: Some(pb::type_proto::Value::TensorType(pb::type_proto::Tensor {
                elem_type: elem as i32,
                shape,
            })),
        }),
        doc_string: String::new(),
    }
}

impl GraphBuilder {
    pub fn new(opset: i64) -> Self {
        GraphBuilder {
            opset,
            ..Default::default()
        }
    }

    /// A float graph input; a negative dim is symbolic (`N`).
    pub fn input(&mut self, name: &str, dims: &[i64]) -> &mut Self {
        self.inputs
            .push(value_info(name, DataType::Float, Some(dims)));
        self
    }

    pub fn input_typed(&mut self, name: &str, elem: DataType, dims: &[i64]) -> &mut Self {
        self.inputs.push(value_info(name, elem, Some(dims)));
        self
    }

    pub fn output(&mut self, name: &str) -> &mut Self {
        self.outputs.push(value_info(name, DataType::Float, None));
        self
    }

    pub fn init_f32(&mut self, name: &str, dims: &[i64], data: Vec<f32>) -> &mut Self {
        let raw = data.iter().flat_map(|v| v.to_le_bytes()).collect();
        self.inits.push(tensor(name, DataType::Float, dims, raw));
        self
    }

    pub fn init_i64(&mut self, name: &str, dims: &[i64], data: Vec<i64>) -> &mut Self {
        let raw = data.iter().flat_map(|v| v.to_le_bytes()).collect();
        self.inits.push(tensor(name, DataType::Int64, dims, raw));
        self
    }

    pub fn init_raw(&mut self, t: pb::TensorProto) -> &mut Self {
        self.inits.push(t);
        self
    }

    pub fn node(
        &mut self,
        op: &str,
        inputs: &[&str],
        outputs: &[&str],
        attrs: Vec<pb::AttributeProto>,
    ) -> &mut Self {
        let name = format!("{}_{}", op.to_lowercase(), self.nodes.len());
        self.nodes.push(pb::NodeProto {
            input: inputs.iter().map(|s| s.to_string()).collect(),
            output: outputs.iter().map(|s| s.to_string()).collect(),
            name,
            op_type: op.into(),
            attribute: attrs,
            ..Default::default()
        });
        self
    }

    pub fn model(&self) -> pb::ModelProto {
        pb::ModelProto {
            ir_version: 8,
            opset_import: vec![pb::OperatorSetIdProto {
                domain: String::new(),
                version: self.opset,
            }],
            producer_name: "probegan-builder".into(),
            graph: Some(pb::GraphProto {
                node: self.nodes.clone(),
                name: "g".into(),
                initializer: self.inits.clone(),
                input: self.inputs.clone(),
                output: self.outputs.clone(),
                ..Default::default()
            }),
            ..Default::default()
        }
    }

    /// The graph alone, e.g. as an If branch (`attr_graph`).
    pub fn graph(&self) -> pb::GraphProto {
        self.model().graph.unwrap_or_default()
    }

    pub fn to_bytes(&self) -> Vec<u8> {
        self.model().encode_to_vec()
    }
}

pub fn tensor(name: &str, dt: DataType, dims: &[i64], raw: Vec<u8>) -> pb::TensorProto {
    pb::TensorProto {
        dims: dims.to_vec(),
        data_type: dt as i32,
        name: name.into(),
        raw_data: raw,
        ..Default::default()
    }
}

fn attr(name: &str, t: AttributeType) -> pb::AttributeProto {
    pb::AttributeProto {
        name: name.into(),
        r#type: t as i32,
        ..Default::default()
    }
}

pub fn attr_int(name: &str, v: i64) -> pb::AttributeProto {
    pb::AttributeProto {
        i: v,
        ..attr(name, AttributeType::Int)
    }
}

pub fn attr_ints(name: &str, v: &[i64]) -> pb::AttributeProto {
    pb::AttributeProto {
        ints: v.to_vec(),
        ..attr(name, AttributeType::Ints)
    }
}

pub fn attr_float(name: &str, v: f32) -> pb::AttributeProto {
    pb::AttributeProto {
        f: v,
        ..attr(name, AttributeType::Float)
    }
}

pub fn attr_floats(name: &str, v: &[f32]) -> pb::AttributeProto {
    pb::AttributeProto {
        floats: v.to_vec(),
        ..attr(name, AttributeType::Floats)
    }
}

pub fn attr_string(name: &str, v: &str) -> pb::AttributeProto {
    pb::AttributeProto {
        s: v.as_bytes().to_vec(),
        ..attr(name, AttributeType::String)
    }
}

pub fn attr_strings(name: &str, v: &[&str]) -> pb::AttributeProto {
    pb::AttributeProto {
        strings: v.iter().map(|s| s.as_bytes().to_vec()).collect(),
        ..attr(name, AttributeType::Strings)
    }
}

pub fn attr_graph(name: &str, g: pb::GraphProto) -> pb::AttributeProto {
    pb::AttributeProto {
        g: Some(g),
        ..attr(name, AttributeType::Graph)
    }
}
