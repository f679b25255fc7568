//! `probegan sample --checkpoint C --class NAME [--n 64] [--out grid.png] [--out-dir D]`

use crate::device::DeviceArgs;
use crate::train::{grid::save_class_grid, load_sampler};
use anyhow::{bail, Result};
use std::path::PathBuf;

#[derive(clap::Args, Debug)]
pub struct Args {
    /// A checkpoint folder, or a run folder (its newest checkpoint).
    #[arg(long)]
    pub checkpoint: PathBuf,
    /// Class name (or index) to sample.
    #[arg(long)]
    pub class: String,
    #[arg(long, default_value_t = 64)]
    pub n: usize,
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Write one grid PNG here.
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Write each sample as its own PNG into this folder (and, for an audio run, as a WAV
    /// file by Griffin-Lim, to listen to).
    #[arg(long)]
    pub out_dir: Option<PathBuf>,
    /// Grid columns.
    #[arg(long, default_value_t = 8)]
    pub cols: usize,
    #[command(flatten)]
    pub device: DeviceArgs,
}

pub fn run(args: Args) -> Result<()> {
    if args.out.is_none() && args.out_dir.is_none() {
        bail!("nothing to write: pass --out grid.png and/or --out-dir DIR");
    }
    if args.n == 0 {
        bail!("--n must be at least 1");
    }
    let device = args.device.device()?;
    let sampler = load_sampler(&args.checkpoint, &device)?;
    let class = sampler.class_index(&args.class)?;
    let x = sampler.sample(class, args.n, args.seed)?;
    if let Some(out) = &args.out {
        save_class_grid(&x, args.cols, &[], out)?;
        println!("wrote {}", out.display());
    }
    if let Some(dir) = &args.out_dir {
        std::fs::create_dir_all(dir)?;
        let tiles = crate::image_io::to_rgb_images(&x)?;
        for (i, t) in tiles.iter().enumerate() {
            crate::image_io::save_png(
                t,
                &dir.join(format!(
                    "{}_{i:04}.png",
                    sanitize(&sampler.class_names()[class])
                )),
            )?;
        }
        println!("wrote {} images to {}", tiles.len(), dir.display());
        if let Some(mel) = sampler.mel()? {
            let waves = mel.waveforms(&x)?;
            for (i, w) in waves.iter().enumerate() {
                let path = dir.join(format!(
                    "{}_{i:04}.wav",
                    sanitize(&sampler.class_names()[class])
                ));
                crate::data::audio::write_wav_mono(&path, w, mel.mel.sample_rate)?;
            }
            println!(
                "wrote {} WAV files ({} Hz, Griffin-Lim) to {}",
                waves.len(),
                mel.mel.sample_rate,
                dir.display()
            );
        }
    }
    Ok(())
}

fn sanitize(name: &str) -> String {
    name.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' {
                c
            } else {
                '_'
            }
        })
        .collect()
}
