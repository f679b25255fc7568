//! Diversity of a generated set: mean pairwise feature distance, and near-duplicates
//! (samples whose nearest other generated sample is much closer than real images ever are to
//! each other — the signature of mode collapse).

use super::pairwise::{for_each_distance_row, kth_smallest};
use anyhow::{bail, Result};
use candle_core::Tensor;

#[derive(Debug, Clone, Copy, serde::Serialize, serde::Deserialize, PartialEq)]
pub struct Diversity {
    /// Mean Euclidean distance over all pairs of distinct generated samples.
    pub mean_pairwise_distance: f64,
    /// Generated samples with another generated sample closer than `duplicate_threshold`.
    pub near_duplicates: usize,
    pub samples: usize,
    pub duplicate_threshold: f64,
}

/// Near-duplicate threshold as a fraction of the median real nearest-neighbour distance, so
/// it means the same in any feature space.
pub const DEFAULT_DUPLICATE_FRACTION: f64 = 0.25;

/// Median distance from each real sample to its nearest other real sample.
pub fn median_nearest_neighbour_distance(real: &Tensor) -> Result<f64> {
    let mut nn = super::pairwise::kth_neighbour_radii(real, 1)?;
    nn.sort_by(|a, b| a.total_cmp(b));
    Ok(nn[nn.len() / 2])
}

/// Diversity with an absolute near-duplicate threshold.
pub fn diversity(fake: &Tensor, duplicate_threshold: f64) -> Result<Diversity> {
    let n = fake.dim(0)?;
    if n < 2 {
        bail!("diversity: need at least 2 generated samples, got {n}");
    }
    let mut total = 0.0;
    let mut near_duplicates = 0;
    for_each_distance_row(fake, fake, |i, row| {
        total += row
            .iter()
            .enumerate()
            .filter(|(j, _)| *j != i)
            .map(|(_, d)| d)
            .sum::<f64>();
        if kth_smallest(row, 1, Some(i))? < duplicate_threshold {
            near_duplicates += 1;
        }
        Ok(())
    })?;
    Ok(Diversity {
        mean_pairwise_distance: total / (n as f64 * (n as f64 - 1.0)),
        near_duplicates,
        samples: n,
        duplicate_threshold,
    })
}

/// Diversity with the threshold set relative to the real data's spacing.
pub fn diversity_relative_to_real(fake: &Tensor, real: &Tensor) -> Result<Diversity> {
    let t = DEFAULT_DUPLICATE_FRACTION * median_nearest_neighbour_distance(real)?;
    diversity(fake, t)
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::Device;

    #[test]
    fn duplicates_are_counted_and_distances_averaged() {
        let x = Tensor::new(&[[0f32, 0.], [0., 0.001], [3., 4.]], &Device::Cpu).unwrap();
        let d = diversity(&x, 0.1).unwrap();
        assert_eq!(d.near_duplicates, 2);
        let want = (0.001 + 5.0 + ((3.0f64).powi(2) + 3.999f64.powi(2)).sqrt()) / 3.0;
        assert!((d.mean_pairwise_distance - want).abs() < 1e-6, "{d:?}");
    }

    #[test]
    fn collapsed_set_has_many_duplicates_relative_to_real() {
        let dev = Device::Cpu;
        let real = Tensor::randn(0f32, 1.0, (300, 4), &dev).unwrap();
        let collapsed = Tensor::randn(0f32, 0.001, (300, 4), &dev).unwrap();
        let healthy = Tensor::randn(0f32, 1.0, (300, 4), &dev).unwrap();
        let c = diversity_relative_to_real(&collapsed, &real).unwrap();
        let h = diversity_relative_to_real(&healthy, &real).unwrap();
        assert_eq!(c.near_duplicates, 300);
        assert!(h.near_duplicates < 60, "{h:?}");
        assert!(h.mean_pairwise_distance > 100.0 * c.mean_pairwise_distance);
    }
}
