//! Training throughput of the 32x32 ProbeGAN setting at batch 64 (configs/probegan_fmnist32.toml):
//! steps per second, the time split between D steps, G step and EMA, and a component
//! breakdown (G, D, gradient penalty, classifier forward/backward). With a Python that can
//! `import torch`, the PyTorch twin (bench/probegan_torch.py) runs in the same process tree
//! and the ratio is printed.
//!
//!   cargo bench --bench training            # PROBEGAN_BENCH_STEPS=5 by default
//!
//! PROBEGAN_BENCH_STEPS=0 skips the iterations (components only); BENCH_COMPONENTS and
//! BENCH_REPS select and repeat components (for profiling).
//!
//! The classifier is the bundled regular Fashion-MNIST model when available, otherwise a
//! softmax-regression stand-in (reported). BENCH_NO_TORCH=1 skips the twin (for profiling).

use candle_core::{Device, Tensor};
use probegan::classifier::Classifier;
use probegan::data::TrainData;
use probegan::methods::testing::PooledLinearClassifier;
use probegan::nets::Mode;
use probegan::run::ClassifierInfo;
use probegan::train::{setup, Config, Trainer};
use std::sync::Arc;
use std::time::Instant;

// As the probegan binary does: glibc malloc returns large tensors to the OS and every step
// page-faults them back in (kernel page zeroing showed in profiles of this benchmark).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn median_ms(reps: usize, f: impl Fn()) -> f64 {
    f();
    let mut v: Vec<f64> = (0..reps)
        .map(|_| {
            let t = Instant::now();
            f();
            t.elapsed().as_secs_f64() * 1e3
        })
        .collect();
    v.sort_by(|a, b| a.partial_cmp(b).unwrap());
    v[reps / 2]
}

/// Runs `steps` training iterations and prints their time split; returns seconds per iteration.
fn time_iterations(t: &mut Trainer, steps: usize) -> anyhow::Result<f64> {
    t.timings = Default::default();
    let start = Instant::now();
    for _ in 0..steps {
        t.train_step()?;
    }
    let total = start.elapsed().as_secs_f64();
    let tm = &t.timings;
    println!(
        "iteration: {:.3} s/it = {:.3} it/s  (split: {})",
        total / steps as f64,
        steps as f64 / total,
        tm.per_step_summary()
    );
    Ok(total / steps as f64)
}

fn main() -> anyhow::Result<()> {
    probegan::init();
    let steps: usize = std::env::var("PROBEGAN_BENCH_STEPS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(5);
    let dev = Device::Cpu;
    let out = tempfile::tempdir()?;
    let set = [
        format!("run.out_dir=\"{}\"", out.path().join("run").display()),
        "data.source=\"embedded\"".to_string(),
        "run.log_every=1000".into(),
        "run.sample_every=1000".into(),
        "run.checkpoint_every=1000".into(),
    ];
    let mut config = Config::load(std::path::Path::new("configs/probegan_fmnist32.toml"), &set)?;
    let dataset = setup::load_dataset(&config)?;
    let (classifier, which): (Arc<dyn Classifier>, String) =
        match setup::load_classifier(&config, &dev) {
            Ok((c, _)) => (c, config.classifier.adapter.clone()),
            Err(e) => {
                eprintln!(
                "note: bundled classifier unavailable ({e:#}); using a softmax-regression stand-in"
            );
                let td = TrainData::from_dataset(
                    &dataset,
                    &(0..10).collect::<Vec<_>>(),
                    (32, 32),
                    1,
                    &dev,
                )?;
                let y = Tensor::from_vec(td.labels.clone(), td.len, &dev)?;
                (
                    Arc::new(PooledLinearClassifier::fit(
                        dataset.class_names.clone(),
                        &td.images,
                        &y,
                        50,
                        0.5,
                    )?),
                    "stand-in".into(),
                )
            }
        };
    config.run.steps = steps + 1;
    let info = ClassifierInfo {
        adapter: which.clone(),
        model: None,
    };
    let mut t = Trainer::new(config.clone(), &dataset, classifier.clone(), info, &dev)?;
    let threads = rayon::current_num_threads();
    println!("# training benchmark: {} (batch {}, d_steps {}, G {:?}, D {:?}), classifier {which}, {threads} threads",
        config.method.name(), config.train.batch_size, config.train.d_steps, config.model.g_widths, config.model.d_widths);
    t.train_step()?; // warm-up
    let mut s_per_it = None;
    if steps > 0 {
        s_per_it = Some(time_iterations(&mut t, steps)?);
    }

    // Components, batch 64, medians of BENCH_REPS (5); BENCH_COMPONENTS=text keeps the rows
    // whose name contains it (to profile one).
    let reps: usize = std::env::var("BENCH_REPS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(5)
        .max(1);
    let only = std::env::var("BENCH_COMPONENTS").unwrap_or_default();
    let n = config.train.batch_size;
    // The method's own networks are private to it; the components are timed on a pair built
    // from the same config.
    let nets =
        probegan::methods::cgan::CganNets::new(&config.settings(), 10, (0..10).collect(), &dev)?;
    let z = Tensor::randn(0f32, 1.0, (n, config.model.z_dim), &dev)?;
    let y = Tensor::from_vec((0..n as u32).map(|i| i % 10).collect::<Vec<_>>(), n, &dev)?;
    let x = nets.g.forward(&z, &y, Mode::TRAIN_FROZEN)?.detach();
    let x2 = Tensor::cat(&[&x, &x], 0)?;
    let rows: [(&str, Box<dyn Fn() + '_>); 7] = [
        (
            "G forward (train BN)",
            Box::new(|| {
                nets.g.forward(&z, &y, Mode::TRAIN_FROZEN).unwrap();
            }),
        ),
        (
            "G forward+backward",
            Box::new(|| {
                let o = nets.g.forward(&z, &y, Mode::TRAIN).unwrap();
                o.sum_all().unwrap().backward().unwrap();
            }),
        ),
        (
            "D forward, 2x64 (real+fake)",
            Box::new(|| {
                nets.d.features(&x2, Mode::TRAIN_FROZEN).unwrap();
            }),
        ),
        (
            "D forward+backward, 2x64",
            Box::new(|| {
                let h = nets.d.features(&x2, Mode::TRAIN).unwrap();
                nets.d
                    .head_unconditional(&h, Mode::TRAIN)
                    .unwrap()
                    .sum_all()
                    .unwrap()
                    .backward()
                    .unwrap();
            }),
        ),
        (
            "gradient penalty fwd + 2nd-order bwd, 64",
            Box::new(|| {
                let a = Tensor::ones(n, candle_core::DType::F32, &dev)
                    .unwrap()
                    .affine(0.5, 0.0)
                    .unwrap();
                let d = &nets.d;
                let gp = probegan::losses::gradient_penalty(
                    |v: &Tensor| d.head_unconditional(&d.features(v, Mode::TRAIN)?, Mode::TRAIN),
                    &x,
                    &x.neg().unwrap(),
                    &a,
                )
                .unwrap();
                gp.backward().unwrap();
            }),
        ),
        (
            "classifier forward, 64",
            Box::new(|| {
                classifier.logits(&x).unwrap();
            }),
        ),
        (
            "classifier forward+backward (to input), 64",
            Box::new(|| {
                let v = candle_core::Var::from_tensor(&x).unwrap();
                classifier
                    .logits(v.as_tensor())
                    .unwrap()
                    .sum_all()
                    .unwrap()
                    .backward()
                    .unwrap();
            }),
        ),
    ];
    println!("| component | ms |\n|---|---|");
    for (name, f) in rows.iter().filter(|(name, _)| name.contains(&only)) {
        println!("| {name} | {:.1} |", median_ms(reps, f));
    }

    // The PyTorch twin, when torch is importable.
    let Some(s_per_it) = s_per_it else {
        return Ok(());
    };
    if std::env::var("BENCH_NO_TORCH").is_ok() {
        println!("PyTorch twin skipped: BENCH_NO_TORCH set");
        return Ok(());
    }
    let py = std::process::Command::new("python3")
        .args([
            "bench/probegan_torch.py",
            "--steps",
            &steps.to_string(),
            "--threads",
            &threads.to_string(),
        ])
        .output();
    match py {
        Ok(o) if o.status.success() => {
            let text = String::from_utf8_lossy(&o.stdout);
            let s_it: Option<f64> = text
                .lines()
                .find_map(|l| l.strip_prefix("s_per_it "))
                .and_then(|v| v.trim().parse().ok());
            print!("{text}");
            if let Some(s) = s_it {
                println!(
                    "PyTorch eager: {s:.3} s/it; probegan throughput = {:.2}x PyTorch",
                    s / s_per_it
                );
            }
        }
        Ok(o) => println!(
            "PyTorch twin skipped: {}",
            String::from_utf8_lossy(&o.stderr)
                .lines()
                .last()
                .unwrap_or("")
        ),
        Err(e) => println!("PyTorch twin skipped: {e}"),
    }
    Ok(())
}
