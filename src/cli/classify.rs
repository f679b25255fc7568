//! `probegan classify MODEL IMAGE... [--adapter A.toml] [--top K] [--json]`: top-k classes.
//! Without an adapter one is guessed from the model (`cli::adapter_guess`): size, channels and
//! layout from its declared input, 1000 outputs named with the ImageNet-1k labels, pixels in
//! 0..1 (a guess, said on stderr).

use crate::adapter::Adapter;
use crate::device::DeviceArgs;
use crate::onnx::OnnxModel;
use anyhow::Result;
use candle_core::{DType, Device, Tensor};
use std::path::{Path, PathBuf};

#[derive(clap::Args, Debug)]
pub struct Args {
    /// ONNX file or zoo name.
    pub model: String,
    /// Image files (PNG or JPEG).
    #[arg(required = true)]
    pub images: Vec<PathBuf>,
    /// Adapter TOML (input format, class names); defaults to the zoo entry's adapter.
    #[arg(long)]
    pub adapter: Option<PathBuf>,
    /// How many classes to show per image.
    #[arg(long, default_value_t = 5)]
    pub top: usize,
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub device: DeviceArgs,
}

#[derive(serde::Serialize)]
struct Guess {
    class: String,
    index: usize,
    probability: f32,
}

#[derive(serde::Serialize)]
struct Row {
    image: String,
    top: Vec<Guess>,
}

/// The adapter to use: explicit, the zoo's, or one guessed from the model's declared input
/// and output (said on stderr, since its pixel range is a guess).
pub fn adapter_for(
    model: &OnnxModel,
    model_path: &Path,
    explicit: Option<&Path>,
    zoo: Option<&Path>,
) -> Result<Adapter> {
    if let Some(p) = explicit.or(zoo) {
        let a = Adapter::load(p)?;
        a.validate_against(model)?;
        return Ok(a);
    }
    let guess = super::adapter_guess::guess_adapter(model, model_path)?;
    eprintln!("{}", guess.summary);
    Ok(guess.adapter)
}

/// Probabilities: softmax of logits, unless the model already outputs a distribution.
pub fn probabilities(out: &Tensor) -> Result<Tensor> {
    let out = out.to_dtype(DType::F32)?;
    let rows: Vec<Vec<f32>> = out.to_device(&Device::Cpu)?.to_vec2()?;
    let is_dist = rows
        .iter()
        .all(|r| r.iter().all(|&v| v >= 0.0) && (r.iter().sum::<f32>() - 1.0).abs() < 1e-3);
    Ok(if is_dist {
        out
    } else {
        candle_nn::ops::softmax(&out, 1)?
    })
}

pub fn run(args: Args) -> Result<()> {
    let resolved = crate::zoo::resolve_model_arg(&args.model)?;
    let device = args.device.device()?;
    let model = OnnxModel::load(&resolved.path, &device)?;
    let adapter = adapter_for(
        &model,
        &resolved.path,
        args.adapter.as_deref(),
        resolved.adapter.as_deref(),
    )?;
    let x = adapter.images_to_input(&args.images, &device)?;
    let out = &model.forward(&[x])?[0];
    let out = if out.rank() > 2 {
        out.flatten_from(1)?
    } else {
        out.clone()
    };
    let probs = probabilities(&adapter.select_logits(&out)?)?;
    let probs: Vec<Vec<f32>> = probs.to_device(&Device::Cpu)?.to_vec2()?;
    let names = adapter.class_names();
    let rows: Vec<Row> = args
        .images
        .iter()
        .zip(&probs)
        .map(|(img, p)| {
            let mut idx: Vec<usize> = (0..p.len()).collect();
            idx.sort_by(|&a, &b| p[b].total_cmp(&p[a]));
            let top = idx
                .iter()
                .take(args.top.max(1))
                .map(|&i| Guess {
                    class: names.get(i).cloned().unwrap_or_else(|| i.to_string()),
                    index: i,
                    probability: p[i],
                })
                .collect();
            Row {
                image: img.display().to_string(),
                top,
            }
        })
        .collect();
    if args.json {
        println!("{}", serde_json::to_string_pretty(&rows)?);
    } else {
        for r in &rows {
            println!("{}", r.image);
            for g in &r.top {
                println!(
                    "  {:>6.2}%  {} (#{})",
                    100.0 * g.probability,
                    g.class,
                    g.index
                );
            }
        }
    }
    Ok(())
}
