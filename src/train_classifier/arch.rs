//! Small CNN architectures by name, as a flat list of layers: simple to train with candle,
//! to checkpoint, and to export to ONNX layer by layer (batch norm folded into the conv).

use crate::kernels::{self, Conv2dSpec, Pad2d};
use crate::onnx::export::{attr_int, attr_ints, ExportDim, OnnxGraphBuilder};
use anyhow::{bail, Result};
use candle_core::{DType, Device, Tensor, Var, D};
use candle_nn::{Init, VarMap};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use std::collections::HashMap;
use std::sync::Mutex;

/// Names accepted by `--arch`, with a one-line description each.
pub const ARCHITECTURES: [(&str, &str); 4] = [
    (
        "cnn-small",
        "3x conv3x3 (32-64-128) + BN + ReLU + maxpool, linear head (~0.1 M params)",
    ),
    (
        "cnn-5x5",
        "2x conv5x5 (16-32) + BN + ReLU + maxpool, 128-unit hidden layer (~0.22 M params)",
    ),
    ("mlp", "one 256-unit hidden layer"),
    (
        "cnn-tiny",
        "conv3x3 (8) + BN + ReLU + maxpool, linear head (tests)",
    ),
];

/// Batch-norm statistics' momentum, as PyTorch's default.
const BN_MOMENTUM: f64 = 0.1;
const BN_EPS: f64 = 1e-5;

enum LayerSpec {
    Conv { out: usize, k: usize, pad: usize },
    BatchNorm,
    Relu,
    MaxPool2,
    Flatten,
    Linear { out: usize },
}

fn specs(arch: &str, num_classes: usize) -> Result<Vec<LayerSpec>> {
    use LayerSpec::*;
    let conv_block = |out, k| vec![Conv { out, k, pad: k / 2 }, BatchNorm, Relu, MaxPool2];
    Ok(match arch {
        "cnn-small" => {
            let mut v = conv_block(32, 3);
            v.extend(conv_block(64, 3));
            v.extend(conv_block(128, 3));
            v.extend([Flatten, Linear { out: num_classes }]);
            v
        }
        "cnn-5x5" => {
            let mut v = conv_block(16, 5);
            v.extend(conv_block(32, 5));
            v.extend([
                Flatten,
                Linear { out: 128 },
                Relu,
                Linear { out: num_classes },
            ]);
            v
        }
        "mlp" => vec![
            Flatten,
            Linear { out: 256 },
            Relu,
            Linear { out: num_classes },
        ],
        "cnn-tiny" => {
            let mut v = conv_block(8, 3);
            v.extend([Flatten, Linear { out: num_classes }]);
            v
        }
        other => bail!(
            "unknown --arch {other:?}; choose one of: {}",
            ARCHITECTURES
                .iter()
                .map(|(n, _)| *n)
                .collect::<Vec<_>>()
                .join(", ")
        ),
    })
}

enum Layer {
    Conv {
        w: Var,
        b: Var,
        pad: usize,
    },
    BatchNorm {
        gamma: Var,
        beta: Var,
        mean: Mutex<Tensor>,
        var: Mutex<Tensor>,
    },
    Relu,
    MaxPool2,
    Flatten,
    Linear {
        w: Var,
        b: Var,
    },
}

/// How batch norm behaves in a forward pass.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Batch statistics; running statistics updated.
    Train,
    /// Batch statistics, running statistics left alone (crafting adversarial examples
    /// during training: the attack sees the network as the training step will).
    TrainNoUpdate,
    /// Running statistics.
    Eval,
}

/// A network built from an architecture name for one input shape and class count.
pub struct Net {
    pub arch: String,
    pub input_shape: (usize, usize, usize),
    pub num_classes: usize,
    layers: Vec<Layer>,
    pub varmap: VarMap,
}

/// 2x2 max pooling, stride 2, floor mode, as reshaped views: exact gradients (candle's
/// `max_pool2d` backward is wrong, see docs) and no dependency on a fused kernel.
fn max_pool2(x: &Tensor) -> candle_core::Result<Tensor> {
    let (n, c, h, w) = x.dims4()?;
    let (h2, w2) = (h / 2, w / 2);
    let x = if h % 2 == 1 || w % 2 == 1 {
        x.narrow(2, 0, 2 * h2)?.narrow(3, 0, 2 * w2)?
    } else {
        x.clone()
    };
    x.contiguous()?
        .reshape((n, c, h2, 2, w2, 2))?
        .max(5)?
        .max(3)
}

impl Net {
    /// Fresh weights (Kaiming-uniform as PyTorch's defaults) from `seed`.
    pub fn new(
        arch: &str,
        input_shape: (usize, usize, usize),
        num_classes: usize,
        seed: u64,
        device: &Device,
    ) -> Result<Net> {
        let specs = specs(arch, num_classes)?;
        // Our own seeded stream: candle cannot seed its CPU generator.
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let varmap = VarMap::new();
        let (mut c, mut h, mut w) = input_shape;
        let mut flat: Option<usize> = None;
        let mut layers = Vec::new();
        let mut get = |name: String, shape: Vec<usize>, init: Init| -> Result<Var> {
            let n: usize = shape.iter().product();
            let values: Vec<f32> = match init {
                Init::Const(v) => vec![v as f32; n],
                Init::Uniform { lo, up } => {
                    (0..n).map(|_| rng.random_range(lo..up) as f32).collect()
                }
                _ => unreachable!("only constant and uniform initialisations are used"),
            };
            let var = Var::from_tensor(&Tensor::from_vec(values, shape, device)?)?;
            varmap.data().lock().unwrap().insert(name, var.clone());
            Ok(var)
        };
        for (i, s) in specs.into_iter().enumerate() {
            layers.push(match s {
                LayerSpec::Conv { out, k, pad } => {
                    let fan_in = (c * k * k) as f64;
                    let bound = 1.0 / fan_in.sqrt();
                    let l = Layer::Conv {
                        w: get(format!("l{i}.weight"), vec![out, c, k, k], Init::Uniform { lo: -bound * 3f64.sqrt(), up: bound * 3f64.sqrt() })?,
                        b: get(format!("l{i}.bias"), vec![out], Init::Uniform { lo: -bound, up: bound })?,
                        pad,
                    };
                    c = out;
                    h = h + 2 * pad - k + 1;
                    w = w + 2 * pad - k + 1;
                    l
                }
                LayerSpec::BatchNorm => Layer::BatchNorm {
                    gamma: get(format!("l{i}.gamma"), vec![c], Init::Const(1.0))?,
                    beta: get(format!("l{i}.beta"), vec![c], Init::Const(0.0))?,
                    mean: Mutex::new(Tensor::zeros(c, DType::F32, device)?),
                    var: Mutex::new(Tensor::ones(c, DType::F32, device)?),
                },
                LayerSpec::Relu => Layer::Relu,
                LayerSpec::MaxPool2 => {
                    h /= 2;
                    w /= 2;
                    if h == 0 || w == 0 {
                        bail!("--arch {arch}: input {input_shape:?} is too small for its pooling layers");
                    }
                    Layer::MaxPool2
                }
                LayerSpec::Flatten => {
                    flat = Some(c * h * w);
                    Layer::Flatten
                }
                LayerSpec::Linear { out } => {
                    let fan_in = flat.expect("Linear follows Flatten");
                    let bound = 1.0 / (fan_in as f64).sqrt();
                    let l = Layer::Linear {
                        w: get(format!("l{i}.weight"), vec![out, fan_in], Init::Uniform { lo: -bound * 3f64.sqrt(), up: bound * 3f64.sqrt() })?,
                        b: get(format!("l{i}.bias"), vec![out], Init::Uniform { lo: -bound, up: bound })?,
                    };
                    flat = Some(out);
                    l
                }
            });
        }
        Ok(Net {
            arch: arch.to_string(),
            input_shape,
            num_classes,
            layers,
            varmap,
        })
    }

    /// Logits `[N, num_classes]` for `x` `[N, C, H, W]` in generator space.
    pub fn forward(&self, x: &Tensor, mode: Mode) -> Result<Tensor> {
        let mut y = x.clone();
        for l in &self.layers {
            y = match l {
                Layer::Conv { w, b, pad } => {
                    let spec = Conv2dSpec {
                        padding: Pad2d::same(*pad),
                        ..Default::default()
                    };
                    kernels::conv2d(&y, w.as_tensor(), Some(b.as_tensor()), &spec)?
                }
                Layer::BatchNorm {
                    gamma,
                    beta,
                    mean,
                    var,
                } => match mode {
                    Mode::Eval => {
                        let (m, v) = (mean.lock().unwrap().clone(), var.lock().unwrap().clone());
                        kernels::batch_norm_eval(
                            &y,
                            &m,
                            &v,
                            Some(gamma.as_tensor()),
                            Some(beta.as_tensor()),
                            BN_EPS,
                        )?
                    }
                    Mode::Train | Mode::TrainNoUpdate => {
                        let (out, bm, bv) = kernels::batch_norm_train(
                            &y,
                            Some(gamma.as_tensor()),
                            Some(beta.as_tensor()),
                            BN_EPS,
                        )?;
                        if mode == Mode::Train {
                            // Running variance is unbiased, as PyTorch (and ONNX exporters) keep it.
                            let n = (y.elem_count() / y.dim(1)?) as f64;
                            let bv = (bv.detach() * (n / (n - 1.0).max(1.0)))?;
                            let mut m = mean.lock().unwrap();
                            *m = ((&*m * (1.0 - BN_MOMENTUM))? + (bm.detach() * BN_MOMENTUM)?)?;
                            let mut v = var.lock().unwrap();
                            *v = ((&*v * (1.0 - BN_MOMENTUM))? + (bv * BN_MOMENTUM)?)?;
                        }
                        out
                    }
                },
                Layer::Relu => y.relu()?,
                Layer::MaxPool2 => max_pool2(&y)?,
                Layer::Flatten => y.flatten_from(1)?,
                Layer::Linear { w, b } => y
                    .matmul(&w.as_tensor().t()?)?
                    .broadcast_add(b.as_tensor())?,
            };
        }
        Ok(y)
    }

    /// Class predictions `[N]` (u32), eval mode.
    pub fn predict(&self, x: &Tensor) -> Result<Tensor> {
        Ok(self.forward(x, Mode::Eval)?.argmax(D::Minus1)?)
    }

    /// Every non-trainable tensor (batch-norm running statistics), by name.
    pub fn buffers(&self) -> HashMap<String, Tensor> {
        let mut out = HashMap::new();
        for (i, l) in self.layers.iter().enumerate() {
            if let Layer::BatchNorm { mean, var, .. } = l {
                out.insert(format!("l{i}.running_mean"), mean.lock().unwrap().clone());
                out.insert(format!("l{i}.running_var"), var.lock().unwrap().clone());
            }
        }
        out
    }

    /// Save trainable weights and buffers to one safetensors file.
    pub fn save(&self, path: &std::path::Path) -> Result<()> {
        let mut all = self.buffers();
        for (name, v) in self.varmap.data().lock().unwrap().iter() {
            all.insert(name.clone(), v.as_tensor().clone());
        }
        candle_core::safetensors::save(&all, path)?;
        Ok(())
    }

    /// Load what `save` wrote (same architecture and shapes).
    pub fn load_weights(&self, path: &std::path::Path) -> Result<()> {
        let device = self.device();
        let saved = candle_core::safetensors::load(path, &device)?;
        let take = |name: &str| -> Result<Tensor> {
            saved
                .get(name)
                .cloned()
                .ok_or_else(|| anyhow::anyhow!("{}: no tensor {name:?}", path.display()))
        };
        for (name, v) in self.varmap.data().lock().unwrap().iter() {
            let t = take(name)?;
            if t.dims() != v.dims() {
                bail!(
                    "{}: {name} has shape {:?}, the network wants {:?}",
                    path.display(),
                    t.dims(),
                    v.dims()
                );
            }
            v.set(&t)?;
        }
        for (i, l) in self.layers.iter().enumerate() {
            if let Layer::BatchNorm { mean, var, .. } = l {
                *mean.lock().unwrap() = take(&format!("l{i}.running_mean"))?;
                *var.lock().unwrap() = take(&format!("l{i}.running_var"))?;
            }
        }
        Ok(())
    }

    fn device(&self) -> Device {
        self.varmap
            .all_vars()
            .first()
            .map(|v| v.device().clone())
            .unwrap_or(Device::Cpu)
    }

    pub fn parameter_count(&self) -> usize {
        self.varmap.all_vars().iter().map(|v| v.elem_count()).sum()
    }

    /// Export as an ONNX graph: input `input` `[batch, C, H, W]` (generator space, [-1, 1]),
    /// output `logits` `[batch, num_classes]`. Batch norm is folded into the preceding conv.
    pub fn to_onnx(&self, doc: &str) -> Result<tract_onnx::pb::ModelProto> {
        let vec = |t: &Tensor| -> Result<Vec<f32>> {
            Ok(t.flatten_all()?.to_dtype(DType::F32)?.to_vec1::<f32>()?)
        };
        let (c, h, w) = self.input_shape;
        let mut g = OnnxGraphBuilder::new();
        let mut cur = g.input(
            "input",
            &[
                ExportDim::Free("batch"),
                ExportDim::Fixed(c as i64),
                ExportDim::Fixed(h as i64),
                ExportDim::Fixed(w as i64),
            ],
        );
        let mut i = 0;
        while i < self.layers.len() {
            match &self.layers[i] {
                Layer::Conv { w, b, pad } => {
                    let (o, ci, kh, kw) = w.dims4()?;
                    let (mut wv, mut bv) = (vec(w.as_tensor())?, vec(b.as_tensor())?);
                    if let Some(Layer::BatchNorm {
                        gamma,
                        beta,
                        mean,
                        var,
                    }) = self.layers.get(i + 1)
                    {
                        let (ga, be) = (vec(gamma.as_tensor())?, vec(beta.as_tensor())?);
                        let (m, v) = (vec(&mean.lock().unwrap())?, vec(&var.lock().unwrap())?);
                        let per = ci * kh * kw;
                        for oc in 0..o {
                            let s = ga[oc] / (v[oc] + BN_EPS as f32).sqrt();
                            wv[oc * per..(oc + 1) * per]
                                .iter_mut()
                                .for_each(|x| *x *= s);
                            bv[oc] = (bv[oc] - m[oc]) * s + be[oc];
                        }
                        i += 1;
                    }
                    let wn = g.initializer(&format!("conv{i}.weight"), &[o, ci, kh, kw], &wv)?;
                    let bn = g.initializer(&format!("conv{i}.bias"), &[o], &bv)?;
                    let p = *pad as i64;
                    cur = g.node(
                        "Conv",
                        &[&cur, &wn, &bn],
                        vec![
                            attr_ints("kernel_shape", &[kh as i64, kw as i64]),
                            attr_ints("pads", &[p, p, p, p]),
                            attr_ints("strides", &[1, 1]),
                        ],
                        None,
                    );
                }
                Layer::BatchNorm { .. } => bail!("ONNX export: batch norm not after a conv"),
                Layer::Relu => cur = g.node("Relu", &[&cur], vec![], None),
                Layer::MaxPool2 => {
                    cur = g.node(
                        "MaxPool",
                        &[&cur],
                        vec![
                            attr_ints("kernel_shape", &[2, 2]),
                            attr_ints("strides", &[2, 2]),
                        ],
                        None,
                    )
                }
                Layer::Flatten => cur = g.node("Flatten", &[&cur], vec![attr_int("axis", 1)], None),
                Layer::Linear { w, b } => {
                    let (o, inp) = w.dims2()?;
                    let wn =
                        g.initializer(&format!("fc{i}.weight"), &[o, inp], &vec(w.as_tensor())?)?;
                    let bn = g.initializer(&format!("fc{i}.bias"), &[o], &vec(b.as_tensor())?)?;
                    let last = i + 1 == self.layers.len();
                    cur = g.node(
                        "Gemm",
                        &[&cur, &wn, &bn],
                        vec![attr_int("transB", 1)],
                        if last { Some("logits") } else { None },
                    );
                }
            }
            i += 1;
        }
        g.output(
            &cur,
            &[
                ExportDim::Free("batch"),
                ExportDim::Fixed(self.num_classes as i64),
            ],
        );
        Ok(g.finish(&format!("probegan_{}", self.arch), doc))
    }
}
