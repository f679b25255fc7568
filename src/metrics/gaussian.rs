//! The Gaussian summary (mean and covariance) of a feature matrix that FID compares.

use super::pairwise::as_f64_matrix;
use anyhow::{bail, Result};
use candle_core::Tensor;
use nalgebra::{DMatrix, DVector};

/// Mean and unbiased covariance (divisor N − 1, as `numpy.cov`) of `[N, D]` features.
#[derive(Debug, Clone)]
pub struct GaussianStats {
    pub mean: DVector<f64>,
    pub cov: DMatrix<f64>,
    pub count: usize,
}

impl GaussianStats {
    /// The covariance is one `[D, N] x [N, D]` matmul on the features' device.
    pub fn from_features(features: &Tensor, what: &str) -> Result<Self> {
        let x = as_f64_matrix(features, what)?;
        let (n, d) = x.dims2()?;
        if n < 2 {
            bail!("{what}: need at least 2 samples for a covariance, got {n}");
        }
        let mean = x.mean_keepdim(0)?; // [1, D]
        let centred = x.broadcast_sub(&mean)?;
        let cov = centred
            .t()?
            .matmul(&centred)?
            .affine(1.0 / (n as f64 - 1.0), 0.0)?;
        let mean: Vec<f64> = mean.flatten_all()?.to_vec1()?;
        let cov: Vec<f64> = cov.flatten_all()?.to_vec1()?;
        if mean.iter().chain(cov.iter()).any(|v| !v.is_finite()) {
            bail!("{what}: features contain NaN or infinite values");
        }
        Ok(Self {
            mean: DVector::from_vec(mean),
            // row-major [D, D]; symmetric, so column-major reading is the same matrix
            cov: DMatrix::from_row_slice(d, d, &cov),
            count: n,
        })
    }

    pub fn dim(&self) -> usize {
        self.mean.len()
    }
}
