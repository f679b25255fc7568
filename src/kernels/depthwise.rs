//! Depthwise convolution on CPU: one input channel per group, feeding `o / c` output channels
//! (the channel multiplier, usually 1). A per-channel matrix multiply would be 1×kk·P — all
//! overhead — and im2col would write kk copies of every input, so these kernels loop directly
//! over the small kernel: each tap is one multiply-add over a row of output columns, which
//! vectorises when the stride is 1. Planes (image × channel) run in parallel with rayon.
//!
//! `conv.rs`'s three custom ops (forward, input gradient, weight gradient) dispatch here, so
//! depthwise convolutions keep their gradients of any order.

use super::cpu::{par_chunks_init, zeros, Elem};
use super::geometry::ConvGeometry;
use rayon::prelude::*;

/// For one kernel column: the output columns [j0, j1) that read inside the input, and the
/// input column read by j0 (later columns step by the stride).
#[derive(Clone, Copy)]
struct Tap {
    j0: usize,
    j1: usize,
    x0: usize,
}

/// Planes per rayon task: a small plane is microseconds of work, less than a task's overhead.
fn planes_per_task(plane_elems: usize) -> usize {
    (4096 / plane_elems.max(1)).max(1)
}

/// Stride-1 kernel row of width 3 (the common 3×3 depthwise conv): where all three taps read
/// inside the input, one pass `y[j] += w0·x[j+o0] + w1·x[j+o1] + w2·x[j+o2]` instead of three
/// (a third of the loads and stores of `y`); the edges go tap by tap. False when no column
/// has all three taps inside (the caller then runs the general loop).
fn three_taps_fused<T: Elem>(taps: &[Tap], xr: &[T], wa: &[T], yr: &mut [T]) -> bool {
    let lo = taps.iter().map(|t| t.j0).max().unwrap_or(0);
    let hi = taps.iter().map(|t| t.j1).min().unwrap_or(0);
    if lo >= hi {
        return false;
    }
    for (t, wt) in taps.iter().zip(wa) {
        // [t.j0, lo) and [hi, t.j1): this tap's valid columns outside the shared range.
        for (j0, j1) in [(t.j0, lo), (hi, t.j1)] {
            let src = &xr[t.x0 + (j0 - t.j0)..][..j1 - j0];
            for (o, v) in yr[j0..j1].iter_mut().zip(src) {
                *o += *wt * *v;
            }
        }
    }
    let n = hi - lo;
    let src = |t: &Tap| &xr[t.x0 + (lo - t.j0)..][..n];
    let (s0, s1, s2) = (src(&taps[0]), src(&taps[1]), src(&taps[2]));
    let (w0, w1, w2) = (wa[0], wa[1], wa[2]);
    for (((o, a), b), c) in yr[lo..hi].iter_mut().zip(s0).zip(s1).zip(s2) {
        *o += w0 * *a + w1 * *b + w2 * *c;
    }
    true
}

impl ConvGeometry {
    /// One input channel per group (any channel multiplier).
    pub(super) fn is_depthwise(&self) -> bool {
        self.groups > 1 && self.groups == self.c
    }

    fn multiplier(&self) -> usize {
        self.o / self.c
    }

    fn taps(&self) -> Vec<Tap> {
        (0..self.kw)
            .map(|b| {
                let (j0, j1) = self.col_range(b);
                let x0 = if j0 < j1 {
                    j0 * self.stride.1 + b * self.dilation.1 - self.pad.left
                } else {
                    0
                };
                Tap { j0, j1, x0 }
            })
            .collect()
    }

    /// `y` (one output plane) = the kernel `wk` swept over `x` (its input plane).
    fn dw_plane_forward<T: Elem>(&self, taps: &[Tap], x: &[T], wk: &[T], y: &mut [T]) {
        let (ow, sw) = (self.ow, self.stride.1);
        for (i, yr) in y.chunks_exact_mut(ow).enumerate() {
            for a in 0..self.kh {
                let Some(r) = self.in_row(i, a) else { continue };
                let xr = &x[r * self.w..(r + 1) * self.w];
                let wa = &wk[a * self.kw..(a + 1) * self.kw];
                if sw == 1 && taps.len() == 3 && three_taps_fused(taps, xr, wa, yr) {
                    continue;
                }
                for (t, wt) in taps.iter().zip(wa) {
                    let dst = &mut yr[t.j0..t.j1];
                    if sw == 1 {
                        let src = &xr[t.x0..t.x0 + dst.len()];
                        for (o, v) in dst.iter_mut().zip(src) {
                            *o += *wt * *v;
                        }
                    } else {
                        for (o, v) in dst.iter_mut().zip(xr[t.x0..].iter().step_by(sw)) {
                            *o += *wt * *v;
                        }
                    }
                }
            }
        }
    }

    /// `dx` (one input plane) += the adjoint sweep of `wk` over `gy` (one output plane).
    fn dw_plane_backward_data<T: Elem>(&self, taps: &[Tap], gy: &[T], wk: &[T], dx: &mut [T]) {
        let (ow, sw, w) = (self.ow, self.stride.1, self.w);
        for (i, gr) in gy.chunks_exact(ow).enumerate() {
            for a in 0..self.kh {
                let Some(r) = self.in_row(i, a) else { continue };
                let dr = &mut dx[r * w..(r + 1) * w];
                for (t, wt) in taps.iter().zip(&wk[a * self.kw..(a + 1) * self.kw]) {
                    let src = &gr[t.j0..t.j1];
                    if sw == 1 {
                        for (d, g) in dr[t.x0..t.x0 + src.len()].iter_mut().zip(src) {
                            *d += *wt * *g;
                        }
                    } else {
                        for (d, g) in dr[t.x0..].iter_mut().step_by(sw).zip(src) {
                            *d += *wt * *g;
                        }
                    }
                }
            }
        }
    }

    /// `acc[tap][j] += gy[i][j] · x[row][col(j)]` over one plane pair: per-tap partial rows,
    /// summed by the caller, so the inner loop is an elementwise multiply-add that vectorises
    /// (a running scalar dot product would not: float addition order is fixed).
    fn dw_plane_backward_weight<T: Elem>(&self, taps: &[Tap], x: &[T], gy: &[T], acc: &mut [T]) {
        let (ow, sw) = (self.ow, self.stride.1);
        for (i, gr) in gy.chunks_exact(ow).enumerate() {
            for a in 0..self.kh {
                let Some(r) = self.in_row(i, a) else { continue };
                let xr = &x[r * self.w..(r + 1) * self.w];
                for (b, t) in taps.iter().enumerate() {
                    let row = &mut acc[(a * self.kw + b) * ow..][t.j0..t.j1];
                    let g = &gr[t.j0..t.j1];
                    if sw == 1 {
                        let src = &xr[t.x0..t.x0 + g.len()];
                        for ((o, g), v) in row.iter_mut().zip(g).zip(src) {
                            *o += *g * *v;
                        }
                    } else {
                        for ((o, g), v) in row.iter_mut().zip(g).zip(xr[t.x0..].iter().step_by(sw))
                        {
                            *o += *g * *v;
                        }
                    }
                }
            }
        }
    }

    /// Depthwise `conv(x, w)`, plus `bias[o]` on every output plane when given.
    pub(super) fn depthwise_forward<T: Elem>(
        &self,
        x: &[T],
        w: &[T],
        bias: Option<&[T]>,
    ) -> Vec<T> {
        let (p, kk, hw, m) = (
            self.oh * self.ow,
            self.kk(),
            self.h * self.w,
            self.multiplier(),
        );
        let taps = self.taps();
        par_chunks_init(
            self.n * self.o * p,
            p,
            planes_per_task(p),
            || (),
            |_, plane, yp| {
                let (n, oc) = (plane / self.o, plane % self.o);
                if let Some(b) = bias {
                    yp.fill(b[oc]);
                }
                let xp = &x[(n * self.c + oc / m) * hw..][..hw];
                self.dw_plane_forward(&taps, xp, &w[oc * kk..(oc + 1) * kk], yp);
            },
        )
    }

    pub(super) fn depthwise_backward_data<T: Elem>(&self, gy: &[T], w: &[T]) -> Vec<T> {
        let (p, kk, hw, m) = (
            self.oh * self.ow,
            self.kk(),
            self.h * self.w,
            self.multiplier(),
        );
        let taps = self.taps();
        par_chunks_init(
            self.n * self.c * hw,
            hw,
            planes_per_task(hw),
            || (),
            |_, plane, dxp| {
                let (n, ch) = (plane / self.c, plane % self.c);
                for oc in ch * m..(ch + 1) * m {
                    let gp = &gy[(n * self.o + oc) * p..][..p];
                    self.dw_plane_backward_data(&taps, gp, &w[oc * kk..(oc + 1) * kk], dxp);
                }
            },
        )
    }

    pub(super) fn depthwise_backward_weight<T: Elem>(&self, x: &[T], gy: &[T]) -> Vec<T> {
        let (p, kk, hw, m) = (
            self.oh * self.ow,
            self.kk(),
            self.h * self.w,
            self.multiplier(),
        );
        let taps = self.taps();
        let ow = self.ow;
        let mut dw = zeros::<T>(self.o * kk);
        if p == 0 {
            return dw;
        }
        // One task per output channel, summing over the batch: no cross-thread reduction.
        dw.par_chunks_mut(kk).enumerate().for_each_init(
            || zeros::<T>(kk * ow),
            |acc, (oc, dwk)| {
                acc.iter_mut().for_each(|v| *v = T::ZERO);
                for n in 0..self.n {
                    let xp = &x[(n * self.c + oc / m) * hw..][..hw];
                    let gp = &gy[(n * self.o + oc) * p..][..p];
                    self.dw_plane_backward_weight(&taps, xp, gp, acc);
                }
                for (d, row) in dwk.iter_mut().zip(acc.chunks_exact(ow)) {
                    *d = row.iter().fold(T::ZERO, |s, v| s + *v);
                }
            },
        );
        dw
    }
}
