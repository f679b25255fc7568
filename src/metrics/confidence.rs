//! Target-classifier confidence: the audited classifier's softmax probability of the class a
//! sample was generated for. High confidence alone can be adversarial noise, which is why it is
//! reported next to the independent judge and the distribution metrics.

use super::judge::softmax_in_batches;
use crate::classifier::Classifier;
use anyhow::{bail, Result};
use candle_core::Tensor;

#[derive(Debug, Clone, serde::Serialize, serde::Deserialize, PartialEq)]
pub struct Confidence {
    /// Mean probability of the intended class.
    pub mean_probability: f64,
    /// Share of samples whose top-1 class is the intended one.
    pub top1_rate: f64,
    pub samples: usize,
}

pub fn classifier_confidence(
    clf: &dyn Classifier,
    images: &Tensor,
    intended: &[usize],
) -> Result<Confidence> {
    let n = images.dim(0)?;
    if n == 0 || n != intended.len() {
        bail!(
            "confidence: {n} images but {} intended labels",
            intended.len()
        );
    }
    if let Some(bad) = intended.iter().find(|&&c| c >= clf.num_classes()) {
        bail!(
            "confidence: intended class {bad} is outside the classifier's {} classes",
            clf.num_classes()
        );
    }
    let probs = softmax_in_batches(clf, images)?;
    let mut sum = 0.0;
    let mut top1 = 0;
    for (row, &c) in probs.iter().zip(intended) {
        sum += row[c];
        if super::judge::argmax(row).0 == c {
            top1 += 1;
        }
    }
    Ok(Confidence {
        mean_probability: sum / n as f64,
        top1_rate: top1 as f64 / n as f64,
        samples: n,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::judge::tests::MeanPixelClassifier;
    use candle_core::Device;

    #[test]
    fn confident_when_intended_channel_is_bright() {
        let clf = MeanPixelClassifier {
            names: vec!["r".into(), "g".into()],
        };
        let x = Tensor::cat(
            &[
                Tensor::ones((3, 1, 2, 2), candle_core::DType::F32, &Device::Cpu).unwrap(),
                Tensor::ones((3, 1, 2, 2), candle_core::DType::F32, &Device::Cpu)
                    .unwrap()
                    .neg()
                    .unwrap(),
            ],
            1,
        )
        .unwrap();
        let c = classifier_confidence(&clf, &x, &[0, 0, 0]).unwrap();
        assert!(c.mean_probability > 0.99 && c.top1_rate == 1.0, "{c:?}");
        let w = classifier_confidence(&clf, &x, &[1, 1, 1]).unwrap();
        assert!(w.mean_probability < 0.01 && w.top1_rate == 0.0, "{w:?}");
    }
}
