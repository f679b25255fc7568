//! `probegan audit MODEL --data D [--unseen CLASS...]`: the one-command audit. Pre-flight
//! (`check`), training against the frozen model (the demo's config with the flags filled
//! in), evaluation (the bundled open judge on Fashion-MNIST data, a given `--judge`, or the
//! judge-free metrics, said plainly) and the HTML report, all in one run directory that
//! `--resume` (or the same command after Ctrl-C) continues.
//!
//! Each stage reuses its command's code: `check::run_checks`, `adapter_guess::guess_adapter`,
//! the `Trainer`, `eval::evaluate_run` and `report::write_report_with`. `--mode` names the
//! kinds of audit: `classes` (a class-conditional generator of images), `audio` (the same
//! generator drawing mel spectrograms, heard through Griffin-Lim) and `substrate` (the
//! substrate method painting every class onto the user's photographs); without the flag the
//! adapter's modality and the data decide.

mod plan;
mod target;
mod verdict;

pub use verdict::{AuditSummary, AUDIT_JSON, REPORT_HTML};

use crate::data::{CsvSpec, DataSource, Dataset, Split};
use crate::device::DeviceArgs;
use crate::run::CONFIG_TOML;
use crate::train::{setup, Config, StopReason, Trainer};
use anyhow::{bail, Context, Result};
use candle_core::Device;
use plan::{
    build_config, load_options, measure_step_seconds, stand_in_data, stored_config, template,
    TIMED_STEPS,
};
use std::path::{Path, PathBuf};
use std::time::Instant;
use target::{align_classes, preflight, resolve_target};
use verdict::{evaluate_and_report, Trained};

/// What kind of audit: what the generator draws and what data it reads.
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// A class-conditional generator; the data are labelled images of the seen classes.
    Classes,
    /// A painter that draws class content onto substrate photographs (no labelled data).
    Substrate,
    /// Mel spectrograms for an audio classifier.
    Audio,
}

impl Mode {
    /// The audit a mel adapter (`mel`) or a substrate folder (`substrates`) asks for.
    fn inferred(mel: bool, substrates: bool) -> Mode {
        if mel {
            Mode::Audio
        } else if substrates {
            Mode::Substrate
        } else {
            Mode::Classes
        }
    }
}

#[derive(clap::Args, Debug)]
pub struct Args {
    /// ONNX file, zoo name, or a bundled classifier (`embedded:regular`, `embedded:robust`,
    /// `embedded:voices_regular`).
    pub model: String,
    /// Adapter TOML; without one the zoo's, or one guessed from the model (said, and written
    /// to RUN/adapter.toml).
    #[arg(long)]
    pub adapter: Option<PathBuf>,
    /// The data you have: a folder (class subfolders of images or WAV files, or IDX files), a
    /// CSV, `fashion-mnist`, `embedded` (the bundled Fashion-MNIST subset) or `embedded:voices`
    /// (bundled men / non-human / women clips); for a substrate audit `substrates:DIR`, any
    /// photographs to paint on (no labels).
    #[arg(long)]
    pub data: String,
    /// Classes to withhold (names or indices): learned from the classifier alone.
    #[arg(long, num_args = 1..)]
    pub unseen: Vec<String>,
    /// The method of a class or audio audit (a substrate audit trains the substrate method).
    #[arg(long, default_value = "probegan",
          value_parser = ["probegan", "naive", "am", "oracle", "soft-label", "substrate"])]
    pub method: String,
    /// What kind of audit (default: `audio` for a mel adapter, `substrate` for
    /// `--data substrates:DIR`, else `classes`).
    #[arg(long, value_enum)]
    pub mode: Option<Mode>,
    /// Training budget in minutes: a step count from a few timed steps.
    #[arg(long, conflicts_with = "steps")]
    pub minutes: Option<f64>,
    /// Training budget in generator steps (the total, also with --resume; default 400).
    #[arg(long)]
    pub steps: Option<usize>,
    /// The run directory (config, checkpoints, samples, eval/, report.html, audit.json).
    #[arg(long, default_value = "probegan-audit")]
    pub out: PathBuf,
    /// Continue the run in --out (to a larger --steps, or for --minutes more).
    #[arg(long)]
    pub resume: bool,
    /// Train even if the pre-flight check fails.
    #[arg(long)]
    pub skip_check: bool,
    /// A judge of your own (ONNX, independent of MODEL); default: the bundled open judge for
    /// Fashion-MNIST data, none otherwise.
    #[arg(long)]
    pub judge: Option<PathBuf>,
    /// The judge's adapter (default: the .toml beside it).
    #[arg(long, requires = "judge")]
    pub judge_adapter: Option<PathBuf>,
    /// Generated samples per class the evaluation scores.
    #[arg(long, default_value_t = 500)]
    pub eval_samples: usize,
    /// Override a training config value (see configs/demo.toml), e.g. `train.batch_size=16`.
    #[arg(long = "set", value_name = "KEY=VALUE")]
    pub overrides: Vec<String>,
    /// Print one JSON summary on stdout instead of the tables.
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub device: DeviceArgs,
}

pub fn run(args: Args) -> Result<()> {
    let wall = Instant::now();
    if let Some(m) = args.minutes {
        if !(m.is_finite() && m > 0.0) {
            bail!("--minutes {m}: expected a positive number of minutes");
        }
    }
    if args.steps == Some(0) {
        bail!("--steps 0: expected at least one step");
    }
    if args.resume && !args.overrides.is_empty() {
        bail!(
            "--set changes a run's config; with --resume the stored {}/{CONFIG_TOML} is used as it is",
            args.out.display()
        );
    }
    let device = args.device.device()?;
    // Cheap checks of the flags first, so that bad input fails before any training.
    let source = DataSource::parse(&args.data, CsvSpec::default())
        .with_context(|| format!("--data {}", args.data))?;
    let target = resolve_target(&args, &args.out, true)?;
    let mode = audit_mode(&args, &target, &source)?;
    let names = target.adapter.class_names().to_vec();
    let unseen = crate::data::ClassSpace::new(names.clone()).indices(&args.unseen, "--unseen")?;
    if mode == Mode::Substrate {
        substrate_flags(&args)?;
    }
    let checkpoints = crate::run::list_checkpoints(&args.out)?;
    if !checkpoints.is_empty() && !args.resume {
        bail!(
            "{} already holds an audit; pass --resume to continue it (with a larger --steps or --minutes), or choose another --out",
            args.out.display()
        );
    }
    let resume_from = checkpoints.last().filter(|_| args.resume).map(|(s, _)| *s);
    if args.resume && resume_from.is_none() {
        eprintln!(
            "--resume: nothing to resume in {}; starting",
            args.out.display()
        );
    }
    let template_steps = Config::from_toml_str(template(mode), &[])?.run.steps;
    let mut config = build_config(&args, &target, mode, args.steps.unwrap_or(template_steps))?;
    if resume_from.is_some() {
        config = stored_config(&args, &config)?;
        if let Some(n) = args.steps {
            config.run.steps = n;
        }
    }
    let load_options = load_options(&config, &target.adapter);
    let (data, report) = source
        .load(Split::Train, &load_options)
        .with_context(|| format!("--data {}", args.data))?;
    if let Some(w) = report.clamp_warning(&format!("--data {}", args.data)) {
        eprintln!("{w}");
    }
    // Substrates carry no labels: every class is painted, none is matched to the data.
    let data = if mode == Mode::Substrate {
        data
    } else {
        align_classes(data, &names, &unseen, &args.data)?
    };
    std::fs::create_dir_all(&args.out)
        .with_context(|| format!("creating {}", args.out.display()))?;
    if let Some(toml) = &target.guessed_toml {
        std::fs::write(&target.adapter_config, toml)
            .with_context(|| format!("writing {}", target.adapter_config))?;
    }
    if resume_from.is_none() {
        preflight(&target, &args, &args.out, &device)?;
    }

    let mut seconds_per_step = None;
    if let Some(minutes) = args.minutes {
        let (s, timings) = measure_step_seconds(&config, &data, &device)?;
        let n = ((minutes * 60.0 / s).floor() as usize).max(1);
        let total = resume_from.unwrap_or(0) + n;
        eprintln!(
            "{minutes} minutes ≈ {n} steps at {s:.2} s/step (timed on {TIMED_STEPS} steps: {}; previews and checkpoints add a little, the evaluation comes after)",
            timings.per_step_summary()
        );
        if resume_from.is_some() {
            config.run.steps = total;
        } else {
            // A fresh config: the budget decides G's learning rate.
            config = build_config(&args, &target, mode, total)?;
        }
        seconds_per_step = Some(s);
    }
    let mut trained = train(&args, config, &data, resume_from.is_some(), &device)?;
    trained.seconds_per_step = seconds_per_step.or(trained.seconds_per_step);
    drop(data);
    evaluate_and_report(
        &args,
        &target,
        mode,
        &source,
        load_options,
        trained,
        wall,
        &device,
    )
}

/// The audit's kind: `--mode` when given (and consistent with the adapter and data), else
/// `audio` for a mel adapter, `substrate` for a substrate folder, `classes` otherwise.
fn audit_mode(args: &Args, target: &target::Target, source: &DataSource) -> Result<Mode> {
    let mel = target.adapter.audio().is_some();
    let substrates = matches!(source, DataSource::Substrates(_));
    let mode = args.mode.unwrap_or(Mode::inferred(mel, substrates));
    match mode {
        Mode::Audio if !mel => bail!(
            "--mode audio: the adapter of {} is an image adapter (modality = \"image\"); an audio audit \
             needs a modality = \"mel\" adapter (--adapter), which says how clips become the model's input",
            args.model
        ),
        Mode::Classes | Mode::Substrate if mel => bail!(
            "--mode {}: {} has a mel adapter (audio); drop --mode, or pass --mode audio",
            if mode == Mode::Classes { "classes" } else { "substrate" },
            args.model
        ),
        _ => {}
    }
    if mode == Mode::Audio && !source.is_audio() {
        bail!(
            "--data {}: an audio audit reads clips, a folder with one sub-folder of WAV files per class \
             (or `embedded:voices`)",
            args.data
        );
    }
    if mode == Mode::Classes && source.is_audio() {
        bail!(
            "--data {}: WAV clips need a classifier with a mel adapter (`modality = \"mel\"`, \
             --adapter); {} has an image adapter",
            args.data,
            args.model
        );
    }
    if mode == Mode::Substrate && !substrates {
        bail!(
            "--mode substrate paints onto photographs: give them as --data substrates:DIR (any folder \
             of images, no labels; `scripts/substrates.sh` builds one from the wallpapers package)"
        );
    }
    if mode == Mode::Classes && substrates {
        bail!(
            "--data {}: substrate folders are for --mode substrate",
            args.data
        );
    }
    Ok(mode)
}

/// A substrate audit paints every class of the adapter and is judged by a second classifier
/// over the same labels; flags that ask for something else are refused before any training.
fn substrate_flags(args: &Args) -> Result<()> {
    if !args.unseen.is_empty() {
        bail!(
            "--unseen: a substrate audit has no labelled data, so every class is learned from the \
             classifier alone; drop --unseen (the adapter's [classes] choose what is painted)"
        );
    }
    if !matches!(args.method.as_str(), "probegan" | "substrate") {
        bail!(
            "--method {}: a substrate audit trains the substrate method",
            args.method
        );
    }
    if args.judge.is_none() {
        bail!(
            "a substrate audit is judged by a second classifier over the same labels (e.g. \
             ../shared/models/efficientnet_lite1.onnx with adapters/efficientnet_lite1_judge.toml): \
             pass --judge J.onnx"
        );
    }
    Ok(())
}

/// What one training step of `audit MODEL` costs here, for `bench`: the audit's own config
/// for the model (its generator size and channels, the template's batch and nets, the last
/// class unseen), timed on noise images after a warm-up step.
#[derive(Debug, Clone, serde::Serialize)]
pub struct StepEstimate {
    pub seconds_per_step: f64,
    /// The template's step count, and what it would take at this rate.
    pub default_steps: usize,
    pub default_minutes: f64,
    /// The generator's output `[channels, height, width]`, batch and classes.
    pub image: [usize; 3],
    pub batch: usize,
    pub classes: usize,
    /// Where the time goes (the trainer's per-phase timings).
    pub breakdown: String,
}

/// `audit`'s flags parsed from `argv` (its first item the command name), for callers that
/// build an audit in code.
pub(super) fn parse_args(argv: &[&str]) -> Result<Args> {
    #[derive(clap::Parser)]
    struct Cli {
        #[command(flatten)]
        a: Args,
    }
    Ok(<Cli as clap::Parser>::try_parse_from(argv)?.a)
}

pub fn estimate_step(model: &str, adapter: Option<&Path>, device: &Device) -> Result<StepEstimate> {
    // Scratch for a guessed adapter, which the trainer reads from a file.
    let scratch = std::env::temp_dir().join(format!("probegan-step-{}", std::process::id()));
    let scratch_arg = scratch.display().to_string();
    let mut argv = vec!["audit", model, "--data", "embedded", "--out", &scratch_arg];
    let adapter_arg = adapter.map(|a| a.display().to_string());
    if let Some(a) = &adapter_arg {
        argv.extend(["--adapter", a.as_str()]);
    }
    let mut args = parse_args(&argv)?;
    let target = resolve_target(&args, &scratch, false)?;
    let names = target.adapter.class_names().to_vec();
    args.unseen = names.last().cloned().into_iter().collect();
    std::fs::create_dir_all(&scratch).with_context(|| format!("creating {}", scratch.display()))?;
    let timed = (|| {
        if let Some(toml) = &target.guessed_toml {
            std::fs::write(&target.adapter_config, toml)?;
        }
        // (`bench` times the class or audio audit; a substrate audit's step is the painter's.)
        let mode = Mode::inferred(target.adapter.audio().is_some(), false);
        let steps = Config::from_toml_str(template(mode), &[])?.run.steps;
        let config = build_config(&args, &target, mode, steps)?;
        let data = stand_in_data(&config, &names)?;
        let (s, timings) = measure_step_seconds(&config, &data, device)?;
        let (h, w) = config.model.dims();
        Ok(StepEstimate {
            seconds_per_step: s,
            default_steps: steps,
            default_minutes: s * steps as f64 / 60.0,
            image: [config.model.channels, h, w],
            batch: config.train.batch_size,
            classes: names.len(),
            breakdown: timings.per_step_summary(),
        })
    })();
    let _ = std::fs::remove_dir_all(&scratch);
    timed
}

/// Train to the config's step count (or find the run already there), with the progress bar
/// and Ctrl-C's checkpoint; an interrupted run exits here with the way to continue.
fn train(
    args: &Args,
    config: Config,
    data: &Dataset,
    resume: bool,
    device: &Device,
) -> Result<Trained> {
    let (classifier, info) = setup::load_classifier(&config, device)?;
    let mut trainer = Trainer::new(config, data, classifier, info, device)?;
    if resume {
        let step = trainer.resume()?;
        eprintln!("resuming {} from step {step}", args.out.display());
    }
    trainer.init_run_dir()?;
    trainer.progress = !args.json;
    let total = trainer.config.run.steps;
    let unseen: Vec<String> = trainer
        .unseen()
        .iter()
        .map(|&u| trainer.class_names()[u].clone())
        .collect();
    let start = Instant::now();
    let from = trainer.step();
    if from < total {
        eprintln!(
            "training {} against {} to step {total}{}",
            args.method,
            args.model,
            if unseen.is_empty() {
                String::new()
            } else {
                format!(" (no data for {})", unseen.join(", "))
            }
        );
        let stop = super::train::stop_on_ctrl_c()?;
        if trainer.run(&stop)? == StopReason::Interrupted {
            eprintln!(
                "interrupted at step {}; run the same command with --resume to continue",
                trainer.step()
            );
            std::process::exit(130);
        }
        eprintln!(
            "{} steps: {}",
            trainer.timings.steps,
            trainer.timings.per_step_summary()
        );
    } else {
        eprintln!(
            "{} is at step {from} of {total}: evaluating it again",
            args.out.display()
        );
    }
    let seconds = start.elapsed().as_secs_f64();
    let steps_trained = trainer.step() - from;
    // The collapse guard's reading: a class drawn as one repeated image is no evidence.
    let collapsed = trainer
        .read_diversity()?
        .collapsed
        .iter()
        .map(|&c| trainer.class_names()[c].clone())
        .collect();
    Ok(Trained {
        step: trainer.step(),
        steps_trained,
        seconds,
        seconds_per_step: (steps_trained > 0).then(|| seconds / steps_trained as f64),
        unseen,
        collapsed,
    })
}
