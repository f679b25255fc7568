//! The mel front end as differentiable tensor ops: waveform `[N, samples]` → features
//! `[N, 1, n_mels, frames]` (bands as rows, the way a generator draws a spectrogram).
//!
//! ```text
//! features = (log_c(mel_fb · |STFT(pad(x)) with window|^power + offset) - mean) / std
//! ```
//!
//! Every step is a stock candle op (`index_select`, `matmul`, elementwise), so it runs on any
//! device and gradients reach the waveform: framing is one `index_select` with the centre
//! padding folded into its indices (reflect or zeros); the window is folded into a real and an
//! imaginary DFT basis, so the STFT is one matmul (no FFT crate, and an FFT would have no
//! backward); the filterbank is a second matmul.
//!
//! Conventions follow librosa/torchaudio so that a model's documented settings mean the same
//! here: periodic windows (`fftbins=True`), bins at `k · rate / n_fft`, and a filterbank of
//! triangles between `n_mels + 2` points equally spaced on the mel scale from `fmin` to `fmax`,
//! either **Slaney**'s scale (linear below 1 kHz, logarithmic above; librosa's default, with
//! `norm = "slaney"`: each triangle scaled to unit area over Hz) or **HTK**'s
//! (`2595 log10(1 + f/700)`; torchaudio's default, unnormalised).

use anyhow::{bail, Result};
use candle_core::{DType, Device, Tensor};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Window {
    Hann,
    Hamming,
    Rectangular,
}

impl Window {
    /// Periodic window of length `n` (the DFT-even form STFTs use: `scipy.signal.get_window`
    /// with `fftbins=True`, `torch.hann_window(n)`).
    pub fn values(self, n: usize) -> Vec<f64> {
        let tau = 2.0 * std::f64::consts::PI;
        (0..n)
            .map(|i| {
                let p = tau * i as f64 / n as f64;
                match self {
                    Window::Hann => 0.5 - 0.5 * p.cos(),
                    Window::Hamming => 0.54 - 0.46 * p.cos(),
                    Window::Rectangular => 1.0,
                }
            })
            .collect()
    }

    pub fn name(self) -> &'static str {
        match self {
            Window::Hann => "hann",
            Window::Hamming => "hamming",
            Window::Rectangular => "rectangular",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MelScale {
    Slaney,
    Htk,
}

impl MelScale {
    pub fn hz_to_mel(self, f: f64) -> f64 {
        match self {
            MelScale::Htk => 2595.0 * (1.0 + f / 700.0).log10(),
            MelScale::Slaney => {
                let (f_sp, min_log_hz) = (200.0 / 3.0, 1000.0);
                if f < min_log_hz {
                    f / f_sp
                } else {
                    min_log_hz / f_sp + (f / min_log_hz).ln() / slaney_logstep()
                }
            }
        }
    }

    pub fn mel_to_hz(self, m: f64) -> f64 {
        match self {
            MelScale::Htk => 700.0 * (10f64.powf(m / 2595.0) - 1.0),
            MelScale::Slaney => {
                let (f_sp, min_log_hz) = (200.0 / 3.0, 1000.0);
                let min_log_mel = min_log_hz / f_sp;
                if m < min_log_mel {
                    m * f_sp
                } else {
                    min_log_hz * ((m - min_log_mel) * slaney_logstep()).exp()
                }
            }
        }
    }
}

/// Slaney's scale: 27 log steps per factor 6.4 above 1 kHz.
fn slaney_logstep() -> f64 {
    6.4f64.ln() / 27.0
}

/// How each triangle of the filterbank is scaled.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MelNorm {
    /// Peak 1.
    None,
    /// Unit area over Hz (`2 / (f_right - f_left)`), librosa's default.
    Slaney,
}

/// How the signal is padded so frame `t` is centred on sample `t · hop`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Padding {
    /// No padding: frame `t` starts at `t · hop` (`center=False`).
    None,
    /// `n_fft / 2` zeros each side (librosa ≥ 0.10's default).
    Zeros,
    /// `n_fft / 2` mirrored samples each side, edge not repeated (torchaudio's default).
    Reflect,
}

/// The compression applied to mel energies (before `mean`/`std`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogScale {
    None,
    /// Natural log.
    Ln,
    Log10,
    /// `10 · log10`, decibels of power.
    Db,
}

impl LogScale {
    /// Multiplier that turns a natural log into this one.
    fn factor(self) -> f64 {
        match self {
            LogScale::None | LogScale::Ln => 1.0,
            LogScale::Log10 => 1.0 / std::f64::consts::LN_10,
            LogScale::Db => 10.0 / std::f64::consts::LN_10,
        }
    }
}

/// A mel front end's settings, validated by [`MelSpec::validate`].
#[derive(Debug, Clone, PartialEq)]
pub struct MelSpec {
    pub sample_rate: u32,
    pub n_fft: usize,
    pub hop: usize,
    pub window: Window,
    pub n_mels: usize,
    pub fmin: f64,
    pub fmax: f64,
    pub mel_scale: MelScale,
    pub mel_norm: MelNorm,
    /// 2: power spectrogram; 1: magnitude.
    pub power: f64,
    pub padding: Padding,
    pub log: LogScale,
    /// Added before the log, so silence maps to a finite value (`log(offset)`).
    pub log_offset: f64,
    /// Features are `(log - mean) / std`.
    pub mean: f64,
    pub std: f64,
}

/// Added under the square root of a magnitude spectrogram (`power = 1`): `|z|` has an infinite
/// slope at zero, and a silent bin would send NaN into the generator.
const MAGNITUDE_EPS: f64 = 1e-12;

impl MelSpec {
    /// librosa's `melspectrogram` defaults at `sample_rate` (Slaney scale and norm, power,
    /// zero padding) with natural log, offset 1e-6.
    pub fn new(sample_rate: u32, n_fft: usize, hop: usize, n_mels: usize) -> MelSpec {
        MelSpec {
            sample_rate,
            n_fft,
            hop,
            window: Window::Hann,
            n_mels,
            fmin: 0.0,
            fmax: sample_rate as f64 / 2.0,
            mel_scale: MelScale::Slaney,
            mel_norm: MelNorm::Slaney,
            power: 2.0,
            padding: Padding::Zeros,
            log: LogScale::Ln,
            log_offset: 1e-6,
            mean: 0.0,
            std: 1.0,
        }
    }

    /// The multiplier that turns a natural log into the features' log (before `std`), or
    /// None for linear (unlogged) features.
    pub fn log_factor(&self) -> Option<f64> {
        (self.log != LogScale::None).then(|| self.log.factor())
    }

    /// The adapter's `[mel]` table for a model that takes these features (`input = "mel"`),
    /// every key written out so the file says exactly what the model was trained on.
    pub fn toml_table(&self, clip_samples: usize) -> String {
        let scale = match self.mel_scale {
            MelScale::Slaney => "slaney",
            MelScale::Htk => "htk",
        };
        let norm = match self.mel_norm {
            MelNorm::Slaney => "slaney",
            MelNorm::None => "none",
        };
        let padding = match self.padding {
            Padding::Zeros => "zeros",
            Padding::Reflect => "reflect",
            Padding::None => "none",
        };
        let log = match self.log {
            LogScale::Ln => "ln",
            LogScale::Log10 => "log10",
            LogScale::Db => "db",
            LogScale::None => "none",
        };
        format!(
            "[mel]\ninput = \"mel\"\nsample_rate = {}\nclip_samples = {clip_samples}\nn_fft = {}\nhop = {}\n\
             window = {:?}\nn_mels = {}\nfmin = {:?}\nfmax = {:?}\nmel_scale = {scale:?}\nmel_norm = {norm:?}\n\
             power = {:?}\npadding = {padding:?}\nlog = {log:?}\nlog_offset = {:?}\nmean = {:?}\nstd = {:?}\n",
            self.sample_rate,
            self.n_fft,
            self.hop,
            self.window.name(),
            self.n_mels,
            self.fmin,
            self.fmax,
            self.power,
            self.log_offset,
            self.mean,
            self.std
        )
    }

    pub fn validate(&self) -> Result<()> {
        let nyquist = self.sample_rate as f64 / 2.0;
        if self.sample_rate == 0 {
            bail!("sample_rate must be positive");
        }
        if self.n_fft < 2 || self.n_fft > 65536 {
            bail!("n_fft {} is out of range (2..=65536)", self.n_fft);
        }
        if self.hop == 0 {
            bail!("hop must be positive");
        }
        if self.n_mels == 0 || self.n_mels > 1024 {
            bail!("n_mels {} is out of range (1..=1024)", self.n_mels);
        }
        if !(self.fmin >= 0.0 && self.fmin < self.fmax && self.fmax <= nyquist) {
            bail!(
                "need 0 <= fmin < fmax <= sample_rate / 2 = {nyquist} Hz, got fmin {} and fmax {}",
                self.fmin,
                self.fmax
            );
        }
        if self.power != 1.0 && self.power != 2.0 {
            bail!("power {}: expected 1 (magnitude) or 2 (power)", self.power);
        }
        let logged = self.log != LogScale::None;
        if logged && !(self.log_offset > 0.0 && self.log_offset.is_finite()) {
            bail!(
                "log_offset {} must be positive and finite (log of a silent band)",
                self.log_offset
            );
        }
        if !self.mean.is_finite() || !(self.std > 0.0 && self.std.is_finite()) {
            bail!(
                "mean {} must be finite and std {} positive and finite",
                self.mean,
                self.std
            );
        }
        Ok(())
    }

    /// FFT bins kept: 0 Hz to Nyquist.
    pub fn n_freqs(&self) -> usize {
        self.n_fft / 2 + 1
    }

    fn pad(&self) -> usize {
        match self.padding {
            Padding::None => 0,
            Padding::Zeros | Padding::Reflect => self.n_fft / 2,
        }
    }

    /// Frames of a `samples`-long signal, or an error saying why there are none.
    pub fn frames(&self, samples: usize) -> Result<usize> {
        let padded = samples + 2 * self.pad();
        if samples == 0 || padded < self.n_fft {
            bail!(
                "a clip of {samples} samples is shorter than one frame (n_fft {}{})",
                self.n_fft,
                if self.pad() > 0 {
                    ", after padding"
                } else {
                    ""
                }
            );
        }
        if self.padding == Padding::Reflect && samples <= self.pad() {
            bail!(
                "reflect padding needs more than n_fft/2 = {} samples, got {samples}",
                self.pad()
            );
        }
        Ok(1 + (padded - self.n_fft) / self.hop)
    }

    /// Source sample of each frame position, `[frames · n_fft]`, into the signal itself
    /// (reflect) or into the zero-padded signal (zeros, none).
    pub fn frame_indices(&self, samples: usize) -> Result<Vec<u32>> {
        let frames = self.frames(samples)?;
        let pad = self.pad() as i64;
        let n = samples as i64;
        let mut idx = Vec::with_capacity(frames * self.n_fft);
        for t in 0..frames {
            for k in 0..self.n_fft {
                let p = (t * self.hop + k) as i64;
                let s = match self.padding {
                    Padding::Reflect => {
                        let s = p - pad;
                        if s < 0 {
                            -s
                        } else if s >= n {
                            2 * (n - 1) - s
                        } else {
                            s
                        }
                    }
                    Padding::Zeros | Padding::None => p,
                };
                idx.push(s as u32);
            }
        }
        Ok(idx)
    }

    /// The mel filterbank, row-major `[n_mels, n_freqs]`.
    pub fn filterbank(&self) -> Vec<f64> {
        let f = self.n_freqs();
        let scale = self.mel_scale;
        let (lo, hi) = (scale.hz_to_mel(self.fmin), scale.hz_to_mel(self.fmax));
        let points: Vec<f64> = (0..self.n_mels + 2)
            .map(|i| scale.mel_to_hz(lo + (hi - lo) * i as f64 / (self.n_mels + 1) as f64))
            .collect();
        let bin_hz = self.sample_rate as f64 / self.n_fft as f64;
        let mut fb = vec![0.0; self.n_mels * f];
        for m in 0..self.n_mels {
            let (left, centre, right) = (points[m], points[m + 1], points[m + 2]);
            let norm = match self.mel_norm {
                MelNorm::None => 1.0,
                MelNorm::Slaney => 2.0 / (right - left),
            };
            for k in 0..f {
                let hz = k as f64 * bin_hz;
                let rising = (hz - left) / (centre - left);
                let falling = (right - hz) / (right - centre);
                fb[m * f + k] = rising.min(falling).max(0.0) * norm;
            }
        }
        fb
    }

    /// `[n_fft, 2 · n_freqs]`: the window times cos, then times -sin, so `frames · basis` is
    /// the real parts then the imaginary parts of the windowed DFT.
    fn dft_basis(&self) -> Vec<f64> {
        let (n, f) = (self.n_fft, self.n_freqs());
        let w = self.window.values(n);
        let mut b = vec![0.0; n * 2 * f];
        for i in 0..n {
            for k in 0..f {
                // (i·k mod n) keeps the angle small, so cos/sin stay exact for long frames.
                let angle = 2.0 * std::f64::consts::PI * ((i * k) % n) as f64 / n as f64;
                b[i * 2 * f + k] = w[i] * angle.cos();
                b[i * 2 * f + f + k] = -w[i] * angle.sin();
            }
        }
        b
    }
}

/// The front end's constants on one device and dtype, built once and reused per batch.
#[derive(Debug, Clone)]
pub struct MelFrontEnd {
    spec: MelSpec,
    /// `[n_fft, 2 · n_freqs]`.
    basis: Tensor,
    /// `[n_freqs, n_mels]`.
    filterbank_t: Tensor,
}

impl MelFrontEnd {
    pub fn new(spec: &MelSpec, device: &Device, dtype: DType) -> Result<MelFrontEnd> {
        spec.validate()?;
        let (n, f, m) = (spec.n_fft, spec.n_freqs(), spec.n_mels);
        let basis = Tensor::from_vec(spec.dft_basis(), (n, 2 * f), device)?.to_dtype(dtype)?;
        let filterbank_t = Tensor::from_vec(spec.filterbank(), (m, f), device)?
            .t()?
            .contiguous()?
            .to_dtype(dtype)?;
        Ok(MelFrontEnd {
            spec: spec.clone(),
            basis,
            filterbank_t,
        })
    }

    pub fn spec(&self) -> &MelSpec {
        &self.spec
    }

    /// `[N, samples]` waveform → `[N, 1, n_mels, frames]` features, differentiably.
    pub fn forward(&self, wave: &Tensor) -> Result<Tensor> {
        let s = &self.spec;
        let (b, samples) = match wave.dims() {
            [b, l] => (*b, *l),
            other => bail!("mel front end: the waveform batch must be [N, samples], got {other:?}"),
        };
        let frames = s.frames(samples)?;
        let idx = Tensor::from_vec(s.frame_indices(samples)?, frames * s.n_fft, wave.device())?;
        let x = match s.padding {
            Padding::Zeros => wave.pad_with_zeros(1, s.pad(), s.pad())?,
            Padding::None | Padding::Reflect => wave.clone(),
        };
        let x = x
            .to_dtype(self.basis.dtype())?
            .contiguous()?
            .index_select(&idx, 1)?
            .reshape((b * frames, s.n_fft))?;
        let f = s.n_freqs();
        let z = x.matmul(&self.basis)?;
        let power = (z.narrow(1, 0, f)?.sqr()? + z.narrow(1, f, f)?.sqr()?)?;
        let spec = if s.power == 1.0 {
            power.affine(1.0, MAGNITUDE_EPS)?.sqrt()?
        } else {
            power
        };
        let mel = spec
            .matmul(&self.filterbank_t)?
            .reshape((b, frames, s.n_mels))?
            .transpose(1, 2)?;
        let y = match s.log {
            LogScale::None => mel,
            log => mel
                .affine(1.0, s.log_offset)?
                .log()?
                .affine(log.factor(), 0.0)?,
        };
        let y = if s.mean != 0.0 || s.std != 1.0 {
            y.affine(1.0 / s.std, -s.mean / s.std)?
        } else {
            y
        };
        Ok(y.contiguous()?.unsqueeze(1)?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mel_scales_hit_their_defining_points_and_invert() {
        // Slaney: 15 mel at 1 kHz (linear below), 27 steps per factor 6.4 above.
        assert!((MelScale::Slaney.hz_to_mel(1000.0) - 15.0).abs() < 1e-12);
        assert!((MelScale::Slaney.hz_to_mel(6400.0) - 42.0).abs() < 1e-9);
        assert!((MelScale::Slaney.hz_to_mel(500.0) - 7.5).abs() < 1e-12);
        // HTK: 1000 Hz is ~1000 mel by design.
        assert!((MelScale::Htk.hz_to_mel(1000.0) - 999.9855).abs() < 1e-3);
        for scale in [MelScale::Slaney, MelScale::Htk] {
            for hz in [0.0, 60.0, 999.0, 1000.0, 4321.0, 11025.0] {
                let back = scale.mel_to_hz(scale.hz_to_mel(hz));
                assert!(
                    (back - hz).abs() < 1e-9 * (1.0 + hz),
                    "{scale:?} {hz} -> {back}"
                );
            }
        }
    }

    #[test]
    fn filterbank_triangles_peak_at_their_centres_and_cover_the_band() {
        let mut s = MelSpec::new(16000, 512, 160, 40);
        s.mel_norm = MelNorm::None;
        let fb = s.filterbank();
        let f = s.n_freqs();
        for m in 0..s.n_mels {
            let row = &fb[m * f..(m + 1) * f];
            let peak = row.iter().cloned().fold(0.0, f64::max);
            assert!(peak > 0.5 && peak <= 1.0, "band {m} peaks at {peak}");
        }
        // Between the first and last centres, neighbouring triangles sum to 1.
        for k in 20..200 {
            let sum: f64 = (0..s.n_mels).map(|m| fb[m * f + k]).sum();
            assert!((sum - 1.0).abs() < 1e-9, "bin {k}: {sum}");
        }
    }

    #[test]
    fn reflect_indices_mirror_without_repeating_the_edge() {
        let mut s = MelSpec::new(8000, 4, 2, 2);
        s.padding = Padding::Reflect;
        assert_eq!(s.frames(6).unwrap(), 4);
        let idx = s.frame_indices(6).unwrap();
        assert_eq!(&idx[..4], [2, 1, 0, 1]);
        assert_eq!(&idx[12..], [4, 5, 4, 3]);
        s.padding = Padding::None;
        assert_eq!(s.frames(6).unwrap(), 2);
        assert!(s.frames(3).is_err());
    }

    #[test]
    fn validation_names_the_bad_setting() {
        let ok = MelSpec::new(16000, 512, 160, 64);
        ok.validate().unwrap();
        let err = |f: &dyn Fn(&mut MelSpec)| {
            let mut s = ok.clone();
            f(&mut s);
            s.validate().unwrap_err().to_string()
        };
        assert!(err(&|s| s.fmax = 9000.0).contains("fmax"));
        assert!(err(&|s| s.hop = 0).contains("hop"));
        assert!(err(&|s| s.power = 3.0).contains("power"));
        assert!(err(&|s| s.log_offset = 0.0).contains("log_offset"));
        assert!(err(&|s| s.std = 0.0).contains("std"));
        assert!(err(&|s| s.n_fft = 1).contains("n_fft"));
    }
}
