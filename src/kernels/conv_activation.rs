//! Convolution + bias + ReLU/clamp as one CPU custom op: `y = f(conv(x, w) + b)`.
//!
//! In a CNN classifier nearly every convolution is followed by ReLU or ReLU6. As separate ops
//! the activation costs a full pass over the output forward, a masking pass backward, and one
//! more gradient edge (candle accumulates every edge into a fresh zeros tensor with an add).
//! Here the activation runs in the convolution's output loop while the piece is in cache, and
//! the backward masks the incoming gradient from the saved *output* (`y > 0` iff `x > 0`;
//! `lo < y < hi` iff `lo < x < hi`), so no pre-activation is kept. The backward is built from
//! the masking op and the convolution's own gradient ops, so it differentiates to any order.

use super::activation::{act_grad, act_grad_in_place, act_in_place, Kind};
use super::channel::channel_sum;
use super::conv::{
    check_shape, if_tracked, weight_grad, ConvBwdData, ConvBwdWeight, ConvFwd, Epilogue,
};
use super::cpu::{dispatch3, Elem};
use super::depthwise::Mask;
use super::geometry::ConvGeometry;
use candle_core::{CpuStorage, CustomOp3, Layout, Result, Shape, Tensor};

/// `f(conv(x, w) + b)` for the geometry and activation given.
pub struct ConvActFwd {
    pub geo: ConvGeometry,
    pub act: Kind,
}

impl ConvActFwd {
    fn run<T: Elem>(&self, x: &[T], w: &[T], b: &[T]) -> Result<Vec<T>> {
        let act = self.act;
        let epilogue: &Epilogue<T> = &move |ys: &mut [T]| act_in_place(act, ys);
        self.geo.forward_then(x, w, Some(b), Some(epilogue))
    }
}

impl CustomOp3 for ConvActFwd {
    fn name(&self) -> &'static str {
        "probegan-conv2d-activation"
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
        let g = &self.geo;
        let op = self.name();
        check_shape(op, "input", l1, &g.x_shape())?;
        check_shape(op, "weight", l2, &g.w_shape())?;
        check_shape(op, "bias", l3, &Shape::from(g.o))?;
        let out = dispatch3!(op, s1, l1, s2, l2, s3, l3, |x, w, b, T| self
            .run::<T>(x, w, b))?;
        Ok((out, g.y_shape()))
    }
    fn bwd(
        &self,
        x: &Tensor,
        w: &Tensor,
        b: &Tensor,
        y: &Tensor,
        gy: &Tensor,
    ) -> Result<(Option<Tensor>, Option<Tensor>, Option<Tensor>)> {
        if !(x.track_op() || w.track_op() || b.track_op()) {
            return Ok((None, None, None));
        }
        let geo = self.geo;
        if geo.is_depthwise() && !w.track_op() && !b.track_op() {
            // A frozen depthwise conv (a classifier's): the mask is applied plane by plane
            // inside the input-gradient kernel, not as a full-size pass of its own.
            let dx = gy.contiguous()?.apply_op3(
                &y.detach(),
                &w.contiguous()?,
                DwMaskedBwdData { geo, act: self.act },
            )?;
            return Ok((Some(dx), None, None));
        }
        // The gradient reaching the pre-activation: gy where the activation passed it.
        let gz = act_grad(self.act, gy, y)?;
        Ok((
            if_tracked(x, || gz.apply_op2(w, ConvBwdData(geo)))?,
            weight_grad(w, || x.apply_op2(&gz, ConvBwdWeight(geo)))?,
            if_tracked(b, || channel_sum(&gz))?,
        ))
    }
}

/// The input gradient of a depthwise `f(conv(x, w) + b)` from `(gy, y, w)`: `gy` masked by
/// `f'` (read from the output `y`, which enters detached), then swept back through `w`.
pub struct DwMaskedBwdData {
    pub geo: ConvGeometry,
    pub act: Kind,
}

impl CustomOp3 for DwMaskedBwdData {
    fn name(&self) -> &'static str {
        "probegan-depthwise-masked-bwd-data"
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
        let g = &self.geo;
        let op = self.name();
        check_shape(op, "output gradient", l1, &g.y_shape())?;
        check_shape(op, "output", l2, &g.y_shape())?;
        check_shape(op, "weight", l3, &g.w_shape())?;
        let act = self.act;
        let out = dispatch3!(op, s1, l1, s2, l2, s3, l3, |gy, y, w, T| {
            let mask: &Mask<T> = &move |g: &mut [T], y: &[T]| act_grad_in_place(act, g, y);
            Ok::<_, candle_core::Error>(g.depthwise_backward_data_masked(gy, Some((y, mask)), w))
        })?;
        Ok((out, g.x_shape()))
    }
    /// Linear in `gy` through a diagonal mask and the transposed convolution: the adjoint is
    /// the convolution, then the mask. `y` is detached (the mask's derivative is zero a.e.).
    fn bwd(
        &self,
        gy: &Tensor,
        y: &Tensor,
        w: &Tensor,
        _dx: &Tensor,
        h: &Tensor,
    ) -> Result<(Option<Tensor>, Option<Tensor>, Option<Tensor>)> {
        let (geo, act) = (self.geo, self.act);
        let h = h.contiguous()?;
        Ok((
            if_tracked(gy, || act_grad(act, &h.apply_op2(w, ConvFwd(geo))?, y))?,
            None,
            weight_grad(w, || {
                h.apply_op2(&act_grad(act, gy, y)?, ConvBwdWeight(geo))
            })?,
        ))
    }
}

/// Fast CPU `f(conv(x, w) + b)`; `x`, `w`, `b` any layout.
pub fn conv2d_activation(
    x: &Tensor,
    w: &Tensor,
    b: &Tensor,
    geo: ConvGeometry,
    act: Kind,
) -> Result<Tensor> {
    x.contiguous()?
        .apply_op3(&w.contiguous()?, &b.contiguous()?, ConvActFwd { geo, act })
}
