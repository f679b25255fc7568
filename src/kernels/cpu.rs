//! Plumbing shared by the CPU custom ops: the element types they run on (f32 fast path, f64 for
//! finite-difference tests), contiguous slices out of candle storage, and the matrix multiply.

use candle_core::{bail, CpuStorage, Layout, Result};
use rayon::prelude::*;
use std::mem::MaybeUninit;

/// Two operands of an elementwise custom op must have the same shape.
pub fn check_same(op: &str, l1: &Layout, l2: &Layout) -> Result<()> {
    if l1.shape() != l2.shape() {
        bail!(
            "{op}: shapes differ: {:?} vs {:?}",
            l1.shape().dims(),
            l2.shape().dims()
        )
    }
    Ok(())
}

/// Element types with a CPU kernel.
pub trait Elem:
    Copy
    + Send
    + Sync
    + Default
    + PartialOrd
    + 'static
    + std::ops::Add<Output = Self>
    + std::ops::AddAssign
    + std::ops::Mul<Output = Self>
    + std::ops::Sub<Output = Self>
    + std::ops::Div<Output = Self>
{
    const ZERO: Self;
    const ONE: Self;
    const NEG_INF: Self;
    fn from_f64(v: f64) -> Self;
    fn to_f64(self) -> f64;
    fn wrap(v: Vec<Self>) -> CpuStorage;
}

impl Elem for f32 {
    const ZERO: Self = 0.0;
    const ONE: Self = 1.0;
    const NEG_INF: Self = f32::NEG_INFINITY;
    fn from_f64(v: f64) -> Self {
        v as f32
    }
    fn to_f64(self) -> f64 {
        self as f64
    }
    fn wrap(v: Vec<Self>) -> CpuStorage {
        CpuStorage::F32(v)
    }
}

impl Elem for f64 {
    const ZERO: Self = 0.0;
    const ONE: Self = 1.0;
    const NEG_INF: Self = f64::NEG_INFINITY;
    fn from_f64(v: f64) -> Self {
        v
    }
    fn to_f64(self) -> f64 {
        self
    }
    fn wrap(v: Vec<Self>) -> CpuStorage {
        CpuStorage::F64(v)
    }
}

/// The contiguous slice a layout describes (callers make inputs contiguous before the op).
pub fn slice<'a, T>(data: &'a [T], layout: &Layout, op: &str) -> Result<&'a [T]> {
    match layout.contiguous_offsets() {
        Some((a, b)) => Ok(&data[a..b]),
        None => bail!("{op}: expected a contiguous input, got layout {layout:?}"),
    }
}

/// Runs `$body` with `$a`, `$b` bound to the contiguous slices of two same-dtype storages and `T`
/// to their element type; the body returns `Result<Vec<T>>`.
macro_rules! dispatch2 {
    ($op:expr, $s1:expr, $l1:expr, $s2:expr, $l2:expr, |$a:ident, $b:ident, $t:ident| $body:expr) => {{
        use candle_core::CpuStorage as S;
        use $crate::kernels::cpu::{slice, Elem};
        match ($s1, $s2) {
            (S::F32(x1), S::F32(x2)) => {
                type $t = f32;
                let $a = slice(x1, $l1, $op)?;
                let $b = slice(x2, $l2, $op)?;
                let out: Vec<$t> = $body?;
                candle_core::Result::<candle_core::CpuStorage>::Ok(<$t as Elem>::wrap(out))
            }
            (S::F64(x1), S::F64(x2)) => {
                type $t = f64;
                let $a = slice(x1, $l1, $op)?;
                let $b = slice(x2, $l2, $op)?;
                let out: Vec<$t> = $body?;
                candle_core::Result::<candle_core::CpuStorage>::Ok(<$t as Elem>::wrap(out))
            }
            (a, b) => Err(candle_core::Error::Msg(format!(
                "{}: unsupported dtypes {:?}/{:?} (f32 and f64 only)",
                $op,
                candle_core::backend::BackendStorage::dtype(a),
                candle_core::backend::BackendStorage::dtype(b)
            ))),
        }
    }};
}

/// Three-input version of `dispatch2`.
macro_rules! dispatch3 {
    ($op:expr, $s1:expr, $l1:expr, $s2:expr, $l2:expr, $s3:expr, $l3:expr,
     |$a:ident, $b:ident, $c:ident, $t:ident| $body:expr) => {{
        use candle_core::CpuStorage as S;
        use $crate::kernels::cpu::{slice, Elem};
        match ($s1, $s2, $s3) {
            (S::F32(x1), S::F32(x2), S::F32(x3)) => {
                type $t = f32;
                let ($a, $b, $c) = (
                    slice(x1, $l1, $op)?,
                    slice(x2, $l2, $op)?,
                    slice(x3, $l3, $op)?,
                );
                let out: Vec<$t> = $body?;
                candle_core::Result::<candle_core::CpuStorage>::Ok(<$t as Elem>::wrap(out))
            }
            (S::F64(x1), S::F64(x2), S::F64(x3)) => {
                type $t = f64;
                let ($a, $b, $c) = (
                    slice(x1, $l1, $op)?,
                    slice(x2, $l2, $op)?,
                    slice(x3, $l3, $op)?,
                );
                let out: Vec<$t> = $body?;
                candle_core::Result::<candle_core::CpuStorage>::Ok(<$t as Elem>::wrap(out))
            }
            (a, b, c) => Err(candle_core::Error::Msg(format!(
                "{}: unsupported dtypes {:?}/{:?}/{:?} (f32 and f64 only)",
                $op,
                candle_core::backend::BackendStorage::dtype(a),
                candle_core::backend::BackendStorage::dtype(b),
                candle_core::backend::BackendStorage::dtype(c)
            ))),
        }
    }};
}

/// One-input version of `dispatch2`.
#[allow(unused_macros)]
macro_rules! dispatch1 {
    ($op:expr, $s1:expr, $l1:expr, |$a:ident, $t:ident| $body:expr) => {{
        use candle_core::CpuStorage as S;
        use $crate::kernels::cpu::{slice, Elem};
        match $s1 {
            S::F32(x1) => {
                type $t = f32;
                let $a = slice(x1, $l1, $op)?;
                let out: Vec<$t> = $body?;
                candle_core::Result::<candle_core::CpuStorage>::Ok(<$t as Elem>::wrap(out))
            }
            S::F64(x1) => {
                type $t = f64;
                let $a = slice(x1, $l1, $op)?;
                let out: Vec<$t> = $body?;
                candle_core::Result::<candle_core::CpuStorage>::Ok(<$t as Elem>::wrap(out))
            }
            a => Err(candle_core::Error::Msg(format!(
                "{}: unsupported dtype {:?} (f32 and f64 only)",
                $op,
                candle_core::backend::BackendStorage::dtype(a)
            ))),
        }
    }};
}

#[allow(unused_imports)]
pub(crate) use {dispatch1, dispatch2, dispatch3};

/// A row-major matrix view: element (r, c) at `ptr[r * rs + c * cs]`.
#[derive(Clone, Copy)]
pub struct Mat<T> {
    pub ptr: *const T,
    pub rs: isize,
    pub cs: isize,
}

impl<T> Mat<T> {
    pub fn rows(s: &[T], ncols: usize) -> Self {
        Mat {
            ptr: s.as_ptr(),
            rs: ncols as isize,
            cs: 1,
        }
    }
    /// The transpose of a row-major matrix with `ncols` columns.
    pub fn rows_t(s: &[T], ncols: usize) -> Self {
        Mat {
            ptr: s.as_ptr(),
            rs: 1,
            cs: ncols as isize,
        }
    }
}

/// `dst[m×n] (+)= lhs[m×k] · rhs[k×n]`, dst row-major with `n` columns.
/// Safety of the raw views is the caller's: `lhs`/`rhs` must cover the stated extents.
pub fn matmul<T: Elem>(
    dst: &mut [T],
    m: usize,
    n: usize,
    k: usize,
    lhs: Mat<T>,
    rhs: Mat<T>,
    accumulate: bool,
    threads: usize,
) {
    assert!(dst.len() >= m * n);
    if m == 0 || n == 0 {
        return;
    }
    if k == 0 {
        if !accumulate {
            dst[..m * n].iter_mut().for_each(|v| *v = T::ZERO);
        }
        return;
    }
    let par = if threads > 1 {
        gemm::Parallelism::Rayon(threads)
    } else {
        gemm::Parallelism::None
    };
    // SAFETY: dst has m*n elements (asserted); the caller guarantees lhs/rhs extents.
    unsafe {
        gemm::gemm(
            m,
            n,
            k,
            dst.as_mut_ptr(),
            1,
            n as isize,
            accumulate,
            lhs.ptr,
            lhs.cs,
            lhs.rs,
            rhs.ptr,
            rhs.cs,
            rhs.rs,
            T::ONE,
            T::ONE,
            false,
            false,
            false,
            par,
        )
    }
}

/// Zero-initialised output buffer.
pub fn zeros<T: Elem>(n: usize) -> Vec<T> {
    vec![T::ZERO; n]
}

/// A `len`-element output built in parallel, `chunk` elements per piece (at least `min_chunks`
/// pieces per rayon task): each piece is zero-filled by the thread about to use it — cache-hot
/// and in parallel, instead of one single-threaded memset of the whole buffer up front — then
/// handed to `f(state, piece_index, piece)`; `state` comes from `init`, once per task.
pub fn par_chunks_init<T: Elem, S>(
    len: usize,
    chunk: usize,
    min_chunks: usize,
    init: impl Fn() -> S + Sync + Send,
    f: impl Fn(&mut S, usize, &mut [T]) + Sync + Send,
) -> Vec<T> {
    let mut out: Vec<T> = Vec::with_capacity(len);
    out.spare_capacity_mut()
        .par_chunks_mut(chunk.max(1))
        .with_min_len(min_chunks.max(1))
        .enumerate()
        .for_each_init(init, |state, (i, piece)| {
            for v in piece.iter_mut() {
                v.write(T::ZERO);
            }
            // SAFETY: every element of `piece` was initialised just above.
            let piece = unsafe { &mut *(piece as *mut [MaybeUninit<T>] as *mut [T]) };
            f(state, i, piece);
        });
    // SAFETY: the pieces cover all `len` slots of the capacity and each was initialised.
    unsafe { out.set_len(len) };
    out
}
