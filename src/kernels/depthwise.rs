//! Depthwise convolution on CPU: one input channel per group, feeding `o / c` output channels
//! (the channel multiplier, usually 1). A per-channel matrix multiply would be 1×kk·P — all
//! overhead — and im2col would write kk copies of every input, so these kernels loop directly
//! over the small kernel. Planes (image × channel) run in parallel with rayon.
//!
//! Each input plane is first copied into a zero-padded buffer whose columns are split by
//! phase modulo the stride (`Phased`): then every kernel tap of an output row reads one
//! contiguous, in-bounds run of that buffer, whatever the stride, padding or dilation, so the
//! inner loops have no border cases and vectorise (a stride-2 row read with `step_by` did
//! not). A 3×3 kernel sums its nine taps in one pass over the output row.
//!
//! `conv.rs`'s three custom ops (forward, input gradient, weight gradient) dispatch here, so
//! depthwise convolutions keep their gradients of any order.

use super::conv::Epilogue;

/// `g ← g · f'(x)` in place, `x` read from the second slice: a fused activation's mask.
pub(super) type Mask<T> = dyn Fn(&mut [T], &[T]) + Sync;
use super::cpu::{par_chunks_init, zeros, Elem};
use super::geometry::ConvGeometry;
use super::Pad2d;
use rayon::prelude::*;

/// For one kernel column: the output columns [j0, j1) that read inside the input, and the
/// input column read by j0 (later columns step by the stride). Used by the weight gradient,
/// which reads the unpadded input directly.
#[derive(Clone, Copy)]
struct Tap {
    j0: usize,
    j1: usize,
    x0: usize,
}

/// The `p` elements of `gy` at `at`, masked into `scratch` when a mask is given.
fn gy_plane<'a, T: Elem>(
    gy: &'a [T],
    at: usize,
    p: usize,
    mask: Option<(&[T], &Mask<T>)>,
    scratch: &'a mut [T],
) -> &'a [T] {
    match mask {
        Some((y, f)) => {
            scratch.copy_from_slice(&gy[at..at + p]);
            f(scratch, &y[at..at + p]);
            scratch
        }
        None => &gy[at..at + p],
    }
}

/// Planes per rayon task: a small plane is microseconds of work, less than a task's overhead.
fn planes_per_task(plane_elems: usize) -> usize {
    (4096 / plane_elems.max(1)).max(1)
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
        epilogue: Option<&Epilogue<T>>,
    ) -> Vec<T> {
        let (p, kk, hw, m) = (
            self.oh * self.ow,
            self.kk(),
            self.h * self.w,
            self.multiplier(),
        );
        let ph = Phased::of(self);
        par_chunks_init(
            self.n * self.o * p,
            p,
            planes_per_task(p),
            || (ph.alloc::<T>(self), Vec::new(), usize::MAX),
            |(buf, acc, filled), plane, yp| {
                let (n, oc) = (plane / self.o, plane % self.o);
                if let Some(b) = bias {
                    yp.fill(b[oc]);
                }
                if p == 0 {
                    return;
                }
                // With a multiplier, consecutive output planes share one input plane.
                let input = n * self.c + oc / m;
                if *filled != input {
                    ph.fill(self, &x[input * hw..][..hw], buf);
                    *filled = input;
                }
                ph.correlate(self, buf, &w[oc * kk..(oc + 1) * kk], yp, acc);
                if let Some(f) = epilogue {
                    f(yp);
                }
            },
        )
    }

    pub(super) fn depthwise_backward_data<T: Elem>(&self, gy: &[T], w: &[T]) -> Vec<T> {
        self.depthwise_backward_data_masked(gy, None, w)
    }

    /// The input gradient of `w` applied to `gy`, or, with `mask = (y, f)`, to `gy` masked
    /// plane by plane with `f(gy plane, y plane)` (a fused activation's backward: the masked
    /// plane stays in cache instead of making a full tensor).
    pub(super) fn depthwise_backward_data_masked<T: Elem>(
        &self,
        gy: &[T],
        mask: Option<(&[T], &Mask<T>)>,
        w: &[T],
    ) -> Vec<T> {
        let (p, kk, hw, m) = (
            self.oh * self.ow,
            self.kk(),
            self.h * self.w,
            self.multiplier(),
        );
        // At stride 1 the input gradient is the forward sweep of the flipped kernel over the
        // output gradient padded by the kernel extent minus the forward padding.
        let flipped = self.flipped_stride1();
        let ph = match &flipped {
            Some(f) => Phased::of(f),
            None => Phased::of(self),
        };
        par_chunks_init(
            self.n * self.c * hw,
            hw,
            planes_per_task(hw),
            || {
                let g = flipped.as_ref().unwrap_or(self);
                let masked = if mask.is_some() {
                    zeros::<T>(p)
                } else {
                    Vec::new()
                };
                (ph.alloc::<T>(g), zeros::<T>(kk), Vec::new(), masked)
            },
            |(buf, wf, acc, masked), plane, dxp| {
                if p == 0 {
                    return;
                }
                let (n, ch) = (plane / self.c, plane % self.c);
                let outs = ch * m..(ch + 1) * m;

                match &flipped {
                    Some(f) => {
                        for oc in outs {
                            let wk = &w[oc * kk..(oc + 1) * kk];
                            for (d, s) in wf.iter_mut().zip(wk.iter().rev()) {
                                *d = *s;
                            }
                            let gp = gy_plane(gy, (n * self.o + oc) * p, p, mask, masked);
                            ph.fill(f, gp, buf);
                            ph.correlate(f, buf, wf, dxp, acc);
                        }
                    }
                    None => {
                        buf.iter_mut().for_each(|v| *v = T::ZERO);
                        for oc in outs {
                            let wk = &w[oc * kk..(oc + 1) * kk];
                            let gp = gy_plane(gy, (n * self.o + oc) * p, p, mask, masked);
                            ph.scatter(self, gp, wk, buf);
                        }
                        ph.unfill(self, buf, dxp);
                    }
                }
            },
        )
    }

    /// The stride-1 input gradient as a forward convolution: output gradient (`oh × ow`)
    /// in, input-sized plane out, padded so the flipped kernel's taps line up. None when the
    /// stride is not 1 or a forward pad exceeds the kernel extent (then: scatter).
    fn flipped_stride1(&self) -> Option<ConvGeometry> {
        if self.stride != (1, 1) {
            return None;
        }
        let (eh, ew) = (
            (self.kh - 1) * self.dilation.0,
            (self.kw - 1) * self.dilation.1,
        );
        let p = self.pad;
        if p.top > eh || p.bottom > eh || p.left > ew || p.right > ew {
            return None;
        }
        Some(ConvGeometry {
            h: self.oh,
            w: self.ow,
            oh: self.h,
            ow: self.w,
            pad: Pad2d {
                top: eh - p.top,
                left: ew - p.left,
                bottom: eh - p.bottom,
                right: ew - p.right,
            },
            ..*self
        })
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

/// The layout of one zero-padded, phase-split plane. The padded plane P (input (r − pad_top,
/// c − pad_left), zero outside; exactly the rows and columns an output reads) is split into
/// sh × sw sub-planes by row and column phase: sub-plane (r mod sh, c mod sw) holds P[r][c] at
/// row r div sh, column c div sw, rows `cols` apart. Output (i, j) of tap (a, b) then reads
/// sub-plane (a·dh mod sh, b·dw mod sw) at row i + a·dh div sh, column j + b·dw div sw: for
/// consecutive j a contiguous run, and for consecutive i the next row — so one run of
/// (oh − 1)·cols + ow elements covers a whole output plane (row i at i·cols).
struct Phased {
    sub_rows: usize,
    cols: usize,
    /// Padded rows P has.
    rows: usize,
}

impl Phased {
    fn of(g: &ConvGeometry) -> Phased {
        if g.oh == 0 || g.ow == 0 {
            return Phased {
                sub_rows: 0,
                cols: 0,
                rows: 0,
            };
        }
        let rows = (g.oh - 1) * g.stride.0 + (g.kh - 1) * g.dilation.0 + 1;
        let width = (g.ow - 1) * g.stride.1 + (g.kw - 1) * g.dilation.1 + 1;
        Phased {
            sub_rows: rows.div_ceil(g.stride.0),
            cols: width.div_ceil(g.stride.1),
            rows,
        }
    }

    fn len(&self) -> usize {
        // One sub-plane per phase pair; `of` sizes them for the largest (phase 0).
        self.sub_rows * self.cols
    }

    fn alloc<T: Elem>(&self, g: &ConvGeometry) -> Vec<T> {
        zeros(self.len() * g.stride.0 * g.stride.1)
    }

    /// Offset of padded row `r`, column phase `cph`, column `k` (in phase units).
    fn at(&self, g: &ConvGeometry, r: usize, cph: usize, k: usize) -> usize {
        let (sh, sw) = g.stride;
        (((r % sh) * sw + cph) * self.sub_rows + r / sh) * self.cols + k
    }

    /// Start of the run tap (a, b) reads for output row 0.
    fn tap(&self, g: &ConvGeometry, a: usize, b: usize) -> usize {
        let (dr, dc) = (a * g.dilation.0, b * g.dilation.1);
        self.at(g, dr, dc % g.stride.1, dc / g.stride.1)
    }

    /// For column phase `cph`: the columns k whose padded column k·sw + cph is input column
    /// k·sw + cph − pad_left ∈ [0, w), as [k0, k1), and the input column of k0.
    fn inside(&self, g: &ConvGeometry, cph: usize) -> (usize, usize, usize) {
        let (sw, pl) = (g.stride.1, g.pad.left);
        let k0 = pl.saturating_sub(cph).div_ceil(sw).min(self.cols);
        let k1 = (g.w + pl).saturating_sub(cph).div_ceil(sw).min(self.cols);
        let k1 = k1.max(k0);
        (k0, k1, (k0 * sw + cph).saturating_sub(pl))
    }

    /// Copy input plane `x` (h × w) into `buf`, padded and phase-split.
    fn fill<T: Elem>(&self, g: &ConvGeometry, x: &[T], buf: &mut [T]) {
        #[cfg(target_arch = "x86_64")]
        if has_avx2() {
            // SAFETY: the CPU has AVX2 and FMA (checked just above).
            return unsafe { self.fill_avx2(g, x, buf) };
        }
        self.fill_body(g, x, buf)
    }

    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx2,fma")]
    unsafe fn fill_avx2<T: Elem>(&self, g: &ConvGeometry, x: &[T], buf: &mut [T]) {
        self.fill_body(g, x, buf)
    }

    #[inline(always)]
    fn fill_body<T: Elem>(&self, g: &ConvGeometry, x: &[T], buf: &mut [T]) {
        let (sw, cols, pl) = (g.stride.1, self.cols, g.pad.left);
        let phase_len = self.sub_rows * cols;
        for r in 0..self.rows {
            let at = self.at(g, r, 0, 0);
            let xr = r.checked_sub(g.pad.top).filter(|&xr| xr < g.h);
            if sw == 1 {
                let dst = &mut buf[at..at + cols];
                let (k0, k1, c0) = self.inside(g, 0);
                match xr {
                    Some(xr) => {
                        dst[..k0].fill(T::ZERO);
                        dst[k0..k1].copy_from_slice(&x[xr * g.w + c0..][..k1 - k0]);
                        dst[k1..].fill(T::ZERO);
                    }
                    None => dst.fill(T::ZERO),
                }
                continue;
            }
            for cph in 0..sw {
                buf[at + cph * phase_len..][..cols].fill(T::ZERO);
            }
            let Some(xr) = xr else { continue };
            let src = &x[xr * g.w..(xr + 1) * g.w];
            if sw == 2 {
                // Input column c lands in phase (c + pl) mod 2, column (c + pl) div 2: the even
                // and odd input columns each go to one phase, contiguously (a deinterleave).
                let (lo, hi) = buf[at..].split_at_mut(phase_len);
                let (p0, p1) = (&mut lo[..cols], &mut hi[..cols]);
                let (even, odd) = if pl % 2 == 0 { (p0, p1) } else { (p1, p0) };
                let (ke, ko) = (pl / 2, pl.div_ceil(2));
                let pairs = (g.w / 2)
                    .min(cols.saturating_sub(ke))
                    .min(cols.saturating_sub(ko));
                for ((e, o), pair) in even[ke..ke + pairs]
                    .iter_mut()
                    .zip(&mut odd[ko..ko + pairs])
                    .zip(src.chunks_exact(2))
                {
                    *e = pair[0];
                    *o = pair[1];
                }
                for (c, v) in src.iter().enumerate().skip(2 * pairs) {
                    let k = (c + pl) / 2;
                    let dst = if c % 2 == 0 { &mut *even } else { &mut *odd };
                    if let Some(d) = dst.get_mut(k) {
                        *d = *v;
                    }
                }
                continue;
            }
            for cph in 0..sw {
                let (k0, k1, c0) = self.inside(g, cph);
                let dst = &mut buf[at + cph * phase_len..][..cols];
                for (d, v) in dst[k0..k1].iter_mut().zip(src[c0..].iter().step_by(sw)) {
                    *d = *v;
                }
            }
        }
    }

    /// The adjoint of `fill`: `dx` (h × w) = the inside part of `buf` (rows and columns no
    /// output reads stay zero).
    fn unfill<T: Elem>(&self, g: &ConvGeometry, buf: &[T], dx: &mut [T]) {
        let sw = g.stride.1;
        for cph in 0..sw {
            let (k0, k1, c0) = self.inside(g, cph);
            for r in 0..self.rows {
                let Some(xr) = r.checked_sub(g.pad.top).filter(|&xr| xr < g.h) else {
                    continue;
                };
                let at = self.at(g, r, cph, 0);
                let src = &buf[at + k0..at + k1];
                let dst = &mut dx[xr * g.w..(xr + 1) * g.w];
                for (d, s) in dst[c0..].iter_mut().step_by(sw).zip(src) {
                    *d = *s;
                }
            }
        }
    }

    /// `y += Σ_taps wk[a][b] · tap run` (`y` one output plane; `acc` scratch).
    fn correlate<T: Elem>(
        &self,
        g: &ConvGeometry,
        buf: &[T],
        wk: &[T],
        y: &mut [T],
        acc: &mut Vec<T>,
    ) {
        #[cfg(target_arch = "x86_64")]
        if has_avx2() {
            // SAFETY: the CPU has AVX2 and FMA (checked just above).
            return unsafe { self.correlate_avx2(g, buf, wk, y, acc) };
        }
        self.correlate_body(g, buf, wk, y, acc)
    }

    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx2,fma")]
    unsafe fn correlate_avx2<T: Elem>(
        &self,
        g: &ConvGeometry,
        buf: &[T],
        wk: &[T],
        y: &mut [T],
        acc: &mut Vec<T>,
    ) {
        self.correlate_body(g, buf, wk, y, acc)
    }

    #[inline(always)]
    fn correlate_body<T: Elem>(
        &self,
        g: &ConvGeometry,
        buf: &[T],
        wk: &[T],
        y: &mut [T],
        acc: &mut Vec<T>,
    ) {
        let (oh, ow, cols) = (g.oh, g.ow, self.cols);
        // All output rows as one run (row i at i·cols): a 5×5 plane is a handful of vectors
        // per row, where per-row set-up would dominate. The columns between rows are
        // computed and dropped.
        let len = (oh - 1) * cols + ow;
        if acc.len() < len {
            acc.resize(len, T::ZERO);
        }
        let acc = &mut acc[..len];
        let tap = |a: usize, b: usize| &buf[self.tap(g, a, b)..][..len];
        if g.kh == 3 && g.kw == 3 {
            sum9(acc, std::array::from_fn(|t| tap(t / 3, t % 3)), wk);
        } else {
            acc.fill(T::ZERO);
            for a in 0..g.kh {
                for b in 0..g.kw {
                    let wt = wk[a * g.kw + b];
                    for (o, v) in acc.iter_mut().zip(tap(a, b)) {
                        *o += wt * *v;
                    }
                }
            }
        }
        for (yr, ar) in y.chunks_exact_mut(ow).zip(acc.chunks(cols)) {
            for (o, v) in yr.iter_mut().zip(ar) {
                *o += *v;
            }
        }
    }

    /// The adjoint of `correlate` (into the padded layout): `buf[tap run] += wk[a][b] · gy row`.
    fn scatter<T: Elem>(&self, g: &ConvGeometry, gy: &[T], wk: &[T], buf: &mut [T]) {
        #[cfg(target_arch = "x86_64")]
        if has_avx2() {
            // SAFETY: the CPU has AVX2 and FMA (checked just above).
            return unsafe { self.scatter_avx2(g, gy, wk, buf) };
        }
        self.scatter_body(g, gy, wk, buf)
    }

    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx2,fma")]
    unsafe fn scatter_avx2<T: Elem>(&self, g: &ConvGeometry, gy: &[T], wk: &[T], buf: &mut [T]) {
        self.scatter_body(g, gy, wk, buf)
    }

    #[inline(always)]
    fn scatter_body<T: Elem>(&self, g: &ConvGeometry, gy: &[T], wk: &[T], buf: &mut [T]) {
        let ow = g.ow;
        for a in 0..g.kh {
            for b in 0..g.kw {
                let (wt, start) = (wk[a * g.kw + b], self.tap(g, a, b));
                for (i, gr) in gy.chunks_exact(ow).enumerate() {
                    let dst = &mut buf[start + i * self.cols..][..ow];
                    for (d, v) in dst.iter_mut().zip(gr) {
                        *d += wt * *v;
                    }
                }
            }
        }
    }
}

/// `out = Σ_t w[t] · s[t]` over nine runs of `out.len()`: one pass, three partial sums.
#[inline(always)]
fn sum9<T: Elem>(out: &mut [T], s: [&[T]; 9], w: &[T]) {
    let n = out.len();
    let [s0, s1, s2, s3, s4, s5, s6, s7, s8] = s.map(|r| &r[..n]);
    let w: [T; 9] = std::array::from_fn(|t| w[t]);
    for j in 0..n {
        let r0 = w[0] * s0[j] + w[1] * s1[j] + w[2] * s2[j];
        let r1 = w[3] * s3[j] + w[4] * s4[j] + w[5] * s5[j];
        let r2 = w[6] * s6[j] + w[7] * s7[j] + w[8] * s8[j];
        out[j] = r0 + r1 + r2;
    }
}

/// Whether the AVX2 + FMA builds of the inner loops can run here: the crate targets baseline
/// x86-64, where the compiler's vectorised loops are 4-wide SSE.
#[cfg(target_arch = "x86_64")]
fn has_avx2() -> bool {
    std::is_x86_feature_detected!("avx2") && std::is_x86_feature_detected!("fma")
}
