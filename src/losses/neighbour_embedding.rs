//! GN-GAN's neighbour embedding (Tran et al. 2018): an inverse t-SNE term that keeps the
//! latent neighbourhoods of a batch in the generated images. Two codes far apart in z must
//! stay apart in the images, so the generator cannot send every z to one picture.
//!
//! P and Q are Student-t (one degree of freedom) affinities of the latent codes and of the
//! flattened images, normalised over the pairs considered; the loss is KL(P || Q). For a
//! conditional generator only pairs of the same class count: images of different classes are
//! far apart whatever their codes.

use anyhow::{bail, Result};
use candle_core::Tensor;

/// Student-t affinities of the rows of `x` ([N, D]), normalised over `pairs` ([N, N] 0/1).
fn affinities(x: &Tensor, pairs: &Tensor) -> Result<Tensor> {
    let sq = x.sqr()?.sum_keepdim(1)?; // [N, 1]
    let d2 = (sq.broadcast_add(&sq.t()?)? - (x.matmul(&x.t()?)? * 2.0)?)?.relu()?;
    let kernel = ((d2 + 1.0)?.recip()? * pairs)?;
    Ok(kernel.broadcast_div(&kernel.sum_all()?)?)
}

/// KL(P || Q) between the latent codes `z` ([N, Dz]) and the images `x` ([N, ...]).
/// `labels`: pairs of equal labels only; `None`: every pair of distinct samples. Zero (with
/// no gradient) when no pair qualifies.
pub fn neighbour_embedding(z: &Tensor, x: &Tensor, labels: Option<&[u32]>) -> Result<Tensor> {
    let n = z.dim(0)?;
    if x.dim(0)? != n {
        bail!(
            "neighbour embedding: {n} latent codes but {} images",
            x.dim(0)?
        );
    }
    let same = |i: usize, j: usize| labels.is_none_or(|l| l[i] == l[j]);
    let mask: Vec<f32> = (0..n * n)
        .map(|k| {
            let (i, j) = (k / n, k % n);
            if i != j && same(i, j) {
                1.0
            } else {
                0.0
            }
        })
        .collect();
    let dtype = x.dtype();
    if mask.iter().all(|&m| m == 0.0) {
        return Ok(Tensor::zeros((), dtype, x.device())?);
    }
    let pairs = Tensor::from_vec(mask, (n, n), x.device())?.to_dtype(dtype)?;
    let p = affinities(&z.detach().to_dtype(dtype)?, &pairs)?;
    let q = affinities(&x.flatten_from(1)?, &pairs)?;
    // Outside the pairs P = Q = 0: add 1 there so the log is 0 and the term vanishes.
    let outside = (1.0 - &pairs)?;
    let log_p = (&p + &outside)?.log()?;
    let log_q = (&q + &outside)?.log()?;
    Ok((p * (log_p - log_q)?)?.sum_all()?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::{Device, Var};

    fn col(v: &[f64]) -> Tensor {
        Tensor::from_vec(v.to_vec(), (v.len(), 1), &Device::Cpu).unwrap()
    }

    #[test]
    fn matches_the_hand_computed_kl() {
        // z = 0, 1, 3: squared distances 1, 9, 4 -> kernels 1/2, 1/10, 1/5 (sum over ordered
        // pairs 1.6): P = .3125, .0625, .125. x = 0, 2, 2: squared distances 4, 4, 0 ->
        // kernels .2, .2, 1 (sum 2.8): Q = .0714, .0714, .3571.
        // KL = 2 (.3125 ln(.3125/.0714) + .0625 ln(.0625/.0714) + .125 ln(.125/.3571)).
        let l = neighbour_embedding(&col(&[0., 1., 3.]), &col(&[0., 2., 2.]), None).unwrap();
        let got = l.to_scalar::<f64>().unwrap();
        assert!((got - 0.643_294_619_678_251_2).abs() < 1e-12, "{got}");
    }

    #[test]
    fn only_pairs_of_one_class_count() {
        // Labels 0, 0, 1: the single pair (0, 1) has P = Q = 1/2 each way: KL = 0.
        let l = neighbour_embedding(&col(&[0., 1., 3.]), &col(&[0., 2., 2.]), Some(&[0, 0, 1]));
        assert!(l.unwrap().to_scalar::<f64>().unwrap().abs() < 1e-12);
        // No pair at all: zero.
        let l = neighbour_embedding(&col(&[0., 1.]), &col(&[0., 2.]), Some(&[0, 1])).unwrap();
        assert_eq!(l.to_scalar::<f64>().unwrap(), 0.0);
    }

    #[test]
    fn a_collapsed_batch_is_pushed_apart() {
        // Three codes, images nearly identical: a descent step must spread the images.
        let x0 = [0.0, 0.01, 0.02];
        let x = Var::from_tensor(&col(&x0)).unwrap();
        let l = neighbour_embedding(&col(&[0., 1., 3.]), x.as_tensor(), None).unwrap();
        assert!(l.to_scalar::<f64>().unwrap() > 0.1);
        let g = crate::losses::gradient_of(&l, &x);
        let x1: Vec<f64> = x0.iter().zip(&g).map(|(x, g)| x - 0.1 * g).collect();
        assert!(
            x1[2] - x1[0] > x0[2] - x0[0],
            "descent must spread the images: {g:?}"
        );
    }
}
