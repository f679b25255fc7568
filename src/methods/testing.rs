//! A tiny differentiable classifier for tests and examples that must not depend on the ONNX
//! engine: softmax regression on 4x4-average-pooled pixels, with seeded random weights or
//! weights fitted to a dataset by a few gradient steps. Like a real adapter, it takes inputs
//! of any size (crops, other resolutions) by area-averaging them onto its own grid.

use crate::classifier::Classifier;
use crate::losses;
use anyhow::Result;
#[cfg(test)]
use candle_core::DType;
use candle_core::{Device, Tensor, Var};
use rand::SeedableRng;

pub struct PooledLinearClassifier {
    w: Tensor,
    b: Tensor,
    names: Vec<String>,
    /// The pooled grid (H/4, W/4) of the input size the weights were made for.
    grid: (usize, usize),
}

/// [out, len] weights averaging `len` samples into `out` equal bins (partial overlaps count
/// by their length), so a 4k-sample axis pools exactly in blocks of 4.
fn area_matrix(len: usize, out: usize, device: &Device) -> Result<Tensor> {
    let bin = len as f64 / out as f64;
    let mut m = vec![0f32; out * len];
    for j in 0..out {
        let (lo, hi) = (j as f64 * bin, (j + 1) as f64 * bin);
        for i in (lo.floor() as usize)..(hi.ceil() as usize).min(len) {
            let overlap = (hi.min(i as f64 + 1.0) - lo.max(i as f64)).max(0.0);
            m[j * len + i] = (overlap / bin) as f32;
        }
    }
    Ok(Tensor::from_vec(m, (out, len), device)?)
}

fn features(x: &Tensor, grid: (usize, usize)) -> Result<Tensor> {
    // Area pooling as two matrix products (exact gradients), then flatten.
    let (n, c, h, w) = x.dims4()?;
    let pool_h = area_matrix(h, grid.0, x.device())?.to_dtype(x.dtype())?;
    let pool_w = area_matrix(w, grid.1, x.device())?.to_dtype(x.dtype())?;
    let rows = x.reshape((n * c * h, w))?.matmul(&pool_w.t()?)?;
    let rows = rows.reshape((n * c, h, grid.1))?;
    let p = pool_h.broadcast_left(n * c)?.contiguous()?.matmul(&rows)?;
    Ok(p.reshape((n, c * grid.0 * grid.1))?)
}

impl PooledLinearClassifier {
    /// Random weights for `shape` = (C, H, W) inputs (H, W divisible by 4).
    pub fn random(
        names: Vec<String>,
        shape: (usize, usize, usize),
        seed: u64,
        device: &Device,
    ) -> Result<Self> {
        let d = shape.0 * (shape.1 / 4) * (shape.2 / 4);
        let k = names.len();
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
        let w: Vec<f32> = (0..k * d)
            .map(|_| (crate::nets::params::gaussian(&mut rng) * 2.0 / (d as f64).sqrt()) as f32)
            .collect();
        Ok(PooledLinearClassifier {
            w: Tensor::from_vec(w, (k, d), device)?,
            b: Tensor::zeros(k, candle_core::DType::F32, device)?,
            names,
            grid: (shape.1 / 4, shape.2 / 4),
        })
    }

    /// Fit by full-batch gradient descent on `images` [N, C, H, W] / `labels` [N] u32.
    pub fn fit(
        names: Vec<String>,
        images: &Tensor,
        labels: &Tensor,
        steps: usize,
        lr: f64,
    ) -> Result<Self> {
        let (_, c, h, w) = images.dims4()?;
        let init = Self::random(names, (c, h, w), 0, images.device())?;
        let wv = Var::from_tensor(&(init.w * 0.0)?)?;
        let bv = Var::from_tensor(&init.b)?;
        let f = features(images, init.grid)?;
        for _ in 0..steps {
            let logits = f
                .matmul(&wv.as_tensor().t()?)?
                .broadcast_add(bv.as_tensor())?;
            let loss = losses::cross_entropy(&logits, labels)?;
            let g = loss.backward()?;
            for v in [&wv, &bv] {
                if let Some(gr) = g.get(v.as_tensor()) {
                    v.set(&(v.as_detached_tensor() - (gr.detach() * lr)?)?)?;
                }
            }
        }
        Ok(PooledLinearClassifier {
            w: wv.as_detached_tensor().copy()?,
            b: bv.as_detached_tensor().copy()?,
            names: init.names,
            grid: init.grid,
        })
    }
}

impl Classifier for PooledLinearClassifier {
    fn logits(&self, x: &Tensor) -> Result<Tensor> {
        Ok(features(x, self.grid)?
            .matmul(&self.w.t()?)?
            .broadcast_add(&self.b)?)
    }

    fn class_names(&self) -> &[String] {
        &self.names
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pooling_is_the_block_mean_at_its_own_size_and_keeps_constants_at_any_size() {
        let d = Device::Cpu;
        let x = Tensor::arange(0f32, 2.0 * 8.0 * 8.0, &d)
            .unwrap()
            .reshape((1, 2, 8, 8))
            .unwrap();
        let blocks = x
            .reshape((1, 2, 2, 4, 2, 4))
            .unwrap()
            .mean(5)
            .unwrap()
            .mean(3)
            .unwrap()
            .flatten_from(1)
            .unwrap();
        let pooled = features(&x, (2, 2)).unwrap();
        let gap = (pooled - blocks).unwrap().abs().unwrap().max_all().unwrap();
        assert!(gap.to_scalar::<f32>().unwrap() < 1e-4);
        // A 17x13 crop of a constant image pools to the same constant.
        let c = (Tensor::ones((3, 1, 17, 13), DType::F32, &d).unwrap() * 0.7).unwrap();
        let f = features(&c, (8, 8))
            .unwrap()
            .flatten_all()
            .unwrap()
            .to_vec1::<f32>()
            .unwrap();
        assert_eq!(f.len(), 3 * 64);
        assert!(f.iter().all(|v| (v - 0.7).abs() < 1e-5), "{f:?}");
    }
}
