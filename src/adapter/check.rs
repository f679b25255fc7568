//! Checks on an adapter: its input format on its own (sizes, channels, mean/std), duplicate
//! class names, and the whole adapter against the shapes a model declares.
//!
//! Kept in one place so every way of building an adapter (TOML file, embedded text, code)
//! is held to the same rules and reports problems in the same words.

use super::{Adapter, InputSpec, Layout};
use anyhow::{anyhow, bail, Result};

/// An input format is usable: sizes in range, at least one channel (exactly one for rank-3
/// layouts), one positive finite std and one finite mean per channel.
pub(super) fn validate_input(s: &InputSpec) -> Result<()> {
    if s.height == 0 || s.width == 0 || s.height > 8192 || s.width > 8192 {
        bail!("size {}x{} is out of range (1..=8192)", s.height, s.width);
    }
    if s.channels == 0 || s.channels > 64 {
        bail!("channels {}: expected 1 to 64", s.channels);
    }
    if s.layout.rank() == 3 && s.channels != 1 {
        bail!(
            "layout {} has no channel axis, so channels must be 1 (got {})",
            s.layout.name(),
            s.channels
        );
    }
    if s.mean.len() != s.channels || s.std.len() != s.channels {
        bail!("mean/std need one value per channel ({})", s.channels);
    }
    if let Some(bad) = s.std.iter().find(|&&v| v <= 0.0 || !v.is_finite()) {
        bail!("std {bad} must be positive and finite");
    }
    if s.mean.iter().any(|v| !v.is_finite()) {
        bail!("mean must be finite");
    }
    Ok(())
}

/// The first name that occurs twice, if any.
pub(super) fn first_duplicate(names: &[String]) -> Option<&String> {
    let mut seen = std::collections::HashSet::new();
    names.iter().find(|n| !seen.insert(n.as_str()))
}

impl Adapter {
    /// Check the adapter against a model's declared input/output shapes.
    pub fn validate_against(&self, model: &crate::onnx::OnnxModel) -> Result<()> {
        self.validate_against_io(model.inputs(), model.outputs())
    }

    /// `validate_against` on declared shapes alone (testable without a compiled model).
    pub fn validate_against_io(
        &self,
        inputs: &[crate::onnx::IoInfo],
        outputs: &[crate::onnx::IoInfo],
    ) -> Result<()> {
        use crate::onnx::Dim;
        let origin = self.origin_str();
        let input = inputs
            .first()
            .ok_or_else(|| anyhow!("{origin}: the model declares no input"))?;
        if let Some(super::ModelInput::Waveform(layout)) = self.audio().map(|a| a.model_input) {
            self.validate_waveform_input(layout, input)?;
            return self.validate_outputs(outputs);
        }
        let fixed = |d: &Dim| match d {
            Dim::Fixed(n) => Some(*n),
            Dim::Free(_) => None,
        };
        let layout = self.input.layout;
        if input.dims.len() != layout.rank() {
            bail!(
                "{origin}: layout {} needs a rank-{} model input, but input {:?} has rank {} (shape {:?}); \
                 set [input] layout to one of NCHW, NHWC (rank 4), NHW, NWH (rank 3)",
                layout.name(),
                layout.rank(),
                input.name,
                input.dims.len(),
                input.dims
            );
        }
        let one = Dim::Fixed(1);
        let (c, h, w) = match layout {
            Layout::Nchw => (&input.dims[1], &input.dims[2], &input.dims[3]),
            Layout::Nhwc => (&input.dims[3], &input.dims[1], &input.dims[2]),
            Layout::Nhw => (&one, &input.dims[1], &input.dims[2]),
            Layout::Nwh => (&one, &input.dims[2], &input.dims[1]),
        };
        let layout = layout.name();
        for (what, dim, want) in [
            ("channels", c, self.input.channels),
            ("height", h, self.input.height),
            ("width", w, self.input.width),
        ] {
            if let Some(n) = fixed(dim) {
                if n != want {
                    bail!(
                        "{origin}: adapter says {what} {want} ({layout}), but the model input {:?} declares {what} {n} (shape {:?})",
                        input.name,
                        input.dims
                    );
                }
            }
        }
        self.validate_outputs(outputs)
    }

    /// The model's logits against the adapter's class names and subset.
    fn validate_outputs(&self, outputs: &[crate::onnx::IoInfo]) -> Result<()> {
        use crate::onnx::Dim;
        let origin = self.origin_str();
        let output = outputs
            .first()
            .ok_or_else(|| anyhow!("{origin}: the model declares no output"))?;
        if let Some(Dim::Fixed(k)) = output.dims.last() {
            let k = *k;
            if let Some(labels) = &self.model_labels {
                if self.logit_indices.is_none() && labels.len() != k {
                    bail!("{origin}: adapter names {} classes but the model output {:?} has {k} logits", labels.len(), output.name);
                }
                if labels.len() > k {
                    bail!("{origin}: adapter's label list has {} entries but the model output {:?} has {k} logits", labels.len(), output.name);
                }
            } else if self.logit_indices.is_none() && self.class_names.len() != k {
                bail!(
                    "{origin}: adapter names {} classes but the model has {k} logits",
                    self.class_names.len()
                );
            }
            if let Some(ix) = &self.logit_indices {
                if let Some((i, bad)) = ix.iter().enumerate().find(|(_, &j)| j >= k) {
                    bail!(
                        "{origin}: subset class {:?} uses logit index {bad}, out of range for the model's {k} logits",
                        self.class_names[i]
                    );
                }
            }
        }
        Ok(())
    }
}
