//! Self-supervised rotation tasks for the discriminator (Chen et al. 2019, SS-GAN; and the
//! multi-class minimax version of Tran et al. 2019, MS-GAN).
//!
//! Each image is turned by a multiple of 90° and a head on D's features predicts the turn.
//! Learning it keeps D's features about shape, so D does not forget what it learned about
//! earlier modes. SS-GAN trains the head on real images only; G is rewarded when its turned
//! images are recognised. MS-GAN adds a fifth class, "fake": D must tell the turn of a real
//! image *and* that a turned fake is fake, while G wants its turned fakes read as the turn;
//! a collapsed G cannot win that game by drawing one easy image.

use anyhow::{bail, Result};
use candle_core::{Device, Tensor};

/// Number of rotation classes; with the "fake" class of the minimax version the head has
/// one more output.
pub const ROTATIONS: usize = 4;

/// Index of the minimax version's "fake" class.
pub const FAKE_CLASS: u32 = ROTATIONS as u32;

/// `x` ([N, C, H, W], H == W) turned by `quarter_turns[i]` × 90° counter-clockwise per sample.
pub fn rotate(x: &Tensor, quarter_turns: &[u32]) -> Result<Tensor> {
    let dims = x.dims();
    if dims.len() != 4 || dims[2] != dims[3] {
        bail!("rotation: expected square images [N, C, H, W], got {dims:?}");
    }
    if quarter_turns.len() != dims[0] {
        bail!(
            "rotation: {} turns for {} images",
            quarter_turns.len(),
            dims[0]
        );
    }
    let side = dims[3];
    let reversed = Tensor::from_vec((0..side as u32).rev().collect::<Vec<_>>(), side, x.device())?;
    let flip_w = |t: &Tensor| t.contiguous()?.index_select(&reversed, 3);
    let flip_h = |t: &Tensor| t.contiguous()?.index_select(&reversed, 2);
    let mut out = Vec::with_capacity(dims[0]);
    for (i, &k) in quarter_turns.iter().enumerate() {
        let img = x.narrow(0, i, 1)?;
        // 90° counter-clockwise = transpose then flip vertically.
        let turned = match k % 4 {
            0 => img,
            1 => flip_h(&img.transpose(2, 3)?)?,
            2 => flip_h(&flip_w(&img)?)?,
            _ => flip_w(&img.transpose(2, 3)?)?,
        };
        out.push(turned);
    }
    Ok(Tensor::cat(&out, 0)?)
}

/// Balanced turns for a batch of n: 0, 1, 2, 3, 0, … (host copy and device tensor).
pub fn balanced_turns(n: usize, device: &Device) -> Result<(Vec<u32>, Tensor)> {
    let turns: Vec<u32> = (0..n).map(|i| (i % ROTATIONS) as u32).collect();
    let t = Tensor::from_vec(turns.clone(), n, device)?;
    Ok((turns, t))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn image(v: &[f32]) -> Tensor {
        Tensor::from_vec(v.to_vec(), (1, 1, 2, 2), &Device::Cpu).unwrap()
    }

    #[test]
    fn quarter_turns_move_pixels_counter_clockwise() {
        // [[a, b], [c, d]] turned 90° counter-clockwise is [[b, d], [a, c]].
        let x = image(&[1., 2., 3., 4.]);
        let got = |k: u32| -> Vec<f32> {
            rotate(&x, &[k])
                .unwrap()
                .flatten_all()
                .unwrap()
                .to_vec1()
                .unwrap()
        };
        assert_eq!(got(0), vec![1., 2., 3., 4.]);
        assert_eq!(got(1), vec![2., 4., 1., 3.]);
        assert_eq!(got(2), vec![4., 3., 2., 1.]);
        assert_eq!(got(3), vec![3., 1., 4., 2.]);
        // Four quarter turns are the identity; per-sample turns in one batch.
        let twice = rotate(&rotate(&x, &[3]).unwrap(), &[1]).unwrap();
        assert_eq!(
            twice.flatten_all().unwrap().to_vec1::<f32>().unwrap(),
            got(0)
        );
        let batch = Tensor::cat(&[&x, &x], 0).unwrap();
        let r = rotate(&batch, &[0, 2]).unwrap();
        let v: Vec<f32> = r.flatten_all().unwrap().to_vec1().unwrap();
        assert_eq!(v, vec![1., 2., 3., 4., 4., 3., 2., 1.]);
    }

    #[test]
    fn refuses_non_square_images_and_miscounted_turns() {
        let x = Tensor::zeros((1, 1, 2, 3), candle_core::DType::F32, &Device::Cpu).unwrap();
        assert!(rotate(&x, &[1]).is_err());
        assert!(rotate(&image(&[1., 2., 3., 4.]), &[1, 2]).is_err());
    }
}
