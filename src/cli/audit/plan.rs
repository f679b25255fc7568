//! The training run an audit asks for: the config (the demo's template, the flags, the
//! budget, then `--set`), a stored run's config on `--resume`, how the data is decoded, and
//! `--minutes`' step budget from timed steps.

use super::target::Target;
use super::{Args, Mode};
use crate::data::{Dataset, LoadOptions};
use crate::run::CONFIG_TOML;
use crate::train::trainer::Timings;
use crate::train::{setup, Config, Trainer};
use anyhow::{bail, Context, Result};
use candle_core::Device;

/// The audit's training template: the demo's config (images) or the audio demo's (mel
/// spectrograms), each tuned for a few hundred CPU steps.
pub(super) fn template(mode: Mode) -> &'static str {
    match mode {
        Mode::Audio => crate::cli::demo_audio::DEMO_AUDIO_CONFIG,
        Mode::Classes => crate::cli::demo::DEMO_CONFIG,
        Mode::Substrate => SUBSTRATE_CONFIG,
    }
}
/// The substrate audit's template: the ImageNet substrate run (U-Net painter at 128x128,
/// PatchGAN, the paper's loss weights as tuned for a CPU hour).
const SUBSTRATE_CONFIG: &str = include_str!("../../../configs/substrate_imagenet.toml");
/// The audio template's generator widths (base, then up-blocks); a spectrogram whose sides
/// take fewer doublings gets the last ones.
const AUDIO_G_WIDTHS: [usize; 5] = [96, 64, 48, 32, 16];
/// The demo's collapse study (README, "Collapse guard"): past ~1,000 steps a generator as fast
/// as D collapses; the long configs train G at a quarter of D's rate.
const LONG_RUN_STEPS: usize = 1000;
/// Steps timed for `--minutes`, after one warm-up step.
pub(super) const TIMED_STEPS: usize = 3;

fn toml_string(s: &str) -> String {
    toml::Value::String(s.to_string()).to_string()
}

/// The training config: the template, the flags, the budget, then the user's `--set`s.
pub(super) fn build_config(
    args: &Args,
    target: &Target,
    mode: Mode,
    steps: usize,
) -> Result<Config> {
    let unseen: Vec<String> = args.unseen.iter().map(|u| toml_string(u)).collect();
    let method = if mode == Mode::Substrate {
        "substrate"
    } else {
        args.method.as_str()
    };
    let mut o = vec![
        format!(
            "run.out_dir={}",
            toml_string(&args.out.display().to_string())
        ),
        format!("run.steps={steps}"),
        format!("data.source={}", toml_string(&args.data)),
        format!("data.unseen=[{}]", unseen.join(", ")),
        format!("classifier.adapter={}", toml_string(&target.adapter_config)),
        format!("method.name={}", toml_string(method)),
    ];
    if let Some(m) = &target.model_config {
        o.push(format!("classifier.model={}", toml_string(m)));
    }
    let input = target.adapter.input();
    if mode == Mode::Audio {
        o.extend(audio_nets(input.height, input.width)?);
    } else if mode == Mode::Substrate {
        // The painter works at 128x128 (the adapter resizes to the model); a small model's
        // own size is enough.
        o.push(format!("model.channels={}", input.channels));
        if input.height.max(input.width) <= 32 {
            o.push("model.resolution=32".into());
        }
    } else if input.height.max(input.width) > 32 {
        // The template's nets draw 32x32 grey images; a larger or colour model gets 64x64 and
        // its channels (the adapter resizes to the model's input).
        o.push(format!("model.channels={}", input.channels));
        o.push("model.resolution=64".into());
        o.push("model.g_widths=[64, 64, 32, 32, 16]".into());
        o.push("model.d_widths=[16, 32, 32, 32]".into());
        // Hierarchical z splits z over the linear layer and the 4 up-blocks.
        o.push("model.z_dim=40".into());
    } else {
        o.push(format!("model.channels={}", input.channels));
    }
    o.extend(args.overrides.iter().cloned());
    let mut config =
        Config::from_toml_str(template(mode), &o).context("the audit's training config")?;
    let lr_g_given = args
        .overrides
        .iter()
        .any(|o| o.trim_start().starts_with("train.lr_g"));
    // (The substrate painter's rates are the template's own.)
    if steps > LONG_RUN_STEPS && !lr_g_given && mode != Mode::Substrate {
        config.train.lr_g = config.train.lr_d / 4.0;
    }
    Ok(config)
}

/// The generator for a mel model's `[n_mels, frames]` input: the spectrogram's own size (no
/// resizing: bands and frames are the model's), as many doublings (up to the template's 4)
/// as both sides allow, and z split evenly over the base and each up-block.
fn audio_nets(n_mels: usize, frames: usize) -> Result<Vec<String>> {
    let doublings = (n_mels.trailing_zeros().min(frames.trailing_zeros()) as usize).min(4);
    if doublings < 2 || n_mels >> doublings == 0 || frames >> doublings == 0 {
        bail!(
            "the model's mel input is {n_mels} bands x {frames} frames; the audio generator doubles \
             both sides from a small base, so both must be multiples of 4 (better 16): choose \
             the adapter's n_mels and clip_samples (frames = 1 + clip_samples / hop with centred \
             frames) to give such sizes"
        );
    }
    let widths = &AUDIO_G_WIDTHS[AUDIO_G_WIDTHS.len() - doublings - 1..];
    let list = |v: &[usize]| {
        v.iter()
            .map(|w| w.to_string())
            .collect::<Vec<_>>()
            .join(", ")
    };
    Ok(vec![
        format!("model.size=[{n_mels}, {frames}]"),
        "model.channels=1".into(),
        format!("model.g_widths=[{}]", list(widths)),
        format!("model.z_dim={}", 8 * (doublings + 1)),
    ])
}

/// Image folders and CSVs are decoded at the generator's size and channels, so photos of
/// mixed sizes and colour images for a grey model load (Fashion-MNIST and IDX ignore this);
/// WAV clips become features of the adapter's own mel front end.
pub(super) fn load_options(config: &Config, adapter: &crate::adapter::Adapter) -> LoadOptions {
    let c = config.model.channels;
    LoadOptions {
        size: Some(config.model.dims()),
        channels: matches!(c, 1 | 3).then_some(c),
        skip_bad: false,
        mel: adapter.mel_loading(),
    }
}

/// Noise images in `[-1, 1]` at `config`'s generator size, every class of `names` drawn at
/// least twice: what a step costs does not depend on what the pictures show, so `bench` times
/// an audit's step on these without any data of the user's.
pub(super) fn stand_in_data(config: &Config, names: &[String]) -> Result<Dataset> {
    use rand::{Rng, SeedableRng};
    let c = config.model.channels;
    let (h, w) = config.model.dims();
    let n = (2 * names.len()).max(2 * config.train.batch_size);
    let mut rng = rand::rngs::StdRng::seed_from_u64(config.run.seed);
    let images = (0..n * c * h * w)
        .map(|_| rng.random_range(-1.0f32..=1.0))
        .collect();
    let labels = (0..n).map(|i| (i % names.len()) as u32).collect();
    Dataset::new(images, (c, h, w), labels, names.to_vec(), None)
}

/// Seconds per generator step of `config`, timed on a throwaway trainer after a warm-up step.
pub(super) fn measure_step_seconds(
    config: &Config,
    data: &Dataset,
    device: &Device,
) -> Result<(f64, Timings)> {
    let (classifier, info) = setup::load_classifier(config, device)?;
    let mut t = Trainer::new(config.clone(), data, classifier, info, device)?;
    t.train_step()?;
    t.timings = Timings::default();
    for _ in 0..TIMED_STEPS {
        t.train_step()?;
    }
    Ok((t.timings.total_s() / TIMED_STEPS as f64, t.timings.clone()))
}

/// The stored config of a run being resumed, after checking the flags describe the same run.
pub(super) fn stored_config(args: &Args, fresh: &Config) -> Result<Config> {
    let path = args.out.join(CONFIG_TOML);
    let stored = Config::load(&path, &[])?;
    let mut differ = vec![];
    if stored.classifier != fresh.classifier {
        differ.push(format!(
            "the classifier (stored: {}, given: {})",
            stored
                .classifier
                .model
                .as_deref()
                .unwrap_or(&stored.classifier.adapter),
            fresh
                .classifier
                .model
                .as_deref()
                .unwrap_or(&fresh.classifier.adapter)
        ));
    }
    if stored.data.source != fresh.data.source {
        differ.push(format!(
            "--data (stored: {}, given: {})",
            stored.data.source, fresh.data.source
        ));
    }
    if stored.data.unseen != fresh.data.unseen {
        differ.push(format!(
            "--unseen (stored: {:?}, given: {:?})",
            stored.data.unseen, fresh.data.unseen
        ));
    }
    if stored.method.name() != fresh.method.name() {
        differ.push(format!(
            "--method (stored: {}, given: {})",
            stored.method.name(),
            fresh.method.name()
        ));
    }
    if !differ.is_empty() {
        bail!(
            "--resume: {} holds another audit; these differ: {}. Give the same flags, or a new --out to start another",
            args.out.display(),
            differ.join("; ")
        );
    }
    let mut config = stored;
    config.run.out_dir = args.out.clone();
    Ok(config)
}

#[cfg(test)]
mod tests {
    use super::super::target::resolve_target;
    use super::*;

    fn strings(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    fn args(extra: &[&str]) -> Args {
        let mut argv = vec!["audit", "embedded:regular", "--data", "embedded"];
        argv.extend(extra);
        super::super::parse_args(&argv).unwrap()
    }

    #[test]
    fn the_config_takes_the_flags_and_slows_g_for_long_budgets() {
        let a = args(&[
            "--unseen",
            "Bag",
            "--method",
            "naive",
            "--set",
            "train.batch_size=8",
        ]);
        let target = resolve_target(&a, &a.out, true).unwrap();
        let c = build_config(&a, &target, Mode::Classes, 300).unwrap();
        assert_eq!(c.classifier.adapter, "embedded:regular");
        assert_eq!(
            (c.data.source.as_str(), c.data.unseen.clone()),
            ("embedded", strings(&["Bag"]))
        );
        assert_eq!(
            (c.method.name(), c.run.steps, c.train.batch_size),
            ("naive", 300, 8)
        );
        assert_eq!(c.train.lr_g, c.train.lr_d);
        let long = build_config(&a, &target, Mode::Classes, 2000).unwrap();
        assert_eq!(long.train.lr_g * 4.0, long.train.lr_d);
    }

    #[test]
    fn a_large_colour_model_gets_a_valid_64_pixel_colour_generator() {
        // An ImageNet-sized input: G draws 64x64 colour (the adapter resizes); its hierarchical
        // z must split over the extra up-block, which a 32-pixel z_dim did not.
        let toml = "modality = \"image\"\n[input]\nsize = [260, 260]\nchannels = 3\nlayout = \"NCHW\"\nrange = \"-1..1\"\n[classes]\nnames = [\"a\", \"b\", \"c\"]\n";
        let adapter = crate::adapter::Adapter::from_toml_str(toml, "test").unwrap();
        let target = Target {
            adapter_config: "big.toml".into(),
            model_config: Some("big.onnx".into()),
            adapter,
            adapter_origin: "given",
            guessed_toml: None,
            model_file: None,
        };
        let a = args(&["--unseen", "c"]);
        let c = build_config(&a, &target, Mode::Classes, 400).unwrap();
        assert_eq!(
            (c.model.resolution, c.model.channels),
            (64, 3),
            "{:?}",
            c.model
        );
        let data = stand_in_data(&c, &strings(&["a", "b", "c"])).unwrap();
        assert_eq!(data.image_shape(), (3, 64, 64));
        assert_eq!(data.class_counts(), vec![22, 21, 21]);
        assert!(data.images.iter().all(|v| (-1.0..=1.0).contains(v)));
    }
}
