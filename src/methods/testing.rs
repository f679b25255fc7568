//! A tiny differentiable classifier for tests and examples that must not depend on the ONNX
//! engine: softmax regression on 4x4-average-pooled pixels, with seeded random weights or
//! weights fitted to a dataset by a few gradient steps.

use crate::classifier::Classifier;
use crate::losses;
use anyhow::Result;
use candle_core::{Device, Tensor, Var};
use rand::SeedableRng;

pub struct PooledLinearClassifier {
    w: Tensor,
    b: Tensor,
    names: Vec<String>,
}

fn features(x: &Tensor) -> Result<Tensor> {
    // 4x4 mean pooling by reshape (exact gradients), then flatten.
    let (n, c, h, w) = x.dims4()?;
    let p = x.reshape((n, c, h / 4, 4, w / 4, 4))?.mean(5)?.mean(3)?;
    Ok(p.flatten_from(1)?)
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
        let f = features(images)?;
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
        })
    }
}

impl Classifier for PooledLinearClassifier {
    fn logits(&self, x: &Tensor) -> Result<Tensor> {
        Ok(features(x)?.matmul(&self.w.t()?)?.broadcast_add(&self.b)?)
    }

    fn class_names(&self) -> &[String] {
        &self.names
    }
}
