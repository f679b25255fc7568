//! The audio side of an adapter (`modality = "mel"`): what the model takes (waveforms or mel
//! features), the front end's settings, the clip length, and the differentiable map from
//! what a generator draws to the model's input.
//!
//! A generator draws either mel features `[N, 1, n_mels, frames]` (a spectrogram image, bands
//! as rows, in the front end's output units) or waveforms `[N, 1, 1, samples]` (a one-row
//! image). A model that takes mel features gets features directly, or the front end's output
//! for waveforms; a model that takes waveforms gets waveforms. Features cannot drive a
//! waveform model: that needs a differentiable inverse of the front end, which Griffin-Lim is
//! not.

use super::mel::{MelFrontEnd, MelSpec};
use super::{Adapter, InputSpec, Layout};
use anyhow::{anyhow, bail, Result};
use candle_core::Tensor;

/// How a waveform model lays out its input.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WaveLayout {
    /// `[N, samples]`.
    Nl,
    /// `[N, 1, samples]`.
    Ncl,
}

impl WaveLayout {
    pub fn name(self) -> &'static str {
        match self {
            WaveLayout::Nl => "NL",
            WaveLayout::Ncl => "NCL",
        }
    }

    pub fn rank(self) -> usize {
        match self {
            WaveLayout::Nl => 2,
            WaveLayout::Ncl => 3,
        }
    }
}

/// What the ONNX model's input is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ModelInput {
    /// Waveforms: the model contains its own front end; the adapter's `[mel]` settings say
    /// how generated or real audio is shown as features to the discriminators and the report.
    Waveform(WaveLayout),
    /// Mel features as the front end computes them, laid out by `[input] layout`.
    Mel,
}

/// An audio adapter's input side, validated.
#[derive(Debug, Clone, PartialEq)]
pub struct AudioInput {
    pub mel: MelSpec,
    /// Samples per clip at `mel.sample_rate`.
    pub clip_samples: usize,
    pub model_input: ModelInput,
    /// Frames of one clip (from `clip_samples`, `n_fft`, `hop`, padding).
    pub frames: usize,
}

impl AudioInput {
    /// Check the settings together and compute the frame count.
    pub fn new(mel: MelSpec, clip_samples: usize, model_input: ModelInput) -> Result<AudioInput> {
        mel.validate()?;
        let frames = mel
            .frames(clip_samples)
            .map_err(|e| anyhow!("clip length: {e}"))?;
        Ok(AudioInput {
            mel,
            clip_samples,
            model_input,
            frames,
        })
    }

    /// The generator-space shape the adapter's `InputSpec` records: features `n_mels x
    /// frames` for a mel model, a one-row waveform `1 x samples` for a waveform model.
    pub(super) fn generator_spec(&self, layout: Layout) -> InputSpec {
        let (height, width) = match self.model_input {
            ModelInput::Mel => (self.mel.n_mels, self.frames),
            ModelInput::Waveform(_) => (1, self.clip_samples),
        };
        let mut spec = InputSpec::generator_space(1, height, width);
        spec.layout = layout;
        spec.resize = super::ResizeMethod::None;
        spec
    }
}

impl Adapter {
    /// The audio side, for `modality = "mel"` adapters.
    pub fn audio(&self) -> Option<&AudioInput> {
        self.audio.as_ref()
    }

    /// The adapter's front end and clip length as the data loaders use them (`None` for an
    /// image adapter).
    pub fn mel_loading(&self) -> Option<crate::data::MelFeatures> {
        self.audio.as_ref().map(|a| crate::data::MelFeatures {
            mel: a.mel.clone(),
            clip_samples: a.clip_samples,
            max_clips_per_file: Some(8),
        })
    }

    fn audio_or_err(&self) -> Result<&AudioInput> {
        self.audio.as_ref().ok_or_else(|| {
            anyhow!(
                "{}: an image adapter has no audio front end (modality = \"mel\" adapters do)",
                self.origin_str()
            )
        })
    }

    /// Waveforms `[N, samples]` to mel features `[N, 1, n_mels, frames]`, differentiably.
    pub fn mel_features(&self, wave: &Tensor) -> Result<Tensor> {
        let audio = self.audio_or_err()?;
        let fe = MelFrontEnd::new(&audio.mel, wave.device(), wave.dtype())?;
        fe.forward(wave)
            .map_err(|e| anyhow!("{}: {e:#}", self.origin_str()))
    }

    /// Waveforms `[N, samples]` to the model's input (through the front end for a mel model).
    pub fn waveform_to_input(&self, wave: &Tensor) -> Result<Tensor> {
        let audio = self.audio_or_err()?;
        let (_, samples) = wave.dims2().map_err(|_| {
            anyhow!(
                "{}: waveforms must be [N, samples], got {:?}",
                self.origin_str(),
                wave.dims()
            )
        })?;
        if samples != audio.clip_samples {
            bail!(
                "{}: clips of {samples} samples, but the adapter's clip is {} samples ({:.3} s at {} Hz)",
                self.origin_str(),
                audio.clip_samples,
                audio.clip_samples as f64 / audio.mel.sample_rate as f64,
                audio.mel.sample_rate
            );
        }
        match audio.model_input {
            ModelInput::Waveform(WaveLayout::Nl) => Ok(wave.clone()),
            ModelInput::Waveform(WaveLayout::Ncl) => Ok(wave.unsqueeze(1)?),
            ModelInput::Mel => self.features_to_input(&self.mel_features(wave)?),
        }
    }

    /// Mel features `[N, 1, n_mels, frames]` to a mel model's input (its layout).
    pub fn features_to_input(&self, x: &Tensor) -> Result<Tensor> {
        let audio = self.audio_or_err()?;
        if let ModelInput::Waveform(_) = audio.model_input {
            bail!(
                "{}: the model takes waveforms, and mel features cannot be turned back into one differentiably; generate waveforms [N, 1, 1, {}] instead",
                self.origin_str(),
                audio.clip_samples
            );
        }
        let want = [audio.mel.n_mels, audio.frames];
        match x.dims() {
            [_, 1, h, w] if [*h, *w] == want => {}
            other => bail!(
                "{}: mel features must be [N, 1, {}, {}] (n_mels, frames), got {other:?}",
                self.origin_str(),
                want[0],
                want[1]
            ),
        }
        Ok(match self.input.layout {
            Layout::Nchw => x.clone(),
            Layout::Nhwc => x.permute((0, 2, 3, 1))?.contiguous()?,
            Layout::Nhw => x.squeeze(1)?,
            Layout::Nwh => x.squeeze(1)?.transpose(1, 2)?.contiguous()?,
        })
    }

    /// `generator_to_input` for audio adapters: a one-row image is a waveform, anything else
    /// must be mel features.
    pub(super) fn audio_to_input(&self, x: &Tensor) -> Result<Tensor> {
        match x.dims() {
            [n, 1, 1, samples] => self.waveform_to_input(&x.reshape((*n, *samples))?),
            _ => self.features_to_input(x),
        }
    }

    /// A waveform model's declared input against the adapter: rank and clip length.
    pub(super) fn validate_waveform_input(
        &self,
        layout: WaveLayout,
        input: &crate::onnx::IoInfo,
    ) -> Result<()> {
        use crate::onnx::Dim;
        let origin = self.origin_str();
        let clip = self.audio_or_err()?.clip_samples;
        if input.dims.len() != layout.rank() {
            bail!(
                "{origin}: [mel] waveform_layout = {:?} needs a rank-{} model input, but input {:?} has shape {:?}; \
                 use \"NL\" for [N, samples] or \"NCL\" for [N, 1, samples]",
                layout.name(),
                layout.rank(),
                input.name,
                input.dims
            );
        }
        if layout == WaveLayout::Ncl {
            if let Dim::Fixed(c) = input.dims[1] {
                if c != 1 {
                    bail!(
                        "{origin}: waveform_layout \"NCL\" needs one channel, but input {:?} declares {c} (shape {:?})",
                        input.name,
                        input.dims
                    );
                }
            }
        }
        if let Some(Dim::Fixed(n)) = input.dims.last() {
            if *n != clip {
                bail!(
                    "{origin}: the adapter's clip is {clip} samples, but the model input {:?} declares {n} (shape {:?}); \
                     set [mel] clip_samples = {n}",
                    input.name,
                    input.dims
                );
            }
        }
        Ok(())
    }
}
