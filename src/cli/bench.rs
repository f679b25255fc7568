//! `probegan bench MODEL [--adapter A.toml] [--batch B] [--reps N] [--json]`: what one batch
//! of the user's model costs here, forward and forward+backward to the input (what training
//! pays per classifier call), beside tract and onnxruntime (when `ORT_DYLIB_PATH` is set) run
//! on the same input in the same process, as ratios; then one step of `audit MODEL`'s training
//! (`audit::estimate_step`), so the user knows what a budget costs before starting. Medians of
//! `--reps` timed runs after one warm-up; run it on an otherwise idle machine.

use crate::device::DeviceArgs;
use crate::onnx::reference::{HostArray, OrtRunner, Reference, TractRunner};
use crate::onnx::OnnxModel;
use anyhow::{Context, Result};
use std::path::PathBuf;
use std::time::Instant;

#[derive(clap::Args, Debug)]
pub struct Args {
    /// ONNX file or zoo name.
    pub model: String,
    /// Adapter TOML for the input format; guessed from the model when absent.
    #[arg(long)]
    pub adapter: Option<PathBuf>,
    /// Images per batch (a model that fixes its batch is run at that batch).
    #[arg(long, default_value_t = 8)]
    pub batch: usize,
    /// Timed repetitions per measurement (the median is reported).
    #[arg(long, default_value_t = 5)]
    pub reps: usize,
    /// Skip timing a step of the audit's training (a few steps of G and D at the model's input
    /// size; for a large model, tens of seconds).
    #[arg(long)]
    pub no_step: bool,
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub device: DeviceArgs,
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct BenchRow {
    pub engine: String,
    pub what: String,
    pub seconds: f64,
    /// This row's time over probegan's forward time on the same batch.
    pub vs_probegan: Option<f64>,
}

/// Median seconds of `reps` runs of `f` after one warm-up run.
fn median_seconds(reps: usize, mut f: impl FnMut() -> Result<()>) -> Result<f64> {
    f()?;
    let mut times = Vec::with_capacity(reps.max(1));
    for _ in 0..reps.max(1) {
        let t = Instant::now();
        f()?;
        times.push(t.elapsed().as_secs_f64());
    }
    times.sort_by(f64::total_cmp);
    Ok(times[times.len() / 2])
}

pub fn run(args: Args) -> Result<()> {
    let resolved = crate::zoo::resolve_model_arg(&args.model)?;
    let device = args.device.device()?;
    let model = OnnxModel::load(&resolved.path, &device)?;
    let adapter = super::classify::adapter_for(
        &model,
        &resolved.path,
        args.adapter.as_deref(),
        resolved.adapter.as_deref(),
    )?;
    let batch = super::check::declared_batch(&model).unwrap_or(args.batch);
    let x = super::check::sample_input(&model, Some(&adapter), batch, 7)?;
    let x_dev = x.to_device(&device)?;
    let mut rows = vec![];
    let forward = median_seconds(args.reps, || {
        let y = model.forward(std::slice::from_ref(&x_dev))?;
        y[0].to_device(&candle_core::Device::Cpu)?;
        Ok(())
    })?;
    rows.push(("probegan", "forward", forward, Some(1.0)));
    let backward = median_seconds(args.reps, || {
        let xv = candle_core::Var::from_tensor(&x_dev)?;
        let y = model.forward(&[xv.as_tensor().clone()])?;
        let grads = y[0].sum_all()?.backward()?;
        grads
            .get(xv.as_tensor())
            .context("no gradient reached the input")?
            .to_device(&candle_core::Device::Cpu)?;
        Ok(())
    })?;
    rows.push((
        "probegan",
        "forward+backward to input",
        backward,
        Some(backward / forward),
    ));
    let host = HostArray::from_tensor(&x)?;
    match TractRunner::load(&resolved.path) {
        Ok(t) => {
            let s = median_seconds(args.reps, || t.run(std::slice::from_ref(&host)).map(|_| ()));
            match s {
                Ok(s) => rows.push(("tract", "forward", s, Some(s / forward))),
                Err(e) => eprintln!("tract cannot run it: {e:#}"),
            }
        }
        Err(e) => eprintln!("tract cannot load it: {e:#}"),
    }
    if OrtRunner::available() {
        let threads = rayon::current_num_threads();
        let o = OrtRunner::load(&resolved.path, threads)?;
        let s = median_seconds(args.reps, || o.run(std::slice::from_ref(&host)).map(|_| ()))?;
        rows.push(("onnxruntime", "forward", s, Some(s / forward)));
    } else {
        eprintln!("onnxruntime: set ORT_DYLIB_PATH to compare");
    }
    let step = if args.no_step {
        None
    } else {
        Some(super::audit::estimate_step(
            &args.model,
            args.adapter.as_deref(),
            &device,
        )?)
    };
    let rows: Vec<BenchRow> = rows
        .into_iter()
        .map(|(engine, what, seconds, vs)| BenchRow {
            engine: engine.into(),
            what: what.into(),
            seconds,
            vs_probegan: vs,
        })
        .collect();
    if args.json {
        println!(
            "{}",
            serde_json::json!({
                "model": resolved.path.display().to_string(),
                "batch": batch,
                "input": x.dims(),
                "threads": rayon::current_num_threads(),
                "rows": rows,
                "audit_step": step,
            })
        );
    } else {
        println!(
            "bench {} — batch {batch}, input {:?}, {} threads, median of {}",
            resolved.path.display(),
            x.dims(),
            rayon::current_num_threads(),
            args.reps.max(1)
        );
        for r in &rows {
            println!(
                "  {:<12} {:<28} {:>9.1} ms  {}",
                r.engine,
                r.what,
                r.seconds * 1e3,
                r.vs_probegan
                    .map(|v| format!("{v:.2}x probegan's forward"))
                    .unwrap_or_default()
            );
        }
        if let Some(e) = &step {
            println!(
                "  audit step   ProbeGAN, G {}x{}x{}, batch {}, {} classes: {:.2} s/step, so the default {} steps ≈ {:.1} min ({})",
                e.image[0],
                e.image[1],
                e.image[2],
                e.batch,
                e.classes,
                e.seconds_per_step,
                e.default_steps,
                e.default_minutes,
                e.breakdown
            );
        }
    }
    Ok(())
}
