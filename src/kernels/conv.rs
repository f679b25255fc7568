//! Convolution on CPU as three candle custom ops that are each other's derivatives:
//!
//! * `ConvFwd(x, w) = y`            (forward)
//! * `ConvBwdData(g, w) = dx`       (input gradient = transposed convolution)
//! * `ConvBwdWeight(x, g) = dw`     (weight gradient)
//!
//! All three are bilinear, so the backward of each is a pair of the others; gradients of any
//! order stay on the fast path (the WGAN-GP penalty differentiates through D's backward).
//!
//! Each image is lowered with im2col into a [C·kh·kw, OH·OW] matrix and multiplied with the
//! `gemm` crate; images run in parallel with rayon. col2im scatters the input gradient back.
//! A 1×1 stride-1 unpadded convolution is a plain matrix multiply, no lowering. Depthwise
//! convolutions (one input channel per group) take the direct loops in `depthwise.rs`.

use super::channel::channel_sum;
use super::cpu::{dispatch2, matmul, par_chunks_init, zeros, Elem, Mat};
use super::geometry::ConvGeometry;
use candle_core::{CpuStorage, CustomOp2, CustomOp3, Layout, Result, Shape, Tensor};
use rayon::prelude::*;

/// Work run on each finished piece of a convolution's output (a fused activation).
pub(super) type Epilogue<T> = dyn Fn(&mut [T]) + Sync;

impl ConvGeometry {
    pub(super) fn kk(&self) -> usize {
        self.kh * self.kw
    }
    fn p(&self) -> usize {
        self.oh * self.ow
    }
    fn cg(&self) -> usize {
        self.c / self.groups
    }
    fn og(&self) -> usize {
        self.o / self.groups
    }
    fn is_pointwise(&self) -> bool {
        self.kh == 1 && self.kw == 1 && self.stride == (1, 1) && self.pad == Default::default()
    }
    pub fn x_shape(&self) -> Shape {
        Shape::from((self.n, self.c, self.h, self.w))
    }
    pub fn y_shape(&self) -> Shape {
        Shape::from((self.n, self.o, self.oh, self.ow))
    }
    pub fn w_shape(&self) -> Shape {
        Shape::from((self.o, self.cg(), self.kh, self.kw))
    }

    /// Valid output columns [j0, j1) for kernel column `b`: those reading inside the input.
    pub(super) fn col_range(&self, b: usize) -> (usize, usize) {
        let off = b * self.dilation.1; // input col = j*s + off - pad_left
        let s = self.stride.1;
        let pl = self.pad.left;
        let j0 = if off >= pl { 0 } else { (pl - off).div_ceil(s) };
        let j1 = if self.w + pl > off {
            (self.w + pl - off).div_ceil(s).min(self.ow)
        } else {
            0
        };
        (j0.min(j1), j1)
    }

    /// Input row read by output row `i` and kernel row `a`, if inside.
    pub(super) fn in_row(&self, i: usize, a: usize) -> Option<usize> {
        let r = (i * self.stride.0 + a * self.dilation.0) as isize - self.pad.top as isize;
        (r >= 0 && (r as usize) < self.h).then_some(r as usize)
    }

    /// col[(c·kh + a)·kw + b][i·OW + j] = x[c][i·sh + a·dh − pt][j·sw + b·dw − pl] (0 outside).
    fn im2col<T: Elem>(&self, x: &[T], col: &mut [T]) {
        if self.stride == (1, 1) && self.ow == self.w {
            return self.im2col_same_width(x, col);
        }
        let (p, ow, sw) = (self.p(), self.ow, self.stride.1);
        for c in 0..self.c {
            let xc = &x[c * self.h * self.w..(c + 1) * self.h * self.w];
            for a in 0..self.kh {
                for b in 0..self.kw {
                    let row = &mut col[((c * self.kh + a) * self.kw + b) * p..][..p];
                    let (j0, j1) = self.col_range(b);
                    let x0 = (j0 * sw + b * self.dilation.1) as isize - self.pad.left as isize;
                    for i in 0..self.oh {
                        let dst = &mut row[i * ow..(i + 1) * ow];
                        match self.in_row(i, a) {
                            None => dst.fill(T::ZERO),
                            Some(r) => {
                                dst[..j0].fill(T::ZERO);
                                dst[j1..].fill(T::ZERO);
                                if j0 >= j1 {
                                    // No output column of this kernel tap reads inside the
                                    // input (e.g. a 1-wide input with wide padding).
                                    continue;
                                }
                                let src = &xc[r * self.w..];
                                let x0 = x0 as usize;
                                if sw == 1 {
                                    dst[j0..j1].copy_from_slice(&src[x0..x0 + (j1 - j0)]);
                                } else {
                                    for (k, d) in dst[j0..j1].iter_mut().enumerate() {
                                        *d = src[x0 + k * sw];
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
    }

    /// `im2col` for stride 1 and output width = input width (3×3 pad 1, the GAN's convs): a
    /// kernel tap's row is then the input plane shifted by a constant offset, so it is ONE copy
    /// of the valid span plus zeros at the edges and in the (short) gaps where rows wrap,
    /// instead of one tiny copy per output row (libc call overhead dominated those).
    fn im2col_same_width<T: Elem>(&self, x: &[T], col: &mut [T]) {
        let (p, ow, hw) = (self.p(), self.ow, self.h * self.w);
        for c in 0..self.c {
            let xc = &x[c * hw..(c + 1) * hw];
            for a in 0..self.kh {
                // Valid output rows [i0, i1): input row i + a·dh − pt inside [0, h).
                let dr = (a * self.dilation.0) as isize - self.pad.top as isize;
                let i0 = (-dr).clamp(0, self.oh as isize) as usize;
                let i1 = (self.h as isize - dr).clamp(i0 as isize, self.oh as isize) as usize;
                for b in 0..self.kw {
                    let row = &mut col[((c * self.kh + a) * self.kw + b) * p..][..p];
                    let (j0, j1) = self.col_range(b);
                    if i0 >= i1 || j0 >= j1 {
                        row.fill(T::ZERO);
                        continue;
                    }
                    let dc = (b * self.dilation.1) as isize - self.pad.left as isize;
                    let delta = dr * self.w as isize + dc;
                    let (start, end) = (i0 * ow + j0, (i1 - 1) * ow + j1);
                    let from = (start as isize + delta) as usize;
                    row[..start].fill(T::ZERO);
                    row[start..end].copy_from_slice(&xc[from..from + (end - start)]);
                    row[end..].fill(T::ZERO);
                    // Between consecutive valid rows: columns ≥ j1 of row i and < j0 of row
                    // i + 1 read wrapped-around input; they are padding.
                    for i in i0..i1 - 1 {
                        for v in &mut row[i * ow + j1..(i + 1) * ow + j0] {
                            *v = T::ZERO;
                        }
                    }
                }
            }
        }
    }

    /// The adjoint of `im2col`: dx[c][...] += col[...] (dx must start zeroed).
    fn col2im<T: Elem>(&self, col: &[T], dx: &mut [T]) {
        let (p, ow, sw) = (self.p(), self.ow, self.stride.1);
        for c in 0..self.c {
            let xc = &mut dx[c * self.h * self.w..(c + 1) * self.h * self.w];
            for a in 0..self.kh {
                for b in 0..self.kw {
                    let row = &col[((c * self.kh + a) * self.kw + b) * p..][..p];
                    let (j0, j1) = self.col_range(b);
                    if j0 >= j1 {
                        continue;
                    }
                    let x0 = ((j0 * sw + b * self.dilation.1) as isize - self.pad.left as isize)
                        as usize;
                    for i in 0..self.oh {
                        if let Some(r) = self.in_row(i, a) {
                            let src = &row[i * ow + j0..i * ow + j1];
                            let dst = &mut xc[r * self.w..];
                            if sw == 1 {
                                for (d, s) in dst[x0..x0 + src.len()].iter_mut().zip(src) {
                                    *d += *s;
                                }
                            } else {
                                for (k, s) in src.iter().enumerate() {
                                    dst[x0 + k * sw] += *s;
                                }
                            }
                        }
                    }
                }
            }
        }
    }

    /// Threads for the multiply inside one image: all of them when there are fewer images.
    fn inner_threads(&self) -> usize {
        let t = rayon::current_num_threads();
        if self.n >= t {
            1
        } else {
            t
        }
    }

    /// `conv(x, w)`, plus `bias[o]` on every output plane when given.
    fn forward<T: Elem>(&self, x: &[T], w: &[T], bias: Option<&[T]>) -> Result<Vec<T>> {
        self.forward_then(x, w, bias, None)
    }

    /// `forward`, with `epilogue` run on each finished piece of the output (one image, or one
    /// plane for depthwise) by the thread that wrote it, while it is still in cache.
    pub(super) fn forward_then<T: Elem>(
        &self,
        x: &[T],
        w: &[T],
        bias: Option<&[T]>,
        epilogue: Option<&Epilogue<T>>,
    ) -> Result<Vec<T>> {
        if self.is_depthwise() {
            return Ok(self.depthwise_forward(x, w, bias, epilogue));
        }
        let (p, cgkk, og) = (self.p(), self.cg() * self.kk(), self.og());
        let (xs, ys) = (self.c * self.h * self.w, self.o * p);
        let threads = self.inner_threads();
        let pointwise = self.is_pointwise();
        let y = par_chunks_init(
            self.n * ys,
            ys,
            1,
            || {
                if pointwise {
                    Vec::new()
                } else {
                    zeros::<T>(self.c * self.kk() * p)
                }
            },
            |col, n, yn| {
                // The bias goes in first and the multiply accumulates onto it: no extra pass.
                // With an epilogue, which is a pass anyway, the bias joins it instead.
                let bias_first = bias.filter(|_| epilogue.is_none() && p > 0);
                if let Some(b) = bias_first {
                    for (row, bv) in yn.chunks_exact_mut(p).zip(b) {
                        row.fill(*bv);
                    }
                }
                let xn = &x[n * xs..(n + 1) * xs];
                let src: &[T] = if pointwise {
                    xn
                } else {
                    self.im2col(xn, col);
                    col
                };
                for g in 0..self.groups {
                    let wg = &w[g * og * cgkk..];
                    let cg = &src[g * cgkk * p..];
                    matmul(
                        &mut yn[g * og * p..(g + 1) * og * p],
                        og,
                        p,
                        cgkk,
                        Mat::rows(wg, cgkk),
                        Mat::rows(cg, p),
                        bias_first.is_some(),
                        threads,
                    );
                }
                if let Some(f) = epilogue {
                    // Row by row, so the bias add and the epilogue share one trip to memory.
                    match (bias, p > 0) {
                        (Some(b), true) => {
                            for (row, bv) in yn.chunks_exact_mut(p).zip(b) {
                                row.iter_mut().for_each(|v| *v += *bv);
                                f(row);
                            }
                        }
                        _ => f(yn),
                    }
                }
            },
        );
        Ok(y)
    }

    fn backward_data<T: Elem>(&self, gy: &[T], w: &[T]) -> Result<Vec<T>> {
        if self.is_depthwise() {
            return Ok(self.depthwise_backward_data(gy, w));
        }
        let (p, cgkk, og) = (self.p(), self.cg() * self.kk(), self.og());
        let (xs, ys) = (self.c * self.h * self.w, self.o * p);
        let threads = self.inner_threads();
        let pointwise = self.is_pointwise();
        let dx = par_chunks_init(
            self.n * xs,
            xs,
            1,
            || {
                if pointwise {
                    Vec::new()
                } else {
                    zeros::<T>(self.c * self.kk() * p)
                }
            },
            |col, n, dxn| {
                let gn = &gy[n * ys..(n + 1) * ys];
                for g in 0..self.groups {
                    let wg = &w[g * og * cgkk..];
                    let dst = if pointwise {
                        &mut dxn[g * cgkk * p..(g + 1) * cgkk * p]
                    } else {
                        &mut col[g * cgkk * p..(g + 1) * cgkk * p]
                    };
                    matmul(
                        dst,
                        cgkk,
                        p,
                        og,
                        Mat::rows_t(wg, cgkk),
                        Mat::rows(&gn[g * og * p..], p),
                        false,
                        threads,
                    );
                }
                if !pointwise {
                    self.col2im(col, dxn);
                }
            },
        );
        Ok(dx)
    }

    fn backward_weight<T: Elem>(&self, x: &[T], gy: &[T]) -> Result<Vec<T>> {
        if self.is_depthwise() {
            return Ok(self.depthwise_backward_weight(x, gy));
        }
        let (p, cgkk, og) = (self.p(), self.cg() * self.kk(), self.og());
        let (xs, ys) = (self.c * self.h * self.w, self.o * p);
        let wsize = self.o * cgkk;
        let pointwise = self.is_pointwise();
        // One partial weight gradient per thread, summed at the end.
        let chunks = rayon::current_num_threads().min(self.n).max(1);
        let threads = if chunks == 1 {
            rayon::current_num_threads()
        } else {
            1
        };
        let per = self.n.div_ceil(chunks);
        let partials: Vec<Vec<T>> = (0..chunks)
            .into_par_iter()
            .map(|t| {
                let mut dw = zeros::<T>(wsize);
                let mut col = if pointwise {
                    Vec::new()
                } else {
                    zeros::<T>(self.c * self.kk() * p)
                };
                for (k, n) in (t * per..((t + 1) * per).min(self.n)).enumerate() {
                    let xn = &x[n * xs..(n + 1) * xs];
                    let src: &[T] = if pointwise {
                        xn
                    } else {
                        self.im2col(xn, &mut col);
                        &col
                    };
                    let gn = &gy[n * ys..(n + 1) * ys];
                    for g in 0..self.groups {
                        let dst = &mut dw[g * og * cgkk..(g + 1) * og * cgkk];
                        matmul(
                            dst,
                            og,
                            cgkk,
                            p,
                            Mat::rows(&gn[g * og * p..], p),
                            Mat::rows_t(&src[g * cgkk * p..], p),
                            k > 0,
                            threads,
                        );
                    }
                }
                dw
            })
            .collect();
        let mut it = partials.into_iter();
        let mut dw = it.next().unwrap_or_else(|| zeros::<T>(wsize));
        for part in it {
            dw.iter_mut().zip(&part).for_each(|(a, b)| *a += *b);
        }
        Ok(dw)
    }
}

pub(super) fn check_shape(op: &str, what: &str, layout: &Layout, want: &Shape) -> Result<()> {
    if layout.shape() != want {
        candle_core::bail!(
            "{op}: {what} has shape {:?}, expected {:?}",
            layout.shape().dims(),
            want.dims()
        )
    }
    Ok(())
}

/// The gradient for one operand, only when it is tracked: a frozen classifier's weights are
/// constants, and skipping their gradient saves a third of every convolution's backward.
pub(super) fn if_tracked(
    t: &Tensor,
    grad: impl FnOnce() -> Result<Tensor>,
) -> Result<Option<Tensor>> {
    if t.track_op() {
        grad().map(Some)
    } else {
        Ok(None)
    }
}

/// A weight's gradient: as [`if_tracked`], but zeros inside
/// [`super::grad_scope::input_gradients_only`] (the gradient penalty's first backward).
pub(super) fn weight_grad(
    w: &Tensor,
    grad: impl FnOnce() -> Result<Tensor>,
) -> Result<Option<Tensor>> {
    if w.track_op() && super::grad_scope::weight_gradients_skipped() {
        return w.zeros_like().map(Some);
    }
    if_tracked(w, grad)
}

/// `y = conv(x, w)`.
pub struct ConvFwd(pub ConvGeometry);
/// `dx = conv^T(g, w)` for the convolution of geometry `.0`.
pub struct ConvBwdData(pub ConvGeometry);
/// `dw` of the convolution of geometry `.0`, from `x` and the output gradient `g`.
pub struct ConvBwdWeight(pub ConvGeometry);

impl CustomOp2 for ConvFwd {
    fn name(&self) -> &'static str {
        "probegan-conv2d"
    }
    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        let g = &self.0;
        check_shape(self.name(), "input", l1, &g.x_shape())?;
        check_shape(self.name(), "weight", l2, &g.w_shape())?;
        let out = dispatch2!(self.name(), s1, l1, s2, l2, |x, w, T| g
            .forward::<T>(x, w, None))?;
        Ok((out, g.y_shape()))
    }
    fn bwd(
        &self,
        x: &Tensor,
        w: &Tensor,
        _y: &Tensor,
        gy: &Tensor,
    ) -> Result<(Option<Tensor>, Option<Tensor>)> {
        let gy = gy.contiguous()?;
        Ok((
            if_tracked(x, || gy.apply_op2(w, ConvBwdData(self.0)))?,
            weight_grad(w, || x.apply_op2(&gy, ConvBwdWeight(self.0)))?,
        ))
    }
}

impl CustomOp2 for ConvBwdData {
    fn name(&self) -> &'static str {
        "probegan-conv2d-bwd-data"
    }
    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        let g = &self.0;
        check_shape(self.name(), "output gradient", l1, &g.y_shape())?;
        check_shape(self.name(), "weight", l2, &g.w_shape())?;
        let out = dispatch2!(self.name(), s1, l1, s2, l2, |gy, w, T| g
            .backward_data::<T>(gy, w))?;
        Ok((out, g.x_shape()))
    }
    fn bwd(
        &self,
        gy: &Tensor,
        w: &Tensor,
        _dx: &Tensor,
        h: &Tensor,
    ) -> Result<(Option<Tensor>, Option<Tensor>)> {
        let h = h.contiguous()?;
        Ok((
            if_tracked(gy, || h.apply_op2(w, ConvFwd(self.0)))?,
            weight_grad(w, || h.apply_op2(gy, ConvBwdWeight(self.0)))?,
        ))
    }
}

impl CustomOp2 for ConvBwdWeight {
    fn name(&self) -> &'static str {
        "probegan-conv2d-bwd-weight"
    }
    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        let g = &self.0;
        check_shape(self.name(), "input", l1, &g.x_shape())?;
        check_shape(self.name(), "output gradient", l2, &g.y_shape())?;
        let out = dispatch2!(self.name(), s1, l1, s2, l2, |x, gy, T| g
            .backward_weight::<T>(x, gy))?;
        Ok((out, g.w_shape()))
    }
    fn bwd(
        &self,
        x: &Tensor,
        gy: &Tensor,
        _dw: &Tensor,
        k: &Tensor,
    ) -> Result<(Option<Tensor>, Option<Tensor>)> {
        let k = k.contiguous()?;
        Ok((
            if_tracked(x, || gy.apply_op2(&k, ConvBwdData(self.0)))?,
            if_tracked(gy, || x.apply_op2(&k, ConvFwd(self.0)))?,
        ))
    }
}

/// `y = conv(x, w) + b[o]`: the bias is written with the output (one pass less than adding it
/// afterwards) and its gradient is computed only when the bias is tracked.
pub struct ConvBiasFwd(pub ConvGeometry);

impl CustomOp3 for ConvBiasFwd {
    fn name(&self) -> &'static str {
        "probegan-conv2d-bias"
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
        use super::cpu::slice;
        let g = &self.0;
        let op = self.name();
        check_shape(op, "input", l1, &g.x_shape())?;
        check_shape(op, "weight", l2, &g.w_shape())?;
        check_shape(op, "bias", l3, &Shape::from(g.o))?;
        let out = match (s1, s2, s3) {
            (CpuStorage::F32(x), CpuStorage::F32(w), CpuStorage::F32(b)) => {
                CpuStorage::F32(g.forward(
                    slice(x, l1, op)?,
                    slice(w, l2, op)?,
                    Some(slice(b, l3, op)?),
                )?)
            }
            (CpuStorage::F64(x), CpuStorage::F64(w), CpuStorage::F64(b)) => {
                CpuStorage::F64(g.forward(
                    slice(x, l1, op)?,
                    slice(w, l2, op)?,
                    Some(slice(b, l3, op)?),
                )?)
            }
            _ => candle_core::bail!("{op}: f32 or f64 inputs of one dtype expected"),
        };
        Ok((out, g.y_shape()))
    }
    fn bwd(
        &self,
        x: &Tensor,
        w: &Tensor,
        b: &Tensor,
        _y: &Tensor,
        gy: &Tensor,
    ) -> Result<(Option<Tensor>, Option<Tensor>, Option<Tensor>)> {
        let gy = gy.contiguous()?;
        Ok((
            if_tracked(x, || gy.apply_op2(w, ConvBwdData(self.0)))?,
            weight_grad(w, || x.apply_op2(&gy, ConvBwdWeight(self.0)))?,
            if_tracked(b, || channel_sum(&gy))?,
        ))
    }
}

/// Fast CPU convolution with a fused bias `b` ([O]); `x`, `w` any layout.
pub fn conv2d_bias(x: &Tensor, w: &Tensor, b: &Tensor, geo: ConvGeometry) -> Result<Tensor> {
    x.contiguous()?
        .apply_op3(&w.contiguous()?, &b.contiguous()?, ConvBiasFwd(geo))
}

/// Fast CPU convolution without bias; `x`, `w` any layout.
pub fn conv2d(x: &Tensor, w: &Tensor, geo: ConvGeometry) -> Result<Tensor> {
    x.contiguous()?.apply_op2(&w.contiguous()?, ConvFwd(geo))
}

/// Fast CPU transposed convolution without bias: the input gradient of its adjoint convolution.
pub fn conv_transpose2d(x: &Tensor, w: &Tensor, geo: ConvGeometry) -> Result<Tensor> {
    x.contiguous()?
        .apply_op2(&w.contiguous()?, ConvBwdData(geo))
}
