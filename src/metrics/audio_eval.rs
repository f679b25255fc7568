//! The audio part of an evaluation record: per class, the pitch statistics of the generated
//! clips (and of real clips where there are some) by the physical F0 judge
//! ([`super::pitch`]), and where the clips and the spectrogram were written, relative to the
//! eval directory, for the report to inline.

use super::pitch::{analyse, PitchConfig};
use anyhow::{Context, Result};

/// Typical adult male speaking F0 in Hz (men's voices in the issue's data: 90 % within
/// 89–143 Hz by autocorrelation), the band a generated "man" should fall in.
pub const MALE_F0_HZ: (f32, f32) = (85.0, 155.0);
/// Typical adult female speaking F0 in Hz (women's voices in the issue's data: 90 % within
/// 167–242 Hz), the band a generated "woman" should fall in.
pub const FEMALE_F0_HZ: (f32, f32) = (165.0, 255.0);

#[derive(Debug, Clone, Default, serde::Serialize, serde::Deserialize, PartialEq)]
pub struct AudioEval {
    pub sample_rate: u32,
    pub per_class: Vec<AudioClassEval>,
}

#[derive(Debug, Clone, Default, serde::Serialize, serde::Deserialize, PartialEq)]
pub struct AudioClassEval {
    pub name: String,
    /// Held out of the classifier's training data.
    #[serde(default)]
    pub unseen: bool,
    pub generated: AudioStats,
    /// The class's real clips, where the data has any.
    #[serde(default)]
    pub real: Option<AudioStats>,
    /// Generated clips written as WAV, paths relative to the eval directory.
    #[serde(default)]
    pub wavs: Vec<String>,
    /// Real clips written as WAV, paths relative to the eval directory.
    #[serde(default)]
    pub real_wavs: Vec<String>,
    /// Mel spectrograms of the generated clips as one PNG, relative to the eval directory.
    #[serde(default)]
    pub spectrogram_png: Option<String>,
}

impl AudioClassEval {
    /// Share of the generated clips whose median F0 lies in `band` (Hz, inclusive); unvoiced
    /// clips count as outside. `None` without clips.
    pub fn f0_in(&self, band: (f32, f32)) -> Option<f32> {
        self.generated.f0_in(band)
    }
}

/// Pitch statistics of a set of clips.
#[derive(Debug, Clone, Default, serde::Serialize, serde::Deserialize, PartialEq)]
pub struct AudioStats {
    pub clips: usize,
    /// Median of `f0_per_clip` (each voiced clip one vote); `None` when no clip is voiced.
    pub median_f0_hz: Option<f32>,
    /// Median F0 of each voiced clip, in clip order; unvoiced clips are left out.
    #[serde(default)]
    pub f0_per_clip: Vec<f32>,
    /// Mean over clips of the share of voiced frames.
    pub voiced_fraction: f32,
    /// Mean over clips of the pitch judge's harmonicity (1: periodic, ~0.2: noise, 0: silence).
    pub harmonicity: f32,
}

impl AudioStats {
    /// Share of all clips whose median F0 lies in `band` (Hz, inclusive); unvoiced clips count
    /// as outside. `None` without clips.
    pub fn f0_in(&self, band: (f32, f32)) -> Option<f32> {
        if self.clips == 0 {
            return None;
        }
        let inside = self
            .f0_per_clip
            .iter()
            .filter(|f| (band.0..=band.1).contains(*f))
            .count();
        Some(inside as f32 / self.clips as f32)
    }
}

/// Pitch statistics of `clips` with the default pitch judge.
pub fn audio_stats(clips: &[Vec<f32>], sample_rate: u32) -> Result<AudioStats> {
    audio_stats_with(clips, sample_rate, &PitchConfig::default())
}

pub fn audio_stats_with(
    clips: &[Vec<f32>],
    sample_rate: u32,
    cfg: &PitchConfig,
) -> Result<AudioStats> {
    let mut f0_per_clip = vec![];
    let (mut voiced, mut harmonicity) = (0f32, 0f32);
    for (i, clip) in clips.iter().enumerate() {
        let a = analyse(clip, sample_rate, cfg).with_context(|| format!("clip {i}"))?;
        f0_per_clip.extend(a.median_f0());
        voiced += a.voiced_fraction();
        harmonicity += a.harmonicity();
    }
    let n = clips.len().max(1) as f32;
    Ok(AudioStats {
        clips: clips.len(),
        median_f0_hz: median(&f0_per_clip),
        f0_per_clip,
        voiced_fraction: voiced / n,
        harmonicity: harmonicity / n,
    })
}

fn median(v: &[f32]) -> Option<f32> {
    if v.is_empty() {
        return None;
    }
    let mut s = v.to_vec();
    s.sort_by(f32::total_cmp);
    let n = s.len();
    Some(if n % 2 == 1 {
        s[n / 2]
    } else {
        0.5 * (s[n / 2 - 1] + s[n / 2])
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{Rng, SeedableRng};

    /// Half a second of a buzzy tone (three harmonics) at `f0` Hz, 16 kHz.
    fn voice(f0: f32) -> Vec<f32> {
        (0..8000)
            .map(|i| {
                let t = i as f32 / 16000.0;
                (1..=3)
                    .map(|h| 0.3 / h as f32 * (std::f32::consts::TAU * f0 * h as f32 * t).sin())
                    .sum()
            })
            .collect()
    }

    #[test]
    fn stats_and_band_shares_from_synthetic_clips() {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(1);
        let noise: Vec<f32> = (0..8000).map(|_| rng.random_range(-0.3..0.3)).collect();
        let clips = vec![
            voice(110.0),
            voice(130.0),
            voice(210.0),
            noise,
            vec![0.0; 8000],
        ];
        let s = audio_stats(&clips, 16000).unwrap();
        assert_eq!(s.clips, 5);
        assert_eq!(s.f0_per_clip.len(), 3, "{:?}", s.f0_per_clip);
        for (got, want) in s.f0_per_clip.iter().zip([110.0, 130.0, 210.0]) {
            assert!((got - want).abs() < 2.0, "{got} vs {want}");
        }
        let m = s.median_f0_hz.unwrap();
        assert!((m - 130.0).abs() < 2.0, "{m}");
        // Three voiced clips of five, each almost fully voiced.
        assert!(
            (s.voiced_fraction - 0.6).abs() < 0.05,
            "{}",
            s.voiced_fraction
        );
        assert!(
            s.harmonicity > 0.5 && s.harmonicity < 0.85,
            "{}",
            s.harmonicity
        );

        let class = AudioClassEval {
            name: "men".into(),
            generated: s.clone(),
            ..Default::default()
        };
        assert_eq!(class.f0_in(MALE_F0_HZ), Some(0.4));
        assert_eq!(class.f0_in(FEMALE_F0_HZ), Some(0.2));
        assert_eq!(AudioStats::default().f0_in(MALE_F0_HZ), None);

        let json = serde_json::to_string(&AudioEval {
            sample_rate: 16000,
            per_class: vec![class.clone()],
        })
        .unwrap();
        let back: AudioEval = serde_json::from_str(&json).unwrap();
        assert_eq!(back.per_class[0], class);
        // Older records without the optional fields still load.
        let minimal = r#"{"sample_rate":8000,"per_class":[{"name":"x","generated":
            {"clips":0,"median_f0_hz":null,"voiced_fraction":0,"harmonicity":0}}]}"#;
        let m: AudioEval = serde_json::from_str(minimal).unwrap();
        assert!(m.per_class[0].wavs.is_empty() && m.per_class[0].real.is_none());
    }

    #[test]
    fn empty_and_bad_input() {
        let s = audio_stats(&[], 16000).unwrap();
        assert_eq!((s.clips, s.median_f0_hz, s.voiced_fraction), (0, None, 0.0));
        let err = audio_stats(&[voice(100.0), vec![f32::NAN; 8000]], 16000).unwrap_err();
        assert!(format!("{err:#}").contains("clip 1"), "{err:#}");
    }
}
