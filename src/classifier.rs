//! The black box as training sees it: a batch in *generator space* in, logits over the
//! problem's classes out. Implementations chain an adapter (range, resize, channels,
//! mean/std, layout, class subset) in front of and behind an ONNX graph.

use crate::adapter::Adapter;
use crate::onnx::OnnxModel;
use anyhow::{Context, Result};
use candle_core::{Device, Tensor};
use std::path::Path;

pub trait Classifier: Send + Sync {
    /// `x`: [N, C, H, W] in generator space (values in [-1, 1]). Returns [N, num_classes]
    /// logits, differentiable w.r.t. `x`.
    fn logits(&self, x: &Tensor) -> Result<Tensor>;
    /// Log-probability of each problem class under the model's softmax over *all* its
    /// outputs ([N, num_classes]), differentiable w.r.t. `x`. Differs from a log-softmax
    /// of `logits` when the adapter picks a subset of the model's classes: painting a
    /// Labrador must beat the other 999 ImageNet classes, not just the other four targets.
    fn class_log_probs(&self, x: &Tensor) -> Result<Tensor> {
        crate::losses::log_softmax(&self.logits(x)?)
    }
    /// The problem's class names, index-aligned with the logits.
    fn class_names(&self) -> &[String];
    fn num_classes(&self) -> usize {
        self.class_names().len()
    }
}

/// A frozen ONNX model behind its adapter: generator space -> adapter -> graph -> class map.
pub struct OnnxClassifier {
    pub model: OnnxModel,
    pub adapter: Adapter,
}

impl OnnxClassifier {
    /// Pair a compiled model with an adapter, checking that they agree.
    pub fn new(model: OnnxModel, adapter: Adapter) -> Result<Self> {
        adapter.validate_against(&model)?;
        Ok(OnnxClassifier { model, adapter })
    }

    /// Load a model file and an adapter file.
    pub fn load(model_path: &Path, adapter_path: &Path, device: &Device) -> Result<Self> {
        let adapter = Adapter::load(adapter_path)?;
        let model = OnnxModel::load(model_path, device)?;
        Self::new(model, adapter)
    }

    /// Load from an adapter that names its model (`model = "..."`).
    pub fn from_adapter_file(adapter_path: &Path, device: &Device) -> Result<Self> {
        let adapter = Adapter::load(adapter_path)?;
        let model_path = adapter
            .model_path()
            .with_context(|| format!("{}: the adapter names no `model`", adapter_path.display()))?
            .to_path_buf();
        let model = OnnxModel::load(&model_path, device)?;
        Self::new(model, adapter)
    }
}

impl Classifier for OnnxClassifier {
    fn logits(&self, x: &Tensor) -> Result<Tensor> {
        let input = self.adapter.generator_to_input(x)?;
        let outputs = self.model.forward(&[input])?;
        let first = outputs
            .into_iter()
            .next()
            .context("the ONNX model returned no outputs")?;
        self.adapter.select_logits(&first)
    }

    fn class_log_probs(&self, x: &Tensor) -> Result<Tensor> {
        let input = self.adapter.generator_to_input(x)?;
        let outputs = self.model.forward(&[input])?;
        let first = outputs
            .into_iter()
            .next()
            .context("the ONNX model returned no outputs")?;
        let all = if first.rank() > 2 {
            first.flatten_from(1)?
        } else {
            first
        };
        self.adapter
            .select_logits(&crate::losses::log_softmax(&all)?)
    }

    fn class_names(&self) -> &[String] {
        self.adapter.class_names()
    }
}
