//! `probegan train --config configs/X.toml [--set k=v]... [--resume] [--device D]`

use crate::device::DeviceArgs;
use crate::train::{setup, Config, StopReason, Trainer};
use anyhow::{Context, Result};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

#[derive(clap::Args, Debug)]
pub struct Args {
    /// Experiment config (TOML), e.g. configs/probegan_fmnist32.toml.
    #[arg(long)]
    pub config: PathBuf,
    /// Override a config value, e.g. `--set train.lr_g=1e-4 --set data.unseen=["Trouser"]`.
    #[arg(long = "set", value_name = "KEY=VALUE")]
    pub overrides: Vec<String>,
    /// Continue from the newest checkpoint in the run's out_dir.
    #[arg(long)]
    pub resume: bool,
    /// Hide the progress bar (logs still go to metrics.jsonl).
    #[arg(long)]
    pub quiet: bool,
    #[command(flatten)]
    pub device: DeviceArgs,
}

pub fn run(args: Args) -> Result<()> {
    let device = args.device.device()?;
    let config = Config::load(&args.config, &args.overrides)?;
    let dataset = setup::load_dataset(&config)?;
    let (classifier, info) = setup::load_classifier(&config, &device)?;
    let mut trainer = Trainer::new(config, &dataset, classifier, info, &device)?;
    if args.resume {
        let step = trainer.resume()?;
        eprintln!("resuming {} from step {step}", trainer.run_dir.display());
    } else if trainer.run_dir.join("checkpoints").is_dir()
        && crate::run::list_checkpoints(&trainer.run_dir)?.len() > 0
    {
        anyhow::bail!(
            "{} already holds checkpoints; pass --resume to continue it, or choose another run.out_dir (--set run.out_dir=...)",
            trainer.run_dir.display()
        );
    }
    trainer.init_run_dir()?;
    trainer.progress = !args.quiet;
    let stop = stop_on_ctrl_c()?;
    let reason = trainer.run(&stop)?;
    let t = &trainer.timings;
    if t.steps > 0 {
        eprintln!("{} steps: {}", t.steps, t.per_step_summary());
    }
    match reason {
        StopReason::Finished => eprintln!("done: {}", trainer.run_dir.display()),
        StopReason::Interrupted => {
            eprintln!(
                "interrupted at step {}; continue with --resume",
                trainer.step()
            );
            std::process::exit(130);
        }
    }
    Ok(())
}

/// A flag the first Ctrl-C raises (the trainer checkpoints after the step and stops); a second
/// Ctrl-C exits at once. Shared by `train` and `audit`.
pub fn stop_on_ctrl_c() -> Result<Arc<AtomicBool>> {
    let stop = Arc::new(AtomicBool::new(false));
    let flag = stop.clone();
    ctrlc::set_handler(move || {
        if flag.swap(true, Ordering::SeqCst) {
            eprintln!("\nsecond Ctrl-C: exiting without a checkpoint");
            std::process::exit(130);
        }
        eprintln!("\nCtrl-C: saving a checkpoint after this step (press again to quit at once)");
    })
    .context("installing the Ctrl-C handler")?;
    Ok(stop)
}
