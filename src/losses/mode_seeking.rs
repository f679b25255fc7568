//! Mode seeking (MSGAN, Mao et al. 2019): two codes of one class that differ must give images
//! that differ. Per pair, the ratio of the codes' mean absolute difference to the images'
//! (plus `MIN_IMAGE_GAP`); the loss is the mean ratio over the pairs. It is large when a
//! class's images collapse onto one picture and fades as they spread, unlike a plain
//! distance reward, which would push pixels to saturation for ever.

use anyhow::{bail, Result};
use candle_core::Tensor;

/// Added to the images' mean absolute difference (images in [-1, 1]): it bounds the ratio
/// of a fully collapsed pair at `|Δz| / MIN_IMAGE_GAP` instead of infinity, so the term's
/// gradient stays within a few orders of the adversarial ones'. Distinct real
/// Fashion-MNIST images of one class differ by 0.2–0.5 on this scale.
pub const MIN_IMAGE_GAP: f64 = 0.05;

/// Pairs (i < j) of samples with equal labels, restricted to `classes` when given.
pub fn same_class_pairs(labels: &[u32], classes: Option<&[usize]>) -> Vec<(usize, usize)> {
    let counts = |l: u32| classes.is_none_or(|c| c.contains(&(l as usize)));
    let mut pairs = vec![];
    for i in 0..labels.len() {
        for j in i + 1..labels.len() {
            if labels[i] == labels[j] && counts(labels[i]) {
                pairs.push((i, j));
            }
        }
    }
    pairs
}

/// Mean over `pairs` of `mean|z_i − z_j| / (mean|x_i − x_j| + MIN_IMAGE_GAP)`, `z` [N, Dz]
/// (no gradient), `x` [N, ...]. Zero (with no gradient) when there is no pair.
pub fn mode_seeking(z: &Tensor, x: &Tensor, pairs: &[(usize, usize)]) -> Result<Tensor> {
    let n = z.dim(0)?;
    if x.dim(0)? != n {
        bail!("mode seeking: {n} latent codes but {} images", x.dim(0)?);
    }
    let dtype = x.dtype();
    if pairs.is_empty() {
        return Ok(Tensor::zeros((), dtype, x.device())?);
    }
    if let Some(&(i, j)) = pairs.iter().find(|&&(i, j)| i.max(j) >= n) {
        bail!("mode seeking: pair ({i}, {j}) out of range for {n} samples");
    }
    let index = |pick: fn(&(usize, usize)) -> usize| -> Result<Tensor> {
        let idx: Vec<u32> = pairs.iter().map(|p| pick(p) as u32).collect();
        Ok(Tensor::from_vec(idx, pairs.len(), x.device())?)
    };
    let (a, b) = (index(|p| p.0)?, index(|p| p.1)?);
    let gap = |t: &Tensor| -> Result<Tensor> {
        let t = t.flatten_from(1)?;
        Ok((t.index_select(&a, 0)? - t.index_select(&b, 0)?)?
            .abs()?
            .mean(1)?)
    };
    let dz = gap(&z.detach().to_dtype(dtype)?)?;
    let dx = (gap(x)? + MIN_IMAGE_GAP)?;
    Ok((dz / dx)?.mean_all()?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::{Device, Var};

    fn rows(v: &[&[f64]]) -> Tensor {
        let cols = v[0].len();
        let flat: Vec<f64> = v.iter().flat_map(|r| r.iter().copied()).collect();
        Tensor::from_vec(flat, (v.len(), cols), &Device::Cpu).unwrap()
    }

    #[test]
    fn pairs_of_one_class_within_the_chosen_classes() {
        let labels = [3, 1, 3, 1, 3];
        assert_eq!(
            same_class_pairs(&labels, Some(&[3])),
            vec![(0, 2), (0, 4), (2, 4)]
        );
        assert_eq!(same_class_pairs(&labels, None).len(), 4);
        assert!(same_class_pairs(&labels, Some(&[7])).is_empty());
    }

    #[test]
    fn matches_the_hand_computed_ratio() {
        // Pair (0, 1): |Δz| = (2 + 0) / 2 = 1, |Δx| = (1 + 0) / 2 = 0.5 -> 1 / 0.55.
        // Pair (0, 2): |Δz| = (0 + 4) / 2 = 2, |Δx| = (1 + 1) / 2 = 1 -> 2 / 1.05.
        let z = rows(&[&[0., 0.], &[2., 0.], &[0., 4.]]);
        let x = rows(&[&[1., 1.], &[0., 1.], &[0., 0.]]);
        let got = mode_seeking(&z, &x, &[(0, 1), (0, 2)])
            .unwrap()
            .to_scalar::<f64>()
            .unwrap();
        let want = (1.0 / 0.55 + 2.0 / 1.05) / 2.0;
        assert!((got - want).abs() < 1e-12, "{got} vs {want}");
        let none = mode_seeking(&z, &x, &[]).unwrap();
        assert_eq!(none.to_scalar::<f64>().unwrap(), 0.0);
        assert!(mode_seeking(&z, &x, &[(0, 3)]).is_err());
    }

    #[test]
    fn a_descent_step_spreads_a_collapsed_pair() {
        let z = rows(&[&[0., 0.], &[1., 1.]]);
        let x0 = [0.0, 0.1, 0.01, 0.1];
        let x = Var::from_tensor(&Tensor::from_vec(x0.to_vec(), (2, 2), &Device::Cpu).unwrap())
            .unwrap();
        let l = mode_seeking(&z, x.as_tensor(), &[(0, 1)]).unwrap();
        let g = crate::losses::gradient_of(&l, &x);
        let x1: Vec<f64> = x0.iter().zip(&g).map(|(x, g)| x - 0.01 * g).collect();
        let gap = |x: &[f64]| (x[0] - x[2]).abs() + (x[1] - x[3]).abs();
        assert!(gap(&x1) > gap(&x0), "descent must spread the pair: {g:?}");
    }
}
