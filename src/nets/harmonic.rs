//! A source–filter prior for generators that draw log-mel spectrograms: per frame, a pitch
//! F0 and a voicing weight, turned into the log-mel ripple of a harmonic comb.
//!
//! A voice is a harmonic source (lines at F0, 2·F0, …) shaped by a smooth envelope. On a
//! log-mel spectrogram that is the envelope plus the log of the comb as the mel filterbank
//! sees it: stripes a few bands apart in the low bands, where the bands are narrower than
//! F0, fading where they are wider. A convolutional generator does not find such thin,
//! gliding stripes by itself (its men carried no pitch: docs/results.md, issue 18), so the
//! head draws them and the generator only chooses F0 and how voiced each frame is:
//!
//! ```text
//! comb(f)  = exp(κ · (cos(2π f / F0) − 1)),  κ = (F0 / (2π · σ))²   (peaks σ = 0.6 bins wide)
//! r_m      = (filterbank · comb)_m / (filterbank · 1)_m
//! ripple_m = gain · voicing · log_c(r_m + floor) / std,  less its mean over the bands
//! ```
//!
//! `log_c` and `std` are the adapter's, so the ripple is in the classifier's feature units.
//! The generator adds it before its final tanh. F0 spans `[f0_min, f0_max]` on a log scale
//! and starts at their geometric mean.

use super::mode::Mode;
use super::params::Scope;
use super::spectral::SnLinear;
use crate::data::mel::MelSpec;
use anyhow::{bail, Result};
use candle_core::{DType, Tensor, D};
use serde::{Deserialize, Serialize};

/// `[model.harmonic]`: the pitch range the head may draw and the comb's depth.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct HarmonicConfig {
    /// Lowest and highest F0 in Hz (adult speech spans about 80–260 Hz).
    #[serde(default = "default_f0_min")]
    pub f0_min: f64,
    #[serde(default = "default_f0_max")]
    pub f0_max: f64,
    /// Added to the comb's band ratio before the log: the deepest valley between harmonics,
    /// relative to a peak.
    #[serde(default = "default_floor")]
    pub floor: f64,
    /// Width (σ) of each harmonic's peak in STFT bins: a Hann window's power peak is about
    /// 0.6 bins.
    #[serde(default = "default_peak_bins")]
    pub peak_bins: f64,
    /// The ripple of a fully voiced frame, as a multiple of the comb's log ratio. At 1 the
    /// ripple is shallower than a real voice's after Griffin-Lim, and the pitch tracker
    /// heard no pitch in it; at 3 it hears 110, 130 and 210 Hz combs on a voice-like
    /// envelope (`tests/harmonic_head.rs`).
    #[serde(default = "default_gain")]
    pub gain: f64,
}

fn default_f0_min() -> f64 {
    60.0
}
fn default_f0_max() -> f64 {
    400.0
}
fn default_floor() -> f64 {
    0.05
}
fn default_peak_bins() -> f64 {
    0.6
}
fn default_gain() -> f64 {
    3.0
}

impl Default for HarmonicConfig {
    fn default() -> Self {
        HarmonicConfig {
            f0_min: default_f0_min(),
            f0_max: default_f0_max(),
            floor: default_floor(),
            peak_bins: default_peak_bins(),
            gain: default_gain(),
        }
    }
}

impl HarmonicConfig {
    pub fn validate(&self) -> Result<()> {
        if !(self.f0_min > 0.0 && self.f0_max > self.f0_min) {
            bail!(
                "model.harmonic: f0_min = {} and f0_max = {} must satisfy 0 < f0_min < f0_max",
                self.f0_min,
                self.f0_max
            );
        }
        if !(self.floor > 0.0 && self.floor.is_finite()) {
            bail!("model.harmonic.floor = {}: must be positive", self.floor);
        }
        if !(self.gain > 0.0 && self.gain.is_finite()) {
            bail!("model.harmonic.gain = {}: must be positive", self.gain);
        }
        if !(self.peak_bins > 0.0 && self.peak_bins.is_finite()) {
            bail!(
                "model.harmonic.peak_bins = {}: must be positive",
                self.peak_bins
            );
        }
        Ok(())
    }
}

/// Per-frame pitch and voicing of a batch, `[N, frames]` each.
pub struct Voicing {
    pub f0: Tensor,
    pub voicing: Tensor,
}

pub struct HarmonicHead {
    config: HarmonicConfig,
    /// Generator features pooled over the bands → (F0 logit, voicing logit) per frame.
    proj: SnLinear,
    // Constants in f64, cast to the pitch's dtype on use.
    /// `[1, n_freqs]`: each STFT bin's frequency in Hz.
    bin_hz: Tensor,
    /// `[n_freqs, n_mels]`.
    filterbank_t: Tensor,
    /// `[1, n_mels]`: each band's response to a flat spectrum.
    flat: Tensor,
    bin_width: f64,
    /// Natural log → the adapter's log, over the adapter's std.
    log_to_features: f64,
    n_mels: usize,
}

impl HarmonicHead {
    pub fn new(s: &Scope, config: &HarmonicConfig, mel: &MelSpec, c_in: usize) -> Result<Self> {
        config.validate()?;
        mel.validate()?;
        let Some(log_factor) = mel.log_factor() else {
            bail!("model.harmonic: the classifier's front end takes linear mel power (log = \"none\"); the harmonic ripple is drawn in log-mel units");
        };
        let device = s.device();
        let (f, m) = (mel.n_freqs(), mel.n_mels);
        let bin_width = mel.sample_rate as f64 / mel.n_fft as f64;
        let fb = Tensor::from_vec(mel.filterbank(), (m, f), device)?;
        let flat = fb.sum_keepdim(1)?.t()?.contiguous()?;
        if flat.min_all()?.to_scalar::<f64>()? <= 0.0 {
            bail!(
                "model.harmonic: a mel band of the classifier's front end covers no STFT bin \
                 (n_mels = {m} is too many for n_fft = {})",
                mel.n_fft
            );
        }
        let bins: Vec<f64> = (0..f).map(|k| k as f64 * bin_width).collect();
        Ok(HarmonicHead {
            config: config.clone(),
            proj: SnLinear::new(&s.pp("proj"), c_in, 2, true)?,
            bin_hz: Tensor::from_vec(bins, (1, f), device)?,
            filterbank_t: fb.t()?.contiguous()?,
            flat,
            bin_width,
            log_to_features: log_factor / mel.std,
            n_mels: m,
        })
    }

    /// F0 and voicing per frame from generator features `[N, C, n_mels, frames]`.
    pub fn voicing(&self, h: &Tensor, mode: Mode) -> Result<Voicing> {
        let (n, c, bands, frames) = h.dims4()?;
        if bands != self.n_mels {
            bail!(
                "harmonic head: the generator draws {bands} rows but the classifier's front end has {} mel bands",
                self.n_mels
            );
        }
        let pooled = h.mean(2)?.transpose(1, 2)?.reshape((n * frames, c))?;
        // The comb's arithmetic runs in f32 whatever the generator's dtype.
        let logits = self.proj.forward(&pooled, mode)?.to_dtype(DType::F32)?;
        let span = (self.config.f0_max / self.config.f0_min).ln();
        let f0 = sigmoid(&logits.narrow(1, 0, 1)?)?
            .affine(span, self.config.f0_min.ln())?
            .exp()?
            .reshape((n, frames))?;
        let voicing = sigmoid(&logits.narrow(1, 1, 1)?)?.reshape((n, frames))?;
        Ok(Voicing { f0, voicing })
    }

    /// The log-mel ripple `[N, 1, n_mels, frames]` of the voiced comb at each frame's F0.
    pub fn ripple(&self, v: &Voicing) -> Result<Tensor> {
        let (n, frames) = v.f0.dims2()?;
        let dtype = v.f0.dtype();
        let f0 = v.f0.reshape((n * frames, 1))?;
        let cycles = self.bin_hz.to_dtype(dtype)?.broadcast_div(&f0)?;
        let phase = cycles.affine(2.0 * std::f64::consts::PI, 0.0)?.cos()?;
        let kappa = f0
            .affine(
                1.0 / (2.0 * std::f64::consts::PI * self.bin_width * self.config.peak_bins),
                0.0,
            )?
            .sqr()?;
        let comb = (phase - 1.0)?.broadcast_mul(&kappa)?.exp()?;
        let ratio = comb
            .matmul(&self.filterbank_t.to_dtype(dtype)?)?
            .broadcast_div(&self.flat.to_dtype(dtype)?)?;
        let log = (ratio + self.config.floor)?.log()?;
        let centred = log.broadcast_sub(&log.mean_keepdim(D::Minus1)?)?;
        let voiced = centred
            .broadcast_mul(&v.voicing.reshape((n * frames, 1))?.to_dtype(dtype)?)?
            .affine(self.log_to_features * self.config.gain, 0.0)?;
        Ok(voiced
            .reshape((n, frames, self.n_mels))?
            .transpose(1, 2)?
            .unsqueeze(1)?
            .contiguous()?)
    }

    /// `ripple(voicing(h))`, in `h`'s dtype.
    pub fn forward(&self, h: &Tensor, mode: Mode) -> Result<Tensor> {
        let v = self.voicing(h, mode)?;
        Ok(self.ripple(&v)?.to_dtype(h.dtype())?)
    }
}

/// 1 / (1 + e^(−x)) from stock ops, so it has a backward on every device.
fn sigmoid(x: &Tensor) -> Result<Tensor> {
    Ok((x.neg()?.exp()? + 1.0)?.recip()?)
}
