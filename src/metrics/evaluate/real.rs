//! Real images of the evaluated classes, matched to generated classes by name: the evidence
//! every distribution metric, the spectrum and the neighbour panels compare against.

use super::{EvalInputs, EvalOptions};
use crate::data::Dataset;
use crate::metrics::generator_space::real_in_generator_space;
use anyhow::Result;
use candle_core::{Device, Tensor};

/// Rows of the real images of one class (by name), up to `max`; None when fewer than 2.
pub(super) fn real_class_rows(real: &Dataset, name: &str, max: usize) -> Option<Vec<usize>> {
    let c = real.class_names.iter().position(|n| n == name)?;
    let idx: Vec<usize> = (0..real.len())
        .filter(|&i| real.labels[i] as usize == c)
        .take(max)
        .collect();
    (idx.len() >= 2).then_some(idx)
}

/// Real images of one class (by name), up to `max`, as `[n, C, H, W]`.
pub(super) fn real_class_images(
    real: &Dataset,
    name: &str,
    max: usize,
    device: &Device,
) -> Result<Option<Tensor>> {
    match real_class_rows(real, name, max) {
        Some(idx) => Ok(Some(real.batch(&idx, device)?.images)),
        None => Ok(None),
    }
}

/// The real images of every evaluated class, indexed like the generated classes; a class
/// without (enough) real images is None throughout.
pub(super) struct RealClasses {
    pub rows: Vec<Option<Vec<usize>>>,
    /// Each class's real images as stored (the feature extractor's input).
    pub images: Vec<Option<Tensor>>,
    /// All rows resampled the way training resampled them, for the spectrum and pixel
    /// neighbours; an error (e.g. other channels) only disables those, so it is kept.
    pub generator_space: Option<Result<Tensor>>,
}

impl RealClasses {
    /// Gather up to `opts.real_per_class` real images of each class; `like` is a generated
    /// batch giving the generator space.
    pub fn gather(inputs: &EvalInputs, opts: &EvalOptions, like: &Tensor) -> Result<Self> {
        let names = &inputs.class_names;
        let rows: Vec<Option<Vec<usize>>> = match inputs.real {
            Some(real) => names
                .iter()
                .map(|nm| real_class_rows(real, nm, opts.real_per_class))
                .collect(),
            None => vec![None; names.len()],
        };
        let images: Vec<Option<Tensor>> = match inputs.real {
            Some(real) => rows
                .iter()
                .map(|rows| {
                    rows.as_ref()
                        .map(|r| Ok::<_, anyhow::Error>(real.batch(r, &inputs.device)?.images))
                        .transpose()
                })
                .collect::<Result<_>>()?,
            None => vec![None; names.len()],
        };
        let generator_space: Option<Result<Tensor>> = inputs.real.map(|real| {
            let all: Vec<usize> = rows.iter().flatten().flatten().copied().collect();
            real_in_generator_space(real, &all, like, &inputs.device)
        });
        Ok(Self {
            rows,
            images,
            generator_space,
        })
    }

    /// Whether any class has real images.
    pub fn any(&self) -> bool {
        self.rows.iter().any(|r| r.is_some())
    }

    /// Every class's real images in one batch, in class order.
    pub fn all_images(&self) -> Result<Tensor> {
        let all: Vec<&Tensor> = self.images.iter().flatten().collect();
        Ok(Tensor::cat(&all, 0)?)
    }
}

#[cfg(test)]
mod tests {
    use super::super::evaluate;
    use super::super::test_support::two_class_real;
    use super::*;

    #[test]
    fn real_images_of_another_size_are_compared_at_the_generators_resolution() {
        let names: Vec<String> = vec!["r".into(), "g".into()];
        let real = two_class_real(&names, 20, 0.3); // 8x8
        let sample = |_c: usize, n: usize, _s: u64| -> Result<Tensor> {
            Ok(Tensor::randn(0f32, 0.5, (n, 3, 16, 16), &Device::Cpu)?.clamp(-1f32, 1f32)?)
        };
        let inputs = EvalInputs {
            class_names: names.clone(),
            unseen: vec![1],
            judge: None,
            judge_name: "none".into(),
            target: None,
            features: None,
            real: Some(&real),
            device: Device::Cpu,
        };
        let opts = EvalOptions {
            samples_per_class: 10,
            ..Default::default()
        };
        let dir = tempfile::tempdir().unwrap();
        let r = evaluate(&inputs, &sample, &opts, dir.path()).unwrap();
        let sp = r.spectrum.as_ref().expect("spectrum at 16x16");
        assert_eq!(sp.real.len(), sp.generated.len());
        // No feature extractor: the pixel panel is the one shown.
        assert_eq!(r.neighbours.as_ref().unwrap().space, "pixels");
        assert_eq!(r.neighbour_panels.len(), 1);
    }
}
