//! `probegan demo --audio`: the embedded default for sound. The bundled men / non-human /
//! women clips (`embedded:voices`, synthetic) and the bundled mel classifier, one class
//! withheld, a few CPU minutes of ProbeGAN; then WAV files and a spectrogram grid, and a
//! verdict from two kinds of judge that were not trained against: the bundled second audio
//! classifier (another architecture and seed) and the pitch of the generated voices.

use super::demo::{recognition_rate, train_demo, Args};
use crate::data::{voices_subset, Split};
use crate::metrics::audio_eval::{AudioEval, FEMALE_F0_HZ, MALE_F0_HZ};
use crate::metrics::evaluate::audio::{evaluate_audio, AudioEvalOptions, AudioInputs};
use crate::train::{load_sampler, setup};
use anyhow::{bail, Context, Result};
use candle_core::{Device, Tensor};
use std::path::PathBuf;

/// The audio demo's config, compiled in.
pub const DEMO_AUDIO_CONFIG: &str = include_str!("../../configs/demo_audio.toml");

pub fn run(args: &Args, device: &Device) -> Result<()> {
    let out = args
        .out
        .clone()
        .unwrap_or_else(|| PathBuf::from("probegan-demo-audio"));
    let unseen = args.unseen.clone().unwrap_or_else(|| "women".into());
    if !crate::data::VOICES_CLASSES.contains(&unseen.as_str()) {
        bail!(
            "--unseen {unseen:?}: the audio demo's classes are {}",
            crate::data::VOICES_CLASSES.join(", ")
        );
    }
    let Some(trained) = train_demo(DEMO_AUDIO_CONFIG, args, &out, &unseen, device)? else {
        return Ok(());
    };
    let sampler = load_sampler(&trained.run_dir, device)?;
    let mel = sampler
        .mel()?
        .context("the audio demo's classifier has no mel front end")?
        .clone();
    let names = sampler.class_names().to_vec();
    let unseen_class = sampler.unseen()[0];
    let judge = setup::embedded_classifier("voices_judge", device)?;

    // The judge on generated clips, and on the bundled real test clips for the same classes:
    // its rate on real sound is the ceiling a generated class is measured against.
    let (real, _) = voices_subset(Split::Test, &mel)?;
    let unseen_rate = recognition_rate(
        &sampler,
        judge.as_ref(),
        unseen_class,
        args.judge_samples,
        1,
    )?;
    let real_rate = |class: usize| -> Result<f64> {
        let idx: Vec<usize> = (0..real.len())
            .filter(|&i| real.labels[i] as usize == class)
            .collect();
        let x = real.batch(&idx, device)?.images;
        let judged = crate::metrics::judge::judge(judge.as_ref(), &x, &vec![class; idx.len()])?;
        judged
            .recognition_rate(class)
            .context("the bundled test clips hold no clip of the unseen class")
    };
    let unseen_real_rate = real_rate(unseen_class)?;
    let seen: Vec<usize> = (0..names.len()).filter(|&c| c != unseen_class).collect();
    let mut seen_rate = 0.0;
    for &c in &seen {
        seen_rate += recognition_rate(
            &sampler,
            judge.as_ref(),
            c,
            args.judge_samples / 2,
            2 + c as u64,
        )?;
    }
    seen_rate /= seen.len() as f64;

    // Heard: Griffin-Lim clips and their pitch, generated beside real.
    let sample = |c: usize, n: usize, seed: u64| sampler.sample(c, n, seed);
    let audio = evaluate_audio(
        &AudioInputs {
            class_names: &names,
            unseen: &[unseen_class],
            mel: &mel,
            sample: &sample,
            real: Some(&real),
        },
        &AudioEvalOptions::default(),
        &out,
    )
    .context("the audio demo's listening test")?;

    let grid = out.join("demo_grid.png");
    let mut rows = vec![];
    for c in 0..names.len() {
        rows.push(sampler.sample(c, 8, 100 + c as u64)?);
    }
    crate::train::grid::save_class_grid(&Tensor::cat(&rows, 0)?, 8, &[unseen_class], &grid)?;

    let unseen_audio = &audio.per_class[unseen_class];
    let hz = |v: Option<f32>| v.map(|f| format!("{f:.0} Hz")).unwrap_or("unvoiced".into());
    let pitch_line = pitch_summary(&audio);
    let verdict = format!(
        "verdict: the independent audio judge recognises {:.0}% of {} generated `{unseen}` clips (never heard in training; real `{unseen}` clips: {:.0}%; seen classes: {:.0}%). Median pitch of generated `{unseen}`: {} (real: {}); {pitch_line}. Listen: {}; spectrograms: {}",
        unseen_rate * 100.0,
        args.judge_samples,
        unseen_real_rate * 100.0,
        seen_rate * 100.0,
        hz(unseen_audio.generated.median_f0_hz),
        hz(unseen_audio.real.as_ref().and_then(|r| r.median_f0_hz)),
        unseen_audio
            .wavs
            .first()
            .map(|w| out.join(w).display().to_string())
            .unwrap_or_default(),
        grid.display()
    );
    std::fs::write(
        out.join("verdict.json"),
        serde_json::to_string_pretty(&serde_json::json!({
            "unseen": unseen, "unseen_recognition": unseen_rate,
            "real_unseen_recognition": unseen_real_rate, "seen_recognition": seen_rate,
            "judge_samples": args.judge_samples, "judge": "voices_judge", "grid": grid,
            "audio": audio,
        }))?,
    )?;
    println!("{verdict}");
    Ok(())
}

/// "generated men 128 Hz (72% in 85–155 Hz), generated women 214 Hz (…)": each voice class's
/// median pitch and the share of its clips in its adult band.
pub(crate) fn pitch_summary(audio: &AudioEval) -> String {
    audio
        .per_class
        .iter()
        .filter_map(|c| {
            let band = match c.name.as_str() {
                "men" => MALE_F0_HZ,
                "women" => FEMALE_F0_HZ,
                _ => return None,
            };
            let median = c
                .generated
                .median_f0_hz
                .map(|f| format!("{f:.0} Hz"))
                .unwrap_or("unvoiced".into());
            Some(format!(
                "generated {} {median} ({:.0}% of clips in {:.0}–{:.0} Hz)",
                c.name,
                100.0 * c.f0_in(band).unwrap_or(0.0),
                band.0,
                band.1
            ))
        })
        .collect::<Vec<_>>()
        .join(", ")
}
