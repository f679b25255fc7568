//! Adapters: TOML files that map a classifier's input format and class space onto
//! probegan's generator space and problem classes.
//!
//! Generator space is always `[N, C, H, W]`, values in `[-1, 1]`. An adapter says what the
//! classifier wants instead and how to get there *differentiably* (ProbeGAN pushes gradients
//! from the classifier's logits back into the generator through this map):
//!
//! ```toml
//! modality = "image"              # or "mel" for audio (below)
//! model = "../models/fmnist_regular.onnx"   # optional, relative to this file (or `zoo = "name"`)
//!
//! [input]
//! size = [28, 28]                 # [height, width] the model expects
//! channels = 1                    # what the model declares (1 grey, 3 colour, any count);
//!                                 # grey->any and RGB->grey converted as needed
//! layout = "NCHW"                 # "NHWC"; rank-3 one-channel inputs: "NHW", or "NWH" for
//!                                 # e.g. [N, frames, mel bands] from bands-as-rows images
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
//! An audio classifier (`modality = "mel"`) has a `[mel]` table instead of `[input]`'s image
//! settings; `[classes]` is the same:
//!
//! ```toml
//! modality = "mel"
//! model = "voices.onnx"
//!
//! [mel]
//! input = "mel"                   # the model takes mel features; or "waveform": the model
//!                                 # takes samples (and holds its own front end)
//! sample_rate = 16000             # Hz; clips are resampled to it
//! clip_seconds = 1.0              # or clip_samples = 16000
//! n_fft = 512
//! hop = 160
//! window = "hann"                 # "hann", "hamming", "rectangular" (periodic, length n_fft)
//! n_mels = 64
//! fmin = 0.0                      # Hz
//! fmax = 8000.0                   # Hz, at most sample_rate / 2 (the default)
//! mel_scale = "slaney"            # "slaney" (librosa) or "htk" (torchaudio)
//! mel_norm = "slaney"             # "slaney" (unit-area triangles) or "none"; the default
//!                                 # follows mel_scale as in those libraries
//! power = 2.0                     # 2 power, 1 magnitude
//! padding = "zeros"               # centre frames with n_fft/2 "zeros" or "reflect", or "none"
//! log = "ln"                      # "ln", "log10", "db" (10 log10) or "none"
//! log_offset = 1e-6               # log(mel + log_offset)
//! mean = 0.0                      # features = (log - mean) / std
//! std = 1.0
//! # waveform_layout = "NL"        # input = "waveform": "NL" [N, samples] or "NCL" [N, 1, samples]
//!
//! [input]                         # optional, input = "mel" only
//! layout = "NCHW"                 # [N, 1, n_mels, frames]; "NHW" [N, n_mels, frames];
//!                                 # "NWH" [N, frames, n_mels]
//! ```
//!
//! The front end (`mel`) is tensor ops, so gradients reach a generated waveform; `griffin_lim`
//! goes back from features to a waveform for listening.
//!
//! Files: `file` (the TOML schema, `[input]` and `[mel]` parsing), `check` (validation of the
//! input format, duplicate names, and the adapter against a model's declared shapes),
//! `transform` (the differentiable generator-space → model-input map and its interpolation
//! matrices), `audio` (the audio input side and its map), `mel` (the differentiable mel front
//! end), `griffin_lim` (features back to sound), `classes` (labels, `subset` resolution,
//! logits → problem classes). This file holds the `Adapter` type and assembles it from those
//! parts.

mod audio;
mod check;
mod classes;
pub mod crops;
mod file;
// The mel front end and Griffin-Lim are signal processing the data loaders need too; they
// live in `data` and are re-exported here, where adapters use them.
pub use crate::data::{griffin_lim, mel};
mod transform;

pub use audio::{AudioInput, ModelInput, WaveLayout};
pub use transform::{
    interpolation_matrix, Fit, InputSpec, Layout, ResizeMethod, ValueRange, DEFAULT_DTYPE,
};

use anyhow::{anyhow, bail, Context, Result};
use std::path::{Path, PathBuf};

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
    /// `modality = "mel"`: the audio input side (`input` then records the generator-space
    /// shape: mel features `n_mels x frames`, or a one-row waveform).
    audio: Option<AudioInput>,
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
        check::validate_input(&input).map_err(|e| anyhow!("adapter: {e}"))?;
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
            audio: None,
        })
    }

    /// The TOML text to an adapter: `[input]`, then `[classes]`, then the model it names.
    fn parse(text: &str, origin: &str, base: Option<&Path>) -> Result<Adapter> {
        let file = file::read(text, origin)?;
        let (input, audio) = match &file.mel {
            Some(mel) => {
                let (input, audio) = file::parse_audio(mel, file.input.as_ref())
                    .map_err(|e| anyhow!("{origin}: {e}"))?;
                (input, Some(audio))
            }
            None => {
                let f = file.input.as_ref().ok_or_else(|| {
                    anyhow!("{origin}: missing [input] (the model's input size and format)")
                })?;
                let input = file::parse_input(f).map_err(|e| anyhow!("{origin}: [input] {e}"))?;
                (input, None)
            }
        };
        let resolve = |p: &str| -> PathBuf {
            let p = PathBuf::from(p);
            match base {
                Some(b) if p.is_relative() => b.join(p),
                _ => p,
            }
        };
        let classes = classes::resolve_classes(&file.classes, origin, &resolve)?;
        let model = file.model.as_deref().map(resolve);
        if file.model.is_some() && file.zoo.is_some() {
            bail!("{origin}: give either `model` or `zoo`, not both");
        }
        Ok(Adapter {
            origin: Some(PathBuf::from(origin)),
            class_names: classes.class_names,
            logit_indices: classes.logit_indices,
            model_labels: classes.model_labels,
            input,
            model,
            zoo: file.zoo,
            audio,
        })
    }

    fn origin_str(&self) -> String {
        self.origin
            .as_ref()
            .map(|p| p.display().to_string())
            .unwrap_or_else(|| "adapter".to_string())
    }

    /// The model file the adapter names, resolved relative to the adapter file.
    pub fn model_path(&self) -> Option<&Path> {
        self.model.as_deref()
    }

    /// The zoo model the adapter names.
    pub fn zoo_name(&self) -> Option<&str> {
        self.zoo.as_deref()
    }
}
