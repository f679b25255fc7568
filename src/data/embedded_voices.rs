//! The small audio set compiled into the binary (`data/voices-subset/`): men / non-human /
//! women, 1.008 s clips at 16 kHz, what `--data embedded:voices` loads and `demo --audio`
//! trains on. One WAV per split and class holds that class's clips back to back, each exactly
//! [`SUBSET_CLIP_SAMPLES`] long. Only synthetic sound is bundled (espeak-ng voices and sox
//! synthesis, written by `scripts/audio_data.sh` and cut by `examples/voices_subset.rs`); the
//! real recordings that script can add stay on the user's machine.

use super::audio::{read_wav_mono_bytes, resample, AudioClips};
use super::mel_clips::{clips_to_features, MelFeatures};
use super::{Dataset, Split};
use anyhow::{bail, Context, Result};

/// The bundled classes, in label order (the order of the voices classifiers' outputs).
pub const VOICES_CLASSES: [&str; 3] = ["men", "non-human", "women"];
/// Samples per bundled clip: the voices front end's 63 hops of 256 at 16 kHz.
pub const SUBSET_CLIP_SAMPLES: usize = 63 * 256;
pub const SUBSET_SAMPLE_RATE: u32 = 16_000;

const TRAIN: [&[u8]; 3] = [
    include_bytes!("../../data/voices-subset/train/men.wav"),
    include_bytes!("../../data/voices-subset/train/non-human.wav"),
    include_bytes!("../../data/voices-subset/train/women.wav"),
];
const TEST: [&[u8]; 3] = [
    include_bytes!("../../data/voices-subset/test/men.wav"),
    include_bytes!("../../data/voices-subset/test/non-human.wav"),
    include_bytes!("../../data/voices-subset/test/women.wav"),
];

/// One split of the bundled clips, resampled to `sample_rate` and padded or cut to
/// `clip_samples` (the bundled length for the voices front end).
pub fn voices_subset_clips(
    split: Split,
    sample_rate: u32,
    clip_samples: usize,
) -> Result<AudioClips> {
    let files = match split {
        Split::Train => &TRAIN,
        Split::Test => &TEST,
    };
    let mut clips = AudioClips {
        samples: vec![],
        clip_samples,
        sample_rate,
        labels: vec![],
        class_names: VOICES_CLASSES.iter().map(|s| s.to_string()).collect(),
        file_of_clip: vec![],
        files: vec![],
    };
    for (label, (bytes, class)) in files.iter().zip(VOICES_CLASSES).enumerate() {
        let name = format!("embedded voices-subset/{}/{class}.wav", split.name());
        let (wave, rate) = read_wav_mono_bytes(bytes, &name)?;
        if rate != SUBSET_SAMPLE_RATE || wave.len() % SUBSET_CLIP_SAMPLES != 0 {
            bail!("{name}: expected whole clips of {SUBSET_CLIP_SAMPLES} samples at {SUBSET_SAMPLE_RATE} Hz, got {} samples at {rate} Hz", wave.len());
        }
        for clip in wave.chunks(SUBSET_CLIP_SAMPLES) {
            let mut clip = resample(clip, rate, sample_rate);
            clip.resize(clip_samples, 0.0);
            clips.samples.extend(clip);
            clips.labels.push(label as u32);
            clips.file_of_clip.push(clips.files.len() as u32);
        }
        clips.files.push(name.into());
    }
    Ok(clips)
}

/// One split of the bundled clips as mel features of `features`, and the fractions of feature
/// values clamped to [-1, 1].
pub fn voices_subset(
    split: Split,
    features: &MelFeatures,
) -> Result<(Dataset, super::mel_clips::Clamped)> {
    let clips = voices_subset_clips(split, features.mel.sample_rate, features.clip_samples)?;
    clips_to_features(&clips, features).context("embedded voices-subset: mel features")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bundled_clips_decode_into_every_class_on_both_sides() {
        for split in [Split::Train, Split::Test] {
            let clips =
                voices_subset_clips(split, SUBSET_SAMPLE_RATE, SUBSET_CLIP_SAMPLES).unwrap();
            for label in 0..3u32 {
                let n = clips.labels.iter().filter(|&&l| l == label).count();
                assert!(
                    n >= 8,
                    "{split:?} {}: {n} clips",
                    VOICES_CLASSES[label as usize]
                );
            }
            // Sound, not silence: every clip carries signal.
            for i in 0..clips.len() {
                let peak = clips.clip(i).iter().fold(0f32, |m, v| m.max(v.abs()));
                assert!(peak > 0.01, "clip {i} of {split:?} is silent");
            }
        }
        let (ds, clamped) = voices_subset(Split::Test, &MelFeatures::voices()).unwrap();
        // The voices front end's mean/std were chosen for these clips: little is clamped.
        assert!(
            clamped.above < crate::data::MAX_CLAMPED_FRACTION,
            "{clamped:?}"
        );
        assert_eq!(ds.class_names, VOICES_CLASSES);
        assert_eq!(ds.image_shape(), (1, 64, 64));
    }
}
