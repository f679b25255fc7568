//! The WAV folder loader on files written here with `hound` (every sample format it reads,
//! stereo, other rates, bad files), and on real recordings where a Debian package installed
//! them (tuxpaint-stamps-default's spoken stamp names), checked against `sox`'s resampler.

use probegan::data::audio::{read_wav_mono, resample, write_wav_mono};
use probegan::data::{load_wav_folder, AudioOptions, LongFiles, Split};
use std::path::{Path, PathBuf};
use std::process::Command;

fn tone(hz: f64, rate: u32, seconds: f64, amp: f64) -> Vec<f64> {
    let n = (seconds * rate as f64).round() as usize;
    (0..n)
        .map(|i| amp * (2.0 * std::f64::consts::PI * hz * i as f64 / rate as f64).sin())
        .collect()
}

/// Write `channels` copies of `x` (the second one negated-and-halved, so a wrong mix-down
/// shows) in the given sample format.
fn write(path: &Path, x: &[f64], rate: u32, channels: u16, bits: u16, float: bool) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    let spec = hound::WavSpec {
        channels,
        sample_rate: rate,
        bits_per_sample: bits,
        sample_format: if float {
            hound::SampleFormat::Float
        } else {
            hound::SampleFormat::Int
        },
    };
    let mut w = hound::WavWriter::create(path, spec).unwrap();
    let full = (1i64 << (bits - 1)) as f64 - 1.0;
    for &v in x {
        for c in 0..channels {
            let v = if c == 1 { -0.5 * v } else { v };
            if float {
                w.write_sample(v as f32).unwrap();
            } else if bits == 8 {
                w.write_sample((v * full).round() as i8).unwrap();
            } else if bits == 16 {
                w.write_sample((v * full).round() as i16).unwrap();
            } else {
                w.write_sample((v * full).round() as i32).unwrap();
            }
        }
    }
    w.finalize().unwrap();
}

fn rms(x: &[f32]) -> f64 {
    (x.iter().map(|&v| (v as f64).powi(2)).sum::<f64>() / x.len() as f64).sqrt()
}

#[test]
fn every_sample_format_decodes_to_the_same_mono_signal() {
    let dir = tempfile::tempdir().unwrap();
    let x = tone(440.0, 8000, 0.25, 0.8);
    for (name, bits, float) in [
        ("i8", 8, false),
        ("i16", 16, false),
        ("i24", 24, false),
        ("i32", 32, false),
        ("f32", 32, true),
    ] {
        for channels in [1u16, 2] {
            let p = dir.path().join(format!("{name}_{channels}.wav"));
            write(&p, &x, 8000, channels, bits, float);
            let (y, rate) = read_wav_mono(&p).unwrap();
            assert_eq!(rate, 8000);
            assert_eq!(y.len(), x.len(), "{name}: one mono sample per frame");
            // Stereo is (x - x/2) / 2 = x/4: the mean of the channels.
            let gain = if channels == 2 { 0.25 } else { 1.0 };
            let tol = if bits == 8 { 0.02 } else { 1e-4 };
            let worst = y
                .iter()
                .zip(&x)
                .map(|(a, b)| (*a as f64 - gain * b).abs())
                .fold(0.0, f64::max);
            assert!(worst < tol, "{name} x{channels}: off by {worst}");
        }
    }
}

fn opts(rate: u32, seconds: f64) -> AudioOptions {
    AudioOptions::new(rate, seconds)
}

#[test]
fn a_class_folder_becomes_fixed_length_clips_at_one_rate() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    // "low": a 2.6 s file at 22.05 kHz stereo -> 2 full windows + a 0.6 s tail (kept, padded).
    write(
        &root.join("low/long.wav"),
        &tone(200.0, 22050, 2.6, 0.5),
        22050,
        2,
        16,
        false,
    );
    // "high": a 0.3 s file at 16 kHz -> one clip, zero-padded after 0.3 s.
    write(
        &root.join("high/short.wav"),
        &tone(2000.0, 16000, 0.3, 0.5),
        16000,
        1,
        16,
        false,
    );
    std::fs::write(root.join("high/notes.txt"), "not audio").unwrap();
    let (clips, report) = load_wav_folder(root, None, &opts(16000, 1.0)).unwrap();
    assert_eq!(clips.class_names, ["high", "low"], "sorted subfolder names");
    assert_eq!(report.loaded, 2);
    assert_eq!(report.skipped, 0);
    assert_eq!(report.summary_of("WAV files"), "loaded 2 WAV files");
    assert_eq!(clips.clip_samples, 16000);
    assert_eq!(clips.labels, [0, 1, 1, 1]);
    assert_eq!(clips.file_of_clip, [0, 1, 1, 1]);
    let short = clips.clip(0);
    assert!(rms(&short[500..4400]) > 0.3, "the sound is at the start");
    assert!(
        short[4900..].iter().all(|&v| v == 0.0),
        "padding is silence"
    );
    // Stereo mix-down: (x - x/2)/2 = x/4, so RMS 0.5/4/sqrt(2).
    let r = rms(&clips.clip(1)[1000..15000]);
    assert!(
        (r - 0.125 / 2f64.sqrt()).abs() < 0.003,
        "mixed-down RMS {r}"
    );
    assert!(rms(&clips.clip(3)[..9000]) > 0.08 && clips.clip(3)[9700..].iter().all(|&v| v == 0.0));

    let ds = clips.to_dataset().unwrap();
    assert_eq!(ds.image_shape(), (1, 1, 16000));
    assert_eq!(ds.class_counts(), [1, 3]);

    // One seeded crop per file instead.
    let mut o = opts(16000, 1.0);
    o.long_files = LongFiles::SeededCrop { seed: 9 };
    let (crops, _) = load_wav_folder(root, None, &o).unwrap();
    assert_eq!(crops.labels, [0, 1]);
    let (again, _) = load_wav_folder(root, None, &o).unwrap();
    assert_eq!(crops.samples, again.samples, "crops are reproducible");
}

#[test]
fn split_folders_share_class_names_and_files_split_whole() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let x = tone(300.0, 8000, 0.5, 0.5);
    write(&root.join("train/men/a.wav"), &x, 8000, 1, 16, false);
    write(&root.join("train/women/b.wav"), &x, 8000, 1, 16, false);
    write(&root.join("test/robots/c.wav"), &x, 8000, 1, 16, false);
    let (train, _) = load_wav_folder(root, Some(Split::Train), &opts(8000, 0.25)).unwrap();
    let (test, _) = load_wav_folder(root, Some(Split::Test), &opts(8000, 0.25)).unwrap();
    assert_eq!(train.class_names, ["men", "robots", "women"]);
    assert_eq!(test.class_names, train.class_names);
    assert_eq!(train.labels, [0, 0, 2, 2], "two windows per file");
    assert_eq!(test.labels, [1, 1]);

    // Unsplit folder: 6 files of 3 windows per class; a split by file keeps windows together.
    let flat = tempfile::tempdir().unwrap();
    for class in ["a", "b"] {
        for i in 0..6 {
            write(
                &flat.path().join(format!("{class}/{i}.wav")),
                &tone(100.0 * (i + 1) as f64, 8000, 0.75, 0.5),
                8000,
                1,
                16,
                false,
            );
        }
    }
    let (all, _) = load_wav_folder(flat.path(), None, &opts(8000, 0.25)).unwrap();
    assert_eq!(all.len(), 36);
    let (tr, te) = all.split_by_file(0.67, 3);
    assert_eq!(
        (tr.len(), te.len()),
        (24, 12),
        "4 of 6 files per class train"
    );
    let files = |c: &probegan::data::AudioClips| -> std::collections::HashSet<u32> {
        c.file_of_clip.iter().copied().collect()
    };
    assert!(files(&tr).is_disjoint(&files(&te)));
    assert_eq!(tr.class_names, all.class_names);
    let (tr2, _) = all.split_by_file(0.67, 3);
    assert_eq!(tr.file_of_clip, tr2.file_of_clip, "seeded");
}

#[test]
fn bad_files_are_errors_naming_the_file_or_skipped_and_counted() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let x = tone(300.0, 8000, 0.5, 0.5);
    write(&root.join("good/ok.wav"), &x, 8000, 1, 16, false);
    std::fs::write(root.join("good/text.wav"), "RIFF? no, plain text").unwrap();
    // A valid header whose data stop half-way through a sample.
    let p = root.join("good/truncated.wav");
    write(&p, &x, 8000, 1, 16, false);
    let bytes = std::fs::read(&p).unwrap();
    std::fs::write(&p, &bytes[..bytes.len() - 4001]).unwrap();
    write(&root.join("good/empty.wav"), &[], 8000, 1, 16, false);
    write(
        &root.join("good/nan.wav"),
        &[0.1, f64::NAN, 0.2],
        8000,
        1,
        32,
        true,
    );

    let err = format!(
        "{:#}",
        load_wav_folder(root, None, &opts(8000, 0.25)).unwrap_err()
    );
    assert!(
        err.contains("empty.wav") && err.contains("no samples"),
        "{err}"
    );
    assert!(err.contains("--skip-bad"), "{err}");

    let mut o = opts(8000, 0.25);
    o.skip_bad = true;
    let (clips, report) = load_wav_folder(root, None, &o).unwrap();
    assert_eq!(report.loaded, 1);
    assert_eq!(report.skipped, 4, "{:?}", report.problems);
    assert_eq!(clips.len(), 2);
    let all = report.problems.join("\n");
    for name in ["empty.wav", "nan.wav", "text.wav", "truncated.wav"] {
        assert!(all.contains(name), "{name} not named in {all}");
    }
    assert!(all.contains("not a finite number"), "{all}");
    assert!(report.summary_of("WAV files").contains("skipped 4"));

    // Only bad files: an error even with skip_bad, with the first problem.
    let only_bad = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(only_bad.path().join("x")).unwrap();
    std::fs::write(only_bad.path().join("x/a.wav"), "junk").unwrap();
    let err = format!(
        "{:#}",
        load_wav_folder(only_bad.path(), None, &o).unwrap_err()
    );
    assert!(err.contains("1 skipped") && err.contains("a.wav"), "{err}");
}

#[test]
fn folders_without_wavs_say_what_they_hold() {
    let dir = tempfile::tempdir().unwrap();
    let err = format!(
        "{:#}",
        load_wav_folder(dir.path(), None, &opts(8000, 1.0)).unwrap_err()
    );
    assert!(err.contains("no class subfolders"), "{err}");
    std::fs::create_dir_all(dir.path().join("birds")).unwrap();
    std::fs::write(dir.path().join("birds/tweet.ogg"), "OggS").unwrap();
    let err = format!(
        "{:#}",
        load_wav_folder(dir.path(), None, &opts(8000, 1.0)).unwrap_err()
    );
    assert!(
        err.contains("no .wav files") && err.contains("sox"),
        "{err}"
    );
    let err = format!(
        "{:#}",
        load_wav_folder(dir.path(), None, &opts(0, 1.0)).unwrap_err()
    );
    assert!(err.contains("must be positive"), "{err}");
}

/// Spoken stamp names from Debian's tuxpaint-stamps-default (real recordings of a human voice,
/// 44.1 kHz 16-bit mono), where installed.
fn tuxpaint_recordings() -> Vec<PathBuf> {
    let root = Path::new("/usr/share/tuxpaint/stamps/food/vegetables");
    let mut v: Vec<PathBuf> = std::fs::read_dir(root)
        .map(|d| {
            d.filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| p.to_string_lossy().ends_with("_desc_pt_BR.wav"))
                .collect()
        })
        .unwrap_or_default();
    v.sort();
    v
}

#[test]
fn real_recordings_load_and_resample_like_sox() {
    let files = tuxpaint_recordings();
    if files.is_empty() {
        eprintln!("skipped: no tuxpaint-stamps-default recordings (apt-get install tuxpaint-stamps-default)");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let class = dir.path().join("speech");
    std::fs::create_dir_all(&class).unwrap();
    for f in &files {
        std::fs::copy(f, class.join(f.file_name().unwrap())).unwrap();
    }
    let (clips, report) = load_wav_folder(dir.path(), None, &opts(16000, 0.5)).unwrap();
    assert_eq!(report.loaded, files.len());
    assert!(clips.len() >= files.len());
    for i in 0..clips.len() {
        assert!(clips.clip(i).iter().all(|v| v.abs() <= 1.0));
    }
    assert!(rms(&clips.samples) > 0.01, "speech is not silence");

    let have_sox = Command::new("sox").arg("--version").output().is_ok();
    if !have_sox {
        eprintln!("skipped the sox comparison: sox is not installed");
        return;
    }
    // sox's own band-limited resampler as the independent reference.
    let src = &files[0];
    let out = dir.path().join("sox16k.wav");
    let st = Command::new("sox")
        .args([
            src.as_os_str(),
            "-r".as_ref(),
            "16000".as_ref(),
            out.as_os_str(),
        ])
        .status()
        .unwrap();
    assert!(st.success());
    let (theirs, rate) = read_wav_mono(&out).unwrap();
    assert_eq!(rate, 16000);
    let (x, from) = read_wav_mono(src).unwrap();
    let ours = resample(&x, from, 16000);
    assert!((ours.len() as i64 - theirs.len() as i64).abs() <= 1);
    let n = ours.len().min(theirs.len());
    let (a, b) = (&ours[..n], &theirs[..n]);
    let dot: f64 = a.iter().zip(b).map(|(p, q)| *p as f64 * *q as f64).sum();
    let corr = dot / (rms(a) * rms(b) * n as f64);
    let err = a
        .iter()
        .zip(b)
        .map(|(p, q)| (*p as f64 - *q as f64).powi(2))
        .sum::<f64>()
        .sqrt()
        / (rms(b) * (n as f64).sqrt());
    eprintln!(
        "{}: ours vs sox at 16 kHz: correlation {corr:.5}, relative error {err:.4}",
        src.display()
    );
    assert!(corr > 0.9999, "correlation with sox {corr}");
    assert!(err < 0.02, "relative error to sox {err}");

    // What we write reads back.
    let back = dir.path().join("back.wav");
    write_wav_mono(&back, &ours, 16000).unwrap();
    let (again, r) = read_wav_mono(&back).unwrap();
    assert_eq!(r, 16000);
    assert!(again
        .iter()
        .zip(&ours)
        .all(|(p, q)| (p - q).abs() < 1.0 / 16000.0));
}
