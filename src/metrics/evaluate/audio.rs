//! The audio part of `eval` for runs whose samples are mel spectrograms: per class, a set of
//! generated clips turned into sound (Griffin-Lim through the run's front end), the physical
//! pitch judge's statistics of them, the same for the class's real clips where `--real` has
//! some, and files for the report: a few WAVs per class and one strip of spectrograms.
//!
//! Real clips are taken as features and inverted by the same Griffin-Lim, so generated and
//! real sound pass one pipeline and a pitch difference is not an artefact of the inversion.

use super::SampleFn;
use crate::data::mel_clips::MelFeatures;
use crate::data::Dataset;
use crate::image_io::spectrogram_png_in;
use crate::metrics::audio_eval::{audio_stats, AudioClassEval, AudioEval, AudioStats};
use anyhow::{bail, Context, Result};
use candle_core::Tensor;
use std::path::Path;

/// Sub-folder of the eval directory with the clips and spectrograms.
pub const AUDIO_DIR: &str = "audio";

#[derive(Debug, Clone)]
pub struct AudioEvalOptions {
    /// Clips per class whose pitch is measured (generated, and real where there are enough).
    pub clips_per_class: usize,
    /// Generated clips per class written as WAV for the report's players.
    pub wavs_per_class: usize,
    /// Real clips per class written as WAV.
    pub real_wavs_per_class: usize,
    /// Generated spectrograms per class in the report's strip.
    pub spectrograms_per_class: usize,
    pub seed: u64,
}

impl Default for AudioEvalOptions {
    fn default() -> Self {
        AudioEvalOptions {
            clips_per_class: 32,
            wavs_per_class: 4,
            real_wavs_per_class: 2,
            spectrograms_per_class: 8,
            seed: 0,
        }
    }
}

/// What the audio evaluation reads: the run's classes, its front end and a sampler.
pub struct AudioInputs<'a> {
    pub class_names: &'a [String],
    pub unseen: &'a [usize],
    pub mel: &'a MelFeatures,
    pub sample: &'a SampleFn<'a>,
    /// Real features of the run's size, matched to the run's classes by name.
    pub real: Option<&'a Dataset>,
}

/// Measure every class and write the report's files under `out_dir/audio/`.
pub fn evaluate_audio(
    inputs: &AudioInputs,
    opts: &AudioEvalOptions,
    out_dir: &Path,
) -> Result<AudioEval> {
    if opts.clips_per_class == 0 {
        bail!("audio eval: need at least one clip per class");
    }
    let dir = out_dir.join(AUDIO_DIR);
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    let (n_mels, frames) = inputs.mel.shape()?;
    let sr = inputs.mel.mel.sample_rate;
    let mut per_class = vec![];
    for (c, name) in inputs.class_names.iter().enumerate() {
        let x = (inputs.sample)(c, opts.clips_per_class, opts.seed ^ 0xa0d1_0000 ^ c as u64)
            .with_context(|| format!("audio eval: sampling class {name}"))?;
        let (generated, wavs) = listen(
            inputs.mel,
            &x,
            &dir,
            (c, name),
            "generated",
            opts.wavs_per_class,
        )?;

        let features: Vec<f32> = x.flatten_all()?.to_vec1()?;
        let k = opts.spectrograms_per_class.min(x.dim(0)?);
        let spectrogram_png = if k > 0 {
            let strip = side_by_side(&features[..k * n_mels * frames], k, n_mels, frames);
            let png = spectrogram_png_in(&strip, n_mels, k * (frames + 1) - 1, Some((-1.0, 1.0)))?;
            let rel = format!("{AUDIO_DIR}/class{c}_spectrograms.png");
            std::fs::write(out_dir.join(&rel), png)
                .with_context(|| format!("writing {}", out_dir.join(&rel).display()))?;
            Some(rel)
        } else {
            None
        };

        let real = inputs
            .real
            .map(|d| real_features(d, name, opts.clips_per_class, n_mels, frames))
            .transpose()?
            .flatten();
        let (real, real_wavs) = match real {
            Some(real) => {
                let m = real.len() / (n_mels * frames);
                let x = Tensor::from_vec(real, (m, 1, n_mels, frames), x.device())?;
                let (stats, files) = listen(
                    inputs.mel,
                    &x,
                    &dir,
                    (c, name),
                    "real",
                    opts.real_wavs_per_class,
                )?;
                (Some(stats), files)
            }
            None => (None, vec![]),
        };
        per_class.push(AudioClassEval {
            name: name.clone(),
            unseen: inputs.unseen.contains(&c),
            generated,
            real,
            wavs,
            real_wavs,
            spectrogram_png,
        });
    }
    Ok(AudioEval {
        sample_rate: sr,
        per_class,
    })
}

/// Features `x` [m, 1, n_mels, frames] of one class heard through the front end: the pitch
/// statistics of all of them and the first `keep` written as WAV.
fn listen(
    mel: &MelFeatures,
    x: &Tensor,
    dir: &Path,
    (class, name): (usize, &str),
    what: &str,
    keep: usize,
) -> Result<(AudioStats, Vec<String>)> {
    let waves = mel
        .waveforms(x)
        .with_context(|| format!("audio eval: {what} clips of {name}"))?;
    let stats = audio_stats(&waves, mel.mel.sample_rate)
        .with_context(|| format!("audio eval: pitch of {what} {name}"))?;
    let files = write_wavs(
        dir,
        class,
        what,
        &waves[..keep.min(waves.len())],
        mel.mel.sample_rate,
    )?;
    Ok((stats, files))
}

/// Clips written as `audio/class{c}_{what}_{i}.wav`; the paths relative to the eval folder.
fn write_wavs(
    dir: &Path,
    class: usize,
    what: &str,
    waves: &[Vec<f32>],
    sr: u32,
) -> Result<Vec<String>> {
    waves
        .iter()
        .enumerate()
        .map(|(i, w)| {
            let name = format!("class{class}_{what}_{i}.wav");
            crate::data::audio::write_wav_mono(&dir.join(&name), w, sr)?;
            Ok(format!("{AUDIO_DIR}/{name}"))
        })
        .collect()
}

/// `k` spectrograms `[n_mels, frames]` in one `[n_mels, k * (frames + 1) - 1]` strip, a
/// one-frame gap at the bottom of the scale between neighbours.
fn side_by_side(features: &[f32], k: usize, n_mels: usize, frames: usize) -> Vec<f32> {
    let width = k * (frames + 1) - 1;
    let mut strip = vec![-1.0f32; n_mels * width];
    for i in 0..k {
        for m in 0..n_mels {
            let src = &features[(i * n_mels + m) * frames..(i * n_mels + m + 1) * frames];
            let at = m * width + i * (frames + 1);
            strip[at..at + frames].copy_from_slice(src);
        }
    }
    strip
}

/// Up to `n` real clips of the class called `name`, as concatenated features; `None` when the
/// data has no such class. A real set of another feature shape is an error.
fn real_features(
    real: &Dataset,
    name: &str,
    n: usize,
    n_mels: usize,
    frames: usize,
) -> Result<Option<Vec<f32>>> {
    if (real.channels, real.height, real.width) != (1, n_mels, frames) {
        bail!(
            "audio eval: the real data are [{}, {}, {}] features, the run's front end makes [1, {n_mels}, {frames}]",
            real.channels,
            real.height,
            real.width
        );
    }
    let Some(label) = real.class_names.iter().position(|c| c == name) else {
        return Ok(None);
    };
    let size = n_mels * frames;
    let mut out = vec![];
    for (i, _) in real
        .labels
        .iter()
        .enumerate()
        .filter(|(_, &l)| l as usize == label)
        .take(n)
    {
        out.extend_from_slice(&real.images[i * size..(i + 1) * size]);
    }
    Ok((!out.is_empty()).then_some(out))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::mel::MelFrontEnd;
    use candle_core::{DType, Device};

    /// Features of a buzzy, voice-like tone at `f0` (harmonics up to ~3 kHz) through the voices
    /// front end. Below 1 kHz the 64 bands lie ~67 Hz apart: a steady tone at 110 or 130 Hz
    /// comes back from Griffin-Lim unvoiced (measured 2026-12-05), 150 Hz keeps its pitch.
    fn tone_features(mel: &MelFeatures, f0: f32) -> Vec<f32> {
        let wave: Vec<f32> = (0..mel.clip_samples)
            .map(|i| {
                let t = i as f32 / mel.mel.sample_rate as f32;
                (1..=(3000.0 / f0) as usize)
                    .map(|h| 0.02 / h as f32 * (std::f32::consts::TAU * f0 * h as f32 * t).sin())
                    .sum()
            })
            .collect();
        let front = MelFrontEnd::new(&mel.mel, &Device::Cpu, DType::F32).unwrap();
        let x = Tensor::from_vec(wave, (1, mel.clip_samples), &Device::Cpu).unwrap();
        let y: Vec<f32> = front
            .forward(&x)
            .unwrap()
            .flatten_all()
            .unwrap()
            .to_vec1()
            .unwrap();
        y.into_iter().map(|v| v.clamp(-1.0, 1.0)).collect()
    }

    #[test]
    fn pitch_of_sampled_spectrograms_and_real_clips_by_class() {
        let mel = MelFeatures::voices();
        let (n_mels, frames) = mel.shape().unwrap();
        let low = tone_features(&mel, 150.0);
        let high = tone_features(&mel, 220.0);
        let names = vec!["men".to_string(), "women".to_string()];
        // A "generator" that gives class 0 the low tone (150 Hz, in the male band) and class 1 the high one.
        let sample = |c: usize, n: usize, _seed: u64| -> Result<Tensor> {
            let one = if c == 0 { &low } else { &high };
            let v: Vec<f32> = (0..n).flat_map(|_| one.iter().copied()).collect();
            Ok(Tensor::from_vec(v, (n, 1, n_mels, frames), &Device::Cpu)?)
        };
        // Real data: the women are real, the men missing from it.
        let real = Dataset {
            images: [high.clone(), high.clone(), low.clone()].concat(),
            channels: 1,
            height: n_mels,
            width: frames,
            labels: vec![1, 1, 0],
            class_names: vec!["other".into(), "women".into()],
            groups: None,
            group_names: vec![],
        };
        let dir = tempfile::tempdir().unwrap();
        let opts = AudioEvalOptions {
            clips_per_class: 3,
            wavs_per_class: 2,
            ..Default::default()
        };
        let inputs = AudioInputs {
            class_names: &names,
            unseen: &[1],
            mel: &mel,
            sample: &sample,
            real: Some(&real),
        };
        let a = evaluate_audio(&inputs, &opts, dir.path()).unwrap();
        assert_eq!(a.sample_rate, 16000);
        let (men, women) = (&a.per_class[0], &a.per_class[1]);
        assert!(!men.unseen && women.unseen);
        let f_men = men.generated.median_f0_hz.unwrap();
        let f_women = women.generated.median_f0_hz.unwrap();
        assert!((f_men - 150.0).abs() < 6.0, "{f_men}");
        assert!((f_women - 220.0).abs() < 10.0, "{f_women}");
        assert!(men.real.is_none() && men.real_wavs.is_empty());
        let real_women = women.real.as_ref().unwrap();
        assert_eq!(real_women.clips, 2);
        assert!((real_women.median_f0_hz.unwrap() - 220.0).abs() < 10.0);
        assert_eq!(women.wavs.len(), 2);
        assert_eq!(women.real_wavs.len(), 2);
        for rel in women.wavs.iter().chain(&women.real_wavs) {
            let r = hound::WavReader::open(dir.path().join(rel)).unwrap();
            assert_eq!(r.spec().sample_rate, 16000);
            assert_eq!(r.len() as usize, mel.clip_samples);
        }
        let png = dir.path().join(women.spectrogram_png.as_ref().unwrap());
        let img = image::open(png).unwrap();
        assert!(img.width() >= 3 * frames as u32);

        // The report section inlines every file.
        let html = crate::report::audio::section(&a, dir.path()).unwrap();
        assert_eq!(html.matches("data:audio/wav;base64,").count(), 6);

        // Real features of another shape are refused, naming both shapes.
        let wrong = Dataset {
            height: 32,
            images: vec![0.0; 32 * frames],
            labels: vec![1],
            ..real.clone()
        };
        let inputs = AudioInputs {
            real: Some(&wrong),
            ..inputs
        };
        let err = evaluate_audio(&inputs, &opts, dir.path()).unwrap_err();
        assert!(format!("{err:#}").contains("[1, 32, 64]"), "{err:#}");
    }

    #[test]
    fn strip_keeps_each_spectrogram_in_place() {
        // Two 2x3 spectrograms: values 0..6 and 10..16.
        let f: Vec<f32> = (0..6).chain(10..16).map(|v| v as f32).collect();
        let s = side_by_side(&f, 2, 2, 3);
        assert_eq!(
            s,
            vec![0., 1., 2., -1., 10., 11., 12., 3., 4., 5., -1., 13., 14., 15.]
        );
    }
}
