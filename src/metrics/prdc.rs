//! Precision, recall, density and coverage (Naeem et al. 2020, "Reliable Fidelity and
//! Diversity Metrics for Generative Models"), with k-nearest-neighbour balls in feature space.
//!
//! - precision: share of generated samples inside at least one real sample's k-NN ball,
//! - recall: share of real samples inside at least one generated sample's k-NN ball,
//! - density: mean number of real balls containing a generated sample, divided by k
//!   (robust to real outliers; ~1 when the distributions match),
//! - coverage: share of real samples whose ball contains at least one generated sample.

use super::pairwise::{for_each_distance_row, kth_neighbour_radii};
use anyhow::{bail, Result};
use candle_core::Tensor;

#[derive(Debug, Clone, Copy, serde::Serialize, serde::Deserialize, PartialEq)]
pub struct Prdc {
    pub precision: f64,
    pub recall: f64,
    pub density: f64,
    pub coverage: f64,
}

/// The paper's default neighbourhood size.
pub const DEFAULT_K: usize = 5;

pub fn prdc(real: &Tensor, fake: &Tensor, k: usize) -> Result<Prdc> {
    let n = real.dim(0)?;
    let m = fake.dim(0)?;
    if n <= k || m <= k {
        bail!("precision/recall: need more than k = {k} samples on each side, got {n} real and {m} generated");
    }
    let real_radii = kth_neighbour_radii(real, k)?;
    let fake_radii = kth_neighbour_radii(fake, k)?;
    // Rows = real samples, columns = generated samples.
    let mut fake_in_real_ball = vec![0usize; m]; // how many real balls contain fake j
    let mut real_in_fake_ball = vec![false; n];
    let mut covered = vec![false; n];
    for_each_distance_row(real, fake, |i, row| {
        let mut nearest = f64::INFINITY;
        for (j, &d) in row.iter().enumerate() {
            if d < real_radii[i] {
                fake_in_real_ball[j] += 1;
            }
            if d < fake_radii[j] {
                real_in_fake_ball[i] = true;
            }
            nearest = nearest.min(d);
        }
        covered[i] = nearest < real_radii[i];
        Ok(())
    })?;
    let share = |flags: &[bool]| flags.iter().filter(|&&b| b).count() as f64 / flags.len() as f64;
    Ok(Prdc {
        precision: fake_in_real_ball.iter().filter(|&&c| c > 0).count() as f64 / m as f64,
        recall: share(&real_in_fake_ball),
        density: fake_in_real_ball.iter().sum::<usize>() as f64 / (k as f64 * m as f64),
        coverage: share(&covered),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::Device;

    #[test]
    fn matched_distributions_score_high_and_collapse_scores_low_recall() {
        let dev = Device::Cpu;
        let real = Tensor::randn(0f32, 1.0, (500, 4), &dev).unwrap();
        let good = Tensor::randn(0f32, 1.0, (500, 4), &dev).unwrap();
        let p = prdc(&real, &good, DEFAULT_K).unwrap();
        assert!(
            p.precision > 0.8 && p.recall > 0.8 && p.coverage > 0.8,
            "{p:?}"
        );
        assert!((p.density - 1.0).abs() < 0.3, "{p:?}");
        // Mode collapse: every generated sample near one point -> precise but no recall.
        let collapsed = Tensor::randn(0f32, 0.01, (500, 4), &dev).unwrap();
        let c = prdc(&real, &collapsed, DEFAULT_K).unwrap();
        assert!(c.precision > 0.9, "{c:?}");
        assert!(c.recall < 0.1 && c.coverage < 0.2, "{c:?}");
        // Far away: nothing matches.
        let far = (Tensor::randn(0f32, 1.0, (500, 4), &dev).unwrap() + 20.0).unwrap();
        let f = prdc(&real, &far, DEFAULT_K).unwrap();
        assert_eq!(
            (f.precision, f.recall, f.density, f.coverage),
            (0.0, 0.0, 0.0, 0.0)
        );
    }
}
