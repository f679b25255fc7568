//! Per-channel CPU ops on [N, C, ...] tensors: sums, dot products, affine maps and shifts (bias
//! addition, inference batch norm, and the second-order rules of the training batch-norm ops in
//! `batchnorm`), and the per-channel run helpers those ops share.
//! Candle's stock versions (broadcast ops and reductions over non-trailing dims) are
//! single-threaded with a slow strided path, 20-30x slower than PyTorch here.
//!
//! Each op's backward is made of these same ops, so gradients of any order stay fast:
//! * `ChannelSum(x)[c] = Σ x[:, c]`            ↔ `ChannelBroadcast(k)` (its adjoint)
//! * `ChannelDot(a, b)[c] = Σ a[:, c]·b[:, c]`
//! * `ChannelAffine(x, s, b) = x·s[c] + b[c]`
//! * `ChannelShift(x, b) = x + b[c]`

use super::cpu::{check_same, dispatch1, dispatch2, Elem};
use candle_core::{
    bail, CpuStorage, CustomOp1, CustomOp2, CustomOp3, Layout, Result, Shape, Tensor,
};
use rayon::prelude::*;

/// (N, C, inner) of a tensor whose channel axis is 1.
pub(super) fn nci(shape: &Shape) -> Result<(usize, usize, usize)> {
    let d = shape.dims();
    if d.len() < 2 {
        bail!("per-channel op: expected [N, C, ...], got shape {d:?}")
    }
    Ok((d[0], d[1], d[2..].iter().product()))
}

/// The element ranges of channel `c`: one run of `inner` per image.
pub(super) fn runs(
    n: usize,
    c: usize,
    inner: usize,
    ch: usize,
) -> impl Iterator<Item = std::ops::Range<usize>> {
    (0..n).map(move |b| (b * c + ch) * inner..(b * c + ch + 1) * inner)
}

/// Per-channel f64 totals of `f(run)` over the channel's runs (one run of `inner` per image).
pub(super) fn channel_reduce<F>(n: usize, c: usize, inner: usize, f: F) -> Vec<f64>
where
    F: Fn(usize, std::ops::Range<usize>) -> f64 + Sync,
{
    (0..c)
        .into_par_iter()
        .map(|ch| runs(n, c, inner, ch).map(|r| f(ch, r)).sum())
        .collect()
}

/// Σ f(a[i], b[i]) over a run with 8 independent accumulators, so the compiler vectorizes it
/// (one f64 accumulator would serialise every add); runs are short, so T's precision suffices.
#[inline]
pub(super) fn fold_run<T: Elem>(a: &[T], b: &[T], f: impl Fn(T, T) -> T) -> f64 {
    let mut acc = [T::ZERO; 8];
    let (ca, cb) = (a.chunks_exact(8), b.chunks_exact(8));
    let (ra, rb) = (ca.remainder(), cb.remainder());
    for (x, y) in ca.zip(cb) {
        for k in 0..8 {
            acc[k] += f(x[k], y[k]);
        }
    }
    let mut t: f64 = acc.iter().map(|v| v.to_f64()).sum();
    for (x, y) in ra.iter().zip(rb) {
        t += f(*x, *y).to_f64();
    }
    t
}

pub(super) fn sum_run<T: Elem>(a: &[T]) -> f64 {
    fold_run(a, a, |x, _| x)
}

/// Rows (one channel of one image) per parallel task: at least ~32K elements, so small maps
/// stay on one thread.
pub(super) fn rows_per_task(inner: usize) -> usize {
    ((1 << 15) / inner.max(1)).max(1)
}

/// `out[run] = f(in[run], channel)`, run by run, in parallel over (image, channel) rows (so a
/// batch of one, or a per-sample op viewed as [1, N·C, inner], still uses every thread).
pub(super) fn channel_map<T: Elem, F>(n: usize, c: usize, inner: usize, f: F) -> Vec<T>
where
    F: Fn(std::ops::Range<usize>, usize, &mut [T]) + Sync,
{
    let mut out = vec![T::ZERO; n * c * inner];
    if inner == 0 {
        return out;
    }
    out.par_chunks_mut(inner)
        .enumerate()
        .with_min_len(rows_per_task(inner))
        .for_each(|(row, o)| f(row * inner..(row + 1) * inner, row % c, o));
    out
}

pub(super) fn check_vec(op: &str, l: &Layout, c: usize) -> Result<()> {
    if l.shape().dims() != [c] {
        bail!(
            "{op}: expected a per-channel vector of shape [{c}], got {:?}",
            l.shape().dims()
        )
    }
    Ok(())
}

fn vec_of<T: Elem>(v: Vec<f64>) -> Vec<T> {
    v.into_iter().map(T::from_f64).collect()
}

pub struct ChannelSum;
pub struct ChannelBroadcast(pub Shape);
pub struct ChannelDot;
pub struct ChannelAffine;
pub struct ChannelShift;

impl CustomOp1 for ChannelSum {
    fn name(&self) -> &'static str {
        "probegan-channel-sum"
    }
    fn cpu_fwd(&self, s: &CpuStorage, l: &Layout) -> Result<(CpuStorage, Shape)> {
        let (n, c, inner) = nci(l.shape())?;
        let out = dispatch1!(self.name(), s, l, |x, T| Ok::<_, candle_core::Error>(
            vec_of::<T>(channel_reduce(n, c, inner, |_, r| sum_run(&x[r])))
        ))?;
        Ok((out, Shape::from(c)))
    }
    fn bwd(&self, x: &Tensor, _: &Tensor, k: &Tensor) -> Result<Option<Tensor>> {
        Ok(Some(
            k.contiguous()?
                .apply_op1(ChannelBroadcast(x.shape().clone()))?,
        ))
    }
}

impl CustomOp1 for ChannelBroadcast {
    fn name(&self) -> &'static str {
        "probegan-channel-broadcast"
    }
    fn cpu_fwd(&self, s: &CpuStorage, l: &Layout) -> Result<(CpuStorage, Shape)> {
        let (n, c, inner) = nci(&self.0)?;
        check_vec(self.name(), l, c)?;
        let out = dispatch1!(self.name(), s, l, |v, T| Ok::<_, candle_core::Error>(
            channel_map::<T, _>(n, c, inner, |_, ch, o| o.fill(v[ch]))
        ))?;
        Ok((out, self.0.clone()))
    }
    fn bwd(&self, _: &Tensor, _: &Tensor, g: &Tensor) -> Result<Option<Tensor>> {
        Ok(Some(g.contiguous()?.apply_op1(ChannelSum)?))
    }
}

impl CustomOp2 for ChannelDot {
    fn name(&self) -> &'static str {
        "probegan-channel-dot"
    }
    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        check_same(self.name(), l1, l2)?;
        let (n, c, inner) = nci(l1.shape())?;
        let out = dispatch2!(self.name(), s1, l1, s2, l2, |a, b, T| Ok::<
            _,
            candle_core::Error,
        >(
            vec_of::<T>(
            channel_reduce(n, c, inner, |_, r| fold_run(
                &a[r.clone()],
                &b[r],
                |p, q| p * q
            ))
        )
        ))?;
        Ok((out, Shape::from(c)))
    }
    fn bwd(
        &self,
        a: &Tensor,
        b: &Tensor,
        _: &Tensor,
        k: &Tensor,
    ) -> Result<(Option<Tensor>, Option<Tensor>)> {
        Ok((Some(channel_scale(b, k)?), Some(channel_scale(a, k)?)))
    }
}

impl CustomOp3 for ChannelAffine {
    fn name(&self) -> &'static str {
        "probegan-channel-affine"
    }
    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
        s3: &CpuStorage,
        l3: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        let (n, c, inner) = nci(l1.shape())?;
        check_vec(self.name(), l2, c)?;
        check_vec(self.name(), l3, c)?;
        let out = match (s1, s2, s3) {
            (CpuStorage::F32(x), CpuStorage::F32(s), CpuStorage::F32(b)) => {
                CpuStorage::F32(affine(x, l1, s, l2, b, l3, n, c, inner, self.name())?)
            }
            (CpuStorage::F64(x), CpuStorage::F64(s), CpuStorage::F64(b)) => {
                CpuStorage::F64(affine(x, l1, s, l2, b, l3, n, c, inner, self.name())?)
            }
            _ => bail!("{}: f32 or f64 inputs of one dtype expected", self.name()),
        };
        Ok((out, l1.shape().clone()))
    }
    fn bwd(
        &self,
        x: &Tensor,
        s: &Tensor,
        _b: &Tensor,
        _: &Tensor,
        g: &Tensor,
    ) -> Result<(Option<Tensor>, Option<Tensor>, Option<Tensor>)> {
        let g = g.contiguous()?;
        Ok((
            Some(channel_scale(&g, s)?),
            Some(g.apply_op2(x, ChannelDot)?),
            Some(g.apply_op1(ChannelSum)?),
        ))
    }
}

#[allow(clippy::too_many_arguments)]
fn affine<T: Elem>(
    x: &[T],
    l1: &Layout,
    s: &[T],
    l2: &Layout,
    b: &[T],
    l3: &Layout,
    n: usize,
    c: usize,
    inner: usize,
    op: &str,
) -> Result<Vec<T>> {
    use super::cpu::slice;
    let (x, s, b) = (slice(x, l1, op)?, slice(s, l2, op)?, slice(b, l3, op)?);
    Ok(channel_map::<T, _>(n, c, inner, |r, ch, o| {
        let (sc, sh) = (s[ch], b[ch]);
        o.iter_mut().zip(&x[r]).for_each(|(o, v)| *o = *v * sc + sh)
    }))
}

impl CustomOp2 for ChannelShift {
    fn name(&self) -> &'static str {
        "probegan-channel-shift"
    }
    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        let (n, c, inner) = nci(l1.shape())?;
        check_vec(self.name(), l2, c)?;
        let out = dispatch2!(self.name(), s1, l1, s2, l2, |x, b, T| Ok::<
            _,
            candle_core::Error,
        >(
            channel_map::<T, _>(n, c, inner, |r, ch, o| {
                let sh = b[ch];
                o.iter_mut().zip(&x[r]).for_each(|(o, v)| *o = *v + sh)
            })
        ))?;
        Ok((out, l1.shape().clone()))
    }
    fn bwd(
        &self,
        _: &Tensor,
        _: &Tensor,
        _: &Tensor,
        g: &Tensor,
    ) -> Result<(Option<Tensor>, Option<Tensor>)> {
        Ok((
            Some(g.clone()),
            Some(g.contiguous()?.apply_op1(ChannelSum)?),
        ))
    }
}

/// `x · s[c]`.
pub fn channel_scale(x: &Tensor, s: &Tensor) -> Result<Tensor> {
    let zero = s.zeros_like()?;
    x.contiguous()?
        .apply_op3(&s.contiguous()?, &zero, ChannelAffine)
}

/// `x · s[c] + b[c]`.
pub fn channel_affine(x: &Tensor, s: &Tensor, b: &Tensor) -> Result<Tensor> {
    x.contiguous()?
        .apply_op3(&s.contiguous()?, &b.contiguous()?, ChannelAffine)
}

/// `x + b[c]`.
pub fn channel_shift(x: &Tensor, b: &Tensor) -> Result<Tensor> {
    x.contiguous()?.apply_op2(&b.contiguous()?, ChannelShift)
}

/// `x · s[n, c] + b[n, c]` for `x` [N, C, ...], `s`, `b` [N, C]: the per-channel ops on the
/// view [1, N·C, inner], whose backward (per-row sums and dots) is per-sample as needed.
pub fn sample_affine(x: &Tensor, s: &Tensor, b: &Tensor) -> Result<Tensor> {
    let (n, c, inner) = nci(x.shape())?;
    for (what, t) in [("scale", s), ("shift", b)] {
        if t.dims() != [n, c] {
            bail!(
                "per-sample affine: {what} must be [N, C] = [{n}, {c}], got {:?}",
                t.dims()
            )
        }
    }
    let rows = x.contiguous()?.reshape((1, n * c, inner))?;
    channel_affine(&rows, &s.flatten_all()?, &b.flatten_all()?)?.reshape(x.shape())
}

pub fn channel_sum(x: &Tensor) -> Result<Tensor> {
    x.contiguous()?.apply_op1(ChannelSum)
}

pub fn channel_dot(a: &Tensor, b: &Tensor) -> Result<Tensor> {
    a.contiguous()?.apply_op2(&b.contiguous()?, ChannelDot)
}
