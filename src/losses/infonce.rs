//! InfoMax-GAN's contrastive term (Lee et al. 2021): InfoNCE between a discriminator's
//! global feature of each image and its local features at every location. The positive pair
//! is an image's own global and local features; the other images of the batch at the same
//! location are the negatives. Maximising this mutual information keeps D's features
//! informative about each image (against forgetting), and G pays the same loss on its fakes
//! (against collapse: identical fakes cannot be told apart).

use crate::losses::log_softmax;
use anyhow::{bail, Result};
use candle_core::Tensor;

/// `global`: [N, d]; `local`: [N, L, d] (L locations). Mean over images and locations of
/// −log softmax_j(global_i · local_{j,l})[i].
pub fn infonce(global: &Tensor, local: &Tensor) -> Result<Tensor> {
    let (n, d) = global.dims2()?;
    let (nl, l, dl) = local.dims3()?;
    if nl != n || dl != d {
        bail!(
            "InfoNCE: global {:?} and local {:?} features disagree",
            global.dims(),
            local.dims()
        );
    }
    if n < 2 {
        bail!("InfoNCE needs at least 2 images for negatives, got {n}");
    }
    // scores[i, j, l] = global_i · local_{j, l}; then per (i, l) a softmax over j.
    let scores = global
        .matmul(&local.reshape((n * l, d))?.t()?)?
        .reshape((n, n, l))?
        .transpose(1, 2)?
        .contiguous()?
        .reshape((n * l, n))?;
    let log_p = log_softmax(&scores)?.reshape((n, l, n))?;
    let eye = Tensor::eye(n, log_p.dtype(), log_p.device())?.reshape((n, 1, n))?;
    let positive = log_p.broadcast_mul(&eye)?.sum(2)?; // [N, L]
    Ok(positive.mean_all()?.neg()?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::Device;

    #[test]
    fn matches_the_hand_computed_value() {
        // N = 2, one location, d = 1: global (1, 2), local (1, -1).
        // Image 0: scores (1, -1), positive 1: 1 - ln(e + 1/e).
        // Image 1: scores (2, -2), positive -2: -2 - ln(e² + e⁻²).
        // Loss = -(sum)/2 = (0.1269 + 4.0181) / 2.
        let g = Tensor::from_vec(vec![1f64, 2.], (2, 1), &Device::Cpu).unwrap();
        let l = Tensor::from_vec(vec![1f64, -1.], (2, 1, 1), &Device::Cpu).unwrap();
        let got = infonce(&g, &l).unwrap().to_scalar::<f64>().unwrap();
        assert!((got - 2.072_538_969_480_391).abs() < 1e-12, "{got}");
    }

    #[test]
    fn aligned_features_score_lower_than_shuffled_ones() {
        let g = Tensor::from_vec(vec![3f64, 0., 0., 3.], (2, 2), &Device::Cpu).unwrap();
        let aligned = Tensor::from_vec(
            vec![1f64, 0., 1., 0., 0., 1., 0., 1.],
            (2, 2, 2),
            &Device::Cpu,
        )
        .unwrap();
        let swapped = Tensor::from_vec(
            vec![0f64, 1., 0., 1., 1., 0., 1., 0.],
            (2, 2, 2),
            &Device::Cpu,
        )
        .unwrap();
        let a = infonce(&g, &aligned).unwrap().to_scalar::<f64>().unwrap();
        let s = infonce(&g, &swapped).unwrap().to_scalar::<f64>().unwrap();
        assert!(a < 0.1 && s > 2.0, "aligned {a}, swapped {s}");
        assert!(infonce(
            &g.narrow(0, 0, 1).unwrap(),
            &aligned.narrow(0, 0, 1).unwrap()
        )
        .is_err());
    }
}
