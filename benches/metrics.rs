//! FID + KID of 10,000 generated vs 10,000 real feature vectors, against numpy/scipy on the
//! same features in the same run (`bench/metrics_numpy.py`, pytorch-fid's and
//! torch-fidelity's formulas). Feature extraction is not timed here: it is the ONNX engine's
//! forward pass, benchmarked by `--bench engine`.
//!
//! `cargo bench --bench metrics` (env: PROBEGAN_BENCH_DIM, default 512 — between a small
//! judge's penultimate layer and Inception's 2048; PROBEGAN_BENCH_REPS, default 3).

use candle_core::{Device, Tensor};
use probegan::metrics::{fid, kid};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use std::process::Command;
use std::time::Instant;

fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn main() -> anyhow::Result<()> {
    probegan::init();
    let n = 10_000;
    let d = env_usize("PROBEGAN_BENCH_DIM", 512);
    let reps = env_usize("PROBEGAN_BENCH_REPS", 3);
    let kid_opts = kid::KidOptions {
        subsets: 50,
        subset_size: 1000,
        seed: 0,
    };
    // Post-ReLU-like features: non-negative, correlated through a shared latent.
    let mut rng = ChaCha8Rng::seed_from_u64(1);
    let mut gen = |shift: f64| -> Vec<f64> {
        (0..n)
            .flat_map(|_| {
                let z: f64 = rng.random::<f64>() - 0.5;
                (0..d)
                    .map(|j| {
                        (z * ((j % 7) as f64 - 3.0) + rng.random::<f64>() - 0.4 + shift).max(0.0)
                    })
                    .collect::<Vec<_>>()
            })
            .collect()
    };
    let real = gen(0.0);
    let fake = gen(0.05);
    let rt = Tensor::from_vec(real.clone(), (n, d), &Device::Cpu)?;
    let ft = Tensor::from_vec(fake.clone(), (n, d), &Device::Cpu)?;
    let subsets = kid::draw_subsets(n, n, &kid_opts)?;

    let mut times = vec![];
    let (mut f, mut k) = (
        0.0,
        kid::Kid {
            mean: 0.0,
            std: 0.0,
        },
    );
    for _ in 0..reps {
        let t0 = Instant::now();
        f = fid::fid(&rt, &ft)?;
        k = kid::kid_on_subsets(&rt, &ft, &subsets)?;
        times.push(t0.elapsed().as_secs_f64());
    }
    times.sort_by(|a, b| a.total_cmp(b));
    let ours = times[times.len() / 2];
    println!("metrics/fid+kid n={n} d={d} kid={}x{}: probegan {ours:.3} s (median of {reps}); FID {f:.6} KID {:.6e}", kid_opts.subsets, kid_opts.subset_size, k.mean);

    let dir = tempfile::tempdir()?;
    let write = |name: &str, v: &[f64]| {
        std::fs::write(
            dir.path().join(name),
            v.iter().flat_map(|x| x.to_le_bytes()).collect::<Vec<u8>>(),
        )
    };
    write("real.f64", &real)?;
    write("fake.f64", &fake)?;
    let meta = serde_json::json!({"real": [n, d], "fake": [n, d], "kid_subsets": subsets});
    std::fs::write(dir.path().join("meta.json"), meta.to_string())?;
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/bench/metrics_numpy.py");
    let out = Command::new("python3")
        .arg(script)
        .arg(dir.path())
        .arg(reps.to_string())
        .output();
    match out {
        Ok(o) if o.status.success() => {
            let v: serde_json::Value = serde_json::from_slice(&o.stdout)?;
            let py = v["seconds"].as_f64().unwrap_or(f64::NAN);
            println!(
                "metrics/fid+kid numpy/scipy {py:.3} s; FID {:.6} KID {:.6e}; speed ratio (numpy time / probegan time) {:.2}x",
                v["fid"].as_f64().unwrap_or(f64::NAN),
                v["kid_mean"].as_f64().unwrap_or(f64::NAN),
                py / ours
            );
        }
        Ok(o) => println!("numpy peer failed: {}", String::from_utf8_lossy(&o.stderr)),
        Err(e) => println!("numpy peer skipped: python3 not runnable ({e})"),
    }
    Ok(())
}
