//! Does a voices classifier listen to pitch? Real clips of one class as the classifier sees
//! them (log-mel), then the same with the harmonic stripes smoothed out of the low bands, then
//! smoothed with the harmonic head's comb drawn at one pitch (`nets::harmonic`), for pitches
//! from 70 to 300 Hz: the mean probability of every class under each model named.
//!
//!   cargo run --release --example pitch_sensitivity -- .cache/audio-voices/test men 32 \
//!       adapters/voices_regular.toml adapters/voices_judge.toml
//!
//! If a class's probability does not move with the comb's pitch, a generator trained against
//! that model gets no pull towards that class's pitch from it (docs/results.md, issue 18).

use anyhow::{bail, Context, Result};
use candle_core::{Device, Tensor};
use probegan::classifier::{Classifier, OnnxClassifier};
use probegan::data::mel_clips::clips_to_features;
use probegan::data::{load_wav_folder, MelFeatures};
use probegan::nets::discriminator::band_detail;
use probegan::nets::harmonic::{HarmonicConfig, HarmonicHead, Voicing};
use probegan::nets::ParamStore;
use std::path::{Path, PathBuf};

/// `x` less its band detail (`nets::discriminator::band_detail`): each band replaced by its
/// moving average over the neighbouring bands, which smooths a man's harmonics (2–4 bands
/// apart in the voices front end's low bands) away and keeps the envelope.
fn smooth_bands(x: &Tensor) -> Result<Tensor> {
    let detail = band_detail(x)?.narrow(1, 1, 1)?;
    Ok((x - detail)?)
}

fn mean_probs(models: &[(String, OnnxClassifier)], x: &Tensor) -> Result<Vec<Vec<f32>>> {
    models
        .iter()
        .map(|(_, m)| {
            let p = m.class_log_probs(&x.clamp(-1.0, 1.0)?)?.exp()?.mean(0)?;
            Ok(p.to_vec1::<f32>()?)
        })
        .collect()
}

fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.len() < 4 {
        bail!("usage: pitch_sensitivity WAV_FOLDER CLASS CLIPS ADAPTER...");
    }
    let (root, class, count) = (PathBuf::from(&args[0]), &args[1], args[2].parse::<usize>()?);
    let dev = Device::Cpu;
    let features = MelFeatures::voices();
    let (clips, _) = load_wav_folder(&root, None, &features.audio_options(true))?;
    let c = clips
        .class_names
        .iter()
        .position(|n| n == class)
        .with_context(|| format!("{}: no class folder {class}", root.display()))?;
    let (ds, _) = clips_to_features(&clips, &features)?;
    let (bands, frames) = features.shape()?;
    let per = bands * frames;
    let idx: Vec<usize> = (0..clips.len())
        .filter(|&i| clips.labels[i] as usize == c)
        .take(count)
        .collect();
    let n = idx.len();
    let real: Vec<f32> = idx
        .iter()
        .flat_map(|&i| ds.images[i * per..(i + 1) * per].to_vec())
        .collect();
    let models: Vec<(String, OnnxClassifier)> = args[3..]
        .iter()
        .map(|a| {
            let name = Path::new(a)
                .file_stem()
                .unwrap()
                .to_string_lossy()
                .to_string();
            Ok((name, OnnxClassifier::from_adapter_file(Path::new(a), &dev)?))
        })
        .collect::<Result<_>>()?;
    let names = models[0].1.class_names().to_vec();
    let store = ParamStore::new(&dev, 0);
    let head = HarmonicHead::new(&store.root(), &HarmonicConfig::default(), &features.mel, 1)?;
    let k = head.candidates().len();
    let real = Tensor::from_vec(real, (n, 1, bands, frames), &dev)?;
    let smooth = smooth_bands(&real)?;
    let mut rows: Vec<(String, Tensor)> = vec![
        ("real".into(), real),
        ("stripes smoothed".into(), smooth.clone()),
    ];
    for hz in [
        70.0, 90.0, 110.0, 120.0, 135.0, 150.0, 170.0, 200.0, 220.0, 250.0, 300.0,
    ] {
        let (b, f0) = head
            .candidates()
            .iter()
            .copied()
            .enumerate()
            .min_by(|a, b| (a.1 - hz).abs().total_cmp(&(b.1 - hz).abs()))
            .unwrap();
        let onehot: Vec<f32> = (0..n * frames * k)
            .map(|i| if i % k == b { 1.0 } else { 0.0 })
            .collect();
        let ripple = head.ripple(&Voicing {
            pitch: Tensor::from_vec(onehot, (n, frames, k), &dev)?,
            voicing: Tensor::ones((n, frames), candle_core::DType::F32, &dev)?,
        })?;
        rows.push((
            format!("smoothed + comb at {f0:.0} Hz"),
            (&smooth + ripple)?,
        ));
    }
    print!("| {class} clips ({n}) |");
    for (m, _) in &models {
        for c in &names {
            print!(" {m}: p({c}) |");
        }
    }
    println!();
    println!("|---|{}", "---|".repeat(models.len() * names.len()));
    for (label, x) in &rows {
        print!("| {label} |");
        for p in mean_probs(&models, x)? {
            for v in p {
                print!(" {v:.3} |");
            }
        }
        println!();
    }
    Ok(())
}
