//! Adapters: TOML files that map a classifier's input format and class space onto
//! probegan's generator space and problem classes.
//!
//! Generator space is always `[N, C, H, W]`, values in `[-1, 1]`. An adapter says what the
//! classifier wants instead and how to get there *differentiably* (ProbeGAN pushes gradients
//! from the classifier's logits back into the generator through this map):
//!
//! ```toml
//! modality = "image"              # "image" ("mel" is reserved for audio, not yet supported)
//! model = "../models/fmnist_regular.onnx"   # optional, relative to this file (or `zoo = "name"`)
//!
//! [input]
//! size = [28, 28]                 # [height, width] the model expects
//! channels = 1                    # 1 (grey) or 3 (colour); grey<->RGB converted as needed
//! layout = "NCHW"                 # or "NHWC"
//! range = "-1..1"                 # "0..1", "0..255" or "-1..1": pixel values before mean/std
//! mean = [0.0]                    # per channel (or one value), in `range` units
//! std = [1.0]
//! channel_order = "RGB"           # or "BGR"
//! resize = "bilinear"             # "bilinear" (antialiased when shrinking), "nearest", "none"
//! fit = "stretch"                 # "stretch" or "center-crop" (keep aspect, crop the excess)
//!
//! [classes]
//! names = ["T-shirt/top", "Trouser", ...]   # the model's logits, index-aligned
//! # labels_file = "imagenet_labels.txt"     # or one name per line, relative to this file
//! # subset = ["tabby", 282, { name = "cat", index = 283 }, { name = "dog", label = "pug" }]
//! ```
//!
//! `subset` turns K model logits into a smaller problem: each entry picks one logit by its
//! label, its index, or either with a new problem name. Without `subset` the problem's classes
//! are all of the model's.
//!
//! Resizing is a pair of interpolation matrices (`y = A_h · x · A_wᵀ`) rather than candle's
//! `upsample_bilinear2d`, which has no backward pass.

use anyhow::{anyhow, bail, Context, Result};
use candle_core::{DType, Device, Tensor};
use serde::Deserialize;
use std::path::{Path, PathBuf};

/// Pixel value range the model expects before mean/std normalisation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ValueRange {
    ZeroOne,
    ZeroTo255,
    MinusOneOne,
}

impl ValueRange {
    fn parse(s: &str) -> Option<Self> {
        match s.trim().replace(' ', "").as_str() {
            "0..1" | "0-1" | "[0,1]" => Some(ValueRange::ZeroOne),
            "0..255" | "0-255" | "[0,255]" => Some(ValueRange::ZeroTo255),
            "-1..1" | "[-1,1]" => Some(ValueRange::MinusOneOne),
            _ => None,
        }
    }
    /// `(scale, offset)` so that `model_value = scale * generator_value + offset`.
    fn affine_from_generator(self) -> (f64, f64) {
        match self {
            ValueRange::ZeroOne => (0.5, 0.5),
            ValueRange::ZeroTo255 => (127.5, 127.5),
            ValueRange::MinusOneOne => (1.0, 0.0),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Layout {
    Nchw,
    Nhwc,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ResizeMethod {
    /// Triangle filter; its support widens when shrinking (antialiased, as PIL does).
    Bilinear,
    Nearest,
    /// Sizes must already match.
    None,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fit {
    Stretch,
    CenterCrop,
}

/// The input side of an adapter, resolved and validated.
#[derive(Debug, Clone, PartialEq)]
pub struct InputSpec {
    pub height: usize,
    pub width: usize,
    pub channels: usize,
    pub layout: Layout,
    pub range: ValueRange,
    /// Per model channel, in `range` units.
    pub mean: Vec<f64>,
    pub std: Vec<f64>,
    pub bgr: bool,
    pub resize: ResizeMethod,
    pub fit: Fit,
}

impl InputSpec {
    /// Identity-like spec for a model trained on generator space itself (range -1..1, no
    /// normalisation): what `probegan train-classifier` exports.
    pub fn generator_space(channels: usize, height: usize, width: usize) -> Self {
        InputSpec {
            height,
            width,
            channels,
            layout: Layout::Nchw,
            range: ValueRange::MinusOneOne,
            mean: vec![0.0; channels],
            std: vec![1.0; channels],
            bgr: false,
            resize: ResizeMethod::Bilinear,
            fit: Fit::Stretch,
        }
    }
}

#[derive(Debug, Clone)]
pub struct Adapter {
    /// Where it was read from, for error messages (None when built in code).
    pub origin: Option<PathBuf>,
    class_names: Vec<String>,
    /// Model logit index per problem class; `None` means all logits, in order.
    logit_indices: Option<Vec<usize>>,
    /// Names of all model logits when known (names or labels file).
    model_labels: Option<Vec<String>>,
    input: InputSpec,
    /// Model file named by the adapter, resolved relative to it.
    model: Option<PathBuf>,
    /// Zoo name named by the adapter.
    zoo: Option<String>,
}

// ---- the TOML form ----------------------------------------------------------------------

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct AdapterFile {
    #[serde(default)]
    modality: Option<String>,
    #[serde(default)]
    model: Option<String>,
    #[serde(default)]
    zoo: Option<String>,
    input: InputFile,
    classes: ClassesFile,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct InputFile {
    size: Vec<usize>,
    #[serde(default)]
    channels: Option<usize>,
    #[serde(default)]
    layout: Option<String>,
    #[serde(default)]
    range: Option<String>,
    #[serde(default)]
    mean: Option<Vec<f64>>,
    #[serde(default)]
    std: Option<Vec<f64>>,
    #[serde(default)]
    channel_order: Option<String>,
    #[serde(default)]
    resize: Option<String>,
    #[serde(default)]
    fit: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ClassesFile {
    #[serde(default)]
    names: Option<Vec<String>>,
    #[serde(default)]
    labels_file: Option<String>,
    #[serde(default)]
    subset: Option<Vec<SubsetEntry>>,
}

#[derive(Deserialize, Debug, Clone)]
#[serde(untagged)]
enum SubsetEntry {
    Index(i64),
    Label(String),
    Named {
        name: Option<String>,
        index: Option<i64>,
        label: Option<String>,
    },
}

impl Adapter {
    /// Read and validate an adapter TOML file.
    pub fn load(path: &Path) -> Result<Adapter> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("{}: cannot read adapter file", path.display()))?;
        let base = path.parent().map(Path::to_path_buf).unwrap_or_default();
        let mut a = Self::parse(&text, &path.display().to_string(), Some(&base))?;
        a.origin = Some(path.to_path_buf());
        Ok(a)
    }

    /// Parse adapter TOML text; `origin` names it in errors. Relative paths (labels file,
    /// model) resolve against the current directory.
    pub fn from_toml_str(text: &str, origin: &str) -> Result<Adapter> {
        Self::parse(text, origin, None)
    }

    /// Parse adapter TOML text whose relative paths resolve against `base_dir` (used for
    /// adapters embedded in the binary, whose labels are given inline).
    pub fn from_toml_str_in(text: &str, origin: &str, base_dir: &Path) -> Result<Adapter> {
        Self::parse(text, origin, Some(base_dir))
    }

    /// An adapter built in code: generator-space input of the given shape, all logits.
    pub fn for_generator_space(
        channels: usize,
        height: usize,
        width: usize,
        class_names: Vec<String>,
    ) -> Result<Adapter> {
        let input = InputSpec::generator_space(channels, height, width);
        Self::from_parts(input, class_names, None)
    }

    /// An adapter built in code from its parts. `logit_indices` picks one model logit per
    /// problem class (`None`: all logits, `class_names` index-aligned with them).
    pub fn from_parts(
        input: InputSpec,
        class_names: Vec<String>,
        logit_indices: Option<Vec<usize>>,
    ) -> Result<Adapter> {
        validate_input(&input).map_err(|e| anyhow!("adapter: {e}"))?;
        if let Some(ix) = &logit_indices {
            if ix.len() != class_names.len() {
                bail!(
                    "adapter: {} class names for {} logit indices",
                    class_names.len(),
                    ix.len()
                );
            }
        }
        if class_names.is_empty() {
            bail!("adapter: no classes");
        }
        Ok(Adapter {
            origin: None,
            class_names,
            logit_indices,
            model_labels: None,
            input,
            model: None,
            zoo: None,
        })
    }

    fn parse(text: &str, origin: &str, base: Option<&Path>) -> Result<Adapter> {
        let file: AdapterFile =
            toml::from_str(text).map_err(|e| anyhow!("{origin}: invalid adapter TOML: {e}"))?;
        match file.modality.as_deref().unwrap_or("image") {
            "image" => {}
            "mel" => bail!("{origin}: modality \"mel\" (audio) is not supported yet; only \"image\""),
            other => bail!("{origin}: unknown modality {other:?}; expected \"image\" (or \"mel\", not yet supported)"),
        }
        let input = parse_input(&file.input).map_err(|e| anyhow!("{origin}: [input] {e}"))?;
        let resolve = |p: &str| -> PathBuf {
            let p = PathBuf::from(p);
            match base {
                Some(b) if p.is_relative() => b.join(p),
                _ => p,
            }
        };
        let model_labels = match (&file.classes.names, &file.classes.labels_file) {
            (Some(_), Some(_)) => {
                bail!("{origin}: [classes] give either `names` or `labels_file`, not both")
            }
            (Some(n), None) => Some(n.clone()),
            (None, Some(f)) => {
                let path = resolve(f);
                let text = std::fs::read_to_string(&path).with_context(|| {
                    format!(
                        "{origin}: [classes] cannot read labels_file {}",
                        path.display()
                    )
                })?;
                let labels: Vec<String> = text
                    .lines()
                    .map(|l| l.trim().to_string())
                    .filter(|l| !l.is_empty())
                    .collect();
                if labels.is_empty() {
                    bail!(
                        "{origin}: [classes] labels_file {} has no labels",
                        path.display()
                    );
                }
                Some(labels)
            }
            (None, None) => None,
        };
        if let Some(labels) = &model_labels {
            if labels.is_empty() {
                bail!("{origin}: [classes] `names` is empty");
            }
            if let Some(dup) = first_duplicate(labels) {
                bail!("{origin}: [classes] class name {dup:?} appears twice");
            }
        }
        let (class_names, logit_indices) = match &file.classes.subset {
            None => match &model_labels {
                Some(l) => (l.clone(), None),
                None => bail!("{origin}: [classes] needs `names`, `labels_file`, or a `subset` of indices with names"),
            },
            Some(entries) => {
                if entries.is_empty() {
                    bail!("{origin}: [classes] `subset` is empty");
                }
                let mut names = Vec::new();
                let mut indices = Vec::new();
                for (i, e) in entries.iter().enumerate() {
                    let (name, index) = resolve_subset_entry(e, model_labels.as_deref())
                        .map_err(|err| anyhow!("{origin}: [classes] subset entry {i}: {err}"))?;
                    names.push(name);
                    indices.push(index);
                }
                if let Some(dup) = first_duplicate(&names) {
                    bail!("{origin}: [classes] subset names class {dup:?} twice");
                }
                (names, Some(indices))
            }
        };
        let model = file.model.as_deref().map(resolve);
        if file.model.is_some() && file.zoo.is_some() {
            bail!("{origin}: give either `model` or `zoo`, not both");
        }
        Ok(Adapter {
            origin: Some(PathBuf::from(origin)),
            class_names,
            logit_indices,
            model_labels,
            input,
            model,
            zoo: file.zoo,
        })
    }

    fn origin_str(&self) -> String {
        self.origin
            .as_ref()
            .map(|p| p.display().to_string())
            .unwrap_or_else(|| "adapter".to_string())
    }

    /// The problem's class names, index-aligned with `select_logits`' output.
    pub fn class_names(&self) -> &[String] {
        &self.class_names
    }

    /// The model's input format.
    pub fn input(&self) -> &InputSpec {
        &self.input
    }

    /// Model logit index of each problem class (`None`: identity over all logits).
    pub fn logit_indices(&self) -> Option<&[usize]> {
        self.logit_indices.as_deref()
    }

    /// The model file the adapter names, resolved relative to the adapter file.
    pub fn model_path(&self) -> Option<&Path> {
        self.model.as_deref()
    }

    /// The zoo model the adapter names.
    pub fn zoo_name(&self) -> Option<&str> {
        self.zoo.as_deref()
    }

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
        let fixed = |d: &Dim| match d {
            Dim::Fixed(n) => Some(*n),
            Dim::Free(_) => None,
        };
        if input.dims.len() != 4 {
            bail!(
                "{origin}: image adapter needs a rank-4 model input, but input {:?} has rank {}",
                input.name,
                input.dims.len()
            );
        }
        let (c, h, w) = match self.input.layout {
            Layout::Nchw => (&input.dims[1], &input.dims[2], &input.dims[3]),
            Layout::Nhwc => (&input.dims[3], &input.dims[1], &input.dims[2]),
        };
        let layout = if self.input.layout == Layout::Nchw {
            "NCHW"
        } else {
            "NHWC"
        };
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

    /// Decode image files into a classifier-ready input batch (resize, channels, value
    /// range, mean/std, layout). Errors name the unreadable file.
    pub fn images_to_input(&self, paths: &[PathBuf], device: &Device) -> Result<Tensor> {
        if paths.is_empty() {
            bail!("no images given");
        }
        let mut batch = Vec::with_capacity(paths.len());
        for p in paths {
            let x = crate::data::image_file_to_generator_space(p, self.input.channels, device)?;
            batch.push(
                self.generator_to_input(&x)
                    .with_context(|| format!("{}: cannot convert for the model", p.display()))?,
            );
        }
        Ok(Tensor::cat(&batch, 0)?)
    }

    /// Differentiable map from a generator-space batch ([N, C, H, W], values in [-1, 1]) to
    /// the classifier's input tensor.
    pub fn generator_to_input(&self, x: &Tensor) -> Result<Tensor> {
        let spec = &self.input;
        let (_, c, h, w) = x.dims4().map_err(|e| {
            anyhow!(
                "{}: generator batch must be [N,C,H,W]: {e}",
                self.origin_str()
            )
        })?;
        // Channels first: resizing fewer channels is cheaper.
        let mut y = match (c, spec.channels) {
            (a, b) if a == b => x.clone(),
            (1, 3) => Tensor::cat(&[x, x, x], 1)?,
            (3, 1) => {
                // ITU-R BT.601 luma, as PIL's convert("L").
                let r = x.narrow(1, 0, 1)?;
                let g = x.narrow(1, 1, 1)?;
                let b = x.narrow(1, 2, 1)?;
                ((r * 0.299)? + (g * 0.587)?)?.add(&(b * 0.114)?)?
            }
            (a, b) => bail!(
                "{}: cannot convert {a} generator channels to the model's {b}",
                self.origin_str()
            ),
        };
        if spec.bgr && spec.channels == 3 {
            y = Tensor::cat(
                &[y.narrow(1, 2, 1)?, y.narrow(1, 1, 1)?, y.narrow(1, 0, 1)?],
                1,
            )?;
        }
        if (h, w) != (spec.height, spec.width) {
            y = self.resize(&y, h, w)?;
        }
        let (scale, offset) = spec.range.affine_from_generator();
        if scale != 1.0 || offset != 0.0 {
            y = y.affine(scale, offset)?;
        }
        if spec.mean.iter().any(|&m| m != 0.0) || spec.std.iter().any(|&s| s != 1.0) {
            let n = spec.channels;
            let mean = Tensor::from_vec(
                spec.mean.iter().map(|&m| m as f32).collect::<Vec<_>>(),
                (1, n, 1, 1),
                y.device(),
            )?
            .to_dtype(y.dtype())?;
            let inv = Tensor::from_vec(
                spec.std
                    .iter()
                    .map(|&s| (1.0 / s) as f32)
                    .collect::<Vec<_>>(),
                (1, n, 1, 1),
                y.device(),
            )?
            .to_dtype(y.dtype())?;
            y = y.broadcast_sub(&mean)?.broadcast_mul(&inv)?;
        }
        if spec.layout == Layout::Nhwc {
            y = y.permute((0, 2, 3, 1))?.contiguous()?;
        }
        Ok(y)
    }

    fn resize(&self, y: &Tensor, h: usize, w: usize) -> Result<Tensor> {
        let spec = &self.input;
        let (th, tw) = (spec.height, spec.width);
        if spec.resize == ResizeMethod::None {
            bail!(
                "{}: the batch is {h}x{w} but the model wants {th}x{tw} and the adapter says resize = \"none\"",
                self.origin_str()
            );
        }
        // Center-crop: scale so the image covers the target, then crop the overflow.
        let (rh, rw) = match spec.fit {
            Fit::Stretch => (th, tw),
            Fit::CenterCrop => {
                let s = (th as f64 / h as f64).max(tw as f64 / w as f64);
                (
                    ((h as f64 * s).round() as usize).max(th),
                    ((w as f64 * s).round() as usize).max(tw),
                )
            }
        };
        let dev = y.device();
        let ah = interpolation_matrix(h, rh, (rh - th) / 2, th, spec.resize);
        let aw = interpolation_matrix(w, rw, (rw - tw) / 2, tw, spec.resize);
        let ah = Tensor::from_vec(ah, (th, h), dev)?.to_dtype(y.dtype())?;
        // Transposed: [w, tw].
        let aw = Tensor::from_vec(aw, (tw, w), dev)?
            .to_dtype(y.dtype())?
            .t()?
            .contiguous()?;
        let y = ah.broadcast_matmul(&y.contiguous()?)?;
        Ok(y.broadcast_matmul(&aw)?)
    }

    /// Map the model's full logits ([N, K]) onto the problem's classes ([N, num_classes]).
    pub fn select_logits(&self, logits: &Tensor) -> Result<Tensor> {
        let logits = if logits.rank() > 2 {
            logits.flatten_from(1)?
        } else {
            logits.clone()
        };
        let k = logits.dim(logits.rank() - 1)?;
        match &self.logit_indices {
            None => {
                if k != self.class_names.len() {
                    bail!(
                        "{}: the model returned {k} logits but the adapter names {} classes",
                        self.origin_str(),
                        self.class_names.len()
                    );
                }
                Ok(logits)
            }
            Some(ix) => {
                if let Some(&bad) = ix.iter().find(|&&j| j >= k) {
                    bail!(
                        "{}: logit index {bad} is out of range for the model's {k} logits",
                        self.origin_str()
                    );
                }
                let idx = Tensor::from_vec(
                    ix.iter().map(|&j| j as u32).collect::<Vec<_>>(),
                    ix.len(),
                    logits.device(),
                )?;
                Ok(logits.index_select(&idx, logits.rank() - 1)?)
            }
        }
    }
}

fn first_duplicate(names: &[String]) -> Option<&String> {
    let mut seen = std::collections::HashSet::new();
    names.iter().find(|n| !seen.insert(n.as_str()))
}

fn resolve_subset_entry(e: &SubsetEntry, labels: Option<&[String]>) -> Result<(String, usize)> {
    let by_label = |l: &str| -> Result<usize> {
        let labels = labels.ok_or_else(|| {
            anyhow!("class {l:?} given by name, but the adapter has no `names` or `labels_file`")
        })?;
        labels.iter().position(|x| x == l).ok_or_else(|| {
            let close: Vec<&String> = labels
                .iter()
                .filter(|x| x.to_lowercase().contains(&l.to_lowercase()))
                .take(5)
                .collect();
            if close.is_empty() {
                anyhow!(
                    "unknown class name {l:?} (not among the model's {} labels)",
                    labels.len()
                )
            } else {
                anyhow!("unknown class name {l:?}; did you mean one of {close:?}?")
            }
        })
    };
    let check_index = |i: i64| -> Result<usize> {
        if i < 0 {
            bail!("logit index {i} is negative");
        }
        let i = i as usize;
        if let Some(l) = labels {
            if i >= l.len() {
                bail!("logit index {i} is out of range for {} labels", l.len());
            }
        }
        Ok(i)
    };
    let label_of = |i: usize| labels.map(|l| l[i].clone());
    Ok(match e {
        SubsetEntry::Index(i) => {
            let i = check_index(*i)?;
            (label_of(i).unwrap_or_else(|| format!("class {i}")), i)
        }
        SubsetEntry::Label(l) => (l.clone(), by_label(l)?),
        SubsetEntry::Named { name, index, label } => {
            let i = match (index, label) {
                (Some(_), Some(_)) => bail!("give `index` or `label`, not both"),
                (Some(i), None) => check_index(*i)?,
                (None, Some(l)) => by_label(l)?,
                (None, None) => match name {
                    Some(n) => by_label(n)?,
                    None => bail!("needs `index`, `label` or `name`"),
                },
            };
            let name = name
                .clone()
                .or_else(|| label.clone())
                .or_else(|| label_of(i))
                .unwrap_or_else(|| format!("class {i}"));
            (name, i)
        }
    })
}

fn parse_input(f: &InputFile) -> Result<InputSpec> {
    let (height, width) = match f.size.as_slice() {
        [s] => (*s, *s),
        [h, w] => (*h, *w),
        other => bail!("size must be [height, width] (or [side]), got {other:?}"),
    };
    let channels = f.channels.unwrap_or(3);
    let layout = match f
        .layout
        .as_deref()
        .unwrap_or("NCHW")
        .to_ascii_uppercase()
        .as_str()
    {
        "NCHW" => Layout::Nchw,
        "NHWC" => Layout::Nhwc,
        other => bail!("layout {other:?}: expected \"NCHW\" or \"NHWC\""),
    };
    let range = match &f.range {
        None => ValueRange::ZeroOne,
        Some(r) => ValueRange::parse(r)
            .ok_or_else(|| anyhow!("range {r:?}: expected \"0..1\", \"0..255\" or \"-1..1\""))?,
    };
    let per_channel = |v: &Option<Vec<f64>>, default: f64, what: &str| -> Result<Vec<f64>> {
        match v {
            None => Ok(vec![default; channels]),
            Some(v) if v.len() == channels => Ok(v.clone()),
            Some(v) if v.len() == 1 => Ok(vec![v[0]; channels]),
            Some(v) => bail!("{what} has {} values for {channels} channels", v.len()),
        }
    };
    let mean = per_channel(&f.mean, 0.0, "mean")?;
    let std = per_channel(&f.std, 1.0, "std")?;
    let bgr = match f
        .channel_order
        .as_deref()
        .unwrap_or("RGB")
        .to_ascii_uppercase()
        .as_str()
    {
        "RGB" => false,
        "BGR" => true,
        other => bail!("channel_order {other:?}: expected \"RGB\" or \"BGR\""),
    };
    let resize = match f
        .resize
        .as_deref()
        .unwrap_or("bilinear")
        .to_ascii_lowercase()
        .as_str()
    {
        "bilinear" | "linear" => ResizeMethod::Bilinear,
        "nearest" => ResizeMethod::Nearest,
        "none" => ResizeMethod::None,
        other => bail!("resize {other:?}: expected \"bilinear\", \"nearest\" or \"none\""),
    };
    let fit = match f
        .fit
        .as_deref()
        .unwrap_or("stretch")
        .to_ascii_lowercase()
        .as_str()
    {
        "stretch" => Fit::Stretch,
        "center-crop" | "center_crop" => Fit::CenterCrop,
        other => bail!("fit {other:?}: expected \"stretch\" or \"center-crop\""),
    };
    let spec = InputSpec {
        height,
        width,
        channels,
        layout,
        range,
        mean,
        std,
        bgr,
        resize,
        fit,
    };
    validate_input(&spec)?;
    Ok(spec)
}

fn validate_input(s: &InputSpec) -> Result<()> {
    if s.height == 0 || s.width == 0 || s.height > 8192 || s.width > 8192 {
        bail!("size {}x{} is out of range (1..=8192)", s.height, s.width);
    }
    if s.channels != 1 && s.channels != 3 {
        bail!(
            "channels {}: image adapters support 1 (grey) or 3 (colour)",
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

/// Row-major `[out, in]` matrix mapping an axis of `in_len` samples to `out_len` samples of
/// a `resized_len` resampling, starting at `crop_start` (center-crop). Half-pixel centres
/// (align_corners = false), like PIL, PyTorch and ONNX Resize's default.
pub fn interpolation_matrix(
    in_len: usize,
    resized_len: usize,
    crop_start: usize,
    out_len: usize,
    method: ResizeMethod,
) -> Vec<f32> {
    let mut m = vec![0f32; out_len * in_len];
    let scale = in_len as f64 / resized_len as f64;
    for o in 0..out_len {
        let centre = (o + crop_start) as f64 + 0.5;
        let src = centre * scale; // in input pixel units, edges at integers
        let row = &mut m[o * in_len..(o + 1) * in_len];
        match method {
            ResizeMethod::Nearest | ResizeMethod::None => {
                let i = (src.floor() as usize).min(in_len - 1);
                row[i] = 1.0;
            }
            ResizeMethod::Bilinear => {
                // Triangle filter, widened by the shrink factor so every input pixel counts.
                let support = scale.max(1.0);
                let lo = ((src - support).floor().max(0.0)) as usize;
                let hi = ((src + support).ceil() as usize).min(in_len);
                let mut total = 0.0;
                let mut ws = Vec::with_capacity(hi - lo);
                for i in lo..hi {
                    let d = ((i as f64 + 0.5) - src).abs() / support;
                    let wgt = (1.0 - d).max(0.0);
                    ws.push(wgt);
                    total += wgt;
                }
                if total == 0.0 {
                    let i = (src.floor() as usize).min(in_len - 1);
                    row[i] = 1.0;
                } else {
                    for (k, wgt) in ws.into_iter().enumerate() {
                        row[lo + k] = (wgt / total) as f32;
                    }
                }
            }
        }
    }
    m
}

/// Dtype used for adapter constants when a caller has none in mind.
pub const DEFAULT_DTYPE: DType = DType::F32;
