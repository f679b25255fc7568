//! Runtime values flowing between ONNX nodes.
//!
//! Float data lives on the target device as candle tensors (autodiff intact). Integer and
//! boolean data — shapes, indices, axes — lives on the host as CPU tensors (`I64`, bools as
//! `U8`), so shape arithmetic (`Shape -> Gather -> Concat -> Reshape`) never round-trips a GPU.

use anyhow::{bail, Result};
use candle_core::{DType, Device, Tensor};
use std::sync::atomic::{AtomicUsize, Ordering};

#[derive(Clone, Debug)]
pub enum Value {
    /// Float data (or a `U8` mask from comparing floats) on the target device.
    Device(Tensor),
    /// Integer (`I64`) or boolean (`U8`) data on the CPU.
    Host(Tensor),
}

/// Where and in which float precision a plan computes.
#[derive(Clone, Debug)]
pub struct Ctx {
    pub device: Device,
    pub dtype: DType,
}

impl Value {
    pub fn tensor(&self) -> &Tensor {
        match self {
            Value::Device(t) | Value::Host(t) => t,
        }
    }

    pub fn is_host(&self) -> bool {
        matches!(self, Value::Host(_))
    }

    pub fn dims(&self) -> &[usize] {
        self.tensor().dims()
    }

    pub fn rank(&self) -> usize {
        self.tensor().rank()
    }

    /// Same placement, new tensor: data-movement ops work identically on host and device.
    pub fn map(&self, f: impl FnOnce(&Tensor) -> candle_core::Result<Tensor>) -> Result<Value> {
        Ok(match self {
            Value::Device(t) => Value::Device(f(t)?),
            Value::Host(t) => Value::Host(f(t)?),
        })
    }

    /// Wrap a tensor in the variant its dtype calls for.
    pub fn from_tensor(t: Tensor) -> Value {
        match t.dtype() {
            DType::I64 | DType::U32 | DType::U8 if t.device().is_cpu() => Value::Host(t),
            _ => Value::Device(t),
        }
    }

    /// The data as a float tensor on the plan's device (host integers are converted).
    pub fn float(&self, ctx: &Ctx) -> Result<Tensor> {
        let t = self.tensor();
        let t = if t.dtype() != ctx.dtype {
            t.to_dtype(ctx.dtype)?
        } else {
            t.clone()
        };
        Ok(if !t.device().same_device(&ctx.device) {
            t.to_device(&ctx.device)?
        } else {
            t
        })
    }

    /// All elements as i64 (host data is read directly; device data is copied back once).
    pub fn to_i64s(&self) -> Result<Vec<i64>> {
        let t = self.tensor().flatten_all()?;
        Ok(match t.dtype() {
            DType::I64 => t.to_vec1::<i64>()?,
            DType::U8 => t.to_vec1::<u8>()?.into_iter().map(i64::from).collect(),
            DType::U32 => t.to_vec1::<u32>()?.into_iter().map(i64::from).collect(),
            _ => t
                .to_dtype(DType::F64)?
                .to_vec1::<f64>()?
                .into_iter()
                .map(|v| v as i64)
                .collect(),
        })
    }

    pub fn to_f64s(&self) -> Result<Vec<f64>> {
        Ok(self
            .tensor()
            .flatten_all()?
            .to_dtype(DType::F64)?
            .to_vec1::<f64>()?)
    }

    pub fn scalar_f64(&self) -> Result<f64> {
        let v = self.to_f64s()?;
        if v.len() != 1 {
            bail!("expected a scalar, got shape {:?}", self.dims());
        }
        Ok(v[0])
    }
}

/// Bring two values to a common placement for a binary op: both host when both are host,
/// otherwise both float tensors on the device.
pub fn unify(a: &Value, b: &Value, ctx: &Ctx) -> Result<(Tensor, Tensor, bool)> {
    if a.is_host() && b.is_host() {
        let (x, y) = (a.tensor(), b.tensor());
        if x.dtype() != y.dtype() {
            return Ok((x.to_dtype(DType::I64)?, y.to_dtype(DType::I64)?, true));
        }
        return Ok((x.clone(), y.clone(), true));
    }
    let fa = if a.is_host() {
        a.float(ctx)?
    } else {
        a.tensor().clone()
    };
    let fb = if b.is_host() {
        b.float(ctx)?
    } else {
        b.tensor().clone()
    };
    let (fa, fb) = if fa.dtype() != fb.dtype() {
        (fa.to_dtype(ctx.dtype)?, fb.to_dtype(ctx.dtype)?)
    } else {
        (fa, fb)
    };
    Ok((fa, fb, false))
}

/// Refuse to build a tensor bigger than this many elements (2^31) by default: a model or input
/// that claims more is corrupt or hostile, and allocating first would abort the process.
pub const MAX_ELEMENTS: usize = 1 << 31;

static ELEMENT_LIMIT: AtomicUsize = AtomicUsize::new(MAX_ELEMENTS);

/// The largest tensor (in elements) the engine builds; `MAX_ELEMENTS` unless lowered.
pub fn max_elements() -> usize {
    ELEMENT_LIMIT.load(Ordering::Relaxed)
}

/// Lower (or restore) the bound for this process: the fuzz target sets a small one so that a
/// hostile file is refused well below libFuzzer's memory limit. Clamped to `MAX_ELEMENTS`.
pub fn set_max_elements(n: usize) {
    ELEMENT_LIMIT.store(n.min(MAX_ELEMENTS), Ordering::Relaxed);
}

pub fn checked_elements(dims: &[usize], what: &str) -> Result<usize> {
    let limit = max_elements();
    let mut n: usize = 1;
    for &d in dims {
        n = match n.checked_mul(d) {
            Some(n) if n <= limit => n,
            _ => {
                bail!("{what}: shape {dims:?} has more than {limit} elements; refusing to allocate")
            }
        };
    }
    Ok(n)
}
