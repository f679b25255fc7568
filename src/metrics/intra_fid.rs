//! Intra-FID (Miyato & Koyama 2018): FID computed separately inside each class, comparing a
//! class's generated samples with that class's real images. For the unseen class it is the
//! quality measure the ProbeGAN paper reports, and it needs real unseen-class data.

use super::fid::fid;
use anyhow::{bail, Context, Result};
use candle_core::Tensor;
use std::collections::BTreeMap;

/// Per-class FID for every class present in both label lists, keyed by class index.
/// `real_labels[i]` is the class of row `i` of `real`, likewise for `fake`.
pub fn intra_fid(
    real: &Tensor,
    real_labels: &[usize],
    fake: &Tensor,
    fake_labels: &[usize],
) -> Result<BTreeMap<usize, f64>> {
    if real.dim(0)? != real_labels.len() || fake.dim(0)? != fake_labels.len() {
        bail!(
            "intra-FID: {} real rows with {} labels, {} generated rows with {} labels",
            real.dim(0)?,
            real_labels.len(),
            fake.dim(0)?,
            fake_labels.len()
        );
    }
    let mut out = BTreeMap::new();
    let classes: std::collections::BTreeSet<usize> = fake_labels.iter().copied().collect();
    for class in classes {
        let r = rows_of(real, real_labels, class)?;
        let f = rows_of(fake, fake_labels, class)?;
        let (Some(r), Some(f)) = (r, f) else { continue };
        let v = fid(&r, &f).with_context(|| format!("intra-FID of class {class}"))?;
        out.insert(class, v);
    }
    Ok(out)
}

/// The rows of `x` whose label is `class` (None when fewer than two).
pub fn rows_of(x: &Tensor, labels: &[usize], class: usize) -> Result<Option<Tensor>> {
    let idx: Vec<u32> = labels
        .iter()
        .enumerate()
        .filter(|(_, &l)| l == class)
        .map(|(i, _)| i as u32)
        .collect();
    if idx.len() < 2 {
        return Ok(None);
    }
    let n = idx.len();
    let idx = Tensor::from_vec(idx, n, x.device())?;
    Ok(Some(x.index_select(&idx, 0)?))
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::Device;

    #[test]
    fn each_class_is_compared_with_its_own_real_rows() {
        let dev = Device::Cpu;
        // class 0 real ~ N(0,1), class 1 real ~ N(5,1); fakes: class 0 right, class 1 at 0.
        let r0 = Tensor::randn(0f32, 1.0, (300, 3), &dev).unwrap();
        let r1 = (Tensor::randn(0f32, 1.0, (300, 3), &dev).unwrap() + 5.0).unwrap();
        let f0 = Tensor::randn(0f32, 1.0, (300, 3), &dev).unwrap();
        let f1 = Tensor::randn(0f32, 1.0, (300, 3), &dev).unwrap();
        let real = Tensor::cat(&[&r0, &r1], 0).unwrap();
        let fake = Tensor::cat(&[&f0, &f1], 0).unwrap();
        let labels: Vec<usize> = (0..600).map(|i| i / 300).collect();
        let m = intra_fid(&real, &labels, &fake, &labels).unwrap();
        assert!(m[&0] < 0.5, "{m:?}");
        assert!(m[&1] > 60.0, "{m:?}"); // |Δμ|² = 3·25 = 75
    }
}
