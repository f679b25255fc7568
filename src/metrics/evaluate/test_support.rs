//! Hand-made classifier, feature extractor and two-class data the pipeline's tests share:
//! small enough to run in a unit test, separable enough that every metric has a clear answer.

use crate::classifier::Classifier;
use crate::data::Dataset;
use crate::metrics::features::FeatureExtractor;
use anyhow::Result;
use candle_core::{Device, Tensor};

/// Class = the brighter of the first two channels (the third is background, so the
/// images are RGB and can go into the report).
pub(super) struct FirstTwoChannels {
    pub names: Vec<String>,
}
impl Classifier for FirstTwoChannels {
    fn logits(&self, x: &Tensor) -> Result<Tensor> {
        Ok((x.narrow(1, 0, 2)?.mean(3)?.mean(2)? * 10.0)?)
    }
    fn class_names(&self) -> &[String] {
        &self.names
    }
}

/// Identity-ish features: the per-channel mean and the pixel std, so classes separate.
pub(super) struct MeanStd;
impl FeatureExtractor for MeanStd {
    fn features(&self, x: &Tensor) -> Result<Tensor> {
        let m = x.mean(3)?.mean(2)?;
        let s = x.flatten_from(1)?.var_keepdim(1)?;
        Ok(Tensor::cat(&[m, s], 1)?)
    }
    fn describe(&self) -> String {
        "mean+std".into()
    }
}

/// Two classes of 3x8x8 images: channel c bright, background channel 2 with `noise`.
pub(super) fn noisy_class(c: usize, n: usize, noise: f32) -> Result<Tensor> {
    let z = Tensor::randn(0f32, noise, (n, 3, 8, 8), &Device::Cpu)?;
    let base = if c == 0 {
        [0.6f32, -0.6, 0.0]
    } else {
        [-0.6, 0.6, 0.0]
    };
    let b = Tensor::new(&base, &Device::Cpu)?.reshape((1, 3, 1, 1))?;
    Ok(z.broadcast_add(&b)?.clamp(-1f32, 1f32)?)
}

/// `per_class` real images of each of the two classes, as a dataset named `names`.
pub(super) fn two_class_real(names: &[String], per_class: usize, noise: f32) -> Dataset {
    let x = Tensor::cat(
        &[
            noisy_class(0, per_class, noise).unwrap(),
            noisy_class(1, per_class, noise).unwrap(),
        ],
        0,
    )
    .unwrap();
    Dataset::new(
        x.flatten_all().unwrap().to_vec1().unwrap(),
        (3, 8, 8),
        (0..2 * per_class).map(|i| (i / per_class) as u32).collect(),
        names.to_vec(),
        None,
    )
    .unwrap()
}
