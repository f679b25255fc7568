//! Piecewise-linear activations (ReLU, leaky ReLU, clamp/ReLU6) as fused CPU custom ops.
//!
//! Candle's stock ReLU backward builds its mask with a broadcast comparison, a dtype cast and
//! a multiply (measured 50x the forward's time); leaky ReLU and clamp written from stock ops
//! take several such passes. Here each activation is one pass forward and one pass backward:
//!
//! * `Act(x) = f(x)`; its input gradient `ActBwd(g, x) = g · f'(x)`.
//! * `ActBwd` is linear in `g` (its own adjoint: `ActBwd(h, x)`) and piecewise constant in `x`,
//!   whose derivative is zero almost everywhere. The mask input enters detached, so autodiff
//!   never waits for a gradient to reach it: the WGAN-GP penalty differentiates through D's
//!   backward, where the pre-activation is used only as that mask.
//!
//! Derivative at the kinks follows PyTorch: ReLU and leaky ReLU take the negative side at 0,
//! clamp passes the gradient strictly inside (lo, hi) (as `hardtanh`/ReLU6).
//! Other devices and dtypes use compositions of stock candle ops (exact autodiff, slower).

use super::cpu::{check_same, dispatch1, dispatch2, Elem};
use candle_core::{bail, CpuStorage, CustomOp1, CustomOp2, Layout, Result, Shape, Tensor};
use rayon::prelude::*;

/// Elements per parallel task: small tensors stay on one thread (rayon's hand-off costs more).
const CHUNK: usize = 1 << 15;

#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) enum Kind {
    Relu,
    /// Slope on the negative side.
    Leaky(f64),
    /// Bounds, either may be infinite.
    Clamp(f64, f64),
}

/// One activation as a zero-sized type: the loops below are compiled once per type, so the
/// inner loop holds no run-time `match` on the kind and vectorises (with the kind as an enum
/// value captured by the closure it did not: a compare-and-branch per element).
trait ActFn: Copy + Send + Sync {
    fn value<T: Elem>(self, x: T, lo: T, hi: T) -> T;
    /// `g · f'(x)`.
    fn grad<T: Elem>(self, g: T, x: T, lo: T, hi: T) -> T;
}

#[derive(Clone, Copy)]
struct ReluFn;
#[derive(Clone, Copy)]
struct LeakyFn;
#[derive(Clone, Copy)]
struct ClampFn;

impl ActFn for ReluFn {
    #[inline(always)]
    fn value<T: Elem>(self, x: T, _: T, _: T) -> T {
        // `if x < 0` (not `max`) so NaN propagates.
        if x < T::ZERO {
            T::ZERO
        } else {
            x
        }
    }
    #[inline(always)]
    fn grad<T: Elem>(self, g: T, x: T, _: T, _: T) -> T {
        if x > T::ZERO {
            g
        } else {
            T::ZERO
        }
    }
}

impl ActFn for LeakyFn {
    #[inline(always)]
    fn value<T: Elem>(self, x: T, slope: T, _: T) -> T {
        if x > T::ZERO {
            x
        } else {
            x * slope
        }
    }
    #[inline(always)]
    fn grad<T: Elem>(self, g: T, x: T, slope: T, _: T) -> T {
        if x > T::ZERO {
            g
        } else {
            g * slope
        }
    }
}

impl ActFn for ClampFn {
    #[inline(always)]
    fn value<T: Elem>(self, x: T, lo: T, hi: T) -> T {
        if x < lo {
            lo
        } else if x > hi {
            hi
        } else {
            x
        }
    }
    #[inline(always)]
    fn grad<T: Elem>(self, g: T, x: T, lo: T, hi: T) -> T {
        if x > lo && x < hi {
            g
        } else {
            T::ZERO
        }
    }
}

impl Kind {
    /// The two per-kind constants the loops read (slope, or the bounds).
    fn constants<T: Elem>(self) -> (T, T) {
        match self {
            Kind::Relu => (T::ZERO, T::ZERO),
            Kind::Leaky(s) => (T::from_f64(s), T::ZERO),
            Kind::Clamp(lo, hi) => (T::from_f64(lo), T::from_f64(hi)),
        }
    }
}

/// `out[i] = f(a[i], b[i])`, in parallel chunks for large tensors (`b` may be `a` for unary).
fn map2<T: Elem>(a: &[T], b: &[T], f: impl Fn(T, T) -> T + Sync + Send) -> Vec<T> {
    debug_assert_eq!(a.len(), b.len());
    let mut out: Vec<T> = Vec::with_capacity(a.len());
    out.spare_capacity_mut()
        .par_chunks_mut(CHUNK)
        .zip(a.par_chunks(CHUNK).zip(b.par_chunks(CHUNK)))
        .for_each(|(o, (a, b))| {
            for ((o, a), b) in o.iter_mut().zip(a).zip(b) {
                o.write(f(*a, *b));
            }
        });
    // SAFETY: the chunks above cover all `a.len()` slots of the capacity and wrote each once.
    unsafe { out.set_len(a.len()) };
    out
}

/// Each kind as its own zero-sized type, so the compiler specialises the loop per kind.
macro_rules! per_kind {
    ($kind:expr, |$k:ident| $body:expr) => {
        match $kind {
            Kind::Relu => {
                let $k = ReluFn;
                $body
            }
            Kind::Leaky(_) => {
                let $k = LeakyFn;
                $body
            }
            Kind::Clamp(..) => {
                let $k = ClampFn;
                $body
            }
        }
    };
}

fn act_fwd<T: Elem>(kind: Kind, x: &[T]) -> Vec<T> {
    let (lo, hi) = kind.constants::<T>();
    per_kind!(kind, |k| map2(x, x, move |v, _| k.value(v, lo, hi)))
}

fn act_bwd<T: Elem>(kind: Kind, g: &[T], x: &[T]) -> Vec<T> {
    let (lo, hi) = kind.constants::<T>();
    per_kind!(kind, |k| map2(g, x, move |g, v| k.grad(g, v, lo, hi)))
}

/// `f` applied in place, on the calling thread: the epilogue of another op's output loop (a
/// convolution clamps each image or plane while it is still in cache).
pub(super) fn act_in_place<T: Elem>(kind: Kind, ys: &mut [T]) {
    #[cfg(target_arch = "x86_64")]
    if std::is_x86_feature_detected!("avx2") {
        // SAFETY: the CPU has AVX2 (checked just above).
        return unsafe { act_in_place_avx2(kind, ys) };
    }
    act_in_place_body(kind, ys)
}

/// The crate targets baseline x86-64, whose vectorised loops are 4-wide SSE: the epilogue runs
/// inside other ops' loops, so it gets its own 8-wide build.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn act_in_place_avx2<T: Elem>(kind: Kind, ys: &mut [T]) {
    act_in_place_body(kind, ys)
}

#[inline(always)]
fn act_in_place_body<T: Elem>(kind: Kind, ys: &mut [T]) {
    let (lo, hi) = kind.constants::<T>();
    per_kind!(kind, |k| ys
        .iter_mut()
        .for_each(|v| *v = k.value(*v, lo, hi)))
}

/// `g · f'(x)` with `x` read from `at` (detached: the mask carries no gradient). For ReLU and
/// clamp `at` may be the activation's *output*: `y > 0` exactly when `x > 0`, and
/// `lo < y < hi` exactly when `lo < x < hi`, so a fused op need not keep its pre-activation.
pub(super) fn act_grad(kind: Kind, g: &Tensor, at: &Tensor) -> Result<Tensor> {
    g.contiguous()?
        .apply_op2(&at.detach().contiguous()?, ActBwd(kind))
}

/// `g[i] = g[i] · f'(at[i])` in place, on the calling thread (the mask of `act_grad` for one
/// plane inside another op's loop; `at` may be the output, as there).
pub(super) fn act_grad_in_place<T: Elem>(kind: Kind, g: &mut [T], at: &[T]) {
    #[cfg(target_arch = "x86_64")]
    if std::is_x86_feature_detected!("avx2") {
        // SAFETY: the CPU has AVX2 (checked just above).
        return unsafe { act_grad_in_place_avx2(kind, g, at) };
    }
    act_grad_in_place_body(kind, g, at)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn act_grad_in_place_avx2<T: Elem>(kind: Kind, g: &mut [T], at: &[T]) {
    act_grad_in_place_body(kind, g, at)
}

#[inline(always)]
fn act_grad_in_place_body<T: Elem>(kind: Kind, g: &mut [T], at: &[T]) {
    let (lo, hi) = kind.constants::<T>();
    per_kind!(kind, |k| g
        .iter_mut()
        .zip(at)
        .for_each(|(g, x)| *g = k.grad(*g, *x, lo, hi)))
}

struct Act(Kind);
struct ActBwd(Kind);

impl CustomOp1 for Act {
    fn name(&self) -> &'static str {
        "probegan-activation"
    }
    fn cpu_fwd(&self, s: &CpuStorage, l: &Layout) -> Result<(CpuStorage, Shape)> {
        let out = dispatch1!(self.name(), s, l, |x, T| Ok::<_, candle_core::Error>(
            act_fwd::<T>(self.0, x)
        ))?;
        Ok((out, l.shape().clone()))
    }
    fn bwd(&self, x: &Tensor, _: &Tensor, g: &Tensor) -> Result<Option<Tensor>> {
        Ok(Some(
            g.contiguous()?.apply_op2(&x.detach(), ActBwd(self.0))?,
        ))
    }
}

impl CustomOp2 for ActBwd {
    fn name(&self) -> &'static str {
        "probegan-activation-bwd"
    }
    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        check_same(self.name(), l1, l2)?;
        let out =
            dispatch2!(self.name(), s1, l1, s2, l2, |g, x, T| Ok::<
                _,
                candle_core::Error,
            >(
                act_bwd::<T>(self.0, g, x)
            ))?;
        Ok((out, l1.shape().clone()))
    }
    /// Linear in `g` with a symmetric (diagonal) map; the mask `x` is detached.
    fn bwd(
        &self,
        _g: &Tensor,
        x: &Tensor,
        _: &Tensor,
        h: &Tensor,
    ) -> Result<(Option<Tensor>, Option<Tensor>)> {
        Ok((
            Some(h.contiguous()?.apply_op2(&x.detach(), ActBwd(self.0))?),
            None,
        ))
    }
}

fn fast(x: &Tensor) -> bool {
    x.device().is_cpu() && matches!(x.dtype(), candle_core::DType::F32 | candle_core::DType::F64)
}

fn apply(x: &Tensor, kind: Kind) -> Result<Tensor> {
    x.contiguous()?.apply_op1(Act(kind))
}

/// `max(x, 0)`.
pub fn relu(x: &Tensor) -> Result<Tensor> {
    if fast(x) {
        return apply(x, Kind::Relu);
    }
    x.relu()
}

/// `x` for `x > 0`, `slope · x` otherwise.
pub fn leaky_relu(x: &Tensor, slope: f64) -> Result<Tensor> {
    if !slope.is_finite() {
        bail!("leaky_relu: slope must be finite, got {slope}")
    }
    if fast(x) {
        return apply(x, Kind::Leaky(slope));
    }
    // relu(x) − slope·relu(−x): no mask, so the gradient is exact on both sides.
    x.relu()? - (x.neg()?.relu()? * slope)?
}

/// `min(max(x, lo), hi)`; `None` (or an infinite bound) leaves that side open.
/// ReLU6 is `clamp(x, Some(0.0), Some(6.0))`.
pub fn clamp(x: &Tensor, lo: Option<f64>, hi: Option<f64>) -> Result<Tensor> {
    let lo = lo.unwrap_or(f64::NEG_INFINITY);
    let hi = hi.unwrap_or(f64::INFINITY);
    if lo.is_nan() || hi.is_nan() || lo > hi {
        bail!("clamp: bounds must satisfy min <= max, got [{lo}, {hi}]")
    }
    if fast(x) {
        if lo == 0.0 && hi == f64::INFINITY {
            return apply(x, Kind::Relu);
        }
        return apply(x, Kind::Clamp(lo, hi));
    }
    // lo + relu(x − lo) − relu(x − hi), each term dropped when its bound is open.
    let (lo_f, hi_f) = (lo.is_finite(), hi.is_finite());
    Ok(match (lo_f, hi_f) {
        (true, true) => ((x.affine(1.0, -lo)?.relu()? - x.affine(1.0, -hi)?.relu()?)? + lo)?,
        (true, false) => (x.affine(1.0, -lo)?.relu()? + lo)?,
        (false, true) => (x.affine(-1.0, hi)?.relu()?.neg()? + hi)?,
        (false, false) => x.clone(),
    })
}
