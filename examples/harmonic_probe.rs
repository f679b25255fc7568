//! What pitch the harmonic head (`model.harmonic`) of an audio run's EMA generator chooses, per
//! class: the mean voicing weight, the median over frames of the most likely pitch
//! candidate (voicing-weighted frames only: voicing ≥ 0.5), and how many frames that is.
//! The eval's pitch judge hears samples through Griffin-Lim; this reads the head directly.
//!
//! `cargo run --release --example harmonic_probe -- RUN_DIR`
use candle_core::{Device, Tensor, D};
use probegan::nets::{Generator, Mode, ParamStore};
use probegan::run::RunInfo;
use probegan::train::config::Config;
use probegan::train::setup::method_settings;
use rand::SeedableRng;

fn main() -> anyhow::Result<()> {
    probegan::init();
    let Some(run) = std::env::args().nth(1) else {
        anyhow::bail!("usage: harmonic_probe RUN_DIR");
    };
    let run = std::path::Path::new(&run);
    let ckpt = probegan::run::latest_checkpoint(run)?;
    let info = RunInfo::load(run)?;
    let settings = method_settings(&Config::from_run_json(&info.config)?)?;
    let dev = Device::Cpu;
    let k = info.class_names.len();
    let zd = info.net.z_dim;
    let store = ParamStore::new(&dev, 0);
    let g = Generator::with_mel(&store.root(), &info.net, k, settings.mel.as_ref())?;
    store.load(&ckpt.join("generator_ema.safetensors"))?;
    let Some(head) = g.harmonic() else {
        anyhow::bail!(
            "{}: the run's generator has no harmonic head",
            run.display()
        );
    };
    let candidates = head.candidates().to_vec();
    println!("{} ({})", run.display(), ckpt.display());
    for (c, name) in info.class_names.iter().enumerate() {
        let n = 64;
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(1);
        let z: Vec<f32> = (0..n * zd)
            .map(|_| probegan::nets::params::gaussian(&mut rng) as f32)
            .collect();
        let z = Tensor::from_vec(z, (n, zd), &dev)?;
        let y = Tensor::from_vec(vec![c as u32; n], n, &dev)?;
        let v = g.voicing(&z, &y, Mode::EVAL)?.expect("a head");
        let voicing: Vec<f32> = v.voicing.flatten_all()?.to_vec1()?;
        let best: Vec<u32> = v.pitch.argmax(D::Minus1)?.flatten_all()?.to_vec1()?;
        let peak: Vec<f32> = v.pitch.max(D::Minus1)?.flatten_all()?.to_vec1()?;
        let mut voiced: Vec<f64> = best
            .iter()
            .zip(&voicing)
            .filter(|(_, &w)| w >= 0.5)
            .map(|(&b, _)| candidates[b as usize])
            .collect();
        voiced.sort_by(f64::total_cmp);
        let mean_voicing = voicing.iter().sum::<f32>() / voicing.len() as f32;
        let mean_peak = peak.iter().sum::<f32>() / peak.len() as f32;
        let median = voiced.get(voiced.len() / 2).copied();
        println!(
            "{name:>10}{}: voicing {mean_voicing:.2}, top pitch weight {mean_peak:.2}, median pitch of voiced frames {}, voiced frames {}/{}",
            if info.unseen.contains(name) { " (unseen)" } else { "" },
            median.map_or("—".into(), |m| format!("{m:.0} Hz")),
            voiced.len(),
            voicing.len()
        );
    }
    Ok(())
}
