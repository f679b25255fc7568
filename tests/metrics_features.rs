//! Feature extraction for FID/KID from an ONNX model's intermediate value: the penultimate
//! layer is found automatically, the candle engine returns exactly `relu(x·W1)`, and
//! onnxruntime (when `ORT_DYLIB_PATH` is set) returns the same values.

use candle_core::{Device, Tensor};
use probegan::metrics::features::{penultimate_value, FeatureExtractor, OnnxFeatures, OrtFeatures};
use prost::Message;
use tract_onnx::pb::{
    tensor_proto::DataType, tensor_shape_proto::dimension::Value as DimValue,
    tensor_shape_proto::Dimension, type_proto, GraphProto, ModelProto, NodeProto,
    OperatorSetIdProto, TensorProto, TensorShapeProto, TypeProto, ValueInfoProto,
};

fn init(name: &str, dims: &[i64], data: Vec<f32>) -> TensorProto {
    TensorProto {
        name: name.into(),
        dims: dims.to_vec(),
        data_type: DataType::Float as i32,
        float_data: data,
        ..Default::default()
    }
}

fn node(op: &str, inputs: &[&str], output: &str) -> NodeProto {
    NodeProto {
        op_type: op.into(),
        name: output.into(),
        input: inputs.iter().map(|s| s.to_string()).collect(),
        output: vec![output.into()],
        ..Default::default()
    }
}

fn value(name: &str, dims: &[Option<i64>]) -> ValueInfoProto {
    let dim = dims
        .iter()
        .map(|d| Dimension {
            value: Some(match d {
                Some(v) => DimValue::DimValue(*v),
                None => DimValue::DimParam("N".into()),
            }),
            ..Default::default()
        })
        .collect();
    ValueInfoProto {
        name: name.into(),
        r#type: Some(TypeProto {
            value: Some(type_proto::Value::TensorType(type_proto::Tensor {
                elem_type: DataType::Float as i32,
                shape: Some(TensorShapeProto { dim }),
            })),
            ..Default::default()
        }),
        ..Default::default()
    }
}

/// x [N,1,4,4] -> Flatten -> MatMul W1 [16,8] -> Relu (`hidden`) -> MatMul W2 -> Add b -> Softmax.
fn tiny_classifier(w1: &[f32], w2: &[f32]) -> Vec<u8> {
    let graph = GraphProto {
        name: "tiny".into(),
        node: vec![
            node("Flatten", &["x"], "flat"),
            node("MatMul", &["flat", "W1"], "pre"),
            node("Relu", &["pre"], "hidden"),
            node("MatMul", &["hidden", "W2"], "mm"),
            node("Add", &["mm", "b"], "logits"),
            node("Softmax", &["logits"], "probs"),
        ],
        initializer: vec![
            init("W1", &[16, 8], w1.to_vec()),
            init("W2", &[8, 3], w2.to_vec()),
            init("b", &[3], vec![0.1, -0.2, 0.3]),
        ],
        input: vec![value("x", &[None, Some(1), Some(4), Some(4)])],
        output: vec![value("probs", &[None, Some(3)])],
        ..Default::default()
    };
    ModelProto {
        ir_version: 8,
        opset_import: vec![OperatorSetIdProto {
            domain: String::new(),
            version: 13,
        }],
        producer_name: "probegan-test".into(),
        graph: Some(graph),
        ..Default::default()
    }
    .encode_to_vec()
}

fn setup() -> (tempfile::TempDir, std::path::PathBuf, Tensor, Vec<f32>) {
    let w1: Vec<f32> = (0..128)
        .map(|i| ((i * 37 % 17) as f32 - 8.0) / 10.0)
        .collect();
    let w2: Vec<f32> = (0..24).map(|i| ((i * 11 % 7) as f32 - 3.0) / 5.0).collect();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("tiny.onnx");
    std::fs::write(&path, tiny_classifier(&w1, &w2)).unwrap();
    let x = Tensor::randn(0f32, 1.0, (10, 1, 4, 4), &Device::Cpu).unwrap();
    // Expected features: relu(x_flat · W1), computed directly.
    let xf: Vec<f32> = x.flatten_all().unwrap().to_vec1().unwrap();
    let mut want = vec![0f32; 10 * 8];
    for n in 0..10 {
        for j in 0..8 {
            let s: f32 = (0..16).map(|k| xf[n * 16 + k] * w1[k * 8 + j]).sum();
            want[n * 8 + j] = s.max(0.0);
        }
    }
    (dir, path, x, want)
}

fn assert_close(got: &Tensor, want: &[f32], who: &str) {
    assert_eq!(got.dims(), &[10, 8], "{who}");
    let g: Vec<f32> = got.flatten_all().unwrap().to_vec1().unwrap();
    for (a, b) in g.iter().zip(want) {
        assert!((a - b).abs() < 1e-5, "{who}: {a} vs {b}");
    }
}

#[test]
fn penultimate_layer_is_found_and_extracted_by_the_engine() {
    let (_dir, path, x, want) = setup();
    assert_eq!(penultimate_value(&path).unwrap(), "hidden");
    let mut fx = OnnxFeatures::load(&path, None, None, &Device::Cpu).unwrap();
    fx.batch = 3; // uneven batches must concatenate in order
    assert_close(&fx.features(&x).unwrap(), &want, "candle engine");
    let bad = OnnxFeatures::load(&path, None, Some("no_such_value"), &Device::Cpu)
        .and_then(|f| f.features(&x).map(|_| ()));
    assert!(bad.is_err());
}

#[test]
fn onnxruntime_features_match() {
    if !probegan::onnx::reference::OrtRunner::available() {
        eprintln!("SKIPPED onnxruntime_features_match: set ORT_DYLIB_PATH to libonnxruntime.so (pip install onnxruntime)");
        return;
    }
    let (_dir, path, x, want) = setup();
    let fx = OrtFeatures::load(&path, None, None).unwrap();
    assert_close(&fx.features(&x).unwrap(), &want, "onnxruntime");
    assert!(fx.describe().contains("hidden"));
}
