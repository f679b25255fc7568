//! Mel features back to a waveform, so generated spectrograms can be heard: undo the feature
//! scaling and the log, map mel energies to linear-frequency ones with the filterbank's
//! pseudo-inverse (negative energies clipped to zero), then recover a phase by fast
//! Griffin-Lim (Perraudin et al. 2013, librosa's `griffinlim` with momentum 0.99): alternate
//! between the inverse STFT of the target magnitude with the current phase and the phase of
//! that signal's STFT.
//!
//! A plain CPU function on `f64` slices: it runs once per sample written, not in training, so
//! it needs no gradient. The STFT uses the front end's own window, padding and bin layout
//! (`MelSpec`), so a round trip frames the signal the same way.

use super::mel::{LogScale, MelSpec, Padding};
use anyhow::{bail, Result};
use nalgebra::DMatrix;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rustfft::num_complex::Complex;
use rustfft::{Fft, FftPlanner};
use std::sync::Arc;

#[derive(Debug, Clone, Copy)]
pub struct GriffinLim {
    pub iterations: usize,
    /// 0: the original algorithm; 0.99: the fast variant's default.
    pub momentum: f64,
    /// Seeds the initial random phase.
    pub seed: u64,
}

impl Default for GriffinLim {
    fn default() -> Self {
        GriffinLim {
            iterations: 32,
            momentum: 0.99,
            seed: 0,
        }
    }
}

/// Features `[n_mels, frames]` (row-major, the front end's output for one clip) to a waveform
/// of `samples` samples at `spec.sample_rate`, in `[-1, 1]`.
pub fn mel_to_waveform(
    spec: &MelSpec,
    features: &[f32],
    samples: usize,
    opts: &GriffinLim,
) -> Result<Vec<f32>> {
    spec.validate()?;
    let frames = spec.frames(samples)?;
    if features.len() != spec.n_mels * frames {
        bail!(
            "Griffin-Lim: {} feature values, but {} mel bands x {frames} frames (a {samples}-sample clip) are {}",
            features.len(),
            spec.n_mels,
            spec.n_mels * frames
        );
    }
    if let Some(i) = features.iter().position(|v| !v.is_finite()) {
        bail!("Griffin-Lim: feature {i} is not a finite number");
    }
    let mel = DMatrix::from_row_slice(
        spec.n_mels,
        frames,
        &features
            .iter()
            .map(|&v| mel_energy(spec, v as f64))
            .collect::<Vec<_>>(),
    );
    let fb = DMatrix::from_row_slice(spec.n_mels, spec.n_freqs(), &spec.filterbank());
    let svd = fb.svd(true, true);
    let largest = svd.singular_values.max();
    // Directions the filterbank barely sees are dropped, not amplified.
    let pinv = svd
        .pseudo_inverse(largest * 1e-6)
        .map_err(|e| anyhow::anyhow!("Griffin-Lim: filterbank pseudo-inverse failed: {e}"))?;
    let linear = pinv * mel; // [n_freqs, frames]
    let magnitude: Vec<f64> = (0..frames)
        .flat_map(|t| (0..spec.n_freqs()).map(move |k| (t, k)))
        .map(|(t, k)| {
            let e = linear[(k, t)].max(0.0);
            if spec.power == 2.0 {
                e.sqrt()
            } else {
                e
            }
        })
        .collect();
    let wave = griffin_lim(spec, &magnitude, samples, opts);
    Ok(wave.iter().map(|&v| v.clamp(-1.0, 1.0) as f32).collect())
}

/// One feature value back to a mel energy (power or magnitude, as the spec says).
fn mel_energy(spec: &MelSpec, feature: f64) -> f64 {
    let y = feature * spec.std + spec.mean;
    let e = match spec.log {
        LogScale::None => y,
        LogScale::Ln => y.exp() - spec.log_offset,
        LogScale::Log10 => 10f64.powf(y) - spec.log_offset,
        LogScale::Db => 10f64.powf(y / 10.0) - spec.log_offset,
    };
    e.max(0.0)
}

/// A phase for `magnitude` (`[frames, n_freqs]`, row-major) and the signal it gives.
fn griffin_lim(spec: &MelSpec, magnitude: &[f64], samples: usize, opts: &GriffinLim) -> Vec<f64> {
    let stft = Stft::new(spec, samples);
    let mut rng = ChaCha8Rng::seed_from_u64(opts.seed);
    let mut phase: Vec<(f64, f64)> = magnitude
        .iter()
        .map(|_| {
            let a = rng.random::<f64>() * 2.0 * std::f64::consts::PI;
            (a.cos(), a.sin())
        })
        .collect();
    let mut previous = vec![(0.0, 0.0); magnitude.len()];
    let carry = opts.momentum / (1.0 + opts.momentum);
    let with_phase = |phase: &[(f64, f64)]| -> Vec<(f64, f64)> {
        magnitude
            .iter()
            .zip(phase)
            .map(|(m, (c, s))| (m * c, m * s))
            .collect()
    };
    for _ in 0..opts.iterations {
        let rebuilt = stft.forward(&stft.inverse(&with_phase(&phase)));
        for ((p, r), prev) in phase.iter_mut().zip(&rebuilt).zip(&previous) {
            let (re, im) = (r.0 - carry * prev.0, r.1 - carry * prev.1);
            let norm = (re * re + im * im).sqrt() + 1e-16;
            *p = (re / norm, im / norm);
        }
        previous = rebuilt;
    }
    stft.inverse(&with_phase(&phase))
}

/// STFT and least-squares inverse STFT of one signal length, framed as the front end frames.
struct Stft {
    n: usize,
    f: usize,
    hop: usize,
    frames: usize,
    samples: usize,
    pad: usize,
    reflect: bool,
    window: Vec<f64>,
    forward_fft: Arc<dyn Fft<f64>>,
    inverse_fft: Arc<dyn Fft<f64>>,
}

impl Stft {
    fn new(spec: &MelSpec, samples: usize) -> Stft {
        let n = spec.n_fft;
        let pad = match spec.padding {
            Padding::None => 0,
            Padding::Zeros | Padding::Reflect => n / 2,
        };
        let mut planner = FftPlanner::new();
        Stft {
            n,
            f: spec.n_freqs(),
            hop: spec.hop,
            frames: 1 + (samples + 2 * pad - n) / spec.hop,
            samples,
            pad,
            reflect: spec.padding == Padding::Reflect,
            window: spec.window.values(n),
            forward_fft: planner.plan_fft_forward(n),
            inverse_fft: planner.plan_fft_inverse(n),
        }
    }

    /// Sample `p` of the padded signal.
    fn padded(&self, x: &[f64], p: usize) -> f64 {
        let s = p as i64 - self.pad as i64;
        let last = self.samples as i64 - 1;
        if self.reflect {
            let s = if s < 0 {
                -s
            } else if s > last {
                2 * last - s
            } else {
                s
            };
            x[s as usize]
        } else if s < 0 || s > last {
            0.0
        } else {
            x[s as usize]
        }
    }

    /// `[frames, n_freqs]` complex spectrum of `x`: `X[k] = Σ_m w[m] x[m] e^{-2πikm/n}`.
    fn forward(&self, x: &[f64]) -> Vec<(f64, f64)> {
        let mut out = Vec::with_capacity(self.frames * self.f);
        let mut frame = vec![Complex::new(0.0, 0.0); self.n];
        for t in 0..self.frames {
            for (i, v) in frame.iter_mut().enumerate() {
                *v = Complex::new(self.window[i] * self.padded(x, t * self.hop + i), 0.0);
            }
            self.forward_fft.process(&mut frame);
            out.extend(frame[..self.f].iter().map(|c| (c.re, c.im)));
        }
        out
    }

    /// The signal whose windowed frames are closest (least squares) to the inverse DFTs of
    /// `spectrum`: windowed overlap-add divided by the summed squared window. Each frame's
    /// one-sided spectrum is mirrored (bin n−k is bin k's conjugate) before the inverse FFT.
    fn inverse(&self, spectrum: &[(f64, f64)]) -> Vec<f64> {
        let len = self.samples + 2 * self.pad;
        let mut acc = vec![0.0; len];
        let mut weight = vec![0.0; len];
        let mut frame = vec![Complex::new(0.0, 0.0); self.n];
        for t in 0..self.frames {
            let bins = &spectrum[t * self.f..(t + 1) * self.f];
            for (k, &(re, im)) in bins.iter().enumerate() {
                frame[k] = Complex::new(re, im);
                if k > 0 && self.n - k >= self.f {
                    frame[self.n - k] = Complex::new(re, -im);
                }
            }
            self.inverse_fft.process(&mut frame);
            for (i, v) in frame.iter().enumerate() {
                let p = t * self.hop + i;
                acc[p] += self.window[i] * v.re / self.n as f64;
                weight[p] += self.window[i] * self.window[i];
            }
        }
        (self.pad..self.pad + self.samples)
            .map(|p| {
                if weight[p] > 1e-10 {
                    acc[p] / weight[p]
                } else {
                    0.0
                }
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inverse_stft_reconstructs_the_signal() {
        for padding in [Padding::Zeros, Padding::Reflect] {
            let mut spec = MelSpec::new(8000, 64, 16, 8);
            spec.padding = padding;
            let x: Vec<f64> = (0..300)
                .map(|i| ((i * 37 % 101) as f64 / 50.0) - 1.0)
                .collect();
            let stft = Stft::new(&spec, x.len());
            let y = stft.inverse(&stft.forward(&x));
            let worst = x
                .iter()
                .zip(&y)
                .map(|(a, b)| (a - b).abs())
                .fold(0.0, f64::max);
            assert!(worst < 1e-9, "{padding:?}: off by {worst}");
        }
    }

    #[test]
    fn forward_matches_the_dft_definition() {
        // Odd and even frame lengths: the FFT's bins against Σ w x e^{-2πikm/n} directly.
        for n_fft in [64, 63] {
            let spec = MelSpec::new(8000, n_fft, 16, 8);
            let x: Vec<f64> = (0..200)
                .map(|i| ((i * 13 % 29) as f64 / 14.0) - 1.0)
                .collect();
            let stft = Stft::new(&spec, x.len());
            let got = stft.forward(&x);
            let tau = 2.0 * std::f64::consts::PI;
            for t in [0, 3, stft.frames - 1] {
                for k in 0..stft.f {
                    let (mut re, mut im) = (0.0, 0.0);
                    for m in 0..n_fft {
                        let v = stft.window[m] * stft.padded(&x, t * stft.hop + m);
                        let a = tau * (k * m) as f64 / n_fft as f64;
                        re += v * a.cos();
                        im -= v * a.sin();
                    }
                    let (gr, gi) = got[t * stft.f + k];
                    assert!(
                        (gr - re).abs() < 1e-9 && (gi - im).abs() < 1e-9,
                        "n {n_fft} frame {t} bin {k}"
                    );
                }
            }
            let y = stft.inverse(&got);
            let worst = x
                .iter()
                .zip(&y)
                .map(|(a, b)| (a - b).abs())
                .fold(0.0, f64::max);
            assert!(worst < 1e-9, "n {n_fft}: round trip off by {worst}");
        }
    }

    #[test]
    fn griffin_lim_finds_a_consistent_phase() {
        // The magnitude of a real signal: the rebuilt signal's magnitude should approach it.
        let spec = MelSpec::new(8000, 128, 32, 16);
        let x: Vec<f64> = (0..2000)
            .map(|i| (i as f64 * 0.3).sin() * (1.0 + (i as f64 * 0.003).sin()) * 0.3)
            .collect();
        let stft = Stft::new(&spec, x.len());
        let target: Vec<f64> = stft
            .forward(&x)
            .iter()
            .map(|(r, i)| (r * r + i * i).sqrt())
            .collect();
        let error = |iterations| {
            let opts = GriffinLim {
                iterations,
                ..Default::default()
            };
            let y = griffin_lim(&spec, &target, x.len(), &opts);
            let got = stft.forward(&y);
            let num: f64 = got
                .iter()
                .zip(&target)
                .map(|((r, i), t)| ((r * r + i * i).sqrt() - t).powi(2))
                .sum();
            (num / target.iter().map(|t| t * t).sum::<f64>()).sqrt()
        };
        let (start, end) = (error(0), error(40));
        assert!(
            end < 0.1 && end < start / 3.0,
            "spectral convergence {start} -> {end}"
        );
    }
}
