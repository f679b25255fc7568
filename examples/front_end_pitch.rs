//! Does pitch survive a mel front end and Griffin-Lim? For each class folder of a WAV set,
//! the pitch judge's median F0 and voiced share on the raw clips and on the same clips sent
//! through a front end's features and back, for the voices front end and variants of it.
//!
//!   cargo run --release --example front_end_pitch -- .cache/audio-voices/test 40
//!
//! The F0 judge of an audio run hears only round-tripped clips (generated ones have no raw
//! waveform), so a class whose real clips lose their pitch here cannot be judged by pitch.

use anyhow::{Context, Result};
use probegan::data::audio::resample;
use probegan::data::mel_clips::clips_to_features;
use probegan::data::{load_wav_folder, MelFeatures};
use probegan::metrics::pitch::{analyse, PitchConfig};
use std::path::PathBuf;

/// The rate the last column's clips are resampled to: band-limited to 2 kHz, where a voice's
/// first harmonics lie and the mel inversion's smeared upper bands are gone.
const LOW_RATE: u32 = 4000;

fn variants() -> Vec<(&'static str, MelFeatures)> {
    // The voices front end (n_fft 512, 64 mels to 4 kHz since 2026-12-06) and its variants.
    let base = MelFeatures::voices();
    let mut fmax8k = base.clone();
    fmax8k.mel.fmax = 8000.0;
    let mut fft1024 = base.clone();
    fft1024.mel.n_fft = 1024;
    let mut mels128 = fft1024.clone();
    mels128.mel.n_mels = 128;
    vec![
        (
            "64 mels to 8 kHz (the voices front end before 2026-12-06)",
            fmax8k,
        ),
        ("voices (n_fft 512, 64 mels to 4 kHz)", base),
        ("n_fft 1024, fmax 4 kHz", fft1024),
        ("n_fft 1024, fmax 4 kHz, 128 mels", mels128),
    ]
}

/// (median of the clips' median F0, share of clips with a pitch, share of voiced frames).
fn judge(clips: &[Vec<f32>], sample_rate: u32) -> Result<(Option<f32>, f32, f32)> {
    let cfg = PitchConfig::default();
    let (mut f0s, mut voiced) = (vec![], 0f32);
    for c in clips {
        let a = analyse(c, sample_rate, &cfg)?;
        f0s.extend(a.median_f0());
        voiced += a.voiced_fraction();
    }
    f0s.sort_by(f32::total_cmp);
    let median = f0s.get(f0s.len() / 2).copied();
    let n = clips.len().max(1) as f32;
    Ok((median, f0s.len() as f32 / n, voiced / n))
}

fn main() -> Result<()> {
    let mut args = std::env::args().skip(1);
    let root = PathBuf::from(
        args.next()
            .context("usage: front_end_pitch WAV_FOLDER [CLIPS]")?,
    );
    let per_class: usize = args.next().map(|s| s.parse()).transpose()?.unwrap_or(40);
    println!("| front end | class | raw F0 | raw with pitch | round-trip F0 | round trip with pitch | voiced frames raw / round trip | round trip resampled to {LOW_RATE} Hz: F0 / with pitch / voiced frames |");
    println!("|---|---|---|---|---|---|---|---|");
    for (name, features) in variants() {
        let (clips, _) = load_wav_folder(&root, None, &features.audio_options(true))?;
        let (ds, _) = clips_to_features(&clips, &features)?;
        let (n_mels, frames) = features.shape()?;
        let sr = features.mel.sample_rate;
        for (c, class) in clips.class_names.iter().enumerate() {
            let idx: Vec<usize> = (0..clips.len())
                .filter(|&i| clips.labels[i] as usize == c)
                .take(per_class)
                .collect();
            let raw: Vec<Vec<f32>> = idx.iter().map(|&i| clips.clip(i).to_vec()).collect();
            let per = n_mels * frames;
            let values = &ds.images;
            let round: Vec<Vec<f32>> = idx
                .iter()
                .map(|&i| features.to_waveform(&values[i * per..(i + 1) * per], i as u64))
                .collect::<Result<_>>()?;
            let (rf, rp, rv) = judge(&raw, sr)?;
            let (gf, gp, gv) = judge(&round, sr)?;
            let low: Vec<Vec<f32>> = round.iter().map(|w| resample(w, sr, LOW_RATE)).collect();
            let (lf, lp, lv) = judge(&low, LOW_RATE)?;
            let hz = |f: Option<f32>| f.map_or("—".to_string(), |f| format!("{f:.0} Hz"));
            println!(
                "| {name} | {class} | {} | {:.0}% | {} | {:.0}% | {:.2} / {:.2} | {} / {:.0}% / {:.2} |",
                hz(rf),
                rp * 100.0,
                hz(gf),
                gp * 100.0,
                rv,
                gv,
                hz(lf),
                lp * 100.0,
                lv
            );
        }
    }
    Ok(())
}
