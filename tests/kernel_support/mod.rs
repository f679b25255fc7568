//! Shared helpers for the kernel tests (kernels_grad, kernels_depthwise, kernels_activation):
//! deterministic inputs, tensor comparisons and the central finite-difference check.
#![allow(dead_code)]

use candle_core::{DType, Device, Result, Tensor, Var};

/// Deterministic pseudo-random values in [-1, 1] (no RNG crate state to keep in sync).
pub fn rand_vec(n: usize, seed: u64) -> Vec<f64> {
    let mut s = seed
        .wrapping_mul(6364136223846793005)
        .wrapping_add(1442695040888963407);
    (0..n)
        .map(|_| {
            s = s
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            ((s >> 11) as f64 / (1u64 << 53) as f64) * 2.0 - 1.0
        })
        .collect()
}

/// An f64 CPU tensor of [`rand_vec`] values.
pub fn rand_t(shape: &[usize], seed: u64) -> Tensor {
    let n = shape.iter().product();
    Tensor::from_vec(rand_vec(n, seed), shape, &Device::Cpu).unwrap()
}

/// All elements as f64, row-major.
pub fn to_vec(t: &Tensor) -> Vec<f64> {
    t.flatten_all()
        .unwrap()
        .to_dtype(DType::F64)
        .unwrap()
        .to_vec1::<f64>()
        .unwrap()
}

/// The sum of all elements as f64 (the value of a scalar loss).
pub fn scalar(t: &Tensor) -> f64 {
    t.to_dtype(DType::F64)
        .unwrap()
        .sum_all()
        .unwrap()
        .to_scalar::<f64>()
        .unwrap()
}

pub fn max_abs_diff(a: &Tensor, b: &Tensor) -> f64 {
    assert_eq!(a.dims(), b.dims(), "shape mismatch");
    to_vec(a)
        .iter()
        .zip(to_vec(b))
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, f64::max)
}

/// Compares autodiff of `value(inputs)` with central differences (step `eps`) for every
/// element of every input; an input no gradient reaches must have a zero numeric derivative.
pub fn check_grad<V>(what: &str, value: V, inputs: &[Tensor], eps: f64, tol: f64)
where
    V: Fn(&[Tensor]) -> Result<Tensor>,
{
    let vars: Vec<Var> = inputs
        .iter()
        .map(|t| Var::from_tensor(t).unwrap())
        .collect();
    let ts: Vec<Tensor> = vars.iter().map(|v| v.as_tensor().clone()).collect();
    let grads = value(&ts).unwrap().backward().unwrap();
    for (i, t) in ts.iter().enumerate() {
        let analytic = match grads.get(t) {
            Some(g) => to_vec(g),
            None => vec![0.0; t.elem_count()],
        };
        let base = to_vec(&inputs[i]);
        let (mut worst, mut scale) = (0.0f64, 1e-3f64);
        for j in 0..base.len() {
            let eval = |delta: f64| {
                let mut d = base.clone();
                d[j] += delta;
                let mut ins = inputs.to_vec();
                ins[i] = Tensor::from_vec(d, inputs[i].dims(), &Device::Cpu).unwrap();
                scalar(&value(&ins).unwrap())
            };
            let numeric = (eval(eps) - eval(-eps)) / (2.0 * eps);
            worst = worst.max((numeric - analytic[j]).abs());
            scale = scale.max(numeric.abs());
        }
        assert!(
            worst / scale < tol,
            "{what}: input {i}: max |autodiff - finite diff| = {worst:.3e} (scale {scale:.3e})"
        );
    }
}
