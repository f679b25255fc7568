//! Inference-only peers for cross-checks and benchmarks: tract-onnx (always available) and
//! onnxruntime (loaded at run time from `ORT_DYLIB_PATH`, e.g. the PyPI wheel's library).
//! Both take and return plain host f32 arrays.

use anyhow::{anyhow, bail, Context, Result};
use candle_core::{DType, Device, Tensor};
type TTensor = tract_onnx::prelude::Tensor;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock};
use tract_onnx::prelude::{
    tract_ndarray, Datum, Framework, InferenceFact, InferenceModelExt, IntoRunnable, TValue, TVec,
    TypedRunnableModel,
};

/// A dense f32 array on the host.
#[derive(Debug, Clone, PartialEq)]
pub struct HostArray {
    pub shape: Vec<usize>,
    pub data: Vec<f32>,
}

impl HostArray {
    pub fn from_tensor(t: &Tensor) -> Result<HostArray> {
        Ok(HostArray {
            shape: t.dims().to_vec(),
            data: t.to_dtype(DType::F32)?.flatten_all()?.to_vec1()?,
        })
    }

    pub fn to_tensor(&self, device: &Device) -> Result<Tensor> {
        Ok(Tensor::from_vec(
            self.data.clone(),
            self.shape.as_slice(),
            device,
        )?)
    }
}

/// A reference engine: runs a model's forward pass, nothing else.
pub trait Reference: Send + Sync {
    fn name(&self) -> &'static str;
    fn run(&self, inputs: &[HostArray]) -> Result<Vec<HostArray>>;
}

type TractPlan = Arc<TypedRunnableModel>;

/// tract-onnx, compiled once per distinct input shape set (tract specialises on shapes).
pub struct TractRunner {
    path: PathBuf,
    plans: Mutex<HashMap<Vec<Vec<usize>>, TractPlan>>,
}

impl TractRunner {
    pub fn load(path: &Path) -> Result<TractRunner> {
        if !path.exists() {
            bail!("{}: no such model file", path.display());
        }
        Ok(TractRunner {
            path: path.to_path_buf(),
            plans: Mutex::new(HashMap::new()),
        })
    }

    fn plan(&self, shapes: Vec<Vec<usize>>) -> Result<TractPlan> {
        if let Some(p) = self.plans.lock().unwrap().get(&shapes) {
            return Ok(p.clone());
        }
        let mut model = tract_onnx::onnx()
            .model_for_path(&self.path)
            .map_err(|e| anyhow!("tract: {}: {e:?}", self.path.display()))?;
        for (i, s) in shapes.iter().enumerate() {
            model = model
                .with_input_fact(i, InferenceFact::dt_shape(f32::datum_type(), s.clone()))
                .map_err(|e| anyhow!("tract: input {i}: {e:?}"))?;
        }
        let plan = model
            .into_optimized()
            .and_then(|m| m.into_runnable())
            .map_err(|e| anyhow!("tract: {}: {e:?}", self.path.display()))?;
        self.plans.lock().unwrap().insert(shapes, plan.clone());
        Ok(plan)
    }
}

impl Reference for TractRunner {
    fn name(&self) -> &'static str {
        "tract"
    }

    fn run(&self, inputs: &[HostArray]) -> Result<Vec<HostArray>> {
        let plan = self.plan(inputs.iter().map(|a| a.shape.clone()).collect())?;
        let ins: TVec<TValue> = inputs
            .iter()
            .map(|a| {
                tract_ndarray::ArrayD::from_shape_vec(a.shape.clone(), a.data.clone())
                    .map(|arr| TTensor::from(arr).into())
                    .map_err(|e| anyhow!("tract input: {e}"))
            })
            .collect::<Result<_>>()?;
        let outs = plan.run(ins).map_err(|e| anyhow!("tract run: {e:?}"))?;
        outs.iter()
            .map(|o| {
                let o = o
                    .cast_to::<f32>()
                    .map_err(|e| anyhow!("tract output: {e:?}"))?;
                let view = o
                    .to_plain_array_view::<f32>()
                    .map_err(|e| anyhow!("tract output: {e:?}"))?;
                Ok(HostArray {
                    shape: view.shape().to_vec(),
                    data: view.iter().copied().collect(),
                })
            })
            .collect()
    }
}

/// onnxruntime through `ort` with `load-dynamic`.
pub struct OrtRunner {
    session: Mutex<ort::session::Session>,
}

static ORT_INIT: OnceLock<std::result::Result<(), String>> = OnceLock::new();

impl OrtRunner {
    /// Whether `ORT_DYLIB_PATH` points at a library file.
    pub fn available() -> bool {
        std::env::var_os("ORT_DYLIB_PATH").is_some_and(|p| Path::new(&p).is_file())
    }

    /// Load with `threads` intra-op threads (0: onnxruntime's default).
    pub fn load(path: &Path, threads: usize) -> Result<OrtRunner> {
        let lib = std::env::var("ORT_DYLIB_PATH")
            .context("onnxruntime needs ORT_DYLIB_PATH (path to libonnxruntime.so)")?;
        ORT_INIT
            .get_or_init(|| {
                ort::init_from(lib)
                    .commit()
                    .map(|_| ())
                    .map_err(|e| e.to_string())
            })
            .clone()
            .map_err(|e| anyhow!("onnxruntime: cannot initialise: {e}"))?;
        let mut b = ort::session::Session::builder().map_err(|e| anyhow!("onnxruntime: {e}"))?;
        if threads > 0 {
            b = b
                .with_intra_threads(threads)
                .map_err(|e| anyhow!("onnxruntime: {e}"))?;
        }
        let session = b
            .commit_from_file(path)
            .map_err(|e| anyhow!("onnxruntime: {}: {e}", path.display()))?;
        Ok(OrtRunner {
            session: Mutex::new(session),
        })
    }
}

impl Reference for OrtRunner {
    fn name(&self) -> &'static str {
        "onnxruntime"
    }

    fn run(&self, inputs: &[HostArray]) -> Result<Vec<HostArray>> {
        let mut session = self.session.lock().unwrap();
        let values: Vec<ort::session::SessionInputValue<'_>> = inputs
            .iter()
            .map(|a| {
                ort::value::Tensor::from_array((a.shape.clone(), a.data.clone()))
                    .map(|t| t.into())
                    .map_err(|e| anyhow!("onnxruntime input: {e}"))
            })
            .collect::<Result<_>>()?;
        let outputs = session
            .run(values.as_slice())
            .map_err(|e| anyhow!("onnxruntime run: {e}"))?;
        let mut result = Vec::new();
        for (_, v) in outputs.iter() {
            let (shape, data) = v
                .try_extract_tensor::<f32>()
                .map_err(|e| anyhow!("onnxruntime output: {e}"))?;
            result.push(HostArray {
                shape: shape.iter().map(|&d| d as usize).collect(),
                data: data.to_vec(),
            });
        }
        Ok(result)
    }
}
