//! The vendored candle-core's gradient accumulation (vendor/candle-core/PATCHES.md): the first
//! gradient reaching a tensor is stored directly instead of being added to zeros, subtracting
//! rules store its negation, and constants get no gradient. Checked in f64 on CPU against
//! central finite differences (fan-in through stock candle ops and our custom ops, first and
//! second order) and against closed forms.
//!
//! Needs CANDLE_GRAD_DO_NOT_DETACH=1 for the second-order test (set by .cargo/config.toml).

use candle_core::{CpuStorage, CustomOp2, Device, Layout, Result, Shape, Tensor, Var};
use probegan::kernels::{self, Conv2dSpec, Pad2d};

mod kernel_support;
use kernel_support::{check_grad, max_abs_diff, rand_t, to_vec};

fn spec3x3() -> Conv2dSpec {
    Conv2dSpec {
        padding: Pad2d::same(1),
        ..Conv2dSpec::default()
    }
}

/// `x` feeds four consumers: our conv custom op (constant weight), a stock unary op, a stock
/// broadcast multiply by a constant, and a subtraction as its right operand (the negated
/// first gradient). `z` is reached only through `cos` (the other subtracting rule) and `u`
/// only through a sum (a broadcast first gradient).
fn fan_in_loss(ts: &[Tensor]) -> Result<Tensor> {
    let (x, z, u) = (&ts[0], &ts[1], &ts[2]);
    let w = rand_t(&[4, 3, 3, 3], 11);
    let s = rand_t(&[1, 3, 1, 1], 12);
    let conv = kernels::conv2d(x, &w, None, &spec3x3())?;
    let sq = x.sqr()?;
    let scaled = x.broadcast_mul(&s)?;
    let diff = (z.cos()?.broadcast_as(x.dims())? - x)?;
    let total_u = u.sum_all()?;
    let terms = [
        (conv.tanh()? * rand_t(conv.dims(), 13))?.sum_all()?,
        (sq * rand_t(x.dims(), 14))?.sum_all()?,
        (scaled.tanh()? * rand_t(x.dims(), 15))?.sum_all()?,
        (diff.sqr()? * rand_t(x.dims(), 16))?.sum_all()?,
        (total_u.sqr()? * 0.5)?,
    ];
    let mut loss = terms[0].clone();
    for t in &terms[1..] {
        loss = (loss + t)?;
    }
    Ok(loss)
}

fn fan_in_inputs() -> Vec<Tensor> {
    vec![
        rand_t(&[2, 3, 5, 5], 1),
        rand_t(&[3, 5, 5], 2),
        rand_t(&[2, 4], 3),
    ]
}

#[test]
fn fan_in_gradients_match_finite_differences() {
    check_grad(
        "x through conv, sqr, broadcast_mul and sub",
        fan_in_loss,
        &fan_in_inputs(),
        1e-5,
        1e-6,
    );
}

/// `||dL/dx||² + ||dL/dz||² + ||dL/du||²`: the WGAN-GP shape, so the stored first gradients
/// (direct, negated, broadcast-then-contiguous) must themselves be differentiable.
fn grad_norm(ts: &[Tensor]) -> Result<Tensor> {
    // The finite-difference evaluations pass constants: make them variables so that the inner
    // backward reaches them.
    let vars: Vec<Tensor> = ts
        .iter()
        .map(|t| {
            if t.track_op() {
                Ok(t.clone())
            } else {
                Var::from_tensor(t).map(|v| v.as_tensor().clone())
            }
        })
        .collect::<Result<_>>()?;
    let grads = fan_in_loss(&vars)?.backward()?;
    let mut total = Tensor::new(0f64, &Device::Cpu)?;
    for v in &vars {
        let g = grads.get(v).expect("every input gets a gradient");
        total = (total + g.sqr()?.sum_all()?)?;
    }
    Ok(total)
}

#[test]
fn second_order_through_accumulated_gradients_matches_finite_differences() {
    check_grad(
        "gradient norm of the fan-in loss",
        grad_norm,
        &fan_in_inputs(),
        1e-5,
        1e-5,
    );
}

#[test]
fn variable_gradients_equal_closed_forms() -> Result<()> {
    let dev = Device::Cpu;
    let w0 = rand_t(&[2, 3], 21);
    let c = rand_t(&[2, 3], 22);
    let w = Var::from_tensor(&w0)?;
    let v = Var::from_tensor(&rand_t(&[3], 23))?;
    // L = Σ w² + 3 Σ w + Σ (c - w) + Σ_ij c_ij / v_j: w has three consumers, one subtracting;
    // v is reached only through the subtracting (divisor) side of a Div.
    let lw = ((w.as_tensor().sqr()?.sum_all()? + (w.as_tensor() * 3.0)?.sum_all()?)?
        + (&c - w.as_tensor())?.sum_all()?)?;
    let lv = c.broadcast_div(v.as_tensor())?.sum_all()?;
    let grads = (lw + lv)?.backward()?;

    // dL/dw = 2w + 3 - 1
    let want_w = ((&w0 * 2.0)? + 2.0)?;
    let gw = grads.get(w.as_tensor()).expect("dL/dw");
    assert!(max_abs_diff(gw, &want_w) < 1e-12, "dL/dw");
    assert!(gw.is_contiguous());

    // dL/dv_j = -Σ_i c_ij / v_j²
    let v0 = to_vec(v.as_tensor());
    let c0 = to_vec(&c);
    let want_v: Vec<f64> = (0..3)
        .map(|j| -(c0[j] + c0[3 + j]) / (v0[j] * v0[j]))
        .collect();
    let gv = grads.get(v.as_tensor()).expect("dL/dv");
    assert!(
        max_abs_diff(gv, &Tensor::new(want_v, &dev)?) < 1e-12,
        "dL/dv"
    );

    // A constant operand gets no gradient (upstream stored a useless one).
    assert!(grads.get(&c).is_none());
    Ok(())
}

#[test]
fn a_broadcast_first_gradient_is_stored_contiguous() -> Result<()> {
    let u = Var::from_tensor(&rand_t(&[3, 4], 31))?;
    // The only gradient reaching u is a broadcast view of the scalar seed.
    let grads = u.as_tensor().sum_all()?.backward()?;
    let g = grads.get(u.as_tensor()).expect("dL/du");
    assert!(g.is_contiguous());
    assert_eq!(to_vec(g), vec![1.0; 12]);
    Ok(())
}

/// `y = Σ a·b`, whose backward returns `b` itself as `dy/da` (valid when `y` is the loss, as
/// here): the first gradient reaching `a` is then a variable.
struct DotReturningOperand;

impl CustomOp2 for DotReturningOperand {
    fn name(&self) -> &'static str {
        "test-dot-returning-operand"
    }
    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        if !l1.is_contiguous() || !l2.is_contiguous() {
            candle_core::bail!("contiguous operands expected")
        }
        let (a, b) = match (s1, s2) {
            (CpuStorage::F64(a), CpuStorage::F64(b)) => (a, b),
            _ => candle_core::bail!("f64 expected"),
        };
        let (a, b) = (
            &a[l1.start_offset()..l1.start_offset() + l1.shape().elem_count()],
            &b[l2.start_offset()..l2.start_offset() + l2.shape().elem_count()],
        );
        let dot = a.iter().zip(b).map(|(x, y)| x * y).sum::<f64>();
        Ok((CpuStorage::F64(vec![dot]), Shape::from(())))
    }
    fn bwd(
        &self,
        a: &Tensor,
        b: &Tensor,
        _res: &Tensor,
        _grad: &Tensor,
    ) -> Result<(Option<Tensor>, Option<Tensor>)> {
        Ok((Some(b.clone()), Some(a.clone())))
    }
}

#[test]
fn a_stored_gradient_never_aliases_a_variable() -> Result<()> {
    let a = Var::from_tensor(&rand_t(&[4], 41))?;
    let b = Var::from_tensor(&rand_t(&[4], 42))?;
    let (a0, b0) = (to_vec(a.as_tensor()), to_vec(b.as_tensor()));
    let y = a
        .as_tensor()
        .apply_op2(b.as_tensor(), DotReturningOperand)?;
    let grads = y.backward()?;
    // An optimiser step updates b in place before reading a's gradient.
    b.set(&Tensor::zeros(4, candle_core::DType::F64, &Device::Cpu)?)?;
    a.set(&Tensor::zeros(4, candle_core::DType::F64, &Device::Cpu)?)?;
    assert_eq!(
        to_vec(grads.get(a.as_tensor()).unwrap()),
        b0,
        "dy/da = b before the update"
    );
    assert_eq!(
        to_vec(grads.get(b.as_tensor()).unwrap()),
        a0,
        "dy/db = a before the update"
    );
    Ok(())
}
