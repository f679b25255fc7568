//! `probegan train --config configs/X.toml [--set k=v]... [--resume] [--device D]`

use crate::device::DeviceArgs;
use crate::train::{setup, Config, StopReason, Trainer};
use anyhow::{Context, Result};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

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

/// A second SIGINT this soon after the first is the same interrupt delivered twice: GNU
/// `timeout -s INT` signals its child and then the child's process group, and a run stopped
/// that way (2026-12-07) exited without its checkpoint.
const SAME_INTERRUPT: Duration = Duration::from_millis(1000);

/// Whether a Ctrl-C at `now` quits at once, given when the first one came.
fn quits_at_once(first: Option<Instant>, now: Instant) -> bool {
    first.is_some_and(|t| now.duration_since(t) >= SAME_INTERRUPT)
}

/// A flag the first Ctrl-C raises (the trainer checkpoints after the step and stops); a second
/// Ctrl-C, a second or more later, exits at once. Shared by `train` and `audit`.
pub fn stop_on_ctrl_c() -> Result<Arc<AtomicBool>> {
    let stop = Arc::new(AtomicBool::new(false));
    let flag = stop.clone();
    let first: Mutex<Option<Instant>> = Mutex::new(None);
    ctrlc::set_handler(move || {
        let now = Instant::now();
        let mut first = first.lock().unwrap_or_else(|e| e.into_inner());
        if quits_at_once(*first, now) {
            eprintln!("\nsecond Ctrl-C: exiting without a checkpoint");
            std::process::exit(130);
        }
        if first.is_some() {
            return;
        }
        *first = Some(now);
        flag.store(true, Ordering::SeqCst);
        eprintln!("\nCtrl-C: saving a checkpoint after this step (press again to quit at once)");
    })
    .context("installing the Ctrl-C handler")?;
    Ok(stop)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_doubled_signal_is_one_interrupt_and_a_later_press_quits() {
        let t0 = Instant::now();
        assert!(!quits_at_once(None, t0), "the first Ctrl-C checkpoints");
        assert!(
            !quits_at_once(Some(t0), t0 + Duration::from_millis(5)),
            "timeout's second delivery"
        );
        assert!(quits_at_once(Some(t0), t0 + Duration::from_secs(2)));
    }
}
