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
