//! ONNX protobuf -> a compiled plan of candle ops, differentiable end to end.
//!
//! Parsing uses `tract_onnx::pb` (no `protoc`); weights are decoded once and kept on the
//! target device. See `docs/ARCHITECTURE.md`.
//!
//! ```no_run
//! # fn main() -> anyhow::Result<()> {
//! use candle_core::{DType, Device, Var};
//! let model = probegan::onnx::OnnxModel::load("model.onnx".as_ref(), &Device::Cpu)?;
//! let x = Var::zeros((8, 3, 32, 32), DType::F32, &Device::Cpu)?;
//! let logits = &model.forward(&[x.as_tensor().clone()])?[0];
//! let grads = logits.sum_all()?.backward()?;
//! let dx = grads.get(&x); // gradients reach the input
//! # let _ = dx; Ok(()) }
//! ```
//!
//! Layout: `proto` (bytes -> protobuf, tensors, external data), `graph` (names, cycles,
//! unsupported ops), `batch` (free batch dimension), `ops` (one file per op family and a
//! registry), `plan` (compile once, run many), `summary` (`inspect`), `reference` (tract and
//! onnxruntime as inference-only peers).

use anyhow::{Context, Result};
use candle_core::{DType, Device, Tensor};
use std::path::Path;

pub mod attrs;
pub mod batch;
pub mod builder;
pub mod export;
pub mod fuse;
pub mod graph;
pub mod ops;
pub mod plan;
pub mod proto;
pub mod reference;
pub mod summary;
pub mod value;

pub use summary::Summary;
pub use value::Value;

/// A declared tensor dimension: a fixed size or a symbolic/free one (e.g. the batch).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub enum Dim {
    Fixed(usize),
    Free(String),
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct IoInfo {
    pub name: String,
    pub dims: Vec<Dim>,
    pub elem_type: String,
}

impl IoInfo {
    /// A float input or output: `Some(n)` a fixed dimension, `None` a free one (named `N`).
    /// For adapters checked without a model file, and tests.
    pub fn float(name: &str, dims: &[Option<usize>]) -> Self {
        IoInfo {
            name: name.into(),
            dims: dims
                .iter()
                .map(|d| match d {
                    Some(n) => Dim::Fixed(*n),
                    None => Dim::Free("N".into()),
                })
                .collect(),
            elem_type: "float".into(),
        }
    }
}

/// A loaded, validated, compiled ONNX model. Cheap to evaluate many times.
pub struct OnnxModel {
    plan: plan::Plan,
    inputs: Vec<IoInfo>,
    outputs: Vec<IoInfo>,
    metadata: Vec<(String, String)>,
    origin: String,
}

impl OnnxModel {
    /// Read, validate and compile `path` for `device`. Errors name the file and the node.
    pub fn load(path: &Path, device: &Device) -> Result<Self> {
        Self::load_with(path, device, DType::F32)
    }

    /// As `load`, computing in `dtype` (F32 or F64; F64 is for finite-difference checks).
    pub fn load_with(path: &Path, device: &Device, dtype: DType) -> Result<Self> {
        let bytes =
            std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
        Self::compile(
            &bytes,
            &path.display().to_string(),
            path.parent(),
            device,
            dtype,
        )
    }

    /// Same as `load`, from bytes already in memory (`origin` names them in errors).
    pub fn from_bytes(bytes: &[u8], origin: &str, device: &Device) -> Result<Self> {
        Self::compile(bytes, origin, None, device, DType::F32)
    }

    pub fn from_bytes_with(
        bytes: &[u8],
        origin: &str,
        device: &Device,
        dtype: DType,
    ) -> Result<Self> {
        Self::compile(bytes, origin, None, device, dtype)
    }

    fn compile(
        bytes: &[u8],
        origin: &str,
        base_dir: Option<&Path>,
        device: &Device,
        dtype: DType,
    ) -> Result<Self> {
        if !matches!(dtype, DType::F32 | DType::F64 | DType::F16 | DType::BF16) {
            anyhow::bail!("{origin}: the engine computes in a float dtype, not {dtype:?}");
        }
        let model = proto::decode_model(bytes, origin)?;
        let base = base_dir.map(|p| {
            if p.as_os_str().is_empty() {
                Path::new(".")
            } else {
                p
            }
        });
        let plan =
            plan::compile(&model, base, device, dtype).with_context(|| origin.to_string())?;
        let inputs = plan.inputs.iter().map(|s| s.info.clone()).collect();
        let outputs = plan.outputs.iter().map(|(_, i)| i.clone()).collect();
        let metadata = model
            .metadata_props
            .iter()
            .map(|e| (e.key.clone(), e.value.clone()))
            .collect();
        Ok(OnnxModel {
            plan,
            inputs,
            outputs,
            metadata,
            origin: origin.to_string(),
        })
    }

    pub fn inputs(&self) -> &[IoInfo] {
        &self.inputs
    }

    pub fn outputs(&self) -> &[IoInfo] {
        &self.outputs
    }

    /// The file's `metadata_props` (key, value), in file order: exporters put class names,
    /// preprocessing and provenance there.
    pub fn metadata(&self) -> &[(String, String)] {
        &self.metadata
    }

    /// The batch the file fixes for its first input, even where this engine frees a declared
    /// batch of 1: other runtimes (tract, onnxruntime) must be fed that batch.
    pub fn file_batch(&self) -> Option<usize> {
        self.plan.inputs.first().and_then(|s| s.file_batch)
    }

    pub fn device(&self) -> &Device {
        &self.plan.ctx.device
    }

    pub fn dtype(&self) -> DType {
        self.plan.ctx.dtype
    }

    /// Load-time remarks: free batch dimensions, rewritten batch-1 constants.
    pub fn notes(&self) -> &[String] {
        &self.plan.notes
    }

    /// Number of nodes run per forward (after constant folding) and nodes folded at load.
    pub fn step_counts(&self) -> (usize, usize) {
        (self.plan.num_steps(), self.plan.folded)
    }

    /// Every value name in the graph, for `forward_named`.
    pub fn value_names(&self) -> &[String] {
        self.plan.value_names()
    }

    /// Run the graph on the graph inputs in declared order; returns the graph outputs.
    /// Autodiff is intact from every input to every output. Any batch size is accepted.
    pub fn forward(&self, inputs: &[Tensor]) -> Result<Vec<Tensor>> {
        let want: Vec<usize> = self.plan.outputs.iter().map(|(id, _)| *id).collect();
        self.run(inputs, &want)
    }

    /// Run the graph and return the named values (graph outputs or any intermediate value,
    /// e.g. a penultimate layer for FID features).
    pub fn forward_named(&self, inputs: &[Tensor], names: &[&str]) -> Result<Vec<Tensor>> {
        let want: Vec<usize> = names
            .iter()
            .map(|n| {
                self.plan.value_id(n).with_context(|| {
                    format!(
                        "{}: no value named '{n}' (it may have been folded into a constant)",
                        self.origin
                    )
                })
            })
            .collect::<Result<_>>()?;
        self.run(inputs, &want)
    }

    /// `forward`, plus each node's label (`node 'name' (OpType)`) and wall seconds: where a
    /// model's forward time goes, per node (the engine bench sums it per op type).
    pub fn forward_timed(&self, inputs: &[Tensor]) -> Result<(Vec<Tensor>, Vec<(String, f64)>)> {
        let want: Vec<usize> = self.plan.outputs.iter().map(|(id, _)| *id).collect();
        let (vals, times) = self
            .plan
            .run_timed(inputs, &want)
            .with_context(|| self.origin.clone())?;
        Ok((
            vals.into_iter().map(|v| v.tensor().clone()).collect(),
            times,
        ))
    }

    fn run(&self, inputs: &[Tensor], want: &[usize]) -> Result<Vec<Tensor>> {
        let vals = self
            .plan
            .run(inputs, want)
            .with_context(|| self.origin.clone())?;
        Ok(vals.into_iter().map(|v| v.tensor().clone()).collect())
    }
}
