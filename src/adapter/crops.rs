//! Random square crops of a batch, as the classifier sees them: the substrate method's
//! negatives and view jitter, and its evaluation's crop check, draw them the same way. Crops are
//! `narrow`s, so gradients flow back to the uncropped images.

use anyhow::Result;
use candle_core::Tensor;
use rand::Rng;
use rand_chacha::ChaCha8Rng;

/// Image `i` of `images` cut to `boxes[i]` = `(side, y, x)`; all sides equal.
pub fn cut(images: &Tensor, boxes: &[(usize, usize, usize)]) -> Result<Tensor> {
    let parts = boxes
        .iter()
        .enumerate()
        .map(|(i, &(side, y, x))| {
            Ok(images
                .narrow(0, i, 1)?
                .narrow(2, y, side)?
                .narrow(3, x, side)?)
        })
        .collect::<Result<Vec<_>>>()?;
    Ok(Tensor::cat(&parts, 0)?)
}

/// Crop boxes `(side, y, x)`: `crops` rounds, each one side (a fraction of `r` in `frac`)
/// for all `n` images, at a random place per image; no image gets the same box twice
/// (a repeat is redrawn; repeats are possible only when two rounds draw the same side).
pub fn crop_boxes(
    rng: &mut ChaCha8Rng,
    n: usize,
    r: usize,
    crops: usize,
    frac: (f64, f64),
) -> Vec<Vec<(usize, usize, usize)>> {
    let mut taken: Vec<Vec<(usize, usize, usize)>> = vec![vec![]; n];
    (0..crops)
        .map(|_| {
            let side =
                ((r as f64 * rng.random_range(frac.0..=frac.1)).round() as usize).clamp(1, r);
            taken
                .iter_mut()
                .map(|seen| {
                    let mut at = (
                        rng.random_range(0..=r - side),
                        rng.random_range(0..=r - side),
                    );
                    for _ in 0..64 {
                        if !seen.contains(&(side, at.0, at.1)) {
                            break;
                        }
                        at = (
                            rng.random_range(0..=r - side),
                            rng.random_range(0..=r - side),
                        );
                    }
                    seen.push((side, at.0, at.1));
                    (side, at.0, at.1)
                })
                .collect()
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cut_takes_each_images_own_box() {
        let x = Tensor::arange(0f32, 32.0, &candle_core::Device::Cpu)
            .unwrap()
            .reshape((2, 1, 4, 4))
            .unwrap();
        let y = cut(&x, &[(2, 0, 0), (2, 2, 2)]).unwrap();
        assert_eq!(
            y.flatten_all().unwrap().to_vec1::<f32>().unwrap(),
            vec![0.0, 1.0, 4.0, 5.0, 26.0, 27.0, 30.0, 31.0]
        );
    }
}
