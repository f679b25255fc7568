//! D_u realism of generated samples, normalised so that checkpoints can be compared.
//!
//! D_u is a WGAN-GP critic: its output is defined only up to an additive constant (the
//! Wasserstein loss ignores shifts; the small drift penalty pins it loosely) and its scale
//! follows the critic's effective Lipschitz constant, which drifts over training. So neither a
//! raw mean D_u(fake) nor a difference of means D_u(fake) − D_u(real) is comparable across
//! checkpoints: the first moves with the shift, the second with the scale.
//!
//! Chosen normalisation: the probability that D_u scores a generated sample above a real
//! image it was scored against in the same pass (the Mann–Whitney / ROC-AUC statistic, ties
//! counting one half). It depends only on the *order* of the scores, so any increasing
//! transform of D_u's output — shift, rescale, drift — leaves it unchanged. It uses every real
//! score rather than only their median (less noisy than "fraction above the median real
//! score"), and it reads directly: 0.5 = D_u cannot tell the samples from real images, 0 = it
//! always can.

use super::selection::ranks;
use anyhow::{bail, Result};

/// P(D_u(fake) > D_u(real)) + ½ P(tie), over all (fake, real) pairs.
pub fn du_realism(fake_scores: &[f64], real_scores: &[f64]) -> Result<f64> {
    if fake_scores.is_empty() || real_scores.is_empty() {
        bail!(
            "D_u realism: need scores of generated and of real images ({} generated, {} real)",
            fake_scores.len(),
            real_scores.len()
        );
    }
    let (nf, nr) = (fake_scores.len() as f64, real_scores.len() as f64);
    if let Some(v) = fake_scores
        .iter()
        .chain(real_scores)
        .find(|v| !v.is_finite())
    {
        bail!("D_u realism: the discriminator returned a non-finite score ({v})");
    }
    let all: Vec<f64> = fake_scores.iter().chain(real_scores).copied().collect();
    // Mann–Whitney U from mean ranks: ties between a fake and a real count one half.
    let r = ranks(&all);
    let fake_rank_sum: f64 = r[..fake_scores.len()].iter().sum();
    let u = fake_rank_sum - nf * (nf + 1.0) / 2.0;
    Ok(u / (nf * nr))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The definition, pair by pair.
    fn brute(f: &[f64], r: &[f64]) -> f64 {
        let mut s = 0.0;
        for a in f {
            for b in r {
                s += if a > b {
                    1.0
                } else if a == b {
                    0.5
                } else {
                    0.0
                };
            }
        }
        s / (f.len() * r.len()) as f64
    }

    #[test]
    fn matches_the_pairwise_definition_including_ties() {
        let f = [0.3, 1.2, -0.5, 0.3, 2.0];
        let r = [0.3, 0.0, 1.0, -1.0];
        assert!((du_realism(&f, &r).unwrap() - brute(&f, &r)).abs() < 1e-12);
        assert_eq!(du_realism(&[5.0, 6.0], &[1.0, 2.0, 3.0]).unwrap(), 1.0);
        assert_eq!(du_realism(&[-5.0], &[1.0, 2.0]).unwrap(), 0.0);
        // identical distributions: D_u cannot tell them apart
        assert_eq!(du_realism(&[1.0, 2.0, 3.0], &[1.0, 2.0, 3.0]).unwrap(), 0.5);
    }

    #[test]
    fn is_unchanged_by_the_shift_and_scale_drift_of_the_critic() {
        // Integer scores with ties between the sets, so the transforms below are exact.
        let f: Vec<f64> = (0..50).map(|i| ((i * 37) % 23) as f64 - 4.0).collect();
        let r: Vec<f64> = (0..80).map(|i| ((i * 11) % 29) as f64).collect();
        let base = du_realism(&f, &r).unwrap();
        assert!(base > 0.05 && base < 0.95, "{base}");
        // A later checkpoint's critic: same order, different offset and scale. The raw mean
        // and the mean difference both move; the normalised signal must not.
        let drift = |v: &[f64]| v.iter().map(|x| 40.0 * x - 7.0).collect::<Vec<_>>();
        let (f2, r2) = (drift(&f), drift(&r));
        let mean = |v: &[f64]| v.iter().sum::<f64>() / v.len() as f64;
        assert!((mean(&f2) - mean(&r2) - (mean(&f) - mean(&r))).abs() > 1.0);
        assert_eq!(du_realism(&f2, &r2).unwrap(), base);
        // A monotone non-linear transform too.
        let cube = |v: &[f64]| v.iter().map(|x| x.powi(3)).collect::<Vec<_>>();
        assert_eq!(du_realism(&cube(&f), &cube(&r)).unwrap(), base);
    }

    #[test]
    fn rejects_empty_or_non_finite_scores() {
        assert!(du_realism(&[], &[1.0]).is_err());
        assert!(du_realism(&[1.0], &[]).is_err());
        let e = du_realism(&[f64::NAN], &[1.0]).unwrap_err().to_string();
        assert!(e.contains("non-finite"), "{e}");
    }
}
