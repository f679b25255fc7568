//! Online group DRO (Sagawa et al., 2020, Algorithm 1): keep a weight per group, raise the
//! weight of groups whose loss is high by exponentiated gradient ascent, and train on the
//! weighted sum of group losses. Minimises the worst group's loss instead of the average.

use anyhow::Result;
use candle_core::{DType, Tensor};

#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct GroupDro {
    /// Group weights, summing to 1.
    pub q: Vec<f64>,
    /// Step size of the weight update (the paper's eta_q; 0.01 in its experiments).
    pub eta: f64,
}

impl GroupDro {
    pub fn new(num_groups: usize, eta: f64) -> Self {
        GroupDro {
            q: vec![1.0 / num_groups as f64; num_groups],
            eta,
        }
    }

    /// Robust loss from per-example losses `[B]` and group ids `[B]` (u32). Groups absent
    /// from the batch keep their weight and contribute nothing.
    pub fn loss(&mut self, per_example: &Tensor, groups: &Tensor) -> Result<Tensor> {
        let k = self.q.len();
        let device = per_example.device();
        // One-hot [B, K] -> per-group mean losses by a matmul (differentiable).
        let g: Vec<u32> = groups.to_vec1()?;
        let mut onehot = vec![0f32; g.len() * k];
        let mut counts = vec![0f32; k];
        for (i, &gi) in g.iter().enumerate() {
            onehot[i * k + gi as usize] = 1.0;
            counts[gi as usize] += 1.0;
        }
        let onehot = Tensor::from_vec(onehot, (g.len(), k), device)?;
        let sums = per_example.unsqueeze(0)?.matmul(&onehot)?.squeeze(0)?;
        let denom = Tensor::from_vec(
            counts.iter().map(|&c| c.max(1.0)).collect::<Vec<_>>(),
            k,
            device,
        )?;
        let group_loss = (sums / denom)?;
        let gl: Vec<f32> = group_loss.detach().to_dtype(DType::F32)?.to_vec1()?;
        for j in 0..k {
            if counts[j] > 0.0 {
                self.q[j] *= (self.eta * gl[j] as f64).exp();
            }
        }
        let total: f64 = self.q.iter().sum();
        self.q.iter_mut().for_each(|q| *q /= total);
        let q = Tensor::from_vec(
            self.q.iter().map(|&v| v as f32).collect::<Vec<_>>(),
            k,
            device,
        )?;
        Ok((group_loss * q)?.sum_all()?)
    }
}
