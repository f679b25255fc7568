//! Fréchet Inception Distance (Heusel et al. 2017) on any feature extractor:
//! `|μ₁ − μ₂|² + tr(Σ₁) + tr(Σ₂) − 2 tr((Σ₁ Σ₂)^½)`.
//!
//! The trace of the matrix square root uses two symmetric eigendecompositions (nalgebra):
//! `tr((Σ₁Σ₂)^½) = Σᵢ √λᵢ(Σ₁^½ Σ₂ Σ₁^½)`, because `Σ₁Σ₂` is similar to the symmetric
//! positive semi-definite `Σ₁^½ Σ₂ Σ₁^½`. This avoids the complex Schur form that
//! `scipy.linalg.sqrtm` needs for the non-symmetric product and is stable for singular
//! covariances (fewer samples than dimensions), where tiny negative eigenvalues from rounding
//! are clamped to zero.

use super::gaussian::GaussianStats;
use anyhow::{bail, Result};
use candle_core::Tensor;
use nalgebra::{DMatrix, SymmetricEigen};

/// FID between two feature matrices `[N, D]` and `[M, D]`.
pub fn fid(real: &Tensor, fake: &Tensor) -> Result<f64> {
    let a = GaussianStats::from_features(real, "FID real features")?;
    let b = GaussianStats::from_features(fake, "FID generated features")?;
    frechet_distance(&a, &b)
}

/// Fréchet distance between two Gaussians.
pub fn frechet_distance(a: &GaussianStats, b: &GaussianStats) -> Result<f64> {
    if a.dim() != b.dim() {
        bail!(
            "FID: feature dimensions differ ({} vs {})",
            a.dim(),
            b.dim()
        );
    }
    let diff = &a.mean - &b.mean;
    let trace_sqrt = trace_sqrt_product(&a.cov, &b.cov);
    let fid = diff.dot(&diff) + a.cov.trace() + b.cov.trace() - 2.0 * trace_sqrt;
    if !fid.is_finite() {
        bail!("FID: result is not finite ({fid})");
    }
    // Rounding can push an FID of identical sets a hair below zero.
    Ok(fid.max(0.0))
}

/// `tr((S1 S2)^½)` for symmetric positive semi-definite `S1`, `S2`.
pub fn trace_sqrt_product(s1: &DMatrix<f64>, s2: &DMatrix<f64>) -> f64 {
    let root1 = psd_sqrt(s1);
    let m = &root1 * s2 * &root1;
    let m = (&m + m.transpose()) * 0.5; // exact symmetry for the symmetric solver
    SymmetricEigen::new(m)
        .eigenvalues
        .iter()
        .map(|l| l.max(0.0).sqrt())
        .sum()
}

/// Symmetric square root `V diag(√max(λ, 0)) Vᵀ` of a symmetric PSD matrix.
pub fn psd_sqrt(s: &DMatrix<f64>) -> DMatrix<f64> {
    let sym = (s + s.transpose()) * 0.5;
    let eig = SymmetricEigen::new(sym);
    let roots = eig.eigenvalues.map(|l| l.max(0.0).sqrt());
    let v = &eig.eigenvectors;
    v * DMatrix::from_diagonal(&roots) * v.transpose()
}

#[cfg(test)]
mod tests {
    use super::*;
    use nalgebra::DVector;

    fn stats(mean: Vec<f64>, cov: DMatrix<f64>) -> GaussianStats {
        GaussianStats {
            mean: DVector::from_vec(mean),
            cov,
            count: 10,
        }
    }

    #[test]
    fn diagonal_gaussians_have_closed_form() {
        // For diagonal covariances FID = |Δμ|² + Σ (√a − √b)².
        let a = stats(
            vec![0.0, 1.0],
            DMatrix::from_diagonal(&DVector::from_vec(vec![4.0, 1.0])),
        );
        let b = stats(
            vec![1.0, 1.0],
            DMatrix::from_diagonal(&DVector::from_vec(vec![1.0, 9.0])),
        );
        let want = 1.0 + (2.0f64 - 1.0).powi(2) + (1.0f64 - 3.0).powi(2);
        let got = frechet_distance(&a, &b).unwrap();
        assert!((got - want).abs() < 1e-9, "{got} vs {want}");
    }

    #[test]
    fn identical_gaussians_give_zero_and_sqrt_squares_back() {
        let m = DMatrix::from_row_slice(3, 3, &[2.0, 0.5, 0.1, 0.5, 1.0, 0.2, 0.1, 0.2, 0.7]);
        let r = psd_sqrt(&m);
        assert!((&r * &r - &m).abs().max() < 1e-12);
        let a = stats(vec![0.3, 0.2, 0.1], m.clone());
        assert!(frechet_distance(&a, &a.clone()).unwrap() < 1e-9);
    }

    #[test]
    fn mismatched_dimensions_are_an_error() {
        let a = stats(vec![0.0], DMatrix::identity(1, 1));
        let b = stats(vec![0.0, 0.0], DMatrix::identity(2, 2));
        assert!(frechet_distance(&a, &b).is_err());
    }
}
