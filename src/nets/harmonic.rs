//! A source–filter prior for generators that draw log-mel spectrograms: per frame, a pitch
//! and a voicing weight, turned into the log-mel ripple of a harmonic comb.
//!
//! A voice is a harmonic source (lines at F0, 2·F0, …) shaped by a smooth envelope. On a
//! log-mel spectrogram that is the envelope plus the log of the comb as the mel filterbank
//! sees it: stripes a few bands apart in the low bands, where the bands are narrower than
//! F0, fading where they are wider. A convolutional generator does not find such thin,
//! gliding stripes by itself (its men carried no pitch: docs/results.md, issue 18), so the
//! head draws them and the generator only chooses the pitch and how voiced each frame is.
//!
//! The pitch is a distribution over `pitches` candidates spaced evenly in log F0 from
//! `f0_min` to `f0_max`, not one number: the comb of a regressed F0 is periodic in F0, so its
//! gradient points to the nearest octave or fifth that lines up with the real stripes
//! (a regressed head drew men at 213–268 Hz against real men's 118), while a mixture's
//! gradient moves weight to whichever candidate fits. Per candidate F0_b, precomputed:
//!
//! ```text
//! comb_b(f) = exp(κ_b · (cos(2π f / F0_b) − 1)),  κ_b = (F0_b / (2π · σ))²   (peaks σ wide)
//! R_b,m     = (filterbank · comb_b)_m / (filterbank · 1)_m
//! ```
//!
//! and per frame, with `p` the pitch distribution:
//!
//! ```text
//! ripple_m = gain · voicing · log_c(Σ_b p_b R_b,m + floor) / std,  less its mean over the bands
//! ```
//!
//! `log_c` and `std` are the adapter's, so the ripple is in the classifier's feature units.
//! The generator adds it before its final tanh.

use super::mode::weight;
use super::mode::Mode;
use super::params::Init;
use super::params::Scope;
use crate::adapter::mel::MelSpec;
use anyhow::{bail, Result};
use candle_core::{DType, Tensor, Var, D};
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
    /// heard no pitch in it; at 3 it hears 110, 210 and 240 Hz combs on a voice-like
    /// envelope (`tests/harmonic_head.rs`), though a steady 130–180 Hz comb only now and then.
    #[serde(default = "default_gain")]
    pub gain: f64,
    /// Pitch candidates between `f0_min` and `f0_max`, evenly spaced in log F0 (64 over
    /// 60–400 Hz: 3 % apart, half a semitone).
    #[serde(default = "default_pitches")]
    pub pitches: usize,
    /// The head's logits are its linear layer's output times this. Adam moves a weight by
    /// about the learning rate per step whatever the gradient's size, so at the generator's
    /// 1e-4 an unscaled head left its pitch distribution uniform after 400 steps (top weight
    /// 0.02–0.04 of 64 candidates). At 16 the women's top weight reached 0.13, at 64
    /// 0.45–0.58 (docs/results.md, 2026-12-07).
    #[serde(default = "default_logit_scale")]
    pub logit_scale: f64,
    /// Draw each frame's comb at its most likely pitch alone, with the gradient of the whole
    /// distribution (straight-through). A distribution spread over neighbouring candidates
    /// draws a blurred comb, whose upper harmonics cancel; the pitch tracker heard no pitch in
    /// the generated men, whose top weight stayed at 0.13–0.21 (docs/results.md, 2026-12-07).
    /// Trained with it, the generator unvoiced its men instead (docs/results.md, "Why the
    /// generated men carry no pitch", 2026-12-08).
    #[serde(default)]
    pub straight_through: bool,
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
fn default_pitches() -> usize {
    64
}
fn default_logit_scale() -> f64 {
    64.0
}

impl Default for HarmonicConfig {
    /// The serde defaults above (what `model.harmonic = {}` gives).
    fn default() -> Self {
        toml::from_str("").expect("every field has a default")
    }
}

/// `model.harmonic.KEY` must be a positive finite number.
fn positive(key: &str, v: f64) -> Result<()> {
    if !(v > 0.0 && v.is_finite()) {
        bail!("model.harmonic.{key} = {v}: must be positive");
    }
    Ok(())
}

impl HarmonicConfig {
    /// The pitch candidates in Hz, lowest first.
    pub fn candidates(&self) -> Vec<f64> {
        let span = (self.f0_max / self.f0_min).ln();
        (0..self.pitches)
            .map(|b| self.f0_min * (span * b as f64 / (self.pitches - 1) as f64).exp())
            .collect()
    }

    pub fn validate(&self) -> Result<()> {
        if !(self.f0_min > 0.0 && self.f0_max > self.f0_min) {
            bail!(
                "model.harmonic: f0_min = {} and f0_max = {} must satisfy 0 < f0_min < f0_max",
                self.f0_min,
                self.f0_max
            );
        }
        positive("floor", self.floor)?;
        positive("logit_scale", self.logit_scale)?;
        if self.pitches < 2 {
            bail!(
                "model.harmonic.pitches = {}: needs at least 2 candidates",
                self.pitches
            );
        }
        positive("gain", self.gain)?;
        positive("peak_bins", self.peak_bins)?;
        Ok(())
    }
}

/// Per-frame pitch and voicing of a batch.
pub struct Voicing {
    /// `[N, frames, pitches]`: each frame's distribution over the pitch candidates.
    pub pitch: Tensor,
    /// `[N, frames]` in [0, 1].
    pub voicing: Tensor,
}

pub struct HarmonicHead {
    config: HarmonicConfig,
    /// Generator features pooled over the bands → (pitch logits, voicing logit) per frame; a
    /// plain linear layer, since a spectrally normalised one could not make the pitch
    /// distribution peak.
    weight: Var,
    bias: Var,
    /// `[pitches, n_mels]`: each candidate's comb as the mel bands see it (R above), in f64,
    /// cast to the pitch's dtype on use.
    band_combs: Tensor,
    /// `[pitches]` in Hz.
    candidates: Vec<f64>,
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
        let (f, m) = (mel.n_freqs(), mel.n_mels);
        let fb = mel.filterbank();
        let flat: Vec<f64> = (0..m)
            .map(|b| fb[b * f..(b + 1) * f].iter().sum())
            .collect();
        if flat.iter().any(|&v| v <= 0.0) {
            bail!(
                "model.harmonic: a mel band of the classifier's front end covers no STFT bin \
                 (n_mels = {m} is too many for n_fft = {})",
                mel.n_fft
            );
        }
        let bin_width = mel.sample_rate as f64 / mel.n_fft as f64;
        let sigma = bin_width * config.peak_bins;
        let tau = 2.0 * std::f64::consts::PI;
        let candidates = config.candidates();
        let mut band_combs = Vec::with_capacity(candidates.len() * m);
        for &f0 in &candidates {
            let kappa = (f0 / (tau * sigma)).powi(2);
            let comb: Vec<f64> = (0..f)
                .map(|k| (kappa * ((tau * k as f64 * bin_width / f0).cos() - 1.0)).exp())
                .collect();
            for b in 0..m {
                let row = &fb[b * f..(b + 1) * f];
                let seen: f64 = row.iter().zip(&comb).map(|(w, c)| w * c).sum();
                band_combs.push(seen / flat[b]);
            }
        }
        let n_out = config.pitches + 1;
        Ok(HarmonicHead {
            config: config.clone(),
            // Zero: every frame starts with a uniform pitch distribution (no ripple) and
            // voicing 0.5, and the scaled logits are not random octaves from the start.
            weight: s.param("weight", &[n_out, c_in], Init::Zeros)?,
            bias: s.param("bias", &[n_out], Init::Zeros)?,
            band_combs: Tensor::from_vec(band_combs, (candidates.len(), m), s.device())?,
            candidates,
            log_to_features: log_factor / mel.std,
            n_mels: m,
        })
    }

    /// The pitch candidates in Hz.
    pub fn candidates(&self) -> &[f64] {
        &self.candidates
    }

    /// Pitch and voicing per frame from generator features `[N, C, n_mels, frames]`.
    pub fn voicing(&self, h: &Tensor, mode: Mode) -> Result<Voicing> {
        let (n, c, bands, frames) = h.dims4()?;
        if bands != self.n_mels {
            bail!(
                "harmonic head: the generator draws {bands} rows but the classifier's front end has {} mel bands",
                self.n_mels
            );
        }
        let pooled = h.mean(2)?.transpose(1, 2)?.reshape((n * frames, c))?;
        let w = weight(&self.weight, mode);
        // The comb's arithmetic runs in f32 whatever the generator's dtype.
        let logits = pooled
            .matmul(&w.t()?)?
            .broadcast_add(&weight(&self.bias, mode))?
            .to_dtype(DType::F32)?
            .affine(self.config.logit_scale, 0.0)?;
        let k = self.config.pitches;
        let pitch = softmax_rows(&logits.narrow(1, 0, k)?)?.reshape((n, frames, k))?;
        let voicing = sigmoid(&logits.narrow(1, k, 1)?)?.reshape((n, frames))?;
        Ok(Voicing { pitch, voicing })
    }

    /// The log-mel ripple `[N, 1, n_mels, frames]` of each frame's voiced comb.
    pub fn ripple(&self, v: &Voicing) -> Result<Tensor> {
        let (n, frames, k) = v.pitch.dims3()?;
        if k != self.candidates.len() {
            bail!(
                "harmonic head: {k} pitch weights per frame for {} candidates",
                self.candidates.len()
            );
        }
        let dtype = v.pitch.dtype();
        let ratio = v
            .pitch
            .reshape((n * frames, k))?
            .matmul(&self.band_combs.to_dtype(dtype)?)?;
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

    /// `ripple(voicing(h))`, in `h`'s dtype; each frame at its most likely pitch alone under
    /// `straight_through`.
    pub fn forward(&self, h: &Tensor, mode: Mode) -> Result<Tensor> {
        let mut v = self.voicing(h, mode)?;
        if self.config.straight_through {
            v.pitch = straight_through(&v.pitch)?;
        }
        Ok(self.ripple(&v)?.to_dtype(h.dtype())?)
    }
}

/// The one-hot of each row's largest weight in the forward pass, `p`'s own gradient in the
/// backward one: `onehot + p − stop_gradient(p)`.
pub fn straight_through(p: &Tensor) -> Result<Tensor> {
    let k = p.dim(D::Minus1)?;
    let best = p.argmax_keepdim(D::Minus1)?;
    let ids = Tensor::arange(0u32, k as u32, p.device())?;
    let onehot = best.broadcast_eq(&ids)?.to_dtype(p.dtype())?;
    Ok((onehot + (p - p.detach())?)?)
}

/// Softmax over the last axis of `[rows, k]`, from stock ops (a backward on every device).
fn softmax_rows(x: &Tensor) -> Result<Tensor> {
    let shifted = x.broadcast_sub(&x.max_keepdim(D::Minus1)?.detach())?;
    let e = shifted.exp()?;
    Ok(e.broadcast_div(&e.sum_keepdim(D::Minus1)?)?)
}

/// 1 / (1 + e^(−x)) from stock ops, so it has a backward on every device.
fn sigmoid(x: &Tensor) -> Result<Tensor> {
    Ok((x.neg()?.exp()? + 1.0)?.recip()?)
}
