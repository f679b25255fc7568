//! Judge accuracy: an independent classifier (any ONNX model + adapter, never the one used in
//! training) labels generated samples; the share it assigns to the intended class is the
//! recognition rate the ProbeGAN paper reports.

use crate::classifier::Classifier;
use anyhow::{bail, Context, Result};
use candle_core::Tensor;

/// Samples per forward pass.
pub const DEFAULT_BATCH: usize = 256;

#[derive(Debug, Clone, serde::Serialize, serde::Deserialize, PartialEq)]
pub struct JudgeResult {
    /// The judge's class names (index space of `predictions` and `confusion`).
    pub class_names: Vec<String>,
    /// Predicted class per sample.
    pub predictions: Vec<usize>,
    /// Softmax probability of the predicted class per sample.
    pub confidences: Vec<f64>,
    /// `confusion[intended][predicted]` counts.
    pub confusion: Vec<Vec<usize>>,
}

impl JudgeResult {
    /// Share of samples intended as `class` that the judge labels `class` (None if none).
    pub fn recognition_rate(&self, class: usize) -> Option<f64> {
        let row = self.confusion.get(class)?;
        let total: usize = row.iter().sum();
        (total > 0).then(|| row[class] as f64 / total as f64)
    }

    /// Overall accuracy over all samples.
    pub fn accuracy(&self) -> f64 {
        let total: usize = self.confusion.iter().flatten().sum();
        let right: usize = (0..self.confusion.len())
            .map(|c| self.confusion[c][c])
            .sum();
        right as f64 / total.max(1) as f64
    }

    /// Mean recognition rate over the given classes (e.g. the seen ones).
    pub fn mean_recognition(&self, classes: &[usize]) -> Option<f64> {
        let rates: Vec<f64> = classes
            .iter()
            .filter_map(|&c| self.recognition_rate(c))
            .collect();
        (!rates.is_empty()).then(|| rates.iter().sum::<f64>() / rates.len() as f64)
    }
}

/// Run the judge over generator-space images `[N, C, H, W]` whose intended classes (in the
/// judge's class space) are `intended`.
pub fn judge(judge: &dyn Classifier, images: &Tensor, intended: &[usize]) -> Result<JudgeResult> {
    let n = images.dim(0)?;
    if n != intended.len() {
        bail!("judge: {n} images but {} intended labels", intended.len());
    }
    let k = judge.num_classes();
    if let Some(bad) = intended.iter().find(|&&c| c >= k) {
        bail!("judge: intended class {bad} is outside the judge's {k} classes");
    }
    let probs = softmax_in_batches(judge, images).context("judge forward pass")?;
    let mut confusion = vec![vec![0usize; k]; k];
    let mut predictions = Vec::with_capacity(n);
    let mut confidences = Vec::with_capacity(n);
    for (row, &want) in probs.iter().zip(intended) {
        let (arg, p) = argmax(row);
        confusion[want][arg] += 1;
        predictions.push(arg);
        confidences.push(p);
    }
    Ok(JudgeResult {
        class_names: judge.class_names().to_vec(),
        predictions,
        confidences,
        confusion,
    })
}

/// Softmax probabilities `[N][K]` computed batch by batch (no autodiff graph is kept).
pub fn softmax_in_batches(clf: &dyn Classifier, images: &Tensor) -> Result<Vec<Vec<f64>>> {
    softmax_in_batches_of(clf, images, DEFAULT_BATCH)
}

/// [`softmax_in_batches`] with `batch` images per call (large judges at full size are heavy).
pub fn softmax_in_batches_of(
    clf: &dyn Classifier,
    images: &Tensor,
    batch: usize,
) -> Result<Vec<Vec<f64>>> {
    let n = images.dim(0)?;
    let mut out = Vec::with_capacity(n);
    let mut start = 0;
    while start < n {
        let len = batch.max(1).min(n - start);
        let x = images.narrow(0, start, len)?.detach();
        let logits = clf.logits(&x)?.detach().to_dtype(candle_core::DType::F64)?;
        if logits.dims() != [len, clf.num_classes()] {
            bail!(
                "classifier returned logits of shape {:?}, expected [{len}, {}]",
                logits.dims(),
                clf.num_classes()
            );
        }
        let probs = candle_nn::ops::softmax(&logits, 1)?;
        out.extend(probs.to_vec2::<f64>()?);
        start += len;
    }
    Ok(out)
}

pub(crate) fn argmax(row: &[f64]) -> (usize, f64) {
    row.iter().enumerate().fold(
        (0, f64::NEG_INFINITY),
        |b, (i, &p)| if p > b.1 { (i, p) } else { b },
    )
}

/// Map each of our class names to the judge's index (judges may order classes differently).
pub fn map_classes(ours: &[String], judge_names: &[String]) -> Result<Vec<usize>> {
    ours.iter()
        .map(|name| {
            judge_names.iter().position(|j| j == name).with_context(|| {
                format!("judge: class `{name}` is not one of the judge's classes {judge_names:?}")
            })
        })
        .collect()
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use candle_core::Device;

    /// A fixed linear "classifier" on the mean pixel of each channel, for tests.
    pub struct MeanPixelClassifier {
        pub names: Vec<String>,
    }
    impl Classifier for MeanPixelClassifier {
        fn logits(&self, x: &Tensor) -> Result<Tensor> {
            // channel c's mean pixel, scaled: class = brightest channel
            Ok((x.mean(3)?.mean(2)? * 10.0)?)
        }
        fn class_names(&self) -> &[String] {
            &self.names
        }
    }

    #[test]
    fn counts_recognition_per_class() {
        let clf = MeanPixelClassifier {
            names: vec!["r".into(), "g".into()],
        };
        let mut v = vec![-1f32; 4 * 2 * 2 * 2];
        // image 0: channel 0 bright (class 0); images 1,2: channel 1 bright; image 3: channel 0
        for (img, ch) in [(0, 0), (1, 1), (2, 1), (3, 0)] {
            for p in 0..4 {
                v[img * 8 + ch * 4 + p] = 1.0;
            }
        }
        let x = Tensor::from_vec(v, (4, 2, 2, 2), &Device::Cpu).unwrap();
        let r = judge(&clf, &x, &[0, 1, 1, 1]).unwrap();
        assert_eq!(r.predictions, vec![0, 1, 1, 0]);
        assert_eq!(r.recognition_rate(0), Some(1.0));
        assert!((r.recognition_rate(1).unwrap() - 2.0 / 3.0).abs() < 1e-12);
        assert!((r.accuracy() - 0.75).abs() < 1e-12);
        assert!(judge(&clf, &x, &[0, 1]).is_err());
        assert!(judge(&clf, &x, &[0, 1, 2, 0]).is_err());
        assert_eq!(map_classes(&["g".into()], &clf.names).unwrap(), vec![1]);
        assert!(map_classes(&["b".into()], &clf.names).is_err());
    }
}
