//! Whole-classifier cross-checks against tract-onnx: a small CNN, a graph with a batch-1
//! Reshape constant run at batch 4, and the real EfficientNet-Lite2 when present
//! (/work/shared/models/efficientnet_lite2.onnx; not vendored).

mod onnx_support;

use candle_core::{Device, Tensor};
use probegan::onnx::builder::{attr_int, attr_ints, GraphBuilder};
use probegan::onnx::reference::{HostArray, Reference, TractRunner};
use probegan::onnx::OnnxModel;
use std::path::Path;

fn max_rel_diff(a: &HostArray, b: &HostArray) -> f32 {
    assert_eq!(a.shape, b.shape);
    let scale = b.data.iter().fold(1.0f32, |m, v| m.max(v.abs()));
    a.data
        .iter()
        .zip(&b.data)
        .fold(0.0f32, |m, (x, y)| m.max((x - y).abs()))
        / scale
}

fn cross_check(path: &Path, shape: &[usize], tol: f32) {
    let n: usize = shape.iter().product();
    let data: Vec<f32> = (0..n)
        .map(|i| ((i * 7919) % 1000) as f32 / 1000.0)
        .collect();
    let x = Tensor::from_vec(data.clone(), shape, &Device::Cpu).unwrap();
    let m = OnnxModel::load(path, &Device::Cpu).unwrap();
    let ours = HostArray::from_tensor(&m.forward(&[x]).unwrap()[0]).unwrap();
    let tract = TractRunner::load(path)
        .unwrap()
        .run(&[HostArray {
            shape: shape.to_vec(),
            data,
        }])
        .unwrap();
    let d = max_rel_diff(&ours, &tract[0]);
    println!(
        "{}: ours vs tract max |diff| / scale = {d:.2e}",
        path.display()
    );
    assert!(d < tol, "{}: differs from tract by {d}", path.display());
}

#[test]
fn small_cnn_matches_tract() {
    probegan::init();
    let p = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/bench/small_cnn.onnx");
    cross_check(&p, &[3, 3, 32, 32], 1e-5);
}

#[test]
fn batch_one_reshape_constant_runs_at_any_batch() {
    probegan::init();
    let mut g = GraphBuilder::new(13);
    g.input("x", &[1, 2, 6, 6]);
    g.init_f32("w", &[4, 2, 3, 3], onnx_support::rand_f32(72, 1));
    g.init_i64("shape", &[2], vec![1, -1]);
    g.init_f32("fc", &[36, 5], onnx_support::rand_f32(180, 2));
    g.node(
        "Conv",
        &["x", "w"],
        &["c"],
        vec![
            attr_ints("strides", &[2, 2]),
            attr_ints("pads", &[1, 1, 1, 1]),
        ],
    );
    g.node("Relu", &["c"], &["r"], vec![]);
    g.node("Reshape", &["r", "shape"], &["f"], vec![]);
    g.node("Gemm", &["f", "fc"], &["y"], vec![attr_int("transB", 0)]);
    g.output("y");
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("batch1.onnx");
    std::fs::write(&p, g.to_bytes()).unwrap();
    let m = OnnxModel::load(&p, &Device::Cpu).unwrap();
    assert!(
        m.notes().iter().any(|n| n.contains("rewritten")),
        "{:?}",
        m.notes()
    );
    assert!(
        m.notes().iter().any(|n| n.contains("treated as free")),
        "{:?}",
        m.notes()
    );
    let x = onnx_support::randn(&[4, 2, 6, 6], -1.0, 1.0, 3)
        .to_dtype(candle_core::DType::F32)
        .unwrap();
    let ours = HostArray::from_tensor(&m.forward(&[x.clone()]).unwrap()[0]).unwrap();
    assert_eq!(ours.shape, vec![4, 5]);
    let tract = TractRunner::load(&p).unwrap();
    for i in 0..4 {
        let xi = HostArray::from_tensor(&x.narrow(0, i, 1).unwrap()).unwrap();
        let want = &tract.run(&[xi]).unwrap()[0];
        let got = HostArray {
            shape: vec![1, 5],
            data: ours.data[i * 5..(i + 1) * 5].to_vec(),
        };
        assert!(max_rel_diff(&got, want) < 1e-5, "sample {i}");
    }
}

#[test]
fn efficientnet_lite2_matches_tract() {
    probegan::init();
    let p = Path::new("/work/shared/models/efficientnet_lite2.onnx");
    if !p.exists() {
        println!("skipping: {} not present", p.display());
        return;
    }
    cross_check(p, &[1, 3, 260, 260], 1e-4);
}

/// A bidirectional LSTM (bias, peepholes, initial states, all three outputs) with
/// sequence_lens, against tract. tract runs sequence_lens only when it is a constant equal to
/// the full length for every sequence; uneven lengths are checked against onnxruntime in
/// tests/data/onnx/generated (onnx_conformance). Should tract refuse them, as 0.23 does, that
/// is printed, not failed.
#[test]
fn bidirectional_lstm_with_sequence_lens_matches_tract() {
    use probegan::onnx::builder::{attr_string, tensor};
    use tract_onnx::pb::tensor_proto::DataType;
    probegan::init();
    let (t, b, i, h) = (5usize, 3usize, 4usize, 3usize);
    for lens in [[5i32, 5, 5], [5, 2, 1]] {
        let mut g = GraphBuilder::new(14);
        g.input("X", &[t as i64, b as i64, i as i64]);
        let params: [(&str, Vec<i64>); 6] = [
            ("W", vec![2, 4 * h as i64, i as i64]),
            ("R", vec![2, 4 * h as i64, h as i64]),
            ("B", vec![2, 8 * h as i64]),
            ("initial_h", vec![2, b as i64, h as i64]),
            ("initial_c", vec![2, b as i64, h as i64]),
            ("P", vec![2, 3 * h as i64]),
        ];
        for (k, (name, dims)) in params.iter().enumerate() {
            let n: i64 = dims.iter().product();
            g.init_f32(
                name,
                dims,
                onnx_support::rand_f32(n as usize, 40 + k as u64),
            );
        }
        let raw = lens.iter().flat_map(|v| v.to_le_bytes()).collect();
        g.init_raw(tensor("lens", DataType::Int32, &[3], raw));
        g.node(
            "LSTM",
            &["X", "W", "R", "B", "lens", "initial_h", "initial_c", "P"],
            &["Y", "Y_h", "Y_c"],
            vec![
                attr_string("direction", "bidirectional"),
                attr_int("hidden_size", h as i64),
            ],
        );
        g.output("Y").output("Y_h").output("Y_c");
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("lstm.onnx");
        std::fs::write(&p, g.to_bytes()).unwrap();
        let n = t * b * i;
        let data: Vec<f32> = (0..n)
            .map(|k| ((k * 7919) % 1000) as f32 / 500.0 - 1.0)
            .collect();
        let x = Tensor::from_vec(data.clone(), (t, b, i), &Device::Cpu).unwrap();
        let ours = OnnxModel::load(&p, &Device::Cpu)
            .unwrap()
            .forward(&[x])
            .unwrap();
        let tract = TractRunner::load(&p).unwrap().run(&[HostArray {
            shape: vec![t, b, i],
            data,
        }]);
        let tract = match tract {
            Ok(t) => t,
            Err(e) => {
                assert_ne!(
                    lens,
                    [5, 5, 5],
                    "tract refused full-length sequence_lens: {e}"
                );
                let why = e.to_string();
                let why = why.lines().next().unwrap_or("");
                println!("sequence_lens {lens:?}: tract refuses ({why}); not compared");
                continue;
            }
        };
        assert_eq!(ours.len(), 3);
        for (k, (o, r)) in ours.iter().zip(&tract).enumerate() {
            let d = max_rel_diff(&HostArray::from_tensor(o).unwrap(), r);
            println!(
                "sequence_lens {lens:?}: output {k} ours vs tract max |diff| / scale = {d:.2e}"
            );
            assert!(d < 1e-5, "output {k} differs from tract by {d}");
        }
    }
}
