//! Batch norm in training mode (batch statistics) as CPU custom ops:
//! * `BnNormalize(x) = x̂ = (x − mean_c) / sqrt(var_c + eps)`, with its fused backward
//!   `BnNormalizeBwd`: batch norm without an affine map;
//! * `BnAffineTrain(x, scale, shift) = x̂ · scale + shift`, the affine coefficients per channel
//!   ([C], plain BN) or per sample and channel ([N, C], conditional BN), with its backward
//!   `BnAffineTrainBwd`.
//!
//! Why the affine map is fused: normalise-then-affine as two ops writes x̂, reads it back, and
//! gives candle one more full-size gradient edge (each edge costs a zero fill and an add of the
//! whole tensor). Here the forward is two passes over `x` for the statistics and one that
//! writes `y`, and the backward is ONE op, `BnAffineTrainBwd`, in two passes: per-row sums of
//! `g` and `g·(x − mean)`, then `dx`; the affine gradients fall out of the same sums. Its output
//! packs `[dx (flattened), dscale, dshift]`, handed back to candle as views.
//!
//! Second order (each backward's own backward) is an explicit rule made of the differentiable
//! per-channel ops in `channel` (see `BnNormalizeBwd::bwd` and `BnAffineTrainBwd::bwd`).

use super::channel::{
    channel_affine, channel_dot, channel_map, channel_reduce, channel_scale, channel_shift,
    channel_sum, check_vec, fold_run, nci, rows_per_task, runs, sum_run,
};
use super::cpu::{check_same, dispatch1, dispatch2, dispatch3, Elem};
use candle_core::{
    bail, CpuStorage, CustomOp1, CustomOp2, CustomOp3, Layout, Result, Shape, Tensor,
};
use rayon::prelude::*;
use std::mem::MaybeUninit;
use std::sync::{Arc, Mutex};

// ---------- batch statistics ----------

/// Per-channel mean and biased variance, two-pass in f64 for accuracy.
fn moments<T: Elem>(x: &[T], n: usize, c: usize, inner: usize) -> (Vec<f64>, Vec<f64>) {
    let m = (n * inner).max(1) as f64;
    let mean: Vec<f64> = channel_reduce(n, c, inner, |_, r| sum_run(&x[r]))
        .into_iter()
        .map(|s| s / m)
        .collect();
    let mt: Vec<T> = mean.iter().map(|v| T::from_f64(*v)).collect();
    let var = channel_reduce(n, c, inner, |ch, r| {
        let mu = mt[ch];
        fold_run(&x[r.clone()], &x[r], |v, _| (v - mu) * (v - mu))
    })
    .into_iter()
    .map(|s| s / m)
    .collect();
    (mean, var)
}

/// A batch-norm forward's statistics (mean then biased variance, `2·c` values), if it ran,
/// as the snapshot its backward op reads.
fn saved_stats(stats: &Mutex<Vec<f64>>, c: usize) -> Option<Arc<Vec<f64>>> {
    let st = stats.lock().ok()?;
    (st.len() == 2 * c).then(|| Arc::new(st.clone()))
}

/// (mean, biased variance) per channel: the forward's when it left them, else recomputed.
fn stats_or_moments<T: Elem>(
    saved: Option<&[f64]>,
    x: &[T],
    n: usize,
    c: usize,
    inner: usize,
) -> (Vec<f64>, Vec<f64>) {
    match saved {
        Some(st) if st.len() == 2 * c => (st[..c].to_vec(), st[c..].to_vec()),
        _ => moments(x, n, c, inner),
    }
}

/// (Σ g, Σ g·(x − mu)) over a run, 8 accumulators each (see `fold_run`).
#[inline]
fn sum2_run<T: Elem>(g: &[T], x: &[T], mu: T) -> (f64, f64) {
    let (mut s, mut d) = ([T::ZERO; 8], [T::ZERO; 8]);
    let (cg, cx) = (g.chunks_exact(8), x.chunks_exact(8));
    let (rg, rx) = (cg.remainder(), cx.remainder());
    for (gv, xv) in cg.zip(cx) {
        for k in 0..8 {
            s[k] += gv[k];
            d[k] += gv[k] * (xv[k] - mu);
        }
    }
    let mut ts: f64 = s.iter().map(|v| v.to_f64()).sum();
    let mut td: f64 = d.iter().map(|v| v.to_f64()).sum();
    for (gv, xv) in rg.iter().zip(rx) {
        ts += gv.to_f64();
        td += (*gv * (*xv - mu)).to_f64();
    }
    (ts, td)
}

// ---------- normalisation alone ----------

/// `(x − mean_c) / sqrt(var_c + eps)` with batch statistics; the statistics of the last call are
/// left in `stats` (mean then biased variance) for running-average updates.
pub struct BnNormalize {
    pub eps: f64,
    pub stats: Arc<Mutex<Vec<f64>>>,
}

/// The input gradient of `BnNormalize`, fused: `rstd·(g − mean(g) − x̂·mean(g·x̂))`.
/// `stats` (mean then biased variance, per channel) are the forward's, when known: they are
/// functions of `x` alone, so reusing them saves two passes over `x` without changing values.
pub struct BnNormalizeBwd {
    pub eps: f64,
    pub stats: Option<Arc<Vec<f64>>>,
}

impl BnNormalize {
    /// The statistics this op's forward computed, if it ran.
    fn saved_stats(&self, c: usize) -> Option<Arc<Vec<f64>>> {
        saved_stats(&self.stats, c)
    }
}

impl CustomOp1 for BnNormalize {
    fn name(&self) -> &'static str {
        "probegan-bn-normalize"
    }
    fn cpu_fwd(&self, s: &CpuStorage, l: &Layout) -> Result<(CpuStorage, Shape)> {
        let (n, c, inner) = nci(l.shape())?;
        let eps = self.eps;
        let stats = &self.stats;
        let out = dispatch1!(self.name(), s, l, |x, T| {
            let (mean, var) = moments(x, n, c, inner);
            let (mt, rt): (Vec<T>, Vec<T>) = mean
                .iter()
                .zip(&var)
                .map(|(m, v)| (T::from_f64(*m), T::from_f64(1.0 / (v + eps).sqrt())))
                .unzip();
            let y = channel_map::<T, _>(n, c, inner, |r, ch, o| {
                let (mu, rs) = (mt[ch], rt[ch]);
                o.iter_mut()
                    .zip(&x[r])
                    .for_each(|(o, v)| *o = (*v - mu) * rs)
            });
            if let Ok(mut st) = stats.lock() {
                *st = mean.into_iter().chain(var).collect();
            }
            Ok::<_, candle_core::Error>(y)
        })?;
        Ok((out, l.shape().clone()))
    }
    fn bwd(&self, x: &Tensor, _: &Tensor, g: &Tensor) -> Result<Option<Tensor>> {
        let stats = self.saved_stats(x.dim(1)?);
        Ok(Some(x.apply_op2(
            &g.contiguous()?,
            BnNormalizeBwd {
                eps: self.eps,
                stats,
            },
        )?))
    }
}

impl CustomOp2 for BnNormalizeBwd {
    fn name(&self) -> &'static str {
        "probegan-bn-normalize-bwd"
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
        let eps = self.eps;
        let m = (n * inner).max(1) as f64;
        let out = dispatch2!(self.name(), s1, l1, s2, l2, |x, g, T| {
            let (mean, var) =
                stats_or_moments(self.stats.as_deref().map(|v| v.as_slice()), x, n, c, inner);
            let rstd: Vec<f64> = var.iter().map(|v| 1.0 / (v + eps).sqrt()).collect();
            let mt: Vec<T> = mean.iter().map(|v| T::from_f64(*v)).collect();
            // Σg and Σg·(x − mean) in one pass over g and x.
            let sums: Vec<(f64, f64)> = (0..c)
                .into_par_iter()
                .map(|ch| {
                    let mu = mt[ch];
                    runs(n, c, inner, ch)
                        .map(|r| sum2_run(&g[r.clone()], &x[r], mu))
                        .fold((0.0, 0.0), |a, b| (a.0 + b.0, a.1 + b.1))
                })
                .collect();
            let sums: Vec<(f64, f64)> = (0..c)
                .map(|ch| (sums[ch].0, sums[ch].1 * rstd[ch]))
                .collect();
            // dx = rstd·g − rstd·mean(g) − x̂·rstd·mean(g·x̂), x̂ = (x − mean)·rstd
            let a: Vec<T> = rstd.iter().map(|r| T::from_f64(*r)).collect();
            let b: Vec<T> = (0..c)
                .map(|ch| T::from_f64(rstd[ch] * sums[ch].0 / m))
                .collect();
            let k: Vec<T> = (0..c)
                .map(|ch| T::from_f64(rstd[ch] * rstd[ch] * sums[ch].1 / m))
                .collect();
            Ok::<_, candle_core::Error>(channel_map::<T, _>(n, c, inner, |r, ch, o| {
                let (a, b, k, mu) = (a[ch], b[ch], k[ch], mt[ch]);
                for ((o, gi), xi) in o.iter_mut().zip(&g[r.clone()]).zip(&x[r]) {
                    *o = a * *gi - b - (*xi - mu) * k;
                }
            }))
        })?;
        Ok((out, l1.shape().clone()))
    }
    /// Second order. With per-channel M, σ² = var + eps, x̂, and upstream `h`:
    /// d<h, dx>/dg = BnNormalizeBwd(x, h) (the map g ↦ dx is symmetric), and
    /// d<h, dx>/dx = −(T·x̂ + Q·(h − h̄) + P·(g − ḡ) − 3·P·Q·x̂/M) / (M·σ²)
    /// with T = Σhg − ΣhΣg/M, P = Σh·x̂, Q = Σg·x̂ (sums per channel), built from differentiable ops.
    fn bwd(
        &self,
        x: &Tensor,
        g: &Tensor,
        _: &Tensor,
        h: &Tensor,
    ) -> Result<(Option<Tensor>, Option<Tensor>)> {
        let h = h.contiguous()?;
        let dg = x.apply_op2(
            &h,
            BnNormalizeBwd {
                eps: self.eps,
                stats: self.stats.clone(),
            },
        )?;
        let (n, _c, inner) = nci(x.shape())?;
        let m = (n * inner) as f64;
        let xhat = x.apply_op1(BnNormalize {
            eps: self.eps,
            stats: Arc::default(),
        })?;
        let mean = (channel_sum(x)? / m)?;
        let xc = channel_shift(x, &mean.neg()?)?;
        let var = (channel_dot(&xc, &xc)? / m)?;
        let factor = ((var + self.eps)? * m)?.recip()?.neg()?;
        let (sh, sg) = (channel_sum(&h)?, channel_sum(g)?);
        let t = (channel_dot(&h, g)? - ((&sh * &sg)? / m)?)?;
        let p = channel_dot(&h, &xhat)?;
        let q = channel_dot(g, &xhat)?;
        let coef_xhat = ((t - ((&p * &q)? * (3.0 / m))?)? * &factor)?;
        let fq = (&factor * &q)?;
        let fp = (&factor * &p)?;
        let h_term = channel_affine(&h, &fq, &((&fq * &sh)? / m)?.neg()?)?;
        let g_term = channel_affine(g, &fp, &((&fp * &sg)? / m)?.neg()?)?;
        let dx = ((channel_scale(&xhat, &coef_xhat)? + h_term)? + g_term)?;
        Ok((Some(dx), Some(dg)))
    }
}

/// Batch-norm normalisation with batch statistics; returns (x̂, mean, biased var), the
/// statistics detached (they only feed running averages).
pub fn bn_normalize(x: &Tensor, eps: f64) -> Result<(Tensor, Tensor, Tensor)> {
    let stats = Arc::new(Mutex::new(Vec::new()));
    let y = x.contiguous()?.apply_op1(BnNormalize {
        eps,
        stats: stats.clone(),
    })?;
    let st = stats
        .lock()
        .map_err(|_| candle_core::Error::Msg("bn stats lock poisoned".into()))?
        .clone();
    let c = x.dim(1)?;
    let mean = Tensor::from_vec(st[..c].to_vec(), c, x.device())?.to_dtype(x.dtype())?;
    let var = Tensor::from_vec(st[c..].to_vec(), c, x.device())?.to_dtype(x.dtype())?;
    Ok((y, mean, var))
}

// ---------- normalisation with the affine map fused ----------

/// `x̂ · scale + shift` with batch statistics. `per_sample`: `scale`, `shift` are [N, C] (else
/// [C]). The statistics of the last forward (mean then biased variance, per channel) are left in
/// `stats`, for running averages and for the backward (they depend on `x` alone).
pub struct BnAffineTrain {
    pub eps: f64,
    pub per_sample: bool,
    pub stats: Arc<Mutex<Vec<f64>>>,
}

/// Gradient of `BnAffineTrain` for upstream `g`: inputs (x, g, scale), output
/// `[dx (x's element count), dscale, dshift]` flattened.
pub struct BnAffineTrainBwd {
    pub eps: f64,
    pub per_sample: bool,
    pub stats: Option<Arc<Vec<f64>>>,
}

/// Checks a coefficient tensor's shape: [C], or [N, C] when per sample.
fn check_coef(op: &str, l: &Layout, n: usize, c: usize, per_sample: bool) -> Result<()> {
    if !per_sample {
        return check_vec(op, l, c);
    }
    if l.shape().dims() != [n, c] {
        bail!(
            "{op}: expected per-sample coefficients of shape [{n}, {c}], got {:?}",
            l.shape().dims()
        )
    }
    Ok(())
}

/// The coefficient index of row `row` (= image · C + channel).
#[inline]
fn coef_index(row: usize, c: usize, per_sample: bool) -> usize {
    if per_sample {
        row
    } else {
        row % c
    }
}

/// A vector of `rows · inner` elements written row by row in parallel (`f(row, out_row)` must
/// write every element), with spare capacity for `extra` more (pushed by the caller).
fn map_rows<T: Elem>(
    rows: usize,
    inner: usize,
    extra: usize,
    f: impl Fn(usize, &mut [MaybeUninit<T>]) + Sync + Send,
) -> Vec<T> {
    let len = rows * inner;
    let mut out: Vec<T> = Vec::with_capacity(len + extra);
    if inner > 0 {
        out.spare_capacity_mut()[..len]
            .par_chunks_mut(inner)
            .enumerate()
            .with_min_len(rows_per_task(inner))
            .for_each(|(row, o)| f(row, o));
    }
    // SAFETY: the rows above cover all `len` slots and `f` wrote each one.
    unsafe { out.set_len(len) };
    out
}

#[allow(clippy::too_many_arguments)]
fn fwd<T: Elem>(
    x: &[T],
    s: &[T],
    b: &[T],
    n: usize,
    c: usize,
    inner: usize,
    eps: f64,
    per_sample: bool,
) -> (Vec<T>, Vec<f64>) {
    let (mean, var) = moments(x, n, c, inner);
    let mt: Vec<T> = mean.iter().map(|v| T::from_f64(*v)).collect();
    let rstd: Vec<f64> = var.iter().map(|v| 1.0 / (v + eps).sqrt()).collect();
    // y = (x − mean)·(rstd·scale) + shift: one multiply-add per element.
    let y = map_rows::<T>(n * c, inner, 0, |row, o| {
        let (ch, k) = (row % c, coef_index(row, c, per_sample));
        let (mu, a, sh) = (mt[ch], T::from_f64(rstd[ch] * s[k].to_f64()), b[k]);
        for (o, v) in o.iter_mut().zip(&x[row * inner..(row + 1) * inner]) {
            o.write((*v - mu) * a + sh);
        }
    });
    (y, mean.into_iter().chain(var).collect())
}

#[allow(clippy::too_many_arguments)]
fn bwd<T: Elem>(
    x: &[T],
    g: &[T],
    s: &[T],
    n: usize,
    c: usize,
    inner: usize,
    eps: f64,
    per_sample: bool,
    saved: Option<&[f64]>,
) -> Vec<T> {
    let (mean, var) = stats_or_moments(saved, x, n, c, inner);
    let mt: Vec<T> = mean.iter().map(|v| T::from_f64(*v)).collect();
    let rstd: Vec<f64> = var.iter().map(|v| 1.0 / (v + eps).sqrt()).collect();
    let rows = n * c;
    // Pass 1: Σg and Σg·(x − mean) per row (image, channel), in parallel over rows.
    let sums: Vec<(f64, f64)> = (0..rows)
        .into_par_iter()
        .with_min_len(rows_per_task(inner))
        .map(|row| {
            let r = row * inner..(row + 1) * inner;
            sum2_run(&g[r.clone()], &x[r], mt[row % c])
        })
        .collect();
    // Per channel, the sums of the normalised gradient g·scale; and the affine gradients.
    let p = if per_sample { rows } else { c };
    let (mut sg, mut sgx) = (vec![0.0f64; c], vec![0.0f64; c]);
    let (mut dscale, mut dshift) = (vec![0.0f64; p], vec![0.0f64; p]);
    for (row, (a, d)) in sums.iter().enumerate() {
        let (ch, k) = (row % c, coef_index(row, c, per_sample));
        let sk = s[k].to_f64();
        sg[ch] += sk * a;
        sgx[ch] += sk * d;
        dscale[k] += rstd[ch] * d;
        dshift[k] += a;
    }
    // Pass 2: dx = rstd·(scale·g − mean(g·scale) − x̂·mean(g·scale·x̂)).
    let m = (n * inner).max(1) as f64;
    let bc: Vec<T> = (0..c)
        .map(|ch| T::from_f64(rstd[ch] * sg[ch] / m))
        .collect();
    let kc: Vec<T> = (0..c)
        .map(|ch| T::from_f64(rstd[ch].powi(3) * sgx[ch] / m))
        .collect();
    let mut out = map_rows::<T>(rows, inner, 2 * p, |row, o| {
        let (ch, k) = (row % c, coef_index(row, c, per_sample));
        let (a, b, kk, mu) = (
            T::from_f64(rstd[ch] * s[k].to_f64()),
            bc[ch],
            kc[ch],
            mt[ch],
        );
        let r = row * inner..(row + 1) * inner;
        for ((o, gi), xi) in o.iter_mut().zip(&g[r.clone()]).zip(&x[r]) {
            o.write(a * *gi - b - (*xi - mu) * kk);
        }
    });
    out.extend(dscale.into_iter().chain(dshift).map(T::from_f64));
    out
}

impl CustomOp3 for BnAffineTrain {
    fn name(&self) -> &'static str {
        "probegan-bn-affine-train"
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
        let op = self.name();
        let (n, c, inner) = nci(l1.shape())?;
        check_coef(op, l2, n, c, self.per_sample)?;
        check_coef(op, l3, n, c, self.per_sample)?;
        let (eps, ps) = (self.eps, self.per_sample);
        let mut stats = Vec::new();
        let out = dispatch3!(op, s1, l1, s2, l2, s3, l3, |x, s, b, T| {
            let (y, st) = fwd::<T>(x, s, b, n, c, inner, eps, ps);
            stats = st;
            Result::Ok(y)
        })?;
        if let Ok(mut st) = self.stats.lock() {
            *st = stats;
        }
        Ok((out, l1.shape().clone()))
    }
    fn bwd(
        &self,
        x: &Tensor,
        s: &Tensor,
        b: &Tensor,
        _: &Tensor,
        g: &Tensor,
    ) -> Result<(Option<Tensor>, Option<Tensor>, Option<Tensor>)> {
        let c = x.dim(1)?;
        let stats = saved_stats(&self.stats, c);
        let packed = x.apply_op3(
            &g.contiguous()?,
            s,
            BnAffineTrainBwd {
                eps: self.eps,
                per_sample: self.per_sample,
                stats,
            },
        )?;
        let (e, p) = (x.elem_count(), s.elem_count());
        Ok((
            Some(packed.narrow(0, 0, e)?.reshape(x.shape())?),
            Some(packed.narrow(0, e, p)?.reshape(s.shape())?),
            Some(packed.narrow(0, e + p, p)?.reshape(b.shape())?),
        ))
    }
}

impl CustomOp3 for BnAffineTrainBwd {
    fn name(&self) -> &'static str {
        "probegan-bn-affine-train-bwd"
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
        let op = self.name();
        check_same(op, l1, l2)?;
        let (n, c, inner) = nci(l1.shape())?;
        check_coef(op, l3, n, c, self.per_sample)?;
        let (eps, ps) = (self.eps, self.per_sample);
        let saved = self.stats.as_deref().map(|v| v.as_slice());
        let out = dispatch3!(op, s1, l1, s2, l2, s3, l3, |x, g, s, T| {
            Result::Ok(bwd::<T>(x, g, s, n, c, inner, eps, ps, saved))
        })?;
        let p = if ps { n * c } else { c };
        Ok((out, Shape::from(l1.shape().elem_count() + 2 * p)))
    }
    /// Second order. With `B(x, g)` the normalisation's input gradient (`BnNormalizeBwd`,
    /// symmetric in `g`), `S` the scale broadcast over its rows, and the packed upstream split
    /// into (hx, hs, hb), the outputs are dx = B(x, g·S), ds = Σ_row g·x̂, db = Σ_row g, so
    /// * d/dg = S·B(x, hx) + x̂·hs + hb,
    /// * d/dx = ∂ₓ<hx, B(x, g·S)> (`BnNormalizeBwd`'s rule) + B(x, g·hs),
    /// * d/ds = Σ_row g·B(x, hx).
    fn bwd(
        &self,
        x: &Tensor,
        g: &Tensor,
        s: &Tensor,
        _: &Tensor,
        h: &Tensor,
    ) -> Result<(Option<Tensor>, Option<Tensor>, Option<Tensor>)> {
        let (e, p) = (x.elem_count(), s.elem_count());
        let h = h.contiguous()?;
        let hx = h.narrow(0, 0, e)?.reshape(x.shape())?;
        let hs = h.narrow(0, e, p)?.reshape(s.shape())?;
        let hb = h.narrow(0, e + p, p)?.reshape(s.shape())?;
        let ps = self.per_sample;
        let norm_bwd = BnNormalizeBwd {
            eps: self.eps,
            stats: self.stats.clone(),
        };
        let gs = coef_scale(g, s, ps)?;
        let (dx_main, bxh) = CustomOp2::bwd(&norm_bwd, x, &gs, &gs, &hx)?;
        let (dx_main, bxh) = match (dx_main, bxh) {
            (Some(a), Some(b)) => (a, b),
            _ => bail!(
                "{}: normalisation second-order rule incomplete",
                self.name()
            ),
        };
        let xhat = x.apply_op1(BnNormalize {
            eps: self.eps,
            stats: Arc::default(),
        })?;
        let dg = (coef_scale(&bxh, s, ps)? + coef_affine(&xhat, &hs, &hb, ps)?)?;
        let dx = (dx_main + x.apply_op2(&coef_scale(g, &hs, ps)?, norm_bwd)?)?;
        let ds = coef_dot(g, &bxh, ps)?.reshape(s.shape())?;
        Ok((Some(dx), Some(dg), Some(ds)))
    }
}

/// `t` as rows for coefficients: itself for per-channel ones, the view [1, N·C, inner] for
/// per-sample ones (so the per-channel ops act per row).
fn as_rows(t: &Tensor, per_sample: bool) -> Result<Tensor> {
    if !per_sample {
        return t.contiguous();
    }
    let (n, c, inner) = nci(t.shape())?;
    t.contiguous()?.reshape((1, n * c, inner))
}

/// `t · s` per row.
fn coef_scale(t: &Tensor, s: &Tensor, per_sample: bool) -> Result<Tensor> {
    channel_scale(&as_rows(t, per_sample)?, &s.flatten_all()?)?.reshape(t.shape())
}

/// `t · s + b` per row.
fn coef_affine(t: &Tensor, s: &Tensor, b: &Tensor, per_sample: bool) -> Result<Tensor> {
    channel_affine(
        &as_rows(t, per_sample)?,
        &s.flatten_all()?,
        &b.flatten_all()?,
    )?
    .reshape(t.shape())
}

/// `Σ a·b` per coefficient (per channel, or per sample and channel), flattened.
fn coef_dot(a: &Tensor, b: &Tensor, per_sample: bool) -> Result<Tensor> {
    channel_dot(&as_rows(a, per_sample)?, &as_rows(b, per_sample)?)
}

/// Training batch norm with the affine map fused; returns (y, mean, biased var), the
/// statistics detached (they only feed running averages). `scale`, `shift`: [C], or [N, C]
/// when `per_sample`.
pub fn bn_affine_train(
    x: &Tensor,
    scale: &Tensor,
    shift: &Tensor,
    eps: f64,
    per_sample: bool,
) -> Result<(Tensor, Tensor, Tensor)> {
    let stats = Arc::new(Mutex::new(Vec::new()));
    let y = x.contiguous()?.apply_op3(
        &scale.contiguous()?,
        &shift.contiguous()?,
        BnAffineTrain {
            eps,
            per_sample,
            stats: stats.clone(),
        },
    )?;
    let st = stats
        .lock()
        .map_err(|_| candle_core::Error::Msg("bn stats lock poisoned".into()))?
        .clone();
    let c = x.dim(1)?;
    if st.len() != 2 * c {
        bail!("batch norm: the forward left no statistics")
    }
    let mean = Tensor::from_vec(st[..c].to_vec(), c, x.device())?.to_dtype(x.dtype())?;
    let var = Tensor::from_vec(st[c..].to_vec(), c, x.device())?.to_dtype(x.dtype())?;
    Ok((y, mean, var))
}
