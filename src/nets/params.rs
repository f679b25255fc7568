//! Named parameters and buffers of one network, with seeded initialisation.
//!
//! A `ParamStore` is an ordered map from dotted names to candle `Var`s. Trainable
//! parameters and buffers (spectral-norm `u` vectors, batch-norm running statistics) live
//! side by side so that one safetensors file holds a whole network, but only parameters are
//! handed to the optimiser. Ordered (BTreeMap) and seeded so that two runs with the same
//! seed build bit-identical networks.

use anyhow::{bail, Context, Result};
use candle_core::{DType, Device, Tensor, Var};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use std::collections::{BTreeMap, HashMap};
use std::path::Path;
use std::sync::Mutex;

/// How a new tensor is filled.
#[derive(Debug, Clone, Copy)]
pub enum Init {
    Zeros,
    Ones,
    /// Gaussian with this standard deviation.
    Normal(f64),
    /// Glorot/Xavier uniform for the given fan-in and fan-out.
    Xavier {
        fan_in: usize,
        fan_out: usize,
    },
}

struct Entry {
    var: Var,
    trainable: bool,
}

pub struct ParamStore {
    device: Device,
    dtype: DType,
    entries: Mutex<BTreeMap<String, Entry>>,
    rng: Mutex<ChaCha8Rng>,
}

impl ParamStore {
    pub fn new(device: &Device, seed: u64) -> Self {
        Self::with_dtype(device, seed, DType::F32)
    }

    /// Same initial values, held in `dtype` (f64 for finite-difference tests).
    pub fn with_dtype(device: &Device, seed: u64, dtype: DType) -> Self {
        ParamStore {
            device: device.clone(),
            dtype,
            entries: Mutex::new(BTreeMap::new()),
            rng: Mutex::new(ChaCha8Rng::seed_from_u64(seed)),
        }
    }

    pub fn device(&self) -> &Device {
        &self.device
    }

    /// A view that prefixes names, like `VarBuilder::pp`.
    pub fn root(&self) -> Scope<'_> {
        Scope {
            store: self,
            prefix: String::new(),
        }
    }

    fn create(&self, name: &str, shape: &[usize], init: Init, trainable: bool) -> Result<Var> {
        let mut entries = self.entries.lock().unwrap();
        if entries.contains_key(name) {
            bail!("parameter `{name}` defined twice (network construction bug)");
        }
        let n: usize = shape.iter().product();
        let values: Vec<f32> = {
            let mut rng = self.rng.lock().unwrap();
            match init {
                Init::Zeros => vec![0.0; n],
                Init::Ones => vec![1.0; n],
                Init::Normal(std) => (0..n).map(|_| (gaussian(&mut *rng) * std) as f32).collect(),
                Init::Xavier { fan_in, fan_out } => {
                    let bound = (6.0 / (fan_in + fan_out) as f64).sqrt();
                    (0..n)
                        .map(|_| rng.random_range(-bound..bound) as f32)
                        .collect()
                }
            }
        };
        let var = Var::from_tensor(
            &Tensor::from_vec(values, shape, &self.device)?.to_dtype(self.dtype)?,
        )?;
        entries.insert(
            name.to_string(),
            Entry {
                var: var.clone(),
                trainable,
            },
        );
        Ok(var)
    }

    /// Trainable parameters in name order.
    pub fn trainable(&self) -> Vec<(String, Var)> {
        let entries = self.entries.lock().unwrap();
        entries
            .iter()
            .filter(|(_, e)| e.trainable)
            .map(|(k, e)| (k.clone(), e.var.clone()))
            .collect()
    }

    /// Everything (parameters and buffers) in name order.
    pub fn all(&self) -> Vec<(String, Var)> {
        let entries = self.entries.lock().unwrap();
        entries
            .iter()
            .map(|(k, e)| (k.clone(), e.var.clone()))
            .collect()
    }

    pub fn get(&self, name: &str) -> Option<Var> {
        self.entries
            .lock()
            .unwrap()
            .get(name)
            .map(|e| e.var.clone())
    }

    /// Detached copies of every tensor, for saving.
    pub fn to_tensors(&self) -> Result<HashMap<String, Tensor>> {
        let mut out = HashMap::new();
        for (k, v) in self.all() {
            out.insert(k, v.as_tensor().copy()?.detach());
        }
        Ok(out)
    }

    /// Overwrite every tensor from `tensors`; names and shapes must match exactly.
    pub fn load_tensors(&self, tensors: &HashMap<String, Tensor>, origin: &str) -> Result<()> {
        let all = self.all();
        for (name, var) in &all {
            let t = tensors.get(name).with_context(|| {
                format!("{origin}: missing tensor `{name}` (different network config?)")
            })?;
            if t.dims() != var.dims() {
                bail!(
                    "{origin}: tensor `{name}` has shape {:?}, the network expects {:?}",
                    t.dims(),
                    var.dims()
                );
            }
            var.set(&t.to_dtype(self.dtype)?.to_device(&self.device)?)?;
        }
        if tensors.len() != all.len() {
            let extra: Vec<_> = tensors
                .keys()
                .filter(|k| self.get(k).is_none())
                .take(5)
                .collect();
            bail!("{origin}: unexpected tensors {extra:?} (different network config?)");
        }
        Ok(())
    }

    pub fn save(&self, path: &Path) -> Result<()> {
        candle_core::safetensors::save(&self.to_tensors()?, path)
            .with_context(|| format!("writing {}", path.display()))
    }

    pub fn load(&self, path: &Path) -> Result<()> {
        self.load_except(path, |_| false)
    }

    /// [`Self::load`], leaving out the file's tensors that this store lacks and `unused`
    /// accepts: parts of the saved network that the one built here has no use for. Any other
    /// missing or extra tensor is still an error.
    pub fn load_except(&self, path: &Path, unused: impl Fn(&str) -> bool) -> Result<()> {
        let mut tensors = candle_core::safetensors::load(path, &self.device)
            .with_context(|| format!("reading {}", path.display()))?;
        tensors.retain(|name, _| self.get(name).is_some() || !unused(name));
        self.load_tensors(&tensors, &path.display().to_string())
    }

    /// Copy all values from a store built with the same layout.
    pub fn copy_from(&self, other: &ParamStore) -> Result<()> {
        self.load_tensors(&other.to_tensors()?, "copy")
    }
}

/// Standard normal sample by Box-Muller (keeps initialisation independent of rand_distr).
pub fn gaussian<R: Rng + ?Sized>(rng: &mut R) -> f64 {
    let u1: f64 = rng.random::<f64>().max(1e-300);
    let u2: f64 = rng.random::<f64>();
    (-2.0 * u1.ln()).sqrt() * (2.0 * std::f64::consts::PI * u2).cos()
}

/// A name prefix into a `ParamStore`.
#[derive(Clone)]
pub struct Scope<'a> {
    store: &'a ParamStore,
    prefix: String,
}

impl<'a> Scope<'a> {
    pub fn pp(&self, name: &str) -> Scope<'a> {
        let prefix = if self.prefix.is_empty() {
            name.to_string()
        } else {
            format!("{}.{name}", self.prefix)
        };
        Scope {
            store: self.store,
            prefix,
        }
    }

    fn full(&self, name: &str) -> String {
        if self.prefix.is_empty() {
            name.to_string()
        } else {
            format!("{}.{name}", self.prefix)
        }
    }

    pub fn param(&self, name: &str, shape: &[usize], init: Init) -> Result<Var> {
        self.store.create(&self.full(name), shape, init, true)
    }

    pub fn buffer(&self, name: &str, shape: &[usize], init: Init) -> Result<Var> {
        self.store.create(&self.full(name), shape, init, false)
    }

    pub fn device(&self) -> &Device {
        &self.store.device
    }
}

/// Standard normal noise `[rows, cols]` (f32) from `rng`, in row-major order: the one place
/// latent codes are drawn.
pub fn gaussian_noise<R: Rng + ?Sized>(
    rng: &mut R,
    rows: usize,
    cols: usize,
    device: &Device,
) -> Result<Tensor> {
    let v: Vec<f32> = (0..rows * cols).map(|_| gaussian(rng) as f32).collect();
    Ok(Tensor::from_vec(v, (rows, cols), device)?)
}
