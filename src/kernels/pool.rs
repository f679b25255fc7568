//! Max and average pooling, and nearest upsampling, on CPU as custom ops whose backward passes
//! are custom ops too (exact at any order):
//!
//! * `MaxPool(x)`; its input gradient `MaxPoolBwd(x, g)` scatters g to each window's first
//!   maximum (PyTorch's tie rule), and `MaxPoolGather(x, h)` (reading h at those maxima) is
//!   the adjoint of that scatter.
//! * `AvgPool(x)` ↔ `AvgPoolBwd(g)`, a linear pair.
//! * `Upsample(x)` ↔ `UpsampleBwd(g)` (block sums), a linear pair.

use super::compose::avg_pool_divisor;
use super::cpu::{dispatch1, dispatch2, Elem};
use super::geometry::pool_out_len;
use super::Pool2dSpec;
use candle_core::{bail, CpuStorage, CustomOp1, CustomOp2, Layout, Result, Shape, Tensor};
use rayon::prelude::*;
use std::sync::Arc;

#[derive(Debug, Clone)]
pub struct PoolGeometry {
    nc: usize,
    n: usize,
    c: usize,
    h: usize,
    w: usize,
    oh: usize,
    ow: usize,
    spec: Pool2dSpec,
    /// Average pooling's divisor per output cell.
    divisor: Arc<Vec<f64>>,
}

impl PoolGeometry {
    pub fn new(dims: &[usize], spec: &Pool2dSpec, with_divisor: bool) -> Result<Self> {
        let [n, c, h, w] = dims else {
            bail!("pool2d: expected [N, C, H, W], got {dims:?}")
        };
        let (n, c, h, w) = (*n, *c, *h, *w);
        let p = spec.padding;
        let oh = pool_out_len(
            h,
            spec.kernel.0,
            spec.stride.0,
            p.top,
            p.bottom,
            spec.dilation.0,
            spec.ceil_mode,
        )?;
        let ow = pool_out_len(
            w,
            spec.kernel.1,
            spec.stride.1,
            p.left,
            p.right,
            spec.dilation.1,
            spec.ceil_mode,
        )?;
        let divisor = Arc::new(if with_divisor {
            avg_pool_divisor(h, w, spec)?
        } else {
            Vec::new()
        });
        Ok(PoolGeometry {
            nc: n * c,
            n,
            c,
            h,
            w,
            oh,
            ow,
            spec: *spec,
            divisor,
        })
    }
    fn x_shape(&self) -> Shape {
        Shape::from((self.n, self.c, self.h, self.w))
    }
    fn y_shape(&self) -> Shape {
        Shape::from((self.n, self.c, self.oh, self.ow))
    }
    /// Input rows (or cols) of window `o` along one axis, inside the input.
    fn taps(&self, o: usize, axis: usize) -> impl Iterator<Item = usize> {
        let (k, s, d, p0, len) = if axis == 0 {
            (
                self.spec.kernel.0,
                self.spec.stride.0,
                self.spec.dilation.0,
                self.spec.padding.top,
                self.h,
            )
        } else {
            (
                self.spec.kernel.1,
                self.spec.stride.1,
                self.spec.dilation.1,
                self.spec.padding.left,
                self.w,
            )
        };
        (0..k).filter_map(move |t| {
            let r = (o * s + t * d) as isize - p0 as isize;
            (r >= 0 && (r as usize) < len).then_some(r as usize)
        })
    }
    /// Index (within the plane) of the first maximum of window (i, j).
    fn argmax<T: Elem>(&self, plane: &[T], i: usize, j: usize) -> usize {
        let (mut best, mut at) = (T::NEG_INF, usize::MAX);
        for r in self.taps(i, 0) {
            for c in self.taps(j, 1) {
                let v = plane[r * self.w + c];
                // A NaN wins, as in PyTorch (`v != v` is true only for NaN).
                #[allow(clippy::eq_op)]
                if at == usize::MAX || v > best || v != v {
                    best = v;
                    at = r * self.w + c;
                }
            }
        }
        at
    }

    /// Runs `f(plane_in, plane_out)` over the N·C planes in parallel.
    fn planes<T: Elem, F>(&self, x: &[T], in_len: usize, out_len: usize, f: F) -> Vec<T>
    where
        F: Fn(&[T], &mut [T]) + Sync,
    {
        let mut out = vec![T::ZERO; self.nc * out_len];
        if out_len > 0 {
            out.par_chunks_mut(out_len)
                .enumerate()
                .for_each(|(p, o)| f(&x[p * in_len..(p + 1) * in_len], o));
        }
        out
    }

    fn max_fwd<T: Elem>(&self, x: &[T]) -> Vec<T> {
        self.planes(x, self.h * self.w, self.oh * self.ow, |xp, yp| {
            for i in 0..self.oh {
                for j in 0..self.ow {
                    yp[i * self.ow + j] = xp[self.argmax(xp, i, j)];
                }
            }
        })
    }

    /// dx[argmax(window)] += g[window].
    fn max_bwd<T: Elem>(&self, x: &[T], g: &[T]) -> Vec<T> {
        let (ins, outs) = (self.h * self.w, self.oh * self.ow);
        let mut dx = vec![T::ZERO; self.nc * ins];
        if ins > 0 {
            dx.par_chunks_mut(ins).enumerate().for_each(|(p, dp)| {
                let (xp, gp) = (&x[p * ins..(p + 1) * ins], &g[p * outs..(p + 1) * outs]);
                for i in 0..self.oh {
                    for j in 0..self.ow {
                        dp[self.argmax(xp, i, j)] += gp[i * self.ow + j];
                    }
                }
            });
        }
        dx
    }

    /// out[window] = h[argmax(window)].
    fn max_gather<T: Elem>(&self, x: &[T], h: &[T]) -> Vec<T> {
        let (ins, outs) = (self.h * self.w, self.oh * self.ow);
        let mut out = vec![T::ZERO; self.nc * outs];
        if outs > 0 {
            out.par_chunks_mut(outs).enumerate().for_each(|(p, op)| {
                let (xp, hp) = (&x[p * ins..(p + 1) * ins], &h[p * ins..(p + 1) * ins]);
                for i in 0..self.oh {
                    for j in 0..self.ow {
                        op[i * self.ow + j] = hp[self.argmax(xp, i, j)];
                    }
                }
            });
        }
        out
    }

    fn avg_fwd<T: Elem>(&self, x: &[T]) -> Vec<T> {
        self.planes(x, self.h * self.w, self.oh * self.ow, |xp, yp| {
            for i in 0..self.oh {
                for j in 0..self.ow {
                    let mut s = T::ZERO;
                    for r in self.taps(i, 0) {
                        for c in self.taps(j, 1) {
                            s += xp[r * self.w + c];
                        }
                    }
                    yp[i * self.ow + j] = s / T::from_f64(self.divisor[i * self.ow + j]);
                }
            }
        })
    }

    fn avg_bwd<T: Elem>(&self, g: &[T]) -> Vec<T> {
        self.planes(g, self.oh * self.ow, self.h * self.w, |gp, dp| {
            for i in 0..self.oh {
                for j in 0..self.ow {
                    let v = gp[i * self.ow + j] / T::from_f64(self.divisor[i * self.ow + j]);
                    for r in self.taps(i, 0) {
                        for c in self.taps(j, 1) {
                            dp[r * self.w + c] += v;
                        }
                    }
                }
            }
        })
    }
}

fn check(op: &str, l: &Layout, want: &Shape) -> Result<()> {
    if l.shape() != want {
        bail!(
            "{op}: got shape {:?}, expected {:?}",
            l.shape().dims(),
            want.dims()
        )
    }
    Ok(())
}

pub struct MaxPool(pub PoolGeometry);
pub struct MaxPoolBwd(pub PoolGeometry);
pub struct MaxPoolGather(pub PoolGeometry);
pub struct AvgPool(pub PoolGeometry);
pub struct AvgPoolBwd(pub PoolGeometry);

impl CustomOp1 for MaxPool {
    fn name(&self) -> &'static str {
        "probegan-max-pool2d"
    }
    fn cpu_fwd(&self, s: &CpuStorage, l: &Layout) -> Result<(CpuStorage, Shape)> {
        check(self.name(), l, &self.0.x_shape())?;
        let out = dispatch1!(self.name(), s, l, |x, T| Ok::<_, candle_core::Error>(
            self.0.max_fwd::<T>(x)
        ))?;
        Ok((out, self.0.y_shape()))
    }
    /// `x` only picks the maxima (zero derivative a.e.), so it enters detached: when the
    /// pooled input reaches a loss only through this choice (a gradient penalty on a max-pool
    /// net), autodiff must not wait for a gradient to reach it.
    fn bwd(&self, x: &Tensor, _: &Tensor, g: &Tensor) -> Result<Option<Tensor>> {
        Ok(Some(
            x.detach()
                .apply_op2(&g.contiguous()?, MaxPoolBwd(self.0.clone()))?,
        ))
    }
}

impl CustomOp2 for MaxPoolBwd {
    fn name(&self) -> &'static str {
        "probegan-max-pool2d-bwd"
    }
    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        check(self.name(), l1, &self.0.x_shape())?;
        check(self.name(), l2, &self.0.y_shape())?;
        let out = dispatch2!(self.name(), s1, l1, s2, l2, |x, g, T| Ok::<
            _,
            candle_core::Error,
        >(
            self.0.max_bwd::<T>(x, g)
        ))?;
        Ok((out, self.0.x_shape()))
    }
    /// The scatter is linear in g and piecewise constant in x (zero derivative a.e.).
    fn bwd(
        &self,
        x: &Tensor,
        _: &Tensor,
        _: &Tensor,
        h: &Tensor,
    ) -> Result<(Option<Tensor>, Option<Tensor>)> {
        Ok((
            None,
            Some(x.apply_op2(&h.contiguous()?, MaxPoolGather(self.0.clone()))?),
        ))
    }
}

impl CustomOp2 for MaxPoolGather {
    fn name(&self) -> &'static str {
        "probegan-max-pool2d-gather"
    }
    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        check(self.name(), l1, &self.0.x_shape())?;
        check(self.name(), l2, &self.0.x_shape())?;
        let out = dispatch2!(self.name(), s1, l1, s2, l2, |x, h, T| Ok::<
            _,
            candle_core::Error,
        >(
            self.0.max_gather::<T>(x, h)
        ))?;
        Ok((out, self.0.y_shape()))
    }
    fn bwd(
        &self,
        x: &Tensor,
        _: &Tensor,
        _: &Tensor,
        k: &Tensor,
    ) -> Result<(Option<Tensor>, Option<Tensor>)> {
        Ok((
            None,
            Some(x.apply_op2(&k.contiguous()?, MaxPoolBwd(self.0.clone()))?),
        ))
    }
}

impl CustomOp1 for AvgPool {
    fn name(&self) -> &'static str {
        "probegan-avg-pool2d"
    }
    fn cpu_fwd(&self, s: &CpuStorage, l: &Layout) -> Result<(CpuStorage, Shape)> {
        check(self.name(), l, &self.0.x_shape())?;
        let out = dispatch1!(self.name(), s, l, |x, T| Ok::<_, candle_core::Error>(
            self.0.avg_fwd::<T>(x)
        ))?;
        Ok((out, self.0.y_shape()))
    }
    fn bwd(&self, _: &Tensor, _: &Tensor, g: &Tensor) -> Result<Option<Tensor>> {
        Ok(Some(g.contiguous()?.apply_op1(AvgPoolBwd(self.0.clone()))?))
    }
}

impl CustomOp1 for AvgPoolBwd {
    fn name(&self) -> &'static str {
        "probegan-avg-pool2d-bwd"
    }
    fn cpu_fwd(&self, s: &CpuStorage, l: &Layout) -> Result<(CpuStorage, Shape)> {
        check(self.name(), l, &self.0.y_shape())?;
        let out = dispatch1!(self.name(), s, l, |g, T| Ok::<_, candle_core::Error>(
            self.0.avg_bwd::<T>(g)
        ))?;
        Ok((out, self.0.x_shape()))
    }
    fn bwd(&self, _: &Tensor, _: &Tensor, h: &Tensor) -> Result<Option<Tensor>> {
        Ok(Some(h.contiguous()?.apply_op1(AvgPool(self.0.clone()))?))
    }
}

pub fn max_pool2d(x: &Tensor, spec: &Pool2dSpec) -> Result<Tensor> {
    x.contiguous()?
        .apply_op1(MaxPool(PoolGeometry::new(x.dims(), spec, false)?))
}

pub fn avg_pool2d(x: &Tensor, spec: &Pool2dSpec) -> Result<Tensor> {
    x.contiguous()?
        .apply_op1(AvgPool(PoolGeometry::new(x.dims(), spec, true)?))
}

// ---------- nearest upsampling ----------

/// Input shape [N, C, H, W] and integer factors.
#[derive(Debug, Clone, Copy)]
pub struct UpGeometry {
    n: usize,
    c: usize,
    h: usize,
    w: usize,
    fh: usize,
    fw: usize,
}

impl UpGeometry {
    fn x_shape(&self) -> Shape {
        Shape::from((self.n, self.c, self.h, self.w))
    }
    fn y_shape(&self) -> Shape {
        Shape::from((self.n, self.c, self.h * self.fh, self.w * self.fw))
    }
    fn up<T: Elem>(&self, x: &[T]) -> Vec<T> {
        let (ins, ow) = (self.h * self.w, self.w * self.fw);
        let outs = ins * self.fh * self.fw;
        let mut y = vec![T::ZERO; self.n * self.c * outs];
        if outs > 0 {
            y.par_chunks_mut(outs).enumerate().for_each(|(p, yp)| {
                let xp = &x[p * ins..(p + 1) * ins];
                for r in 0..self.h {
                    let first = &mut yp[r * self.fh * ow..(r * self.fh + 1) * ow];
                    for (k, v) in first.iter_mut().enumerate() {
                        *v = xp[r * self.w + k / self.fw];
                    }
                    for t in 1..self.fh {
                        let (head, tail) = yp.split_at_mut((r * self.fh + t) * ow);
                        tail[..ow].copy_from_slice(&head[r * self.fh * ow..(r * self.fh + 1) * ow]);
                    }
                }
            });
        }
        y
    }
    fn down_sum<T: Elem>(&self, g: &[T]) -> Vec<T> {
        let (ins, ow) = (self.h * self.w, self.w * self.fw);
        let outs = ins * self.fh * self.fw;
        let mut dx = vec![T::ZERO; self.n * self.c * ins];
        if ins > 0 {
            dx.par_chunks_mut(ins).enumerate().for_each(|(p, dp)| {
                let gp = &g[p * outs..(p + 1) * outs];
                for r in 0..self.h * self.fh {
                    let row = &gp[r * ow..(r + 1) * ow];
                    let drow = &mut dp[(r / self.fh) * self.w..(r / self.fh + 1) * self.w];
                    for (k, v) in row.iter().enumerate() {
                        drow[k / self.fw] += *v;
                    }
                }
            });
        }
        dx
    }
}

pub struct Upsample(pub UpGeometry);
pub struct UpsampleBwd(pub UpGeometry);

impl CustomOp1 for Upsample {
    fn name(&self) -> &'static str {
        "probegan-upsample-nearest2d"
    }
    fn cpu_fwd(&self, s: &CpuStorage, l: &Layout) -> Result<(CpuStorage, Shape)> {
        check(self.name(), l, &self.0.x_shape())?;
        let out = dispatch1!(self.name(), s, l, |x, T| Ok::<_, candle_core::Error>(
            self.0.up::<T>(x)
        ))?;
        Ok((out, self.0.y_shape()))
    }
    fn bwd(&self, _: &Tensor, _: &Tensor, g: &Tensor) -> Result<Option<Tensor>> {
        Ok(Some(g.contiguous()?.apply_op1(UpsampleBwd(self.0))?))
    }
}

impl CustomOp1 for UpsampleBwd {
    fn name(&self) -> &'static str {
        "probegan-upsample-nearest2d-bwd"
    }
    fn cpu_fwd(&self, s: &CpuStorage, l: &Layout) -> Result<(CpuStorage, Shape)> {
        check(self.name(), l, &self.0.y_shape())?;
        let out = dispatch1!(self.name(), s, l, |g, T| Ok::<_, candle_core::Error>(
            self.0.down_sum::<T>(g)
        ))?;
        Ok((out, self.0.x_shape()))
    }
    fn bwd(&self, _: &Tensor, _: &Tensor, h: &Tensor) -> Result<Option<Tensor>> {
        Ok(Some(h.contiguous()?.apply_op1(Upsample(self.0))?))
    }
}

pub fn upsample_nearest2d(x: &Tensor, fh: usize, fw: usize) -> Result<Tensor> {
    let (n, c, h, w) = x.dims4()?;
    if fh == 0 || fw == 0 {
        bail!("upsample_nearest2d: factors must be positive, got ({fh}, {fw})")
    }
    x.contiguous()?
        .apply_op1(Upsample(UpGeometry { n, c, h, w, fh, fw }))
}
