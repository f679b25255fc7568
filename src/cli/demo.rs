//! `probegan demo`: the embedded default. Bundled Fashion-MNIST subset and bundled regular
//! classifier, one class withheld, a few CPU minutes of ProbeGAN, then a sample grid and a
//! one-line verdict from the bundled judge (a separately trained classifier). Every asset
//! comes from `crate::embedded`, so it runs from any directory.

use crate::classifier::Classifier;
use crate::device::DeviceArgs;
use crate::train::diversity_watch::DiversityReading;
use crate::train::{load_sampler, setup, Config, StopReason, Trainer};
use anyhow::{Context, Result};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

/// The demo's config, compiled in.
pub const DEMO_CONFIG: &str = include_str!("../../configs/demo.toml");

#[derive(clap::Args, Debug)]
pub struct Args {
    /// Output folder (run directory, grid, verdict; default `probegan-demo`, with --audio
    /// `probegan-demo-audio`).
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// The class to withhold from the data (a Fashion-MNIST class name, default Trouser; with
    /// --audio men, women or non-human, default women).
    #[arg(long)]
    pub unseen: Option<String>,
    /// The audio demo: bundled men / non-human / women clips and mel classifier
    /// (`configs/demo_audio.toml`), ending with WAV files, a spectrogram grid and a verdict
    /// from a second classifier and the pitch of the generated voices.
    #[arg(long)]
    pub audio: bool,
    /// Generator steps (the default takes a few minutes on 2 CPU cores).
    #[arg(long)]
    pub steps: Option<usize>,
    /// Samples of the unseen class the judge scores.
    #[arg(long, default_value_t = 500)]
    pub judge_samples: usize,
    /// Override any demo config value (see `configs/demo.toml`).
    #[arg(long = "set", value_name = "KEY=VALUE")]
    pub overrides: Vec<String>,
    #[command(flatten)]
    pub device: DeviceArgs,
}

pub fn run(args: Args) -> Result<()> {
    let device = args.device.device()?;
    if args.audio {
        return super::demo_audio::run(&args, &device);
    }
    let out = args.out.clone().unwrap_or_else(|| "probegan-demo".into());
    let unseen = args.unseen.clone().unwrap_or_else(|| "Trouser".into());
    let Some(trained) = train_demo(DEMO_CONFIG, &args, &out, &unseen, &device)? else {
        return Ok(());
    };
    // The second judge is whichever bundled target the run did not train against.
    let second_judge_name = if trained.classifier_adapter == "embedded:robust" {
        "regular"
    } else {
        "robust"
    };
    let args = Args {
        out: Some(out),
        ..args
    };
    image_verdict(
        &args,
        &trained.run_dir,
        second_judge_name,
        trained.diversity,
        &device,
    )
}

/// A finished demo run.
pub(super) struct DemoRun {
    pub run_dir: PathBuf,
    /// `classifier.adapter` of its config.
    pub classifier_adapter: String,
    /// The collapse guard's last reading: a verdict on one sample repeated is no evidence.
    pub diversity: DiversityReading,
}

/// Train (or resume, or reload) the demo run of `config_text` in `out`; None when Ctrl-C
/// stopped it (the user was told how to continue).
pub(super) fn train_demo(
    config_text: &str,
    args: &Args,
    out: &std::path::Path,
    unseen: &str,
    device: &candle_core::Device,
) -> Result<Option<DemoRun>> {
    let mut overrides = vec![
        format!("run.out_dir={}", toml_string(&out.display().to_string())),
        format!("data.unseen=[{}]", toml_string(unseen)),
    ];
    if let Some(s) = args.steps {
        overrides.push(format!("run.steps={s}"));
    }
    overrides.extend(args.overrides.iter().cloned());
    let config = Config::from_toml_str(config_text, &overrides).context("demo config")?;
    let device = device.clone();
    let dataset = setup::load_dataset(&config)?;
    let (classifier, info) = setup::load_classifier(&config, &device)?;
    let mut trainer = Trainer::new(config, &dataset, classifier, info, &device)?;
    let resumable = crate::run::list_checkpoints(&trainer.run_dir)?
        .last()
        .map(|(s, _)| *s);
    if let Some(step) = resumable {
        // A finished demo is loaded too: its verdict reads the trained generators.
        trainer.resume()?;
        if step < trainer.config.run.steps {
            eprintln!(
                "continuing the demo in {} from step {step}",
                trainer.run_dir.display()
            );
        } else {
            eprintln!(
                "{} already holds a finished demo; judging it again",
                trainer.run_dir.display()
            );
        }
    }
    trainer.init_run_dir()?;
    let unseen_name = trainer.class_names()[trainer.unseen()[0]].clone();
    eprintln!(
        "probegan demo: learning `{unseen_name}` from the classifier alone ({} steps; every `{unseen_name}` example is withheld)",
        trainer.config.run.steps
    );
    trainer.progress = true;
    let stop = Arc::new(AtomicBool::new(false));
    let flag = stop.clone();
    ctrlc::set_handler(move || flag.store(true, Ordering::SeqCst))
        .context("installing the Ctrl-C handler")?;
    if trainer.step() < trainer.config.run.steps && trainer.run(&stop)? == StopReason::Interrupted {
        eprintln!(
            "interrupted; run `probegan demo{} --out {}` again to continue",
            if args.audio { " --audio" } else { "" },
            out.display()
        );
        return Ok(None);
    }
    Ok(Some(DemoRun {
        run_dir: trainer.run_dir.clone(),
        classifier_adapter: trainer.config.classifier.adapter.clone(),
        diversity: trainer.read_diversity()?,
    }))
}

/// The image demo's verdict: the bundled open judge, a second judge, the grid, verdict.json.
fn image_verdict(
    args: &Args,
    run_dir: &std::path::Path,
    second_judge_name: &str,
    diversity: DiversityReading,
    device: &candle_core::Device,
) -> Result<()> {
    let device = device.clone();
    let out = args.out.clone().unwrap_or_default();

    // Verdict from the bundled judge on fresh samples. It has a reject output, so a blank or
    // noise image is not counted as a recognised garment (the closed judge calls an all-black
    // image "Sneaker").
    let sampler = load_sampler(run_dir, &device)?;
    let judge = setup::embedded_classifier("judge_open", &device)?;
    let unseen = sampler.unseen()[0];
    let unseen_name = sampler.class_names()[unseen].clone();
    let rate = |class: usize, n: usize, seed: u64| -> Result<f64> {
        recognition_rate(&sampler, judge.as_ref(), class, n, seed)
    };
    let unseen_rate = rate(unseen, args.judge_samples, 1)?;
    let seen: Vec<usize> = (0..sampler.class_names().len())
        .filter(|&c| c != unseen)
        .collect();
    let per_seen = (args.judge_samples / seen.len()).max(20);
    let mut seen_sum = 0.0;
    for &c in &seen {
        seen_sum += rate(c, per_seen, 2 + c as u64)?;
    }
    let seen_rate = seen_sum / seen.len() as f64;
    // A differently trained second opinion: images that pass the judge through a shortcut
    // the two regular models share (e.g. inverted or near-black shapes) fail a robust model.
    let second_judge = setup::embedded_classifier(second_judge_name, &device)?;
    let second_rate = recognition_rate(
        &sampler,
        second_judge.as_ref(),
        unseen,
        args.judge_samples,
        1,
    )?;

    // The closed 10-way judge of earlier releases, recorded for comparison.
    let closed_judge = setup::embedded_classifier("judge", &device)?;
    let closed_rate = recognition_rate(
        &sampler,
        closed_judge.as_ref(),
        unseen,
        args.judge_samples,
        1,
    )?;

    let grid = out.join("demo_grid.png");
    let mut rows = vec![];
    for c in 0..sampler.class_names().len() {
        rows.push(sampler.sample(c, 10, 100 + c as u64)?);
    }
    crate::train::grid::save_class_grid(
        &candle_core::Tensor::cat(&rows, 0)?,
        10,
        &[unseen],
        &grid,
    )?;
    let unseen_diversity = diversity.ratios[unseen];
    let seen_diversity = seen.iter().map(|&c| diversity.ratios[c]).sum::<f64>() / seen.len() as f64;
    let verdict = format!(
        "verdict: the independent judge recognises {:.0}% of {} generated `{unseen_name}` images (never seen in training; seen classes: {:.0}%); the bundled {second_judge_name} model, as a second judge: {:.0}%. Pixel diversity {:.2} of real (seen classes: {:.2}){}. Grid: {}",
        unseen_rate * 100.0,
        args.judge_samples,
        seen_rate * 100.0,
        second_rate * 100.0,
        unseen_diversity,
        seen_diversity,
        if diversity.collapsed.is_empty() {
            String::new()
        } else {
            format!(
                "; COLLAPSED: {} (a few images repeated: not evidence)",
                diversity
                    .collapsed
                    .iter()
                    .map(|&c| sampler.class_names()[c].as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            )
        },
        grid.display()
    );
    std::fs::write(
        out.join("verdict.json"),
        serde_json::to_string_pretty(&serde_json::json!({
            "unseen": unseen_name, "unseen_recognition": unseen_rate, "seen_recognition": seen_rate,
            "judge_samples": args.judge_samples, "grid": grid,
            "judge": "judge_open", "second_judge": second_judge_name,
            "second_judge_unseen_recognition": second_rate,
            "closed_judge_unseen_recognition": closed_rate,
            "unseen_diversity": unseen_diversity, "seen_diversity": seen_diversity,
        }))?,
    )?;
    println!("{verdict}");
    Ok(())
}

/// Fraction of `n` samples of `class` the judge labels `class`.
pub fn recognition_rate(
    sampler: &crate::train::RunSampler,
    judge: &dyn Classifier,
    class: usize,
    n: usize,
    seed: u64,
) -> Result<f64> {
    let x = sampler.sample(class, n, seed)?;
    let mut hits = 0usize;
    for start in (0..n).step_by(250) {
        let len = 250.min(n - start);
        let pred = judge
            .logits(&x.narrow(0, start, len)?)?
            .argmax(1)?
            .to_vec1::<u32>()?;
        hits += pred.iter().filter(|&&p| p as usize == class).count();
    }
    Ok(hits as f64 / n as f64)
}

pub(super) fn toml_string(s: &str) -> String {
    toml::Value::String(s.to_string()).to_string()
}
