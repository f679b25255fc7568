//! WAV folders as mel-feature datasets: clips (`audio.rs`) through the mel front end
//! (`mel`) into `[1, n_mels, frames]` "images", so the classifier trainer and the GAN
//! trainer read audio exactly as they read pictures.
//!
//! Features are kept in generator space: a generator ends in tanh, so the front end's
//! `mean`/`std` are chosen to put speech in about [-1, 1], and the few values outside are
//! clamped (`clamped_fraction` says how many). A model trained on these features and a
//! generator that draws them then see the same units.

use super::audio::{load_wav_folder, AudioClips, AudioOptions, LongFiles};
use super::mel::{MelFrontEnd, MelSpec};
use super::{Dataset, LoadReport, Split};
use anyhow::{Context, Result};
use candle_core::{DType, Device, Tensor};
use std::path::Path;

/// How clips become features: the front end, the clip length and how long files are cut.
#[derive(Debug, Clone, PartialEq)]
pub struct MelFeatures {
    pub mel: MelSpec,
    /// Samples per clip at `mel.sample_rate`.
    pub clip_samples: usize,
    /// At most this many consecutive clips from one file, so long recordings cannot swamp a
    /// class.
    pub max_clips_per_file: Option<usize>,
}

/// Clips per forward pass of the front end (bounds memory, not results).
const CHUNK: usize = 256;

impl MelFeatures {
    /// The voices front end of the bundled audio classifier and `demo --audio`: 16 kHz, 32 ms
    /// Hann frames every 16 ms, 64 Slaney mel bands to 4 kHz, ln(mel + 1e-4)
    /// scaled by mean -3.5, std 5.5 (chosen 2026-12-05 on `scripts/audio_data.sh`'s train set
    /// for bands to 8 kHz: silence, ln(1e-4) = -9.21, maps to -1.04 and the 99th percentile to
    /// 0.97; with bands to 4 kHz 1.1% of values clamp at +1 and 22% at the silence floor), and
    /// 1.008 s clips: 64 frames, so the generator draws 64 × 64. Why 4 kHz: above 1 kHz 64
    /// bands to 8 kHz are wider than a voice's harmonic spacing, and of real test clips sent
    /// through the features and Griffin-Lim only 22% of men's and 62% of women's kept a pitch;
    /// with bands to 4 kHz 60% and 95% do (`examples/front_end_pitch.rs`, 2026-12-06), so the
    /// pitch judge of an audio eval can hear what it judges.
    pub fn voices() -> MelFeatures {
        let mut mel = MelSpec::new(16_000, 512, 256, 64);
        mel.fmax = 4000.0;
        mel.log_offset = 1e-4;
        mel.mean = -3.5;
        mel.std = 5.5;
        MelFeatures {
            mel,
            clip_samples: 63 * 256,
            max_clips_per_file: Some(8),
        }
    }

    /// `(n_mels, frames)` of one clip's features.
    pub fn shape(&self) -> Result<(usize, usize)> {
        Ok((self.mel.n_mels, self.mel.frames(self.clip_samples)?))
    }

    /// One clip's features `[n_mels · frames]` (generator space) back to a waveform by
    /// Griffin-Lim, peak-normalised to 0.9 so quiet generations can be heard.
    pub fn to_waveform(&self, features: &[f32], seed: u64) -> Result<Vec<f32>> {
        let opts = super::griffin_lim::GriffinLim {
            iterations: 48,
            seed,
            ..Default::default()
        };
        let mut wave =
            super::griffin_lim::mel_to_waveform(&self.mel, features, self.clip_samples, &opts)?;
        let peak = wave.iter().fold(0f32, |m, v| m.max(v.abs()));
        if peak > 1e-6 {
            wave.iter_mut().for_each(|v| *v *= 0.9 / peak);
        }
        Ok(wave)
    }

    /// Generated features `[N, 1, n_mels, frames]` to one waveform per sample.
    pub fn waveforms(&self, x: &Tensor) -> Result<Vec<Vec<f32>>> {
        let (n_mels, frames) = self.shape()?;
        let n = match x.dims() {
            [n, 1, h, w] if (*h, *w) == (n_mels, frames) => *n,
            other => anyhow::bail!(
                "audio samples must be [N, 1, {n_mels}, {frames}] mel features, got {other:?}"
            ),
        };
        let values: Vec<f32> = x.to_dtype(DType::F32)?.flatten_all()?.to_vec1()?;
        (0..n)
            .map(|i| {
                self.to_waveform(
                    &values[i * n_mels * frames..(i + 1) * n_mels * frames],
                    i as u64,
                )
            })
            .collect()
    }

    pub fn audio_options(&self, skip_bad: bool) -> AudioOptions {
        AudioOptions {
            sample_rate: self.mel.sample_rate,
            clip_samples: self.clip_samples,
            long_files: LongFiles::Windows {
                max_per_file: self.max_clips_per_file,
            },
            skip_bad,
        }
    }
}

/// The fractions of mel feature values clamped at each end of [-1, 1].
#[derive(Debug, Clone, Copy, PartialEq, Default, serde::Serialize)]
pub struct Clamped {
    /// Above 1: the loudest detail, flattened.
    pub above: f64,
    /// Below −1: the quietest bins, down to the silence floor `(ln(log_offset) − mean) / std`.
    pub below: f64,
}

/// Mel features of clips as a dataset, and the fractions of values clamped to [-1, 1].
pub fn clips_to_features(clips: &AudioClips, features: &MelFeatures) -> Result<(Dataset, Clamped)> {
    let (n_mels, frames) = features.shape()?;
    let front = MelFrontEnd::new(&features.mel, &Device::Cpu, DType::F32)?;
    let per_clip = n_mels * frames;
    let mut values = Vec::with_capacity(clips.len() * per_clip);
    let (mut above, mut below) = (0usize, 0usize);
    for start in (0..clips.len()).step_by(CHUNK) {
        let n = CHUNK.min(clips.len() - start);
        let wave = &clips.samples[start * clips.clip_samples..(start + n) * clips.clip_samples];
        let x = Tensor::from_slice(wave, (n, clips.clip_samples), &Device::Cpu)?;
        let y: Vec<f32> = front.forward(&x)?.flatten_all()?.to_vec1()?;
        for v in y {
            above += usize::from(v > 1.0);
            below += usize::from(v < -1.0);
            values.push(v.clamp(-1.0, 1.0));
        }
    }
    let total = values.len().max(1);
    let ds = Dataset::new(
        values,
        (1, n_mels, frames),
        clips.labels.clone(),
        clips.class_names.clone(),
        None,
    )?;
    let clamped = Clamped {
        above: above as f64 / total as f64,
        below: below as f64 / total as f64,
    };
    Ok((ds, clamped))
}

/// One split of a WAV folder as mel features. A folder without `train/`/`test/` is split by
/// file (`UNSPLIT_TRAIN_FRACTION`, `UNSPLIT_SEED`), so one recording never lands on both sides.
pub fn load_mel_folder(
    root: &Path,
    split: Split,
    features: &MelFeatures,
    skip_bad: bool,
) -> Result<(Dataset, LoadReport)> {
    let opts = features.audio_options(skip_bad);
    let (clips, report) = if super::image_folder::has_split_folders(root) {
        load_wav_folder(root, Some(split), &opts)?
    } else {
        let (all, report) = load_wav_folder(root, None, &opts)?;
        let (train, test) = all.split_by_file(
            super::source::UNSPLIT_TRAIN_FRACTION,
            super::source::UNSPLIT_SEED,
        );
        (
            match split {
                Split::Train => train,
                Split::Test => test,
            },
            report,
        )
    };
    let (ds, clamped) = clips_to_features(&clips, features)
        .with_context(|| format!("{}: mel features", root.display()))?;
    Ok((
        ds,
        LoadReport {
            clamped: Some(clamped),
            ..report
        },
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tone(freq: f64, n: usize, rate: u32, amp: f32) -> Vec<f32> {
        (0..n)
            .map(|i| {
                amp * (2.0 * std::f64::consts::PI * freq * i as f64 / rate as f64).sin() as f32
            })
            .collect()
    }

    #[test]
    fn voices_features_are_64_by_64_and_place_a_tone_in_its_band() {
        let f = MelFeatures::voices();
        assert_eq!(f.shape().unwrap(), (64, 64));
        let n = f.clip_samples;
        let mut samples = tone(500.0, n, 16_000, 0.3);
        samples.extend(vec![0.0; n]);
        let clips = AudioClips {
            samples,
            clip_samples: n,
            sample_rate: 16_000,
            labels: vec![0, 1],
            class_names: vec!["tone".into(), "silence".into()],
            file_of_clip: vec![0, 1],
            files: vec!["a.wav".into(), "b.wav".into()],
        };
        let (ds, clamped) = clips_to_features(&clips, &f).unwrap();
        assert_eq!(ds.image_shape(), (1, 64, 64));
        // Silence sits at the bottom of the range (log of the offset), not below it.
        let silent = ds.image(1);
        let expected = ((1e-4f64).ln() - f.mel.mean) / f.mel.std;
        assert!(silent
            .iter()
            .all(|&v| (v as f64 - expected.max(-1.0)).abs() < 1e-3));
        // The tone's band is the loudest row in a middle frame, and it is near 500 Hz.
        let img = ds.image(0);
        let frame = 32;
        let best = (0..64)
            .max_by(|&a, &b| img[a * 64 + frame].total_cmp(&img[b * 64 + frame]))
            .unwrap();
        let fb = f.mel.filterbank();
        let freqs = f.mel.n_freqs();
        let centre_bin = (0..freqs)
            .max_by(|&a, &b| fb[best * freqs + a].total_cmp(&fb[best * freqs + b]))
            .unwrap();
        let centre_hz = centre_bin as f64 * 16_000.0 / 512.0;
        assert!(
            (centre_hz - 500.0).abs() < 80.0,
            "band centre {centre_hz} Hz"
        );
        assert!(img[best * 64 + frame] > 0.0);
        // Silence (half the values) is below -1 before the clamp; the tone's bands are not.
        // Silence is below the range; the tone's loud band is not above it.
        assert!((0.45..0.99).contains(&clamped.below), "{clamped:?}");
        assert!(clamped.above < 0.05, "{clamped:?}");
    }
}
