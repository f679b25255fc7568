//! The differentiable map from generator space (`[N, C, H, W]`, values in `[-1, 1]`) to the
//! classifier's input: channels, channel order, resizing, value range, mean/std, layout.
//!
//! It is kept apart from parsing and checking because it is the part gradients flow through:
//! every step is a candle op with a backward pass. Resizing is a pair of interpolation matrices
//! (`y = A_h · x · A_wᵀ`) rather than candle's `upsample_bilinear2d`, which has no backward.

use super::Adapter;
use anyhow::{anyhow, bail, Context, Result};
use candle_core::{DType, Device, Tensor};
use std::path::PathBuf;

/// Pixel value range the model expects before mean/std normalisation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ValueRange {
    ZeroOne,
    ZeroTo255,
    MinusOneOne,
}

impl ValueRange {
    /// `(scale, offset)` so that `model_value = scale * generator_value + offset`.
    fn affine_from_generator(self) -> (f64, f64) {
        match self {
            ValueRange::ZeroOne => (0.5, 0.5),
            ValueRange::ZeroTo255 => (127.5, 127.5),
            ValueRange::MinusOneOne => (1.0, 0.0),
        }
    }
}

/// How the model's input tensor is laid out. Rank-3 layouts are for one-channel inputs such
/// as spectrogram features: the generator draws an image [N, 1, H, W] whose rows are the
/// height (e.g. mel bands) and columns the width (e.g. frames).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Layout {
    Nchw,
    Nhwc,
    /// `[N, H, W]`: the one channel dropped.
    Nhw,
    /// `[N, W, H]`: the one channel dropped and the image transposed, e.g. `[N, frames,
    /// mel bands]` from a generator that draws bands as rows.
    Nwh,
}

impl Layout {
    pub fn name(self) -> &'static str {
        match self {
            Layout::Nchw => "NCHW",
            Layout::Nhwc => "NHWC",
            Layout::Nhw => "NHW",
            Layout::Nwh => "NWH",
        }
    }

    pub fn rank(self) -> usize {
        match self {
            Layout::Nchw | Layout::Nhwc => 4,
            Layout::Nhw | Layout::Nwh => 3,
        }
    }
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

impl Adapter {
    /// The model's input format.
    pub fn input(&self) -> &InputSpec {
        &self.input
    }

    /// Decode image files into a classifier-ready input batch (resize, channels, value
    /// range, mean/std, layout). Errors name the unreadable file.
    pub fn images_to_input(&self, paths: &[PathBuf], device: &Device) -> Result<Tensor> {
        if self.audio.is_some() {
            bail!(
                "{}: an audio adapter (modality = \"mel\") takes WAV clips, not images",
                self.origin_str()
            );
        }
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
    /// the classifier's input tensor. Audio adapters take mel features `[N, 1, n_mels,
    /// frames]` or waveforms `[N, 1, 1, samples]` instead (see `audio`).
    pub fn generator_to_input(&self, x: &Tensor) -> Result<Tensor> {
        if self.audio.is_some() {
            return self.audio_to_input(x);
        }
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
            // Grey to colour (or to any count): the same plane in every channel.
            (1, b) => Tensor::cat(&vec![x; b], 1)?,
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
        y = match spec.layout {
            Layout::Nchw => y,
            Layout::Nhwc => y.permute((0, 2, 3, 1))?.contiguous()?,
            Layout::Nhw => y.squeeze(1)?,
            Layout::Nwh => y.squeeze(1)?.transpose(1, 2)?.contiguous()?,
        };
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
