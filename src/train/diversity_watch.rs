//! The collapse guard: per-class diversity of the EMA generator's samples, as a fraction of
//! the real images' diversity, measured at every preview.
//!
//! Diversity is the mean pairwise pixel distance (generator space) within a class. A class
//! whose samples are one image repeated scores near 0; real-vs-real scores 1 by construction.
//! Classes with no real images (the unseen ones) are measured against the mean of the seen
//! classes' references: the best yardstick a run without their data has.

use crate::data::TrainData;
use crate::metrics::diversity::diversity;
use crate::metrics::neighbours::flatten_images;
use anyhow::{bail, Result};
use candle_core::Tensor;

/// Real images per class used for the reference (pairs grow quadratically; 64 is plenty).
const REAL_PER_CLASS: usize = 64;

/// What one preview measured.
#[derive(Debug, Clone, PartialEq)]
pub struct DiversityReading {
    /// Generated diversity / reference, per class (index = class).
    pub ratios: Vec<f64>,
    /// Classes whose ratio fell below the threshold.
    pub collapsed: Vec<usize>,
}

pub struct DiversityWatch {
    /// Reference diversity per class: that class's real images, or the seen classes' mean.
    reference: Vec<f64>,
    threshold: f64,
}

/// Mean pairwise Euclidean distance between the rows of `images` ([N, ...], N >= 2).
pub fn mean_pairwise_distance(images: &Tensor) -> Result<f64> {
    Ok(diversity(&flatten_images(images)?, 0.0)?.mean_pairwise_distance)
}

impl DiversityWatch {
    /// References from the real images in `data` for `num_classes` classes; `threshold` is
    /// the fraction of real diversity below which a class counts as collapsed.
    pub fn new(data: &TrainData, num_classes: usize, threshold: f64) -> Result<Self> {
        let mut own = vec![None; num_classes];
        for (class, slot) in own.iter_mut().enumerate() {
            let rows: Vec<usize> = (0..data.len)
                .filter(|&r| data.labels[r] as usize == class)
                .take(REAL_PER_CLASS)
                .collect();
            if rows.len() >= 2 {
                *slot = Some(mean_pairwise_distance(&data.batch(&rows)?.images)?);
            }
        }
        let seen: Vec<f64> = own.iter().flatten().copied().collect();
        if seen.is_empty() {
            bail!("diversity guard: no class has two or more real images");
        }
        let fallback = seen.iter().sum::<f64>() / seen.len() as f64;
        Ok(DiversityWatch {
            reference: own.into_iter().map(|r| r.unwrap_or(fallback)).collect(),
            threshold,
        })
    }

    /// One reference for every class: the diversity of all of `data`'s images, whatever
    /// their labels (substrates, whose folders are not the classifier's classes).
    pub fn against_all(data: &TrainData, num_classes: usize, threshold: f64) -> Result<Self> {
        if data.len < 2 {
            bail!("diversity guard: fewer than two real images");
        }
        let rows: Vec<usize> = (0..data.len.min(REAL_PER_CLASS)).collect();
        let reference = mean_pairwise_distance(&data.batch(&rows)?.images)?;
        Ok(DiversityWatch {
            reference: vec![reference; num_classes],
            threshold,
        })
    }

    /// `samples_of(class)` returns that class's generated samples ([N, C, H, W], N >= 2).
    pub fn read(
        &self,
        mut samples_of: impl FnMut(usize) -> Result<Tensor>,
    ) -> Result<DiversityReading> {
        let mut ratios = Vec::with_capacity(self.reference.len());
        for (class, reference) in self.reference.iter().enumerate() {
            let d = mean_pairwise_distance(&samples_of(class)?)?;
            ratios.push(d / reference.max(1e-12));
        }
        let collapsed = (0..ratios.len())
            .filter(|&c| ratios[c] < self.threshold)
            .collect();
        Ok(DiversityReading { ratios, collapsed })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::Device;

    fn data(images: Vec<f32>, labels: Vec<u32>) -> TrainData {
        let n = labels.len();
        TrainData {
            images: Tensor::from_vec(images, (n, 1, 1, 2), &Device::Cpu).unwrap(),
            len: n,
            labels,
            class_names: vec!["a".into(), "b".into(), "c".into()],
        }
    }

    #[test]
    fn ratios_against_real_and_the_seen_mean_for_classes_without_data() {
        // Class 0: two images 2 apart (reference 2); class 1: two images 4 apart (4);
        // class 2 has no images: reference (2 + 4) / 2 = 3.
        let td = data(vec![0., 0., 2., 0., 0., 0., 0., 4.], vec![0, 0, 1, 1]);
        let watch = DiversityWatch::new(&td, 3, 0.5).unwrap();
        let dev = Device::Cpu;
        let pair = |gap: f32| Tensor::from_vec(vec![0f32, 0., gap, 0.], (2, 1, 1, 2), &dev);
        // Generated gaps 2, 1, 0.3: ratios 1.0, 0.25, 0.1.
        let gaps = [2f32, 1.0, 0.3];
        let r = watch.read(|c| Ok(pair(gaps[c])?)).unwrap();
        let want = [1.0, 0.25, 0.1];
        for (got, want) in r.ratios.iter().zip(want) {
            assert!((got - want).abs() < 1e-6, "{:?}", r.ratios);
        }
        assert_eq!(r.collapsed, vec![1, 2]);
    }

    #[test]
    fn refuses_data_without_any_pair() {
        let td = data(vec![0., 0.], vec![0]);
        assert!(DiversityWatch::new(&td, 3, 0.5).is_err());
    }
}
