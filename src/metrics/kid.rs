//! Kernel Inception Distance (Bińkowski et al. 2018): the unbiased MMD² with the cubic
//! polynomial kernel `k(x, y) = (xᵀy / D + 1)³`, averaged over random subsets, as
//! torch-fidelity and clean-fid compute it (defaults: 100 subsets of 1,000).

use super::pairwise::as_f64_matrix;
use anyhow::{bail, Result};
use candle_core::Tensor;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

#[derive(Debug, Clone, Copy)]
pub struct KidOptions {
    pub subsets: usize,
    /// Samples per subset; capped at the smaller set's size.
    pub subset_size: usize,
    pub seed: u64,
}

impl Default for KidOptions {
    fn default() -> Self {
        Self {
            subsets: 100,
            subset_size: 1000,
            seed: 0,
        }
    }
}

#[derive(Debug, Clone, Copy, serde::Serialize, serde::Deserialize, PartialEq)]
pub struct Kid {
    pub mean: f64,
    pub std: f64,
}

/// One subset: row indices into the real and into the generated features.
pub type Subset = (Vec<usize>, Vec<usize>);

/// Draw the subsets KID averages over (without replacement within a subset), seeded.
pub fn draw_subsets(n_real: usize, n_fake: usize, opts: &KidOptions) -> Result<Vec<Subset>> {
    let m = opts.subset_size.min(n_real).min(n_fake);
    if m < 2 {
        bail!(
            "KID: need at least 2 samples on each side, got {n_real} real and {n_fake} generated"
        );
    }
    if opts.subsets == 0 {
        bail!("KID: the number of subsets must be at least 1");
    }
    let mut rng = ChaCha8Rng::seed_from_u64(opts.seed);
    Ok((0..opts.subsets)
        .map(|_| {
            let r = rand::seq::index::sample(&mut rng, n_real, m).into_vec();
            let f = rand::seq::index::sample(&mut rng, n_fake, m).into_vec();
            (r, f)
        })
        .collect())
}

/// KID with seeded random subsets.
pub fn kid(real: &Tensor, fake: &Tensor, opts: &KidOptions) -> Result<Kid> {
    let subsets = draw_subsets(real.dim(0)?, fake.dim(0)?, opts)?;
    kid_on_subsets(real, fake, &subsets)
}

/// KID over given subsets (exposed so an independent implementation can use the same ones).
pub fn kid_on_subsets(real: &Tensor, fake: &Tensor, subsets: &[Subset]) -> Result<Kid> {
    let real = as_f64_matrix(real, "KID real features")?;
    let fake = as_f64_matrix(fake, "KID generated features")?;
    let d = real.dim(1)?;
    if fake.dim(1)? != d {
        bail!("KID: feature dimensions differ ({d} vs {})", fake.dim(1)?);
    }
    let mut values = Vec::with_capacity(subsets.len());
    for (ri, fi) in subsets {
        let x = gather(&real, ri)?;
        let y = gather(&fake, fi)?;
        values.push(mmd2_unbiased(&x, &y, d)?);
    }
    let n = values.len() as f64;
    let mean = values.iter().sum::<f64>() / n;
    // Population std over subsets, as torch-fidelity reports it.
    let std = (values.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / n).sqrt();
    Ok(Kid { mean, std })
}

fn gather(x: &Tensor, rows: &[usize]) -> Result<Tensor> {
    let n = x.dim(0)?;
    if let Some(bad) = rows.iter().find(|&&r| r >= n) {
        bail!("KID: subset row {bad} out of range for {n} samples");
    }
    let idx: Vec<u32> = rows.iter().map(|&r| r as u32).collect();
    let idx = Tensor::from_vec(idx, rows.len(), x.device())?;
    Ok(x.index_select(&idx, 0)?)
}

/// `t³` as products: exact for negative bases on every backend (unlike a generic `powf`).
fn cube(t: &Tensor) -> Result<Tensor> {
    Ok(t.sqr()?.mul(t)?)
}

fn mmd2_unbiased(x: &Tensor, y: &Tensor, d: usize) -> Result<f64> {
    let m = x.dim(0)? as f64;
    let n = y.dim(0)? as f64;
    let kernel = |a: &Tensor, b: &Tensor| -> Result<Tensor> {
        cube(&a.matmul(&b.t()?)?.affine(1.0 / d as f64, 1.0)?)
    };
    let kxx = kernel(x, x)?;
    let kyy = kernel(y, y)?;
    let kxy = kernel(x, y)?;
    let sum = |t: &Tensor| -> Result<f64> { Ok(t.sum_all()?.to_scalar::<f64>()?) };
    // Unbiased: drop the diagonal k(x, x) terms.
    let diag =
        |x: &Tensor| -> Result<f64> { sum(&cube(&x.sqr()?.sum(1)?.affine(1.0 / d as f64, 1.0)?)?) };
    let xx = (sum(&kxx)? - diag(x)?) / (m * (m - 1.0));
    let yy = (sum(&kyy)? - diag(y)?) / (n * (n - 1.0));
    let xy = sum(&kxy)? / (m * n);
    Ok(xx + yy - 2.0 * xy)
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::Device;

    #[test]
    fn kid_is_near_zero_for_same_distribution_and_grows_with_shift() {
        let dev = Device::Cpu;
        let a = Tensor::randn(0f32, 1.0, (400, 6), &dev).unwrap();
        let b = Tensor::randn(0f32, 1.0, (400, 6), &dev).unwrap();
        let c = (Tensor::randn(0f32, 1.0, (400, 6), &dev).unwrap() + 1.0).unwrap();
        let opts = KidOptions {
            subsets: 10,
            subset_size: 200,
            seed: 1,
        };
        let same = kid(&a, &b, &opts).unwrap();
        let shifted = kid(&a, &c, &opts).unwrap();
        assert!(same.mean.abs() < 0.05, "{same:?}");
        assert!(
            shifted.mean > 10.0 * same.mean.abs().max(1e-3),
            "{shifted:?} vs {same:?}"
        );
    }

    #[test]
    fn subsets_are_reproducible_and_bounded() {
        let o = KidOptions {
            subsets: 3,
            subset_size: 50,
            seed: 7,
        };
        let s1 = draw_subsets(30, 40, &o).unwrap();
        assert_eq!(s1, draw_subsets(30, 40, &o).unwrap());
        assert_eq!(s1[0].0.len(), 30);
        assert!(draw_subsets(1, 40, &o).is_err());
    }
}
