//! Random views of generated images on their way to the classifier: a blur, a 2×2 resample
//! and a random crop (shift and rescale; the adapter resizes it to the classifier's input).
//! A classifier term that must hold under every view cannot be met by a pixel pattern that
//! only one exact rendering carries, the texture a non-robust classifier likes (feature
//! visualisation's transformation robustness). The substrate method's positive term and the
//! class-conditional methods' classifier term in G's loss (`loss.ce_view_*`) draw their views
//! here. All steps are differentiable.

use crate::adapter::crops::{crop_boxes, cut};
use crate::metrics::ssim::gaussian_blur_3sigma;
use anyhow::{bail, Result};
use candle_core::Tensor;
use rand::Rng;
use rand_chacha::ChaCha8Rng;

/// How wide the random views are; all zeros is the identity.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct ViewSpec {
    /// A random square crop of side in [1 − jitter, 1] of the image.
    pub jitter: f64,
    /// Probability of 2×2 means repeated back (a lost half resolution).
    pub resample: f64,
    /// Gaussian blur σ drawn uniformly in [0, blur] pixels per batch.
    pub blur: f64,
}

/// One drawn view, applied the same way to whatever batch it is given.
#[derive(Debug, Clone, PartialEq)]
pub struct View {
    resample: bool,
    sigma: f64,
    boxes: Option<Vec<(usize, usize, usize)>>,
}

impl ViewSpec {
    /// `name`: the config prefix the three keys live under, for the error.
    pub fn validate(&self, name: &str) -> Result<()> {
        if !(0.0..0.9).contains(&self.jitter) {
            bail!(
                "{name}_jitter = {}: expected a fraction of the side in [0, 0.9)",
                self.jitter
            );
        }
        if !(0.0..=1.0).contains(&self.resample) {
            bail!(
                "{name}_resample = {}: expected a probability in [0, 1]",
                self.resample
            );
        }
        if !(0.0..=4.0).contains(&self.blur) {
            bail!(
                "{name}_blur = {}: expected a blur σ in [0, 4] pixels",
                self.blur
            );
        }
        Ok(())
    }

    /// The same views made `s` (in [0, 1]) as strong: 0 is the identity.
    pub fn scaled(&self, s: f64) -> ViewSpec {
        let s = s.clamp(0.0, 1.0);
        ViewSpec {
            jitter: self.jitter * s,
            resample: self.resample * s,
            blur: self.blur * s,
        }
    }

    /// Draw a view for `n` images of `h` × `w` pixels.
    pub fn draw(&self, rng: &mut ChaCha8Rng, n: usize, h: usize, w: usize) -> Result<View> {
        let resample =
            self.resample > 0.0 && rng.random_bool(self.resample) && h % 2 == 0 && w % 2 == 0;
        let sigma = if self.blur > 0.0 {
            rng.random_range(0.0..=self.blur)
        } else {
            0.0
        };
        let boxes = if self.jitter > 0.0 {
            if h != w {
                bail!("a view jitter needs square images, these are {h} x {w}");
            }
            let mut rounds = crop_boxes(rng, n, h, 1, (1.0 - self.jitter, 1.0));
            Some(rounds.remove(0))
        } else {
            None
        };
        Ok(View {
            resample,
            sigma,
            boxes,
        })
    }
}

impl View {
    pub fn apply(&self, images: &Tensor) -> Result<Tensor> {
        let (_, _, h, w) = images.dims4()?;
        let mut x = images.clone();
        if self.resample {
            // Means of 2×2 blocks, repeated back (candle has no bilinear backward; the
            // adapter's resize to the classifier smooths the blocks).
            x = x.avg_pool2d(2)?.upsample_nearest2d(h, w)?;
        }
        // Below a third of a pixel a blur's outer taps are ~0: not worth the convolution.
        if self.sigma > 0.3 {
            x = gaussian_blur_3sigma(&x, self.sigma)?;
        }
        if let Some(boxes) = &self.boxes {
            x = cut(&x, boxes)?;
        }
        Ok(x)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::{Device, Var};
    use rand::SeedableRng;

    #[test]
    fn identity_changes_nothing_and_draws_nothing() {
        let mut rng = ChaCha8Rng::seed_from_u64(0);
        let x = Tensor::rand(0f32, 1.0, (2, 1, 8, 8), &Device::Cpu).unwrap();
        let view = ViewSpec::default().draw(&mut rng, 2, 8, 8).unwrap();
        let y = view.apply(&x).unwrap();
        let d: f32 = (y - &x)
            .unwrap()
            .abs()
            .unwrap()
            .sum_all()
            .unwrap()
            .to_scalar()
            .unwrap();
        assert_eq!(d, 0.0);
        let untouched = ChaCha8Rng::seed_from_u64(0);
        assert_eq!(rng, untouched, "the identity consumed random numbers");
    }

    /// A crop of side in [0.75, 1] of 8 pixels is 6–8 pixels; resampling turns a pixel
    /// checkerboard grey; gradients reach every pixel that the crop keeps.
    #[test]
    fn views_crop_resample_and_pass_gradients() {
        let dev = Device::Cpu;
        let mut rng = ChaCha8Rng::seed_from_u64(3);
        let board: Vec<f32> = (0..64).map(|i| ((i / 8 + i % 8) % 2) as f32).collect();
        let x = Var::from_tensor(&Tensor::from_vec(board, (1, 1, 8, 8), &dev).unwrap()).unwrap();
        let spec = ViewSpec {
            jitter: 0.25,
            resample: 1.0,
            blur: 0.0,
        };
        for _ in 0..10 {
            let view = spec.draw(&mut rng, 1, 8, 8).unwrap();
            let y = view.apply(x.as_tensor()).unwrap();
            let (_, _, h, w) = y.dims4().unwrap();
            assert!(h == w && (6..=8).contains(&h), "{h} x {w}");
            let values: Vec<f32> = y.flatten_all().unwrap().to_vec1().unwrap();
            assert!(values.iter().all(|v| (v - 0.5).abs() < 1e-6), "{values:?}");
            let g = crate::losses::gradient_of(&y.sum_all().unwrap(), &x);
            let reached = g.iter().filter(|v| **v > 0.0).count();
            assert!(reached >= h * w, "{reached} pixels reached, crop {h} x {w}");
        }
    }

    #[test]
    fn out_of_range_and_non_square_jitter_are_refused() {
        let bad = |s: ViewSpec| s.validate("loss.ce_view").unwrap_err().to_string();
        assert!(bad(ViewSpec {
            jitter: 0.95,
            ..Default::default()
        })
        .contains("ce_view_jitter"));
        assert!(bad(ViewSpec {
            resample: 1.5,
            ..Default::default()
        })
        .contains("ce_view_resample"));
        assert!(bad(ViewSpec {
            blur: -1.0,
            ..Default::default()
        })
        .contains("ce_view_blur"));
        let mut rng = ChaCha8Rng::seed_from_u64(0);
        let jitter = ViewSpec {
            jitter: 0.1,
            ..Default::default()
        };
        assert!(jitter.draw(&mut rng, 1, 8, 16).is_err());
    }
}
