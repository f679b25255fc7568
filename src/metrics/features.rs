//! Pluggable feature extractors for FID, KID, precision/recall and neighbours: any ONNX
//! model plus a named intermediate output, fed through an adapter, in batches. The default
//! layer is the judge's penultimate one (the input of its final Gemm/MatMul), the analogue of
//! Inception's pool3 for small-image domains where Inception features mean little.

use crate::adapter::Adapter;
use crate::onnx::OnnxModel;
use anyhow::{bail, Context, Result};
use candle_core::{DType, Device, Tensor};
use prost::Message;
use std::path::Path;

/// Generator-space images `[N, C, H, W]` in, a feature matrix `[N, D]` out.
pub trait FeatureExtractor {
    fn features(&self, images: &Tensor) -> Result<Tensor>;
    /// One line for reports: which model and which layer.
    fn describe(&self) -> String;
}

/// Images per forward pass: large enough to keep the engine busy, small enough for memory.
pub const DEFAULT_BATCH: usize = 256;

/// An ONNX model's named value (any intermediate output) as features.
pub struct OnnxFeatures {
    model: OnnxModel,
    adapter: Option<Adapter>,
    output: String,
    origin: String,
    pub batch: usize,
}

impl OnnxFeatures {
    /// `output`: the value to use; `None` picks the penultimate layer automatically.
    pub fn load(
        path: &Path,
        adapter: Option<Adapter>,
        output: Option<&str>,
        device: &Device,
    ) -> Result<Self> {
        let output = match output {
            Some(o) => o.to_string(),
            None => penultimate_value(path)?,
        };
        let model = OnnxModel::load(path, device)
            .with_context(|| format!("loading feature extractor {}", path.display()))?;
        Ok(Self {
            model,
            adapter,
            output,
            origin: path.display().to_string(),
            batch: DEFAULT_BATCH,
        })
    }

    pub fn output_name(&self) -> &str {
        &self.output
    }
}

impl FeatureExtractor for OnnxFeatures {
    fn features(&self, images: &Tensor) -> Result<Tensor> {
        extract_in_batches(images, self.batch, |x| {
            let input = match &self.adapter {
                Some(a) => a.generator_to_input(x)?,
                None => x.clone(),
            };
            let out = self
                .model
                .forward_named(&[input], &[self.output.as_str()])
                .with_context(|| format!("{}: computing `{}`", self.origin, self.output))?;
            let v = out.into_iter().next().context("engine returned no value")?;
            Ok(v)
        })
    }

    fn describe(&self) -> String {
        format!("{} : {}", self.origin, self.output)
    }
}

/// onnxruntime (inference only, fastest on CPU): the model is re-saved with the wanted
/// intermediate value added as a graph output, since onnxruntime only returns outputs.
pub struct OrtFeatures {
    runner: crate::onnx::reference::OrtRunner,
    adapter: Option<Adapter>,
    output: String,
    origin: String,
    pub batch: usize,
}

impl OrtFeatures {
    pub fn load(path: &Path, adapter: Option<Adapter>, output: Option<&str>) -> Result<Self> {
        use tract_onnx::pb::{type_proto, TypeProto, ValueInfoProto};
        let bytes = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
        let origin = path.display().to_string();
        let output = match output {
            Some(o) => o.to_string(),
            None => penultimate_value_of(&bytes, &origin)?,
        };
        let mut model = tract_onnx::pb::ModelProto::decode(bytes.as_slice())
            .with_context(|| format!("{origin}: not an ONNX protobuf"))?;
        let graph = model
            .graph
            .as_mut()
            .with_context(|| format!("{origin}: the model has no graph"))?;
        graph.output.retain(|o| o.name != output);
        graph.output.push(ValueInfoProto {
            name: output.clone(),
            r#type: Some(TypeProto {
                value: Some(type_proto::Value::TensorType(type_proto::Tensor {
                    elem_type: 1,
                    shape: None,
                })),
                ..Default::default()
            }),
            ..Default::default()
        });
        // Beside the original, so external-data files still resolve; removed once loaded.
        let dir = path
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or(Path::new("."));
        let tmp = dir.join(format!(
            ".probegan-features-{}-{}.onnx",
            std::process::id(),
            output.len()
        ));
        std::fs::write(&tmp, model.encode_to_vec())
            .with_context(|| format!("writing {}", tmp.display()))?;
        let runner = crate::onnx::reference::OrtRunner::load(&tmp, 0);
        let _ = std::fs::remove_file(&tmp);
        Ok(Self {
            runner: runner?,
            adapter,
            output,
            origin,
            batch: DEFAULT_BATCH,
        })
    }
}

impl FeatureExtractor for OrtFeatures {
    fn features(&self, images: &Tensor) -> Result<Tensor> {
        use crate::onnx::reference::{HostArray, Reference};
        extract_in_batches(images, self.batch, |x| {
            let input = match &self.adapter {
                Some(a) => a.generator_to_input(x)?,
                None => x.clone(),
            };
            let outs = self
                .runner
                .run(&[HostArray::from_tensor(&input)?])
                .with_context(|| format!("{}: computing `{}`", self.origin, self.output))?;
            // The added output is the last one.
            outs.last()
                .context("onnxruntime returned no outputs")?
                .to_tensor(x.device())
        })
    }

    fn describe(&self) -> String {
        format!("{} : {} (onnxruntime)", self.origin, self.output)
    }
}

/// The fastest extractor present: onnxruntime when `ORT_DYLIB_PATH` is set and the device is
/// the CPU, otherwise the candle engine (any device).
pub fn load_fastest(
    path: &Path,
    adapter: Option<Adapter>,
    output: Option<&str>,
    device: &Device,
) -> Result<Box<dyn FeatureExtractor>> {
    if device.is_cpu() && crate::onnx::reference::OrtRunner::available() {
        match OrtFeatures::load(path, adapter.clone(), output) {
            Ok(f) => return Ok(Box::new(f)),
            Err(e) => {
                eprintln!("note: onnxruntime features unavailable ({e:#}); using the candle engine")
            }
        }
    }
    Ok(Box::new(OnnxFeatures::load(path, adapter, output, device)?))
}

/// Run `f` on batches of `images`, flatten each result to `[n, D]` and concatenate (f32).
pub fn extract_in_batches(
    images: &Tensor,
    batch: usize,
    f: impl Fn(&Tensor) -> Result<Tensor>,
) -> Result<Tensor> {
    let n = images.dim(0)?;
    if n == 0 {
        bail!("feature extraction: no images");
    }
    let mut parts = Vec::new();
    let mut start = 0;
    while start < n {
        let len = batch.max(1).min(n - start);
        let x = images.narrow(0, start, len)?.detach();
        let y = f(&x)?.detach();
        if y.dim(0)? != len {
            bail!(
                "feature extraction: {len} images gave {} feature rows (shape {:?})",
                y.dim(0)?,
                y.dims()
            );
        }
        parts.push(y.flatten_from(1)?.to_dtype(DType::F32)?);
        start += len;
    }
    Ok(Tensor::cat(&parts, 0)?)
}

/// The name of the value feeding the final Gemm/MatMul that produces the model's first output,
/// skipping trailing Softmax/LogSoftmax/Identity/Add (a MatMul+Add head) nodes.
pub fn penultimate_value(path: &Path) -> Result<String> {
    let bytes = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
    penultimate_value_of(&bytes, &path.display().to_string())
}

pub fn penultimate_value_of(bytes: &[u8], origin: &str) -> Result<String> {
    let model = tract_onnx::pb::ModelProto::decode(bytes)
        .with_context(|| format!("{origin}: not an ONNX protobuf"))?;
    let graph = model
        .graph
        .with_context(|| format!("{origin}: the model has no graph"))?;
    let out = graph
        .output
        .first()
        .with_context(|| format!("{origin}: the graph has no outputs"))?;
    let initializers: std::collections::HashSet<&str> =
        graph.initializer.iter().map(|t| t.name.as_str()).collect();
    let mut value = out.name.clone();
    for _ in 0..graph.node.len() {
        let node = graph
            .node
            .iter()
            .find(|n| n.output.iter().any(|o| *o == value))
            .with_context(|| format!("{origin}: no node produces `{value}`"))?;
        match node.op_type.as_str() {
            "Gemm" | "MatMul" => {
                return node.input.first().cloned().with_context(|| format!("{origin}: node `{}` has no input", node.name));
            }
            "Softmax" | "LogSoftmax" | "Identity" | "Add" | "Flatten" | "Reshape" | "Squeeze" => {
                // follow the data input, not a constant bias or shape
                value = node
                    .input
                    .iter()
                    .find(|i| !initializers.contains(i.as_str()))
                    .cloned()
                    .with_context(|| format!("{origin}: node `{}` has only constant inputs", node.name))?;
            }
            other => bail!(
                "{origin}: cannot find the penultimate layer automatically (output `{}` comes from a {other} node `{}`); name a layer with --feature-layer",
                out.name,
                node.name
            ),
        }
    }
    bail!("{origin}: cannot find the penultimate layer (cycle in the graph?)")
}

#[cfg(test)]
mod tests {
    use super::*;
    use tract_onnx::pb::{GraphProto, ModelProto, NodeProto, TensorProto, ValueInfoProto};

    fn node(op: &str, inputs: &[&str], output: &str) -> NodeProto {
        NodeProto {
            op_type: op.into(),
            name: format!("{op}_{output}"),
            input: inputs.iter().map(|s| s.to_string()).collect(),
            output: vec![output.into()],
            ..Default::default()
        }
    }

    #[test]
    fn finds_the_input_of_the_classifier_head() {
        let graph = GraphProto {
            node: vec![
                node("Relu", &["x"], "h"),
                node("Flatten", &["h"], "flat"),
                node("MatMul", &["flat", "W"], "mm"),
                node("Add", &["b", "mm"], "logits"),
                node("Softmax", &["logits"], "probs"),
            ],
            initializer: vec![
                TensorProto {
                    name: "W".into(),
                    ..Default::default()
                },
                TensorProto {
                    name: "b".into(),
                    ..Default::default()
                },
            ],
            output: vec![ValueInfoProto {
                name: "probs".into(),
                ..Default::default()
            }],
            ..Default::default()
        };
        let bytes = ModelProto {
            graph: Some(graph),
            ..Default::default()
        }
        .encode_to_vec();
        assert_eq!(penultimate_value_of(&bytes, "m.onnx").unwrap(), "flat");
        assert!(penultimate_value_of(b"\xff\xff garbage", "bad.onnx").is_err());
    }

    #[test]
    fn batches_are_concatenated_in_order() {
        let x = Tensor::arange(0f32, 10.0, &Device::Cpu)
            .unwrap()
            .reshape((10, 1, 1, 1))
            .unwrap();
        let f = extract_in_batches(&x, 3, |b| Ok((b * 2.0)?)).unwrap();
        assert_eq!(f.dims(), &[10, 1]);
        assert_eq!(f.flatten_all().unwrap().to_vec1::<f32>().unwrap()[9], 18.0);
    }
}
