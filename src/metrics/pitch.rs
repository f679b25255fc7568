//! The physical F0 judge: fundamental frequency of a mono waveform by YIN (de Cheveigné &
//! Kawahara 2002), so a generated "man" or "woman" can be checked by its pitch rather than by
//! another classifier.
//!
//! Per frame: the difference function `d(τ) = Σ_j (x_j − x_{j+τ})²` over an integration
//! window, its cumulative-mean-normalised form `d'(τ) = d(τ)·τ / Σ_{k=1..τ} d(k)`, the first
//! lag where `d'` dips below an absolute threshold (followed down to its
//! local minimum), and a parabola through that minimum and its neighbours for a sub-sample
//! period. A frame is unvoiced when it is quiet (energy gate), when no dip reaches the
//! threshold, or when the dip belongs to a period shorter than the range allows (a pitch
//! above `fmax_hz` is not folded onto its subharmonic).
//!
//! **Harmonicity** is the mean over sounding frames of `1 − min d'(τ)` over the search range:
//! near 1 for a periodic sound (a sustained vowel, a tone), near 0.2–0.3 for white noise.

use anyhow::{bail, Result};

#[derive(Debug, Clone, PartialEq)]
pub struct PitchConfig {
    /// Lowest F0 searched, in Hz.
    pub fmin_hz: f32,
    /// Highest F0 searched, in Hz.
    pub fmax_hz: f32,
    /// Signal read per estimate, in ms: the integration window plus the longest lag. Stretched
    /// to two periods of `fmin_hz` when shorter, so the window always spans a full period.
    pub frame_ms: f32,
    /// Step between frames, in ms.
    pub hop_ms: f32,
    /// YIN's absolute threshold on `d'`: lower is stricter about voicing.
    pub threshold: f32,
    /// Frames quieter than this RMS (full scale 1) are silence: 1e-3 is −60 dBFS.
    pub min_rms: f32,
    /// Frames more than this many dB below the clip's loudest frame are silence too, so the
    /// pauses of a loud recording are not searched for a pitch in its noise floor.
    pub relative_floor_db: f32,
    /// `median_f0` needs at least this many voiced frames (fewer is a click, not a voice).
    pub min_voiced_frames: usize,
}

impl Default for PitchConfig {
    fn default() -> Self {
        PitchConfig {
            fmin_hz: 60.0,
            fmax_hz: 400.0,
            frame_ms: 40.0,
            hop_ms: 10.0,
            threshold: 0.15,
            min_rms: 1e-3,
            relative_floor_db: 40.0,
            min_voiced_frames: 3,
        }
    }
}

/// Frame geometry in samples for one sample rate.
struct Geometry {
    /// Shortest and longest lag searched.
    tau_min: usize,
    tau_max: usize,
    /// Integration window.
    window: usize,
    hop: usize,
}

impl PitchConfig {
    fn geometry(&self, sample_rate: u32) -> Result<Geometry> {
        let sr = sample_rate as f32;
        if sample_rate == 0 {
            bail!("pitch: sample rate 0");
        }
        let finite_pos = |v: f32| v.is_finite() && v > 0.0;
        if !(finite_pos(self.fmin_hz) && finite_pos(self.fmax_hz) && self.fmin_hz < self.fmax_hz) {
            bail!(
                "pitch: search range {}–{} Hz is not a positive, increasing range",
                self.fmin_hz,
                self.fmax_hz
            );
        }
        if !(finite_pos(self.frame_ms) && finite_pos(self.hop_ms)) {
            bail!(
                "pitch: frame {} ms and hop {} ms must be positive",
                self.frame_ms,
                self.hop_ms
            );
        }
        if !(self.threshold.is_finite() && self.threshold > 0.0) {
            bail!("pitch: threshold {} must be positive", self.threshold);
        }
        let tau_min = (sr / self.fmax_hz).floor() as usize;
        let tau_max = (sr / self.fmin_hz).ceil() as usize;
        // Parabolic interpolation needs a lag on each side of the minimum.
        if tau_min < 2 {
            bail!(
                "pitch: {} Hz is too close to the Nyquist frequency of {sample_rate} Hz audio",
                self.fmax_hz
            );
        }
        let span = ((self.frame_ms / 1000.0 * sr).round() as usize).max(2 * tau_max);
        let window = span - tau_max;
        let hop = ((self.hop_ms / 1000.0 * sr).round() as usize).max(1);
        Ok(Geometry {
            tau_min,
            tau_max,
            window,
            hop,
        })
    }
}

/// Per-frame results of one analysis; the summaries below are all derived from it.
#[derive(Debug, Clone, PartialEq)]
pub struct PitchAnalysis {
    /// F0 in Hz per frame, `None` when unvoiced.
    pub f0: Vec<Option<f32>>,
    /// `1 − min d'` per sounding frame, `None` for silence.
    pub periodicity: Vec<Option<f32>>,
    /// Frame `i` starts at sample `i * hop`.
    pub hop: usize,
    min_voiced_frames: usize,
}

impl PitchAnalysis {
    /// Median F0 over voiced frames; `None` with fewer than `min_voiced_frames` of them.
    pub fn median_f0(&self) -> Option<f32> {
        let mut v: Vec<f32> = self.f0.iter().flatten().copied().collect();
        if v.is_empty() || v.len() < self.min_voiced_frames {
            return None;
        }
        v.sort_by(f32::total_cmp);
        let n = v.len();
        Some(if n % 2 == 1 {
            v[n / 2]
        } else {
            0.5 * (v[n / 2 - 1] + v[n / 2])
        })
    }

    /// Voiced frames over all frames (silent ones included); 0 without frames.
    pub fn voiced_fraction(&self) -> f32 {
        if self.f0.is_empty() {
            return 0.0;
        }
        self.f0.iter().filter(|f| f.is_some()).count() as f32 / self.f0.len() as f32
    }

    /// Mean periodicity over sounding frames; 0 for a silent clip (no periodic sound in it).
    pub fn harmonicity(&self) -> f32 {
        let sounding: Vec<f32> = self.periodicity.iter().flatten().copied().collect();
        if sounding.is_empty() {
            return 0.0;
        }
        sounding.iter().sum::<f32>() / sounding.len() as f32
    }
}

/// Run YIN over every frame of `wave`. A clip shorter than one frame has no frames.
pub fn analyse(wave: &[f32], sample_rate: u32, cfg: &PitchConfig) -> Result<PitchAnalysis> {
    let g = cfg.geometry(sample_rate)?;
    if let Some(i) = wave.iter().position(|v| !v.is_finite()) {
        bail!("pitch: sample {i} is not a finite number");
    }
    let span = g.window + g.tau_max + 1;
    let n_frames = if wave.len() < span {
        0
    } else {
        (wave.len() - span) / g.hop + 1
    };
    let rms: Vec<f32> = (0..n_frames)
        .map(|i| {
            let f = &wave[i * g.hop..i * g.hop + span];
            (f.iter().map(|v| v * v).sum::<f32>() / span as f32).sqrt()
        })
        .collect();
    let loudest = rms.iter().copied().fold(0.0f32, f32::max);
    let gate = cfg
        .min_rms
        .max(loudest * 10f32.powf(-cfg.relative_floor_db / 20.0));
    // d and d' up to tau_max + 1, reused across frames.
    let mut d = vec![0f32; g.tau_max + 2];
    let mut cmnd = vec![0f32; g.tau_max + 2];
    let mut f0 = Vec::with_capacity(n_frames);
    let mut periodicity = Vec::with_capacity(n_frames);
    for (i, &r) in rms.iter().enumerate() {
        if r < gate {
            f0.push(None);
            periodicity.push(None);
            continue;
        }
        let frame = &wave[i * g.hop..i * g.hop + span];
        let (p, min_cmnd) = yin_frame(frame, &g, cfg.threshold, &mut d, &mut cmnd);
        f0.push(p.map(|period| sample_rate as f32 / period));
        periodicity.push(Some((1.0 - min_cmnd).clamp(0.0, 1.0)));
    }
    Ok(PitchAnalysis {
        f0,
        periodicity,
        hop: g.hop,
        min_voiced_frames: cfg.min_voiced_frames,
    })
}

/// One frame (`window + tau_max + 1` samples): the period in samples if voiced, and the
/// smallest `d'` over the search range.
fn yin_frame(
    frame: &[f32],
    g: &Geometry,
    threshold: f32,
    d: &mut [f32],
    cmnd: &mut [f32],
) -> (Option<f32>, f32) {
    let w = g.window;
    let head = &frame[..w];
    d[0] = 0.0;
    for (tau, dt) in d.iter_mut().enumerate().skip(1) {
        *dt = head
            .iter()
            .zip(&frame[tau..tau + w])
            .map(|(a, b)| (a - b) * (a - b))
            .sum();
    }
    cmnd[0] = 1.0;
    let mut running = 0f64;
    for tau in 1..d.len() {
        running += d[tau] as f64;
        cmnd[tau] = if running > 0.0 {
            (d[tau] as f64 * tau as f64 / running) as f32
        } else {
            1.0
        };
    }
    let range = g.tau_min..=g.tau_max;
    let min_cmnd = cmnd[range.clone()]
        .iter()
        .copied()
        .fold(f32::INFINITY, f32::min);
    // The first dip is searched from the shortest lag, as in YIN, so that a pitch above the
    // range is recognised as such instead of being read at its subharmonic.
    let Some(first) = (2..=g.tau_max).find(|&t| cmnd[t] < threshold) else {
        return (None, min_cmnd);
    };
    let mut tau = first;
    while tau < g.tau_max && cmnd[tau + 1] < cmnd[tau] {
        tau += 1;
    }
    if tau < g.tau_min {
        return (None, min_cmnd);
    }
    let (a, b, c) = (cmnd[tau - 1], cmnd[tau], cmnd[tau + 1]);
    let curvature = a - 2.0 * b + c;
    let shift = if curvature > 0.0 {
        (0.5 * (a - c) / curvature).clamp(-1.0, 1.0)
    } else {
        0.0
    };
    (Some(tau as f32 + shift), min_cmnd)
}

/// F0 in Hz per frame (`None` = unvoiced or silent).
pub fn f0_track(wave: &[f32], sample_rate: u32, cfg: &PitchConfig) -> Result<Vec<Option<f32>>> {
    Ok(analyse(wave, sample_rate, cfg)?.f0)
}

/// Median F0 over voiced frames; `None` with fewer than `cfg.min_voiced_frames` of them.
pub fn median_f0(wave: &[f32], sample_rate: u32, cfg: &PitchConfig) -> Result<Option<f32>> {
    Ok(analyse(wave, sample_rate, cfg)?.median_f0())
}

/// Voiced frames over all frames.
pub fn voiced_fraction(wave: &[f32], sample_rate: u32, cfg: &PitchConfig) -> Result<f32> {
    Ok(analyse(wave, sample_rate, cfg)?.voiced_fraction())
}

/// Mean `1 − min d'` over sounding frames (see the module doc); 0 for silence.
pub fn harmonicity(wave: &[f32], sample_rate: u32, cfg: &PitchConfig) -> Result<f32> {
    Ok(analyse(wave, sample_rate, cfg)?.harmonicity())
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{Rng, SeedableRng};
    use std::f32::consts::TAU;

    /// One second of a sum of harmonics of `f0`: `(harmonic number, amplitude)`.
    fn harmonics(f0: f32, sr: u32, parts: &[(u32, f32)]) -> Vec<f32> {
        let peak: f32 = parts.iter().map(|p| p.1).sum();
        (0..sr)
            .map(|i| {
                let t = i as f32 / sr as f32;
                0.5 * parts
                    .iter()
                    .map(|&(h, a)| a * (TAU * f0 * h as f32 * t + 0.3 * h as f32).sin())
                    .sum::<f32>()
                    / peak
            })
            .collect()
    }

    fn assert_near(got: Option<f32>, want: f32, what: &str) {
        let got = got.unwrap_or_else(|| panic!("{what}: no F0"));
        assert!(
            (got - want).abs() / want < 0.02,
            "{what}: {got} Hz, want {want}"
        );
    }

    #[test]
    fn sines_and_harmonic_complexes_are_recovered() {
        let cfg = PitchConfig::default();
        for sr in [8000, 16000] {
            for f in [100.0, 150.0, 220.0] {
                let sine = harmonics(f, sr, &[(1, 1.0)]);
                let a = analyse(&sine, sr, &cfg).unwrap();
                assert_near(a.median_f0(), f, &format!("sine {f} Hz at {sr}"));
                assert!(a.voiced_fraction() > 0.95, "{}", a.voiced_fraction());
                assert!(a.harmonicity() > 0.9, "{}", a.harmonicity());
                // Every frame, not just the median, within 2%.
                for p in a.f0.iter().flatten() {
                    assert!((p - f).abs() / f < 0.02, "frame at {p} Hz for {f}");
                }
                let complex = harmonics(f, sr, &[(1, 1.0), (2, 0.6), (3, 0.4), (4, 0.3)]);
                assert_near(
                    median_f0(&complex, sr, &cfg).unwrap(),
                    f,
                    &format!("complex {f} Hz at {sr}"),
                );
            }
        }
    }

    #[test]
    fn a_weak_fundamental_gives_no_octave_error() {
        let cfg = PitchConfig::default();
        for f in [100.0, 150.0, 220.0] {
            // The fundamental at a tenth of its harmonics; even harmonics dominate.
            let wave = harmonics(
                f,
                16000,
                &[(1, 0.1), (2, 1.0), (3, 0.5), (4, 1.0), (5, 0.3), (6, 0.6)],
            );
            let a = analyse(&wave, 16000, &cfg).unwrap();
            assert_near(a.median_f0(), f, &format!("weak fundamental {f} Hz"));
            let octave_off =
                a.f0.iter()
                    .flatten()
                    .filter(|p| (*p / f - 1.0).abs() > 0.1)
                    .count();
            assert_eq!(octave_off, 0, "{f} Hz: {:?}", a.f0);
        }
    }

    #[test]
    fn noise_is_mostly_unvoiced_and_silence_entirely() {
        let cfg = PitchConfig::default();
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(7);
        let noise: Vec<f32> = (0..16000).map(|_| rng.random_range(-0.5..0.5)).collect();
        let a = analyse(&noise, 16000, &cfg).unwrap();
        assert!(a.voiced_fraction() < 0.1, "noise: {}", a.voiced_fraction());
        assert!(a.harmonicity() < 0.5, "noise: {}", a.harmonicity());
        assert_eq!(a.median_f0(), None);
        let sine = harmonics(150.0, 16000, &[(1, 1.0)]);
        assert!(a.harmonicity() + 0.4 < harmonicity(&sine, 16000, &cfg).unwrap());

        let silence = vec![0f32; 16000];
        let s = analyse(&silence, 16000, &cfg).unwrap();
        assert!(!s.f0.is_empty() && s.f0.iter().all(Option::is_none));
        assert_eq!((s.voiced_fraction(), s.harmonicity()), (0.0, 0.0));
        // Quiet hiss under the absolute gate is silence as well.
        let hiss: Vec<f32> = noise.iter().map(|v| v * 1e-3).collect();
        assert_eq!(voiced_fraction(&hiss, 16000, &cfg).unwrap(), 0.0);
    }

    #[test]
    fn pauses_are_unvoiced_and_the_track_follows_the_sound() {
        let cfg = PitchConfig::default();
        let mut wave = harmonics(120.0, 16000, &[(1, 1.0), (2, 0.5)]);
        wave[..8000].iter_mut().for_each(|v| *v = 0.0);
        let a = analyse(&wave, 16000, &cfg).unwrap();
        let hop = a.hop;
        for (i, f) in a.f0.iter().enumerate() {
            let start = i * hop;
            if start + 1100 < 8000 {
                assert!(f.is_none(), "frame {i} in the pause: {f:?}");
            } else if start >= 8000 {
                assert!(f.is_some(), "frame {i} in the tone is unvoiced");
            }
        }
        assert!((a.voiced_fraction() - 0.5).abs() < 0.1);
    }

    #[test]
    fn pitch_above_the_range_is_unvoiced_not_a_subharmonic() {
        let cfg = PitchConfig::default();
        let high = harmonics(600.0, 16000, &[(1, 1.0)]);
        assert_eq!(median_f0(&high, 16000, &cfg).unwrap(), None);
    }

    #[test]
    fn bad_input_is_an_error_and_short_input_has_no_frames() {
        let cfg = PitchConfig::default();
        assert!(analyse(&[0.0; 100], 0, &cfg).is_err());
        assert!(analyse(&[f32::NAN; 1000], 16000, &cfg).is_err());
        let inverted = PitchConfig {
            fmin_hz: 400.0,
            fmax_hz: 60.0,
            ..cfg.clone()
        };
        assert!(analyse(&[0.0; 1000], 16000, &inverted).is_err());
        assert!(analyse(&[0.0; 1000], 500, &cfg).is_err());
        let short = analyse(&[0.1; 100], 16000, &cfg).unwrap();
        assert!(short.f0.is_empty());
        assert_eq!((short.median_f0(), short.voiced_fraction()), (None, 0.0));
    }

    /// espeak-ng's male and female variants land in the speech bands the issue targets.
    #[test]
    fn espeak_voices_fall_in_their_f0_bands() {
        if std::process::Command::new("espeak-ng")
            .arg("--version")
            .output()
            .is_err()
        {
            eprintln!("espeak-ng is not installed: skipping the espeak F0 check");
            return;
        }
        let dir = tempfile::tempdir().unwrap();
        let text = "The quick brown fox jumps over the lazy dog while we wait for the train.";
        let cfg = PitchConfig::default();
        for (voice, pitch, lo, hi) in [("en+m3", "40", 85.0, 155.0), ("en+f3", "60", 165.0, 255.0)]
        {
            let path = dir.path().join(format!("{voice}.wav"));
            let out = std::process::Command::new("espeak-ng")
                .args(["-v", voice, "-p", pitch, "-w"])
                .arg(&path)
                .arg(text)
                .output()
                .unwrap();
            assert!(out.status.success(), "espeak-ng -v {voice}: {out:?}");
            let (wave, sr) = crate::data::audio::read_wav_mono(&path).unwrap();
            let at_16k = crate::data::audio::resample(&wave, sr, 16000);
            for (w, rate) in [(&wave, sr), (&at_16k, 16000)] {
                let a = analyse(w, rate, &cfg).unwrap();
                let m = a.median_f0().expect("a voice has a pitch");
                eprintln!(
                    "espeak-ng {voice} -p {pitch} at {rate} Hz: median F0 {m:.1} Hz, voiced {:.2}, harmonicity {:.2}",
                    a.voiced_fraction(),
                    a.harmonicity()
                );
                assert!((lo..=hi).contains(&m), "{voice}: {m} Hz not in {lo}–{hi}");
                assert!(
                    a.voiced_fraction() > 0.2,
                    "{voice}: {}",
                    a.voiced_fraction()
                );
            }
        }
    }
}
