//! ONNX protobuf -> a compiled plan of candle ops, differentiable end to end.
//!
//! Parsing uses `tract_onnx::pb` (no `protoc`); weights are decoded once and kept on the
//! target device. See `docs/ARCHITECTURE.md`.
//!
//! NOTE (skeleton): the public API below is the contract the rest of the crate uses; the
//! engine work (issue 2) fills it in.

use anyhow::{bail, Result};
use candle_core::{Device, Tensor};
use std::path::Path;

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

/// A loaded, validated, compiled ONNX model. Cheap to evaluate many times.
pub struct OnnxModel {
    _private: (),
}

impl OnnxModel {
    /// Read, validate and compile `path` for `device`. Errors name the file and the node.
    pub fn load(path: &Path, device: &Device) -> Result<Self> {
        let _ = device;
        bail!("{}: ONNX engine not yet implemented", path.display())
    }

    /// Same as `load`, from bytes already in memory (`origin` names them in errors).
    pub fn from_bytes(bytes: &[u8], origin: &str, device: &Device) -> Result<Self> {
        let _ = (bytes, device);
        bail!("{origin}: ONNX engine not yet implemented")
    }

    pub fn inputs(&self) -> &[IoInfo] {
        &[]
    }

    pub fn outputs(&self) -> &[IoInfo] {
        &[]
    }

    /// Run the graph on the graph inputs in declared order; returns the graph outputs.
    /// Autodiff is intact from every input to every output. Any batch size is accepted.
    pub fn forward(&self, inputs: &[Tensor]) -> Result<Vec<Tensor>> {
        let _ = inputs;
        bail!("ONNX engine not yet implemented")
    }

    /// Run the graph and return the named values (graph outputs or any intermediate value,
    /// e.g. a penultimate layer for FID features).
    pub fn forward_named(&self, inputs: &[Tensor], names: &[&str]) -> Result<Vec<Tensor>> {
        let _ = (inputs, names);
        bail!("ONNX engine not yet implemented")
    }
}
