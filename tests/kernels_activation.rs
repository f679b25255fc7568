//! The fused activations (`kernels::relu`, `leaky_relu`, `clamp`): values against the
//! definitions, gradients against central finite differences in f64, first and second order,
//! including the WGAN-GP shape where the pre-activation reaches the loss only as a mask.
//!
//! Needs CANDLE_GRAD_DO_NOT_DETACH=1 (set by .cargo/config.toml for cargo test).

use candle_core::{DType, Device, Result, Tensor, Var};
use probegan::kernels;

mod kernel_support;
use kernel_support::{check_grad, rand_vec, to_vec};

fn rand_t(shape: &[usize], seed: u64, scale: f64) -> Tensor {
    let n = shape.iter().product();
    let v = rand_vec(n, seed).into_iter().map(|v| v * scale).collect();
    Tensor::from_vec(v, shape, &Device::Cpu).unwrap()
}

type Act = Box<dyn Fn(&Tensor) -> Result<Tensor>>;

/// Each activation with its scalar definition, derivative, and an input scale that reaches
/// every piece (ReLU6 needs inputs beyond 6).
fn cases() -> Vec<(&'static str, Act, fn(f64) -> f64, f64)> {
    vec![
        (
            "relu",
            Box::new(kernels::relu),
            |x| if x < 0.0 { 0.0 } else { x },
            2.0,
        ),
        (
            "leaky_relu(0.2)",
            Box::new(|x| kernels::leaky_relu(x, 0.2)),
            |x| if x > 0.0 { x } else { 0.2 * x },
            2.0,
        ),
        (
            "leaky_relu(-0.5)",
            Box::new(|x| kernels::leaky_relu(x, -0.5)),
            |x| if x > 0.0 { x } else { -0.5 * x },
            2.0,
        ),
        (
            "relu6",
            Box::new(|x| kernels::clamp(x, Some(0.0), Some(6.0))),
            |x| x.clamp(0.0, 6.0),
            9.0,
        ),
        (
            "clamp(-0.5, 0.3)",
            Box::new(|x| kernels::clamp(x, Some(-0.5), Some(0.3))),
            |x| x.clamp(-0.5, 0.3),
            1.0,
        ),
        (
            "clamp(max 0.4)",
            Box::new(|x| kernels::clamp(x, None, Some(0.4))),
            |x| x.min(0.4),
            1.0,
        ),
        (
            "clamp(min -0.4)",
            Box::new(|x| kernels::clamp(x, Some(-0.4), None)),
            |x| x.max(-0.4),
            1.0,
        ),
    ]
}

#[test]
fn values_match_definitions_in_f32_and_f64_and_on_strided_input() {
    // 70_001 elements: more than one parallel chunk, and an odd tail.
    for (name, act, f, scale) in cases() {
        let x = rand_t(&[7, 10_001], 3, scale);
        let want: Vec<f64> = to_vec(&x).into_iter().map(f).collect();
        for dt in [DType::F64, DType::F32] {
            let xd = x.to_dtype(dt).unwrap();
            let y = act(&xd).unwrap();
            assert_eq!(y.dtype(), dt);
            assert_eq!(y.dims(), x.dims());
            let tol = if dt == DType::F32 { 1e-6 * scale } else { 0.0 };
            for (i, (a, b)) in to_vec(&y).iter().zip(&want).enumerate() {
                assert!((a - b).abs() <= tol, "{name} {dt:?} at {i}: {a} vs {b}");
            }
        }
        // A transposed (non-contiguous) view.
        let xt = x.t().unwrap();
        let want_t: Vec<f64> = to_vec(&xt).into_iter().map(f).collect();
        assert_eq!(
            to_vec(&act(&xt).unwrap()),
            want_t,
            "{name} on a transposed view"
        );
    }
}

#[test]
fn other_dtypes_fall_back_to_stock_ops() {
    for (name, act, f, scale) in cases() {
        let x = rand_t(&[3, 5, 7], 11, scale);
        let want: Vec<f64> = to_vec(&x).into_iter().map(f).collect();
        let y = act(&x.to_dtype(DType::BF16).unwrap()).unwrap();
        assert_eq!(y.dtype(), DType::BF16);
        for (a, b) in to_vec(&y).iter().zip(&want) {
            // bf16 keeps 8 mantissa bits.
            assert!((a - b).abs() <= 1e-2 * scale, "{name} bf16: {a} vs {b}");
        }
    }
}

#[test]
fn bad_parameters_are_errors() {
    let x = rand_t(&[4], 1, 1.0);
    assert!(kernels::clamp(&x, Some(1.0), Some(0.0)).is_err());
    assert!(kernels::clamp(&x, Some(f64::NAN), None).is_err());
    assert!(kernels::leaky_relu(&x, f64::NAN).is_err());
}

/// `L = Σ tanh(act(x·w)) · r`: tanh gives the composition a non-zero second derivative.
fn loss(act: &Act, ins: &[Tensor]) -> Result<Tensor> {
    let y = act(&(&ins[0] * &ins[1])?)?;
    let r = rand_t(y.dims(), 5, 1.0);
    (y.tanh()? * r)?.sum_all()
}

/// `Σ_i ||dL/d input_i||² + <dL/d input_i, r_i>` with the backward graph kept.
fn grad_norm(act: &Act, ins: &[Tensor]) -> Result<Tensor> {
    let vars: Vec<Var> = ins.iter().map(|t| Var::from_tensor(t).unwrap()).collect();
    let ts: Vec<Tensor> = vars.iter().map(|v| v.as_tensor().clone()).collect();
    let grads = loss(act, &ts)?.backward()?;
    let mut total = Tensor::new(0f64, &Device::Cpu)?;
    for (i, t) in ts.iter().enumerate() {
        let g = grads.get(t).expect("gradient reaches every input");
        total = (total
            + (g.sqr()?.sum_all()? + (g * rand_t(g.dims(), 40 + i as u64, 1.0))?.sum_all()?)?)?;
    }
    Ok(total)
}

#[test]
fn gradients_first_and_second_order() {
    for (name, act, _, scale) in cases() {
        // Odd sizes; |x·w| spread over the pieces, away from kinks by far more than eps.
        let x = rand_t(&[2, 3, 5, 7], 21, scale);
        let w = rand_t(&[2, 3, 5, 7], 22, 1.0).affine(0.5, 1.0).unwrap();
        let ins = [x, w];
        check_grad(
            &format!("{name} first order"),
            |t| loss(&act, t),
            &ins,
            1e-6,
            1e-6,
        );
        check_grad(
            &format!("{name} second order"),
            |t| grad_norm(&act, t),
            &ins,
            1e-6,
            1e-5,
        );
    }
}

/// The WGAN-GP shape: `P(w) = ||d/dx Σ v·act(x·w)||²` depends on the pre-activation `x·w`
/// only through the activation's mask, so autodiff must not wait for a gradient there.
#[test]
fn penalty_through_the_mask_only() {
    for (name, act, _, scale) in cases() {
        let x = rand_t(&[3, 4, 5], 31, scale);
        let v = rand_t(&[3, 4, 5], 32, 1.0);
        let w = rand_t(&[3, 4, 5], 33, 1.0).affine(0.5, 1.0).unwrap();
        let penalty = |t: &[Tensor]| -> Result<Tensor> {
            let xv = Var::from_tensor(&x)?;
            let d = (act(&(xv.as_tensor() * &t[0])?)? * &v)?.sum_all()?;
            let g = d.backward()?;
            g.get(xv.as_tensor())
                .expect("input gradient")
                .sqr()?
                .sum_all()
        };
        check_grad(&format!("{name} penalty"), penalty, &[w], 1e-6, 1e-6);
    }
}
