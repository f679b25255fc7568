//! `probegan train-classifier`: train a classifier with candle and export it as ONNX.

use crate::data::{CsvSpec, DataSource, Dataset, LoadOptions, Split};
use crate::device::DeviceArgs;
use crate::train_classifier::attack::{Norm, PgdConfig};
use crate::train_classifier::outliers::OutlierExposure;
use crate::train_classifier::{adapter_toml, checkpoint_dir, train, TrainConfig};
use anyhow::{bail, Context, Result};
use std::path::PathBuf;

#[derive(clap::Args, Debug)]
pub struct Args {
    /// Training data: `embedded` (bundled Fashion-MNIST subset), `fashion-mnist` (the full
    /// Debian package), a folder of IDX files, an image folder (`<class>/*.png`, optionally
    /// under `train/` and `test/`), or a CSV metadata file (Waterbirds' layout works as is).
    #[arg(long)]
    pub data: String,
    /// Architecture: cnn-small, cnn-5x5, mlp, cnn-tiny.
    #[arg(long, default_value = "cnn-small")]
    pub arch: String,
    /// Output ONNX file; its adapter is written beside it as `<stem>.adapter.toml`.
    #[arg(long)]
    pub out: PathBuf,
    /// Adversarial training: `pgd-linf` or `pgd-l2` (Madry et al.).
    #[arg(long, value_parser = ["pgd-linf", "pgd-l2"])]
    pub robust: Option<String>,
    /// Attack radius in [0, 1] pixel units (e.g. 0.1 L-inf, 1.5 L2 for Fashion-MNIST).
    #[arg(long, default_value_t = 0.1)]
    pub eps: f64,
    /// PGD steps per training batch (the robust accuracy is measured with twice as many).
    #[arg(long, default_value_t = 7)]
    pub steps: usize,
    /// Group DRO (Sagawa et al.) over the dataset's groups: `group`.
    #[arg(long, value_parser = ["group"])]
    pub dro: Option<String>,
    /// Group DRO's group-weight step size.
    #[arg(long, default_value_t = 0.01)]
    pub dro_eta: f64,
    #[arg(long, default_value_t = 4)]
    pub epochs: usize,
    #[arg(long, default_value_t = 128)]
    pub batch_size: usize,
    #[arg(long, default_value_t = 2e-3)]
    pub lr: f64,
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Keep only these classes (comma-separated names), relabelled in this order.
    #[arg(long, value_delimiter = ',')]
    pub classes: Vec<String>,
    /// Drop these classes (comma-separated names).
    #[arg(long, value_delimiter = ',')]
    pub exclude_class: Vec<String>,
    /// Random left-right flips.
    #[arg(long)]
    pub hflip: bool,
    /// Random crops after padding by this many pixels.
    #[arg(long, default_value_t = 0)]
    pub crop_pad: usize,
    /// Image size HxW for image folders / CSV data (e.g. 64x64); default: the first image's.
    #[arg(long)]
    pub size: Option<String>,
    /// 1 (grey) or 3 (RGB) for image folders / CSV data.
    #[arg(long)]
    pub channels: Option<usize>,
    /// Skip unreadable images and bad CSV rows (reported with counts) instead of failing.
    #[arg(long)]
    pub skip_bad: bool,
    /// CSV: image file column (default: img_filename, filename, file, path or image).
    #[arg(long)]
    pub file_col: Option<String>,
    /// CSV: label column (default: y, label, class or target).
    #[arg(long)]
    pub label_col: Option<String>,
    /// CSV: group column; groups are (label, value) pairs, e.g. `place` for Waterbirds.
    #[arg(long)]
    pub group_col: Option<String>,
    /// CSV: split column (default `split`; values train/val/test or 0/1/2).
    #[arg(long)]
    pub split_col: Option<String>,
    /// CSV: folder the file column is relative to (default: the CSV's folder).
    #[arg(long)]
    pub root: Option<PathBuf>,
    /// CSV: names for the sorted label values (comma-separated).
    #[arg(long, value_delimiter = ',')]
    pub class_names: Vec<String>,
    /// Train on at most this many images per class (a seeded stratified subset; the test
    /// set stays whole). Keeps PGD training affordable on a CPU.
    #[arg(long)]
    pub train_per_class: Option<usize>,
    /// Test images attacked to report PGD accuracy.
    #[arg(long, default_value_t = 1000)]
    pub pgd_eval_limit: usize,
    /// Outlier exposure for judges: add one output with this name (e.g. "(not a garment)")
    /// trained on synthetic non-images (constants, noise, smooth blobs, pixel-shuffled and
    /// inverted real images), so that `eval` does not count a blank or noise sample as
    /// recognised. The report measures it on real images and on two held-out families.
    #[arg(long)]
    pub outlier_class: Option<String>,
    /// Synthetic outliers per real image in each batch.
    #[arg(long, default_value_t = 0.2)]
    pub outlier_fraction: f64,
    /// Continue from `<out>.ckpt/` (written after every epoch).
    #[arg(long)]
    pub resume: bool,
    /// Print the results as JSON on stdout (no progress bar).
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub device: DeviceArgs,
}

fn parse_size(s: &str) -> Result<(usize, usize)> {
    let parts: Vec<&str> = s.split(['x', 'X', ',']).collect();
    let p = |t: &str| {
        t.trim()
            .parse::<usize>()
            .with_context(|| format!("--size {s}: expected HxW, e.g. 64x64"))
    };
    match parts.as_slice() {
        [a] => Ok((p(a)?, p(a)?)),
        [h, w] => Ok((p(h)?, p(w)?)),
        _ => bail!("--size {s}: expected HxW, e.g. 64x64"),
    }
}

fn select_classes(d: Dataset, a: &Args) -> Result<Dataset> {
    let mut d = d;
    if !a.classes.is_empty() {
        d = d.relabel_classes(&a.classes.iter().map(String::as_str).collect::<Vec<_>>())?;
    }
    if !a.exclude_class.is_empty() {
        let keep: Vec<String> = d
            .class_names
            .iter()
            .filter(|c| !a.exclude_class.contains(c))
            .cloned()
            .collect();
        for e in &a.exclude_class {
            d.class_index(e)?;
        }
        d = d.relabel_classes(&keep.iter().map(String::as_str).collect::<Vec<_>>())?;
    }
    Ok(d)
}

pub fn run(a: Args) -> Result<()> {
    let device = a.device.device()?;
    let csv = CsvSpec {
        file_col: a.file_col.clone(),
        label_col: a.label_col.clone(),
        group_col: a.group_col.clone(),
        split_col: a.split_col.clone(),
        root: a.root.clone(),
        class_names: if a.class_names.is_empty() {
            None
        } else {
            Some(a.class_names.clone())
        },
    };
    let source = DataSource::parse(&a.data, csv)?;
    let opts = LoadOptions {
        size: a.size.as_deref().map(parse_size).transpose()?,
        channels: a.channels,
        skip_bad: a.skip_bad,
        mel: None,
    };
    let (train_set, train_report) = source.load(Split::Train, &opts)?;
    let (test_set, test_report) = source.load(Split::Test, &opts)?;
    let mut train_set = select_classes(train_set, &a)?;
    if let Some(k) = a.train_per_class {
        train_set = train_set.stratified_subset(k, a.seed);
    }
    let test_set = select_classes(test_set, &a)?;
    if !a.json {
        eprintln!(
            "train: {} ({} classes); test: {}",
            train_report.summary(),
            train_set.num_classes(),
            test_report.summary()
        );
    }
    if let Some(w) = train_report.clamp_warning(&format!("--data {}", a.data)) {
        eprintln!("{w}");
    }
    let robust = match a.robust.as_deref() {
        Some("pgd-linf") => Some(PgdConfig::new(Norm::Linf, a.eps, a.steps)?),
        Some("pgd-l2") => Some(PgdConfig::new(Norm::L2, a.eps, a.steps)?),
        _ => None,
    };
    let cfg = TrainConfig {
        arch: a.arch.clone(),
        epochs: a.epochs,
        batch_size: a.batch_size,
        lr: a.lr,
        seed: a.seed,
        robust,
        dro_eta: a.dro.as_ref().map(|_| a.dro_eta),
        hflip: a.hflip,
        crop_pad: a.crop_pad,
        pgd_eval_limit: a.pgd_eval_limit,
        outliers: a
            .outlier_class
            .as_deref()
            .map(|name| OutlierExposure::new(name, a.outlier_fraction))
            .transpose()?,
        ..Default::default()
    };
    if let Some(o) = &cfg.outliers {
        if train_set.class_names.contains(&o.class_name) {
            bail!(
                "--outlier-class {:?} is already a class of the data",
                o.class_name
            );
        }
    }
    let ckpt = checkpoint_dir(&a.out);
    let outcome = train(
        &cfg,
        &train_set,
        &test_set,
        &device,
        Some(&ckpt),
        a.resume,
        !a.json,
    )?;
    let command: Vec<String> = std::env::args().collect();
    let doc = format!(
        "probegan train-classifier ({}); test accuracy {:.4}; command: {}",
        cfg.arch,
        outcome.test.accuracy,
        command.join(" ")
    );
    let mut model = outcome.net.to_onnx(&doc)?;
    let mut output_names = train_set.class_names.clone();
    if let Some(o) = &cfg.outliers {
        output_names.push(o.class_name.clone());
    }
    let mel = source.is_audio().then(|| {
        opts.mel
            .clone()
            .unwrap_or_else(crate::data::MelFeatures::voices)
    });
    crate::train_classifier::describe_in_metadata(
        &mut model,
        &outcome.net,
        &output_names,
        mel.as_ref(),
    )?;
    if let Some(parent) = a.out.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent)
            .with_context(|| format!("{}: cannot create", parent.display()))?;
    }
    crate::onnx::export::write_model(&model, &a.out)?;
    let stem = a
        .out
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_else(|| "model".into());
    let adapter_path = a.out.with_file_name(format!("{stem}.adapter.toml"));
    let file_name = a
        .out
        .file_name()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    let adapter_text = match &mel {
        Some(mel) => crate::train_classifier::mel_adapter_toml(mel, &output_names, &file_name),
        None => adapter_toml(&outcome.net, &output_names, &file_name),
    };
    std::fs::write(&adapter_path, adapter_text)
        .with_context(|| format!("{}: cannot write", adapter_path.display()))?;
    let report = serde_json::json!({
        "model": a.out,
        "adapter": adapter_path,
        "arch": cfg.arch,
        "parameters": outcome.net.parameter_count(),
        "config": cfg,
        "train_images": train_set.len(),
        "test_images": test_set.len(),
        "skipped_images": train_report.skipped + test_report.skipped,
        "epochs_run": outcome.epochs_run,
        "resumed_from_epoch": outcome.resumed_from_epoch,
        "train_loss_last_epoch": outcome.train_loss_last_epoch,
        "seconds": outcome.seconds,
        "test": outcome.test,
        "group_weights": outcome.group_weights,
        "outliers": outcome.outlier_report,
        "command": command.join(" "),
    });
    if a.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        let t = &outcome.test;
        println!(
            "wrote {} ({} parameters) and {}",
            a.out.display(),
            outcome.net.parameter_count(),
            adapter_path.display()
        );
        println!(
            "test accuracy {:.4} on {} images ({:.0} s)",
            t.accuracy, t.count, outcome.seconds
        );
        for c in &t.per_class {
            println!("  class {:<16} {:.4}  (n={})", c.name, c.accuracy, c.count);
        }
        for g in &t.per_group {
            println!("  group {:<24} {:.4}  (n={})", g.name, g.accuracy, g.count);
        }
        if let Some(w) = t.worst_group_accuracy {
            println!("worst-group accuracy {w:.4}");
        }
        if let Some(p) = &t.pgd {
            println!(
                "PGD accuracy {:.4} on {} images ({:?}, eps {}, {} steps)",
                p.accuracy, p.count, p.attack.norm, p.attack.eps, p.attack.steps
            );
        }
        if let Some(o) = &outcome.outlier_report {
            println!(
                "outlier class {:?}: rejects {:.4} of real test images",
                o.class_name, o.real_rejected
            );
            for f in &o.families {
                let tag = if f.held_out { " (held out)" } else { "" };
                println!(
                    "  rejects {:.4} of {} {:?} outliers{tag}",
                    f.rejected, f.count, f.family
                );
            }
        }
    }
    Ok(())
}
