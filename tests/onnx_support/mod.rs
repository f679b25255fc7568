//! Shared helpers for the ONNX engine tests: finite-difference gradient checks on small graphs.
#![allow(dead_code)]

use candle_core::{DType, Device, Tensor, Var};
use probegan::onnx::builder::GraphBuilder;
use probegan::onnx::OnnxModel;
use rand::{Rng, SeedableRng};

pub fn rng(seed: u64) -> rand_chacha::ChaCha8Rng {
    rand_chacha::ChaCha8Rng::seed_from_u64(seed)
}

pub fn randn(shape: &[usize], lo: f64, hi: f64, seed: u64) -> Tensor {
    let mut r = rng(seed);
    let n: usize = shape.iter().product();
    let v: Vec<f64> = (0..n).map(|_| r.random_range(lo..hi)).collect();
    Tensor::from_vec(v, shape, &Device::Cpu).unwrap()
}

pub fn rand_f32(n: usize, seed: u64) -> Vec<f32> {
    let mut r = rng(seed);
    (0..n).map(|_| r.random_range(-1.0f32..1.0)).collect()
}

/// Max relative error between the analytic input gradients of `sum(w * out)` (f64) and
/// central finite differences, over every input coordinate of every input.
pub fn grad_error(g: &GraphBuilder, inputs: &[Tensor]) -> f64 {
    let bytes = g.to_bytes();
    let m =
        OnnxModel::from_bytes_with(&bytes, "test graph", &Device::Cpu, DType::F64).expect("load");
    let out0 = m.forward(inputs).expect("forward");
    let weights: Vec<Tensor> = out0
        .iter()
        .enumerate()
        .map(|(i, o)| randn(o.dims(), -1.0, 1.0, 100 + i as u64))
        .collect();
    let loss = |ins: &[Tensor]| -> Tensor {
        let outs = m.forward(ins).expect("forward");
        let mut total = Tensor::new(0.0f64, &Device::Cpu).unwrap();
        for (o, w) in outs.iter().zip(&weights) {
            total = (total + (o * w).unwrap().sum_all().unwrap()).unwrap();
        }
        total
    };
    let vars: Vec<Var> = inputs
        .iter()
        .map(|t| Var::from_tensor(t).unwrap())
        .collect();
    let ts: Vec<Tensor> = vars.iter().map(|v| v.as_tensor().clone()).collect();
    let grads = loss(&ts).backward().unwrap();
    let mut worst = 0.0f64;
    let mut scale = 1e-8f64;
    let mut pairs = Vec::new();
    for (k, v) in vars.iter().enumerate() {
        let analytic: Vec<f64> = match grads.get(v.as_tensor()) {
            Some(g) => g.flatten_all().unwrap().to_vec1().unwrap(),
            None => vec![0.0; inputs[k].elem_count()],
        };
        let flat: Vec<f64> = inputs[k].flatten_all().unwrap().to_vec1().unwrap();
        let eps = 1e-6;
        for i in 0..flat.len() {
            let at = |d: f64| {
                let mut x = flat.clone();
                x[i] += d;
                let mut ins = inputs.to_vec();
                ins[k] = Tensor::from_vec(x, inputs[k].dims(), &Device::Cpu).unwrap();
                loss(&ins).to_scalar::<f64>().unwrap()
            };
            let fd = (at(eps) - at(-eps)) / (2.0 * eps);
            scale = scale.max(fd.abs());
            pairs.push((analytic[i], fd));
        }
    }
    for (a, fd) in pairs {
        worst = worst.max((a - fd).abs() / scale);
    }
    worst
}

/// Assert the gradient matches and print one table row.
pub fn check(family: &str, case: &str, g: &GraphBuilder, inputs: &[Tensor]) {
    let err = grad_error(g, inputs);
    let ok = err < 1e-5;
    println!(
        "| {family:<12} | {case:<48} | {err:.1e} | {} |",
        if ok { "PASS" } else { "FAIL" }
    );
    assert!(
        ok,
        "{family}/{case}: gradient differs from finite differences (max rel err {err:.2e})"
    );
}
