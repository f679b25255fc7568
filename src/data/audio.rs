//! WAV folders: one subfolder per class (`root/<class>/*.wav`), optionally under `root/train/`
//! and `root/test/`, decoded into fixed-length mono clips at one sample rate.
//!
//! Decoding is `hound`'s (8/16/24/32-bit integer and 32-bit float PCM, any channel count);
//! everything after it is here and stated once:
//!
//! * **mono**: the mean of the channels;
//! * **rate**: windowed-sinc resampling to `AudioOptions::sample_rate` (band-limited, so a
//!   tone above the new Nyquist frequency is removed rather than folded into the band);
//! * **longer files** (`LongFiles`): consecutive windows of one clip length from the start
//!   (the default: every second of a recording is used, in order), or one seeded crop per
//!   file whose offset depends only on the seed and the file's path inside the folder;
//! * **shorter files**, and a last window holding at least half a clip: zero-padded at the end
//!   (silence after the sound). A shorter remainder is dropped, unless it is the whole file.
//!
//! Clips remember their file, so a split never puts windows of one recording on both sides
//! (`AudioClips::split_by_file`).

use super::image_folder::{has_split_folders, is_class_folder_of, sorted_entries};
use super::{Dataset, LoadReport, Split};
use anyhow::{bail, Context, Result};
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use std::path::{Path, PathBuf};

/// What other audio files look like, to say why a folder of them loaded nothing.
const OTHER_AUDIO: [&str; 5] = ["ogg", "flac", "mp3", "opus", "aiff"];

/// How a file longer than one clip becomes clips.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LongFiles {
    /// Consecutive non-overlapping windows from the start, at most `max_per_file` of them
    /// (`None`: all), so one long recording cannot swamp a class.
    Windows { max_per_file: Option<usize> },
    /// One clip per file at a random offset, seeded by `seed` and the file's relative path.
    SeededCrop { seed: u64 },
}

/// How a WAV folder becomes clips.
#[derive(Debug, Clone)]
pub struct AudioOptions {
    /// Target sample rate in Hz; every file is resampled to it.
    pub sample_rate: u32,
    /// Samples per clip at `sample_rate`.
    pub clip_samples: usize,
    pub long_files: LongFiles,
    /// Skip unreadable files instead of failing; they are counted and listed.
    pub skip_bad: bool,
}

impl AudioOptions {
    /// Clips of `seconds` at `sample_rate`, consecutive windows, failing on a bad file.
    pub fn new(sample_rate: u32, seconds: f64) -> AudioOptions {
        AudioOptions {
            sample_rate,
            clip_samples: (seconds * sample_rate as f64).round() as usize,
            long_files: LongFiles::Windows { max_per_file: None },
            skip_bad: false,
        }
    }
}

/// Fixed-length mono clips in `[-1, 1]`, with their classes and source files.
#[derive(Debug, Clone)]
pub struct AudioClips {
    /// `N * clip_samples` samples, clip after clip.
    pub samples: Vec<f32>,
    pub clip_samples: usize,
    pub sample_rate: u32,
    /// Class index per clip, into `class_names`.
    pub labels: Vec<u32>,
    pub class_names: Vec<String>,
    /// Source file per clip, an index into `files`.
    pub file_of_clip: Vec<u32>,
    pub files: Vec<PathBuf>,
}

impl AudioClips {
    pub fn len(&self) -> usize {
        self.labels.len()
    }

    pub fn is_empty(&self) -> bool {
        self.labels.is_empty()
    }

    pub fn clip(&self, i: usize) -> &[f32] {
        &self.samples[i * self.clip_samples..(i + 1) * self.clip_samples]
    }

    /// The clips as a `Dataset` of `[1, 1, clip_samples]` "images", so the shared batching,
    /// shuffling and class filtering serve waveforms too.
    pub fn to_dataset(&self) -> Result<Dataset> {
        Dataset::new(
            self.samples.clone(),
            (1, 1, self.clip_samples),
            self.labels.clone(),
            self.class_names.clone(),
            None,
        )
    }

    /// The clips whose indices are given, in that order (files kept whole).
    pub fn select(&self, indices: &[usize]) -> AudioClips {
        let mut samples = Vec::with_capacity(indices.len() * self.clip_samples);
        for &i in indices {
            samples.extend_from_slice(self.clip(i));
        }
        AudioClips {
            samples,
            clip_samples: self.clip_samples,
            sample_rate: self.sample_rate,
            labels: indices.iter().map(|&i| self.labels[i]).collect(),
            class_names: self.class_names.clone(),
            file_of_clip: indices.iter().map(|&i| self.file_of_clip[i]).collect(),
            files: self.files.clone(),
        }
    }

    /// Train/test split by source file, per class (each class keeps `train_fraction` of its
    /// files, at least one on each side when it has two), seeded: windows of one recording
    /// never land on both sides.
    pub fn split_by_file(&self, train_fraction: f64, seed: u64) -> (AudioClips, AudioClips) {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let mut train_files = vec![false; self.files.len()];
        for class in 0..self.class_names.len() as u32 {
            let mut files: Vec<u32> = (0..self.len())
                .filter(|&i| self.labels[i] == class)
                .map(|i| self.file_of_clip[i])
                .collect();
            files.dedup();
            files.shuffle(&mut rng);
            let n = files.len();
            let mut k = (n as f64 * train_fraction).round() as usize;
            if n >= 2 {
                k = k.clamp(1, n - 1);
            }
            for &f in &files[..k.min(n)] {
                train_files[f as usize] = true;
            }
        }
        let (train, test): (Vec<usize>, Vec<usize>) =
            (0..self.len()).partition(|&i| train_files[self.file_of_clip[i] as usize]);
        (self.select(&train), self.select(&test))
    }
}

fn is_wav(p: &Path) -> bool {
    has_extension(p, &["wav"])
}

fn has_extension(p: &Path, exts: &[&str]) -> bool {
    p.extension()
        .and_then(|e| e.to_str())
        .map(|e| exts.contains(&e.to_ascii_lowercase().as_str()))
        .unwrap_or(false)
}

/// Whether `root` looks like a WAV folder (class subfolders holding .wav files).
pub fn is_wav_folder(root: &Path) -> bool {
    is_class_folder_of(root, is_wav)
}

/// Load a WAV folder. With `train/`/`test/` subfolders `split` picks one (class names are the
/// union of both, so labels agree); without them the whole folder is returned. The report
/// counts files: `loaded` files gave clips, `skipped` ones were bad (only with `skip_bad`).
pub fn load_wav_folder(
    root: &Path,
    split: Option<Split>,
    opts: &AudioOptions,
) -> Result<(AudioClips, LoadReport)> {
    if opts.sample_rate == 0 || opts.clip_samples == 0 {
        bail!(
            "{}: sample rate ({} Hz) and clip length ({} samples) must be positive",
            root.display(),
            opts.sample_rate,
            opts.clip_samples
        );
    }
    let (base, class_names) = if has_split_folders(root) {
        let split = split.unwrap_or(Split::Train);
        let mut names = Vec::new();
        for s in ["train", "test"] {
            names.extend(subfolder_names(&root.join(s))?);
        }
        names.sort();
        names.dedup();
        (root.join(split.name()), names)
    } else {
        (root.to_path_buf(), subfolder_names(root)?)
    };
    if class_names.is_empty() {
        bail!(
            "{}: no class subfolders (expected {}/<class>/*.wav)",
            base.display(),
            base.display()
        );
    }
    let mut files = Vec::new();
    let mut other_audio = 0usize;
    for (label, name) in class_names.iter().enumerate() {
        let dir = base.join(name);
        if !dir.is_dir() {
            continue;
        }
        for f in sorted_entries(&dir)? {
            if f.is_file() && is_wav(&f) {
                files.push((f, label as u32));
            } else if has_extension(&f, &OTHER_AUDIO) {
                other_audio += 1;
            }
        }
    }
    if files.is_empty() {
        let hint = if other_audio > 0 {
            format!(
                " ({other_audio} other audio files, e.g. .ogg/.flac: convert them, e.g. `sox in.ogg out.wav`)"
            )
        } else {
            String::new()
        };
        bail!(
            "{}: the class subfolders hold no .wav files{hint}",
            base.display()
        );
    }

    let mut clips = AudioClips {
        samples: Vec::new(),
        clip_samples: opts.clip_samples,
        sample_rate: opts.sample_rate,
        labels: Vec::new(),
        class_names,
        file_of_clip: Vec::new(),
        files: Vec::new(),
    };
    let mut report = LoadReport::default();
    for (file, label) in files {
        let wave = match read_wav_mono(&file) {
            Ok((x, rate)) => resample(&x, rate, opts.sample_rate),
            Err(e) if opts.skip_bad => {
                report.skip(format!("{e:#}"));
                continue;
            }
            Err(e) => return Err(e.context("bad WAV file (use --skip-bad to skip such files)")),
        };
        let rel = file.strip_prefix(&base).unwrap_or(&file).to_string_lossy();
        let file_index = clips.files.len() as u32;
        for clip in cut_clips(&wave, opts.clip_samples, opts.long_files, &rel) {
            clips.samples.extend(clip);
            clips.labels.push(label);
            clips.file_of_clip.push(file_index);
        }
        clips.files.push(file);
        report.loaded += 1;
    }
    if clips.is_empty() {
        bail!(
            "{}: no readable WAV files ({} skipped; first problem: {})",
            base.display(),
            report.skipped,
            report.problems.first().cloned().unwrap_or_default()
        );
    }
    Ok((clips, report))
}

fn subfolder_names(dir: &Path) -> Result<Vec<String>> {
    Ok(sorted_entries(dir)?
        .into_iter()
        .filter(|d| d.is_dir())
        .map(|d| d.file_name().unwrap().to_string_lossy().into_owned())
        .collect())
}

/// Decode one WAV file to mono samples in `[-1, 1]` and its sample rate. Errors name the file.
pub fn read_wav_mono(path: &Path) -> Result<(Vec<f32>, u32)> {
    let name = path.display();
    let reader =
        hound::WavReader::open(path).with_context(|| format!("{name}: not a readable WAV file"))?;
    decode_wav_mono(reader, &name.to_string())
}

/// [`read_wav_mono`] on a WAV file held in memory (`name` for errors).
pub fn read_wav_mono_bytes(bytes: &[u8], name: &str) -> Result<(Vec<f32>, u32)> {
    let reader = hound::WavReader::new(std::io::Cursor::new(bytes))
        .with_context(|| format!("{name}: not a readable WAV file"))?;
    decode_wav_mono(reader, name)
}

fn decode_wav_mono<R: std::io::Read>(
    mut reader: hound::WavReader<R>,
    name: &str,
) -> Result<(Vec<f32>, u32)> {
    let spec = reader.spec();
    if spec.sample_rate == 0 {
        bail!("{name}: the header says 0 samples per second");
    }
    let channels = spec.channels as usize;
    let interleaved: Vec<f32> = match spec.sample_format {
        hound::SampleFormat::Int => {
            // Full scale of a signed `bits`-bit sample (8-bit WAVs are unsigned on disk;
            // hound re-centres them).
            let full = (1u64 << (spec.bits_per_sample - 1)) as f32;
            reader
                .samples::<i32>()
                .map(|s| s.map(|v| v as f32 / full))
                .collect::<std::result::Result<_, _>>()
                .with_context(|| format!("{name}: bad sample data"))?
        }
        hound::SampleFormat::Float => reader
            .samples::<f32>()
            .collect::<std::result::Result<_, _>>()
            .with_context(|| format!("{name}: bad sample data"))?,
    };
    if interleaved.is_empty() {
        bail!("{name}: the file holds no samples");
    }
    if let Some(i) = interleaved.iter().position(|v| !v.is_finite()) {
        bail!("{name}: sample {} is not a finite number", i / channels);
    }
    let mono = interleaved
        .chunks(channels)
        // A float file may exceed full scale; clip it as a converter to integer PCM would.
        .map(|frame| (frame.iter().sum::<f32>() / channels as f32).clamp(-1.0, 1.0))
        .collect();
    Ok((mono, spec.sample_rate))
}

/// Write mono samples in `[-1, 1]` as a 16-bit PCM WAV file.
pub fn write_wav_mono(path: &Path, samples: &[f32], sample_rate: u32) -> Result<()> {
    let spec = hound::WavSpec {
        channels: 1,
        sample_rate,
        bits_per_sample: 16,
        sample_format: hound::SampleFormat::Int,
    };
    let mut w = hound::WavWriter::create(path, spec)
        .with_context(|| format!("{}: cannot create WAV file", path.display()))?;
    for &s in samples {
        w.write_sample((s.clamp(-1.0, 1.0) * 32767.0).round() as i16)
            .with_context(|| format!("{}: cannot write WAV data", path.display()))?;
    }
    w.finalize()
        .with_context(|| format!("{}: cannot finish WAV file", path.display()))
}

/// Zero crossings of the windowed sinc on each side: the filter's length, so its sharpness.
const SINC_ZEROS: f64 = 16.0;
/// Passband edge as a fraction of the lower Nyquist frequency; the Blackman window's
/// transition band fits between it and Nyquist.
const ROLLOFF: f64 = 0.9;

/// Band-limited resampling by a Blackman-windowed sinc evaluated at each output instant
/// (any rate ratio, no FFT). Equal rates return the input unchanged.
pub fn resample(x: &[f32], from: u32, to: u32) -> Vec<f32> {
    if from == to || x.is_empty() {
        return x.to_vec();
    }
    let ratio = to as f64 / from as f64;
    let n_out = ((x.len() as f64 * ratio).round() as usize).max(1);
    // Cut-off in cycles per input sample: below both Nyquist frequencies.
    let cutoff = 0.5 * ratio.min(1.0) * ROLLOFF;
    let half = SINC_ZEROS / (2.0 * cutoff);
    let last = x.len() as isize - 1;
    (0..n_out)
        .map(|j| {
            let t = j as f64 / ratio;
            let lo = ((t - half).ceil() as isize).max(0);
            let hi = ((t + half).floor() as isize).min(last);
            let mut acc = 0.0f64;
            for k in lo..=hi {
                let d = t - k as f64;
                let u = d / half;
                let window = 0.42
                    + 0.5 * (std::f64::consts::PI * u).cos()
                    + 0.08 * (2.0 * std::f64::consts::PI * u).cos();
                acc += x[k as usize] as f64 * 2.0 * cutoff * sinc(2.0 * cutoff * d) * window;
            }
            acc.clamp(-1.0, 1.0) as f32
        })
        .collect()
}

fn sinc(x: f64) -> f64 {
    if x.abs() < 1e-12 {
        1.0
    } else {
        let px = std::f64::consts::PI * x;
        px.sin() / px
    }
}

/// One file's samples as clips of `n` samples under the stated policy. `key` (the file's
/// path inside the folder) seeds crops, so a crop does not move when other files change.
pub fn cut_clips(wave: &[f32], n: usize, policy: LongFiles, key: &str) -> Vec<Vec<f32>> {
    let padded = |s: &[f32]| {
        let mut v = s.to_vec();
        v.resize(n, 0.0);
        v
    };
    if wave.len() <= n {
        return vec![padded(wave)];
    }
    match policy {
        LongFiles::SeededCrop { seed } => {
            let mut rng = ChaCha8Rng::seed_from_u64(seed ^ fnv1a(key.as_bytes()));
            let start = rng.random_range(0..=wave.len() - n);
            vec![wave[start..start + n].to_vec()]
        }
        LongFiles::Windows { max_per_file } => {
            let cap = max_per_file.unwrap_or(usize::MAX).max(1);
            wave.chunks(n)
                .filter(|c| c.len() == n || 2 * c.len() >= n)
                .take(cap)
                .map(padded)
                .collect()
        }
    }
}

/// A stable 64-bit hash (std's hasher may change between Rust releases).
fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf29ce484222325, |h, &b| {
        (h ^ b as u64).wrapping_mul(0x100000001b3)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn windows_pad_the_last_half_clip_and_drop_a_shorter_tail() {
        let wave: Vec<f32> = (0..25).map(|i| i as f32).collect();
        let w = LongFiles::Windows { max_per_file: None };
        let clips = cut_clips(&wave, 10, w, "a.wav");
        assert_eq!(clips.len(), 3, "the 5-sample tail is half a clip: kept");
        assert_eq!(clips[1][..5], [10.0, 11.0, 12.0, 13.0, 14.0]);
        assert_eq!(clips[2], [20., 21., 22., 23., 24., 0., 0., 0., 0., 0.]);
        assert_eq!(cut_clips(&wave[..24], 10, w, "a.wav").len(), 2);
        assert_eq!(
            cut_clips(&wave[..24], 8, w, "a.wav").len(),
            3,
            "exact multiple"
        );
        let clips = cut_clips(&wave[..14], 10, w, "a.wav");
        assert_eq!(clips.len(), 1, "a 4-sample tail is dropped");
        let capped = LongFiles::Windows {
            max_per_file: Some(1),
        };
        assert_eq!(cut_clips(&wave, 10, capped, "a.wav").len(), 1);
        let short = cut_clips(&wave[..3], 10, w, "a.wav");
        assert_eq!(short, vec![vec![0., 1., 2., 0., 0., 0., 0., 0., 0., 0.]]);
    }

    #[test]
    fn seeded_crops_depend_on_seed_and_path_only() {
        let wave: Vec<f32> = (0..1000).map(|i| i as f32).collect();
        let crop =
            |seed: u64, key: &str| cut_clips(&wave, 10, LongFiles::SeededCrop { seed }, key)[0][0];
        assert_eq!(crop(1, "men/a.wav"), crop(1, "men/a.wav"));
        let starts: std::collections::HashSet<u32> = (0..8)
            .map(|s| crop(s, "men/a.wav") as u32)
            .chain((0..8).map(|i| crop(1, &format!("men/{i}.wav")) as u32))
            .collect();
        assert!(starts.len() > 10, "crops barely move: {starts:?}");
    }

    /// Amplitude of frequency `f` (cycles per sample) in `x`, by correlation.
    fn tone_amplitude(x: &[f32], f: f64) -> f64 {
        let (mut c, mut s) = (0.0, 0.0);
        for (i, &v) in x.iter().enumerate() {
            let p = 2.0 * std::f64::consts::PI * f * i as f64;
            c += v as f64 * p.cos();
            s += v as f64 * p.sin();
        }
        2.0 * (c * c + s * s).sqrt() / x.len() as f64
    }

    #[test]
    fn resampling_keeps_tones_below_nyquist_and_removes_those_above() {
        let tone = |hz: f64, rate: f64, n: usize| -> Vec<f32> {
            (0..n)
                .map(|i| (0.5 * (2.0 * std::f64::consts::PI * hz * i as f64 / rate).sin()) as f32)
                .collect()
        };
        let x = tone(1000.0, 44100.0, 44100);
        let y = resample(&x, 44100, 16000);
        assert_eq!(y.len(), 16000);
        // Away from the edges, where the filter has all its taps.
        let mid = &y[1000..15000];
        let a = tone_amplitude(mid, 1000.0 / 16000.0);
        assert!((a - 0.5).abs() < 0.01, "1 kHz amplitude {a}");
        // 11 kHz is above 16 kHz's Nyquist: it would alias to 5 kHz.
        let y = resample(&tone(11000.0, 44100.0, 44100), 44100, 16000);
        let alias = tone_amplitude(&y[1000..15000], 5000.0 / 16000.0);
        assert!(
            alias < 0.005,
            "11 kHz folded to 5 kHz with amplitude {alias}"
        );
        // Upsampling keeps the tone too.
        let y = resample(&tone(440.0, 8000.0, 8000), 8000, 22050);
        let a = tone_amplitude(&y[2000..20000], 440.0 / 22050.0);
        assert!(
            (a - 0.5).abs() < 0.01,
            "440 Hz amplitude after upsampling {a}"
        );
    }
}
