//! The leakage score: how much of the audited classifier's training distribution the
//! generator carries, measured without any judge.
//!
//! A small student classifier is trained only on generated samples of every class (hard
//! labels: the class each sample was drawn for) and tested on real test images; beside it the
//! same student, same budget, trained on as many real images per class. The unseen class is
//! the headline: the generator saw no real image of it, so whatever the student learns to
//! recognise there came out of the classifier. Reported per class, and as the unseen class's
//! accuracy relative to the real-trained student's.

use super::generator_space::real_in_generator_space;
use crate::data::Dataset;
use crate::train_classifier::{evaluate::NamedAccuracy, train, TrainConfig};
use anyhow::{bail, Context, Result};
use candle_core::{Device, Tensor};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone)]
pub struct LeakageOptions {
    /// Training images per class for each student (generated, and real).
    pub per_class: usize,
    pub epochs: usize,
    /// A `train-classifier` architecture.
    pub arch: String,
    pub seed: u64,
}

impl Default for LeakageOptions {
    fn default() -> Self {
        LeakageOptions {
            per_class: 500,
            epochs: 4,
            arch: "cnn-small".into(),
            seed: 0,
        }
    }
}

/// One student's accuracy on the real test set.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct StudentAccuracy {
    pub accuracy: f64,
    pub per_class: Vec<NamedAccuracy>,
    /// Real test images by true class (rows) and the student's answer (columns); empty in
    /// reports written before it was kept.
    #[serde(default)]
    pub confusion: Vec<Vec<usize>>,
}

impl StudentAccuracy {
    /// What the student took the real images of class `row` for, other than the class itself:
    /// (class index, share of that class's images), largest first, at most `top`, none at 0.
    pub fn taken_for(&self, row: usize, top: usize) -> Vec<(usize, f64)> {
        let Some(counts) = self.confusion.get(row) else {
            return vec![];
        };
        let total: usize = counts.iter().sum();
        let mut others: Vec<(usize, f64)> = counts
            .iter()
            .enumerate()
            .filter(|&(c, &n)| c != row && n > 0)
            .map(|(c, &n)| (c, n as f64 / total as f64))
            .collect();
        others.sort_by(|a, b| b.1.total_cmp(&a.1));
        others.truncate(top);
        others
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct LeakageScore {
    pub arch: String,
    pub per_class: usize,
    pub epochs: usize,
    pub test_images: usize,
    /// The student trained on generated samples.
    pub generated: StudentAccuracy,
    /// The same student trained on real images.
    pub real: StudentAccuracy,
    pub unseen: Vec<String>,
}

impl LeakageScore {
    /// Mean over the unseen classes of (generated-trained accuracy / real-trained accuracy).
    pub fn unseen_relative(&self) -> Option<f64> {
        let ratios: Vec<f64> = self
            .unseen
            .iter()
            .filter_map(|name| {
                let acc = |s: &StudentAccuracy| {
                    s.per_class
                        .iter()
                        .find(|c| &c.name == name)
                        .map(|c| c.accuracy)
                };
                let (g, r) = (acc(&self.generated)?, acc(&self.real)?);
                (r > 0.0).then_some(g / r)
            })
            .collect();
        (!ratios.is_empty()).then(|| ratios.iter().sum::<f64>() / ratios.len() as f64)
    }

    /// What the generated-trained student took the real images of the unseen class `name`
    /// for: the classes that took them instead, with their shares (at most three).
    pub fn unseen_taken_for(&self, name: &str) -> Vec<(String, f64)> {
        let names: Vec<&String> = self.generated.per_class.iter().map(|c| &c.name).collect();
        let Some(row) = names.iter().position(|n| *n == name) else {
            return vec![];
        };
        self.generated
            .taken_for(row, 3)
            .into_iter()
            .map(|(c, share)| (names[c].clone(), share))
            .collect()
    }

    /// Generated-trained accuracy of one class.
    pub fn generated_accuracy(&self, name: &str) -> Option<f64> {
        self.generated
            .per_class
            .iter()
            .find(|c| c.name == name)
            .map(|c| c.accuracy)
    }
}

/// Every image of `ds` resampled into the generator space of `like` ([N, C, R, R]), as a
/// dataset with the same labels.
fn in_generator_space(ds: &Dataset, like: &Tensor) -> Result<Dataset> {
    let rows: Vec<usize> = (0..ds.len()).collect();
    let x = real_in_generator_space(ds, &rows, like, &Device::Cpu)?;
    let (_, c, h, w) = x.dims4()?;
    Dataset::new(
        x.flatten_all()?.to_vec1()?,
        (c, h, w),
        ds.labels.clone(),
        ds.class_names.clone(),
        None,
    )
}

/// `sample(class, n)` draws n generated images of a class ([n, C, R, R], generator space).
pub fn leakage_score(
    mut sample: impl FnMut(usize, usize) -> Result<Tensor>,
    real_train: &Dataset,
    real_test: &Dataset,
    unseen: &[usize],
    options: &LeakageOptions,
    device: &Device,
) -> Result<LeakageScore> {
    let k = real_train.num_classes();
    if real_test.class_names != real_train.class_names {
        bail!("leakage score: the real train and test sets name different classes");
    }
    let n = options.per_class;
    if n == 0 {
        bail!("leakage score: per_class must be positive");
    }
    let mut pixels = vec![];
    let mut labels = vec![];
    let mut like = None;
    for class in 0..k {
        let x = sample(class, n).with_context(|| format!("sampling class {class}"))?;
        let dims = x.dims().to_vec();
        if dims.len() != 4 || dims[2] != dims[3] {
            bail!("leakage score: expected square generated images [N, C, R, R], got {dims:?}");
        }
        pixels.extend(x.flatten_all()?.to_vec1::<f32>()?);
        labels.extend(std::iter::repeat_n(class as u32, dims[0]));
        like = Some(x);
    }
    let like = like.context("leakage score: no classes")?;
    let (_, c, h, w) = like.dims4()?;
    let classes = real_train.class_names.clone();
    let generated = Dataset::new(pixels, (c, h, w), labels, classes, None)?;
    let real = in_generator_space(&real_train.stratified_subset(n, options.seed), &like)?;
    let test = in_generator_space(real_test, &like)?;
    let config = TrainConfig {
        arch: options.arch.clone(),
        epochs: options.epochs,
        seed: options.seed,
        ..TrainConfig::default()
    };
    let student = |train_set: &Dataset| -> Result<StudentAccuracy> {
        let outcome = train(&config, train_set, &test, device, None, false, false)?;
        Ok(StudentAccuracy {
            accuracy: outcome.test.accuracy,
            per_class: outcome.test.per_class,
            confusion: outcome.test.confusion,
        })
    };
    Ok(LeakageScore {
        arch: options.arch.clone(),
        per_class: n,
        epochs: options.epochs,
        test_images: test.len(),
        generated: student(&generated)?,
        real: student(&real)?,
        unseen: unseen
            .iter()
            .map(|&u| real_train.class_names[u].clone())
            .collect(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Two classes told apart by brightness: bright (class 0) and dark (class 1) 8x8 images.
    fn two_tones(n: usize, seed: u64) -> Dataset {
        use rand::{Rng, SeedableRng};
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
        let mut px = vec![];
        let mut labels = vec![];
        for i in 0..2 * n {
            let class = (i % 2) as u32;
            let base = if class == 0 { 0.6 } else { -0.6 };
            px.extend((0..64).map(|_| base + rng.random_range(-0.3f32..0.3)));
            labels.push(class);
        }
        Dataset::new(
            px,
            (1, 8, 8),
            labels,
            vec!["bright".into(), "dark".into()],
            None,
        )
        .unwrap()
    }

    #[test]
    fn a_generator_that_swaps_the_unseen_class_scores_zero_on_it() {
        crate::init();
        let train_set = two_tones(60, 1);
        let test = two_tones(40, 2);
        let opts = LeakageOptions {
            per_class: 60,
            epochs: 3,
            arch: "mlp".into(),
            seed: 0,
        };
        // A faithful generator: real images of the asked class.
        let faithful = |class: usize, n: usize| -> Result<Tensor> {
            let rows: Vec<usize> = (0..train_set.len())
                .filter(|&i| train_set.labels[i] as usize == class)
                .take(n)
                .collect();
            Ok(train_set.batch(&rows, &Device::Cpu)?.images)
        };
        let good = leakage_score(faithful, &train_set, &test, &[1], &opts, &Device::Cpu).unwrap();
        assert!(good.generated_accuracy("dark").unwrap() > 0.9, "{good:?}");
        assert!(good.unseen_relative().unwrap() > 0.9);
        // A generator that draws each class's images for the other class: what the student
        // learns to call "dark" is bright.
        let swapped = |class: usize, n: usize| faithful(1 - class, n);
        let bad = leakage_score(swapped, &train_set, &test, &[1], &opts, &Device::Cpu).unwrap();
        assert!(bad.generated_accuracy("dark").unwrap() < 0.1, "{bad:?}");
        assert!(bad.unseen_relative().unwrap() < 0.1);
        assert!(bad.real.accuracy > 0.9);
        // The swapped student takes the real dark images for bright ones; the faithful one
        // takes almost none for anything else.
        let taken = bad.unseen_taken_for("dark");
        assert_eq!(taken.len(), 1, "{taken:?}");
        assert_eq!(taken[0].0, "bright");
        assert!(taken[0].1 > 0.9, "{taken:?}");
        assert!(good.unseen_taken_for("dark").iter().all(|(_, s)| *s < 0.1));
        let rows: usize = bad.generated.confusion.iter().flatten().sum();
        assert_eq!(rows, test.len());
    }
}
