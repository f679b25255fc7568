//! Weight normalisation (Salimans & Kingma 2016) for convolutions and transposed
//! convolutions: each output channel's filter is `g · v / ‖v‖`, so its length (`g`) and
//! direction (`v`) learn separately. The substrate method's U-Net uses it, as its paper does,
//! in place of batch norm: with batches of one to three images batch statistics are noise.

use super::params::{Init, Scope};
use crate::kernels::{self, Conv2dSpec, ConvTranspose2dSpec, Pad2d};
use anyhow::Result;
use candle_core::{Tensor, Var};

/// Which way the layer maps resolution.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    /// A convolution: weight [out, in, k, k].
    Down,
    /// A transposed convolution: weight [in, out, k, k].
    Up,
}

/// A weight-normalised (transposed) convolution with bias; square kernel, equal strides.
pub struct WnConv2d {
    v: Var,
    g: Var,
    b: Var,
    direction: Direction,
    stride: usize,
    padding: usize,
}

impl WnConv2d {
    /// `k`×`k` kernel; `padding` per side. Initialised so that `w = v` at the start
    /// (`g = ‖v‖`), with He-style scaling of `v` for the leaky activations that follow.
    pub fn new(
        s: &Scope,
        c_in: usize,
        c_out: usize,
        k: usize,
        stride: usize,
        padding: usize,
        direction: Direction,
    ) -> Result<Self> {
        let fan_in = c_in * k * k;
        let std = (2.0 / fan_in as f64).sqrt();
        let shape = match direction {
            Direction::Down => [c_out, c_in, k, k],
            Direction::Up => [c_in, c_out, k, k],
        };
        let v = s.param("v", &shape, Init::Normal(std))?;
        let g = s.param("g", &[c_out], Init::Ones)?;
        g.set(&filter_norms(v.as_tensor(), direction)?)?;
        let b = s.param("b", &[c_out], Init::Zeros)?;
        Ok(WnConv2d {
            v,
            g,
            b,
            direction,
            stride,
            padding,
        })
    }

    /// The effective weight `g · v / ‖v‖`.
    pub fn weight(&self) -> Result<Tensor> {
        let v = self.v.as_tensor();
        let norms = filter_norms(v, self.direction)?;
        let scale = (self.g.as_tensor() / (norms + 1e-12)?)?;
        let scale = match self.direction {
            Direction::Down => scale.reshape(((), 1, 1, 1))?,
            Direction::Up => scale.reshape((1, (), 1, 1))?,
        };
        Ok(v.broadcast_mul(&scale)?)
    }

    pub fn forward(&self, x: &Tensor) -> Result<Tensor> {
        let w = self.weight()?;
        let pad = Pad2d::same(self.padding);
        Ok(match self.direction {
            Direction::Down => kernels::conv2d(
                x,
                &w,
                Some(self.b.as_tensor()),
                &Conv2dSpec {
                    stride: (self.stride, self.stride),
                    padding: pad,
                    ..Default::default()
                },
            )?,
            Direction::Up => kernels::conv_transpose2d(
                x,
                &w,
                Some(self.b.as_tensor()),
                &ConvTranspose2dSpec {
                    stride: (self.stride, self.stride),
                    padding: pad,
                    ..Default::default()
                },
            )?,
        })
    }
}

/// ‖v‖ per output channel: dims (1, 2, 3) of a conv weight, (0, 2, 3) of a transposed one.
fn filter_norms(v: &Tensor, direction: Direction) -> Result<Tensor> {
    let sq = v.sqr()?;
    let per_out = match direction {
        Direction::Down => sq.sum((1, 2, 3))?,
        Direction::Up => sq.sum((0, 2, 3))?,
    };
    Ok(per_out.sqrt()?)
}

/// Parametric leaky ReLU with one learned slope per channel (He et al. 2015), initialised
/// to 0.2 as the substrate paper does: `max(x, 0) + a · min(x, 0)`.
pub struct PRelu {
    a: Var,
}

impl PRelu {
    pub fn new(s: &Scope, channels: usize) -> Result<Self> {
        let a = s.param("a", &[channels], Init::Ones)?;
        a.set(&(a.as_tensor() * 0.2)?)?;
        Ok(PRelu { a })
    }

    /// `x`: [N, C, H, W].
    pub fn forward(&self, x: &Tensor) -> Result<Tensor> {
        let pos = x.relu()?;
        let neg = (x - &pos)?;
        let a = self.a.as_tensor().reshape((1, (), 1, 1))?;
        Ok((pos + neg.broadcast_mul(&a)?)?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::nets::ParamStore;
    use candle_core::{DType, Device};

    fn store() -> ParamStore {
        ParamStore::with_dtype(&Device::Cpu, 3, DType::F64)
    }

    #[test]
    fn weight_starts_equal_to_v_and_scales_with_g() {
        for direction in [Direction::Down, Direction::Up] {
            let st = store();
            let conv = WnConv2d::new(&st.root(), 3, 5, 4, 2, 1, direction).unwrap();
            let w = conv.weight().unwrap();
            let diff = (&w - conv.v.as_tensor())
                .unwrap()
                .abs()
                .unwrap()
                .max_all()
                .unwrap()
                .to_scalar::<f64>()
                .unwrap();
            assert!(diff < 1e-10, "{direction:?}: {diff}");
            // Doubling g doubles every filter; each filter's norm is then 2·‖v‖.
            conv.g.set(&(conv.g.as_tensor() * 2.0).unwrap()).unwrap();
            let norms = filter_norms(&conv.weight().unwrap(), direction).unwrap();
            let want = (filter_norms(conv.v.as_tensor(), direction).unwrap() * 2.0).unwrap();
            let gap = (norms - want)
                .unwrap()
                .abs()
                .unwrap()
                .max_all()
                .unwrap()
                .to_scalar::<f64>()
                .unwrap();
            assert!(gap < 1e-10, "{direction:?}: {gap}");
        }
    }

    #[test]
    fn down_halves_and_up_doubles_the_resolution() {
        let st = store();
        let down = WnConv2d::new(&st.root().pp("d"), 2, 4, 4, 2, 1, Direction::Down).unwrap();
        let up = WnConv2d::new(&st.root().pp("u"), 4, 3, 4, 2, 1, Direction::Up).unwrap();
        let x = Tensor::zeros((2, 2, 16, 12), DType::F64, &Device::Cpu).unwrap();
        let y = down.forward(&x).unwrap();
        assert_eq!(y.dims(), &[2, 4, 8, 6]);
        assert_eq!(up.forward(&y).unwrap().dims(), &[2, 3, 16, 12]);
    }

    #[test]
    fn weight_gradient_matches_finite_differences() {
        let st = store();
        let conv = WnConv2d::new(&st.root(), 2, 3, 4, 2, 1, Direction::Up).unwrap();
        let x = Tensor::randn(0f64, 1.0, (1, 2, 3, 3), &Device::Cpu).unwrap();
        let loss =
            |c: &WnConv2d| -> Tensor { c.forward(&x).unwrap().sqr().unwrap().sum_all().unwrap() };
        let grads = loss(&conv).backward().unwrap();
        for var in [&conv.v, &conv.g] {
            let analytic = grads
                .get(var)
                .unwrap()
                .flatten_all()
                .unwrap()
                .to_vec1::<f64>()
                .unwrap();
            let base = var
                .as_tensor()
                .flatten_all()
                .unwrap()
                .to_vec1::<f64>()
                .unwrap();
            for i in [0, base.len() / 2, base.len() - 1] {
                let eps = 1e-6;
                let at = |d: f64| {
                    let mut v = base.clone();
                    v[i] += d;
                    var.set(&Tensor::from_vec(v, var.shape(), &Device::Cpu).unwrap())
                        .unwrap();
                    let l = loss(&conv).to_scalar::<f64>().unwrap();
                    var.set(&Tensor::from_vec(base.clone(), var.shape(), &Device::Cpu).unwrap())
                        .unwrap();
                    l
                };
                let fd = (at(eps) - at(-eps)) / (2.0 * eps);
                assert!(
                    (fd - analytic[i]).abs() <= 1e-5 * (1.0 + fd.abs()),
                    "coordinate {i}: fd {fd} vs analytic {}",
                    analytic[i]
                );
            }
        }
    }

    #[test]
    fn prelu_keeps_positives_and_scales_negatives_by_its_slope() {
        let st = store();
        let p = PRelu::new(&st.root(), 2).unwrap();
        let x =
            Tensor::from_vec(vec![1.0f64, -1.0, 2.0, -3.0], (1, 2, 1, 2), &Device::Cpu).unwrap();
        let y = p
            .forward(&x)
            .unwrap()
            .flatten_all()
            .unwrap()
            .to_vec1::<f64>()
            .unwrap();
        let want = [1.0, -0.2, 2.0, -0.6];
        for (a, b) in y.iter().zip(want) {
            assert!((a - b).abs() < 1e-12, "{y:?}");
        }
    }
}
