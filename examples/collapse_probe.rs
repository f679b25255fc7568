//! Is a collapse in the weights or in batch norm? Per-class pixel diversity (mean pairwise
//! distance of 32 samples) of a run's newest checkpoint, for the raw and the EMA generator, in
//! training mode (batch statistics of one mixed-class batch) and evaluation mode (stored
//! statistics). Equal numbers in both modes put the collapse in G's weights
//! (docs/results.md, "Mode collapse").
//!
//! `cargo run --release --example collapse_probe -- RUN_DIR`
use candle_core::{Device, Tensor};
use probegan::nets::{Generator, Mode, ParamStore};
use probegan::run::RunInfo;
use probegan::train::diversity_watch::mean_pairwise_distance;
use rand::SeedableRng;

fn main() -> anyhow::Result<()> {
    probegan::init();
    let Some(run) = std::env::args().nth(1) else {
        anyhow::bail!("usage: collapse_probe RUN_DIR");
    };
    let run = std::path::Path::new(&run);
    let ckpt = probegan::run::latest_checkpoint(run)?;
    let info = RunInfo::load(run)?;
    let dev = Device::Cpu;
    let k = info.class_names.len();
    let zd = info.net.z_dim;
    for file in ["generator.safetensors", "generator_ema.safetensors"] {
        let store = ParamStore::new(&dev, 0);
        let g = Generator::new(&store.root(), &info.net, k)?;
        store.load(&ckpt.join(file))?;
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(1);
        // 32 per class, in one mixed batch of 320 for training mode.
        let n = 32 * k;
        let z: Vec<f32> = (0..n * zd)
            .map(|_| probegan::nets::params::gaussian(&mut rng) as f32)
            .collect();
        let z = Tensor::from_vec(z, (n, zd), &dev)?;
        let y: Vec<u32> = (0..n).map(|i| (i % k) as u32).collect();
        let yt = Tensor::from_vec(y.clone(), n, &dev)?;
        let xt = g.forward(&z, &yt, Mode::TRAIN_FROZEN)?;
        let xe = g.forward(&z, &yt, Mode::EVAL)?;
        let mut line = format!("{file:28}");
        for (tag, x) in [("train", &xt), ("eval", &xe)] {
            let mut ds = vec![];
            for c in 0..k {
                let rows: Vec<u32> = (0..n as u32)
                    .filter(|&i| y[i as usize] as usize == c)
                    .collect();
                let idx = Tensor::from_vec(rows.clone(), rows.len(), &dev)?;
                ds.push(mean_pairwise_distance(&x.index_select(&idx, 0)?)?);
            }
            line += &format!(
                " {tag}: {}",
                ds.iter()
                    .map(|d| format!("{d:.1}"))
                    .collect::<Vec<_>>()
                    .join(" ")
            );
        }
        println!("{line}");
    }
    Ok(())
}
