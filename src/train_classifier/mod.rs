//! Training target classifiers with candle and exporting them as ONNX
//! (`probegan train-classifier`): regular ERM, PGD adversarial training (Madry et al.) and
//! online group DRO (Sagawa et al.). Networks see generator space ([-1, 1], NCHW) directly,
//! so their adapter is the identity.

pub mod arch;
pub mod attack;
pub mod evaluate;
pub mod group_dro;
pub mod outliers;

use crate::data::{Augment, Dataset};
use anyhow::{bail, Context, Result};
use arch::{Mode, Net};
use attack::{pgd, PgdConfig};
use candle_core::{DType, Device, Tensor};
use candle_nn::optim::{AdamW, Optimizer, ParamsAdamW};
use evaluate::{evaluate, Evaluation};
use group_dro::GroupDro;
use outliers::{outlier_batch, rejection_rates, Family, OutlierExposure, Rejection};
use std::path::{Path, PathBuf};

#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct TrainConfig {
    pub arch: String,
    pub epochs: usize,
    pub batch_size: usize,
    pub lr: f64,
    pub weight_decay: f64,
    pub seed: u64,
    /// PGD adversarial training: train on attacked images only (Madry et al.).
    pub robust: Option<PgdConfig>,
    /// Group DRO step size; `None`: empirical risk minimisation.
    pub dro_eta: Option<f64>,
    pub hflip: bool,
    pub crop_pad: usize,
    /// Attack used to report robust accuracy (default: the training attack with 2x steps).
    pub pgd_eval: Option<PgdConfig>,
    /// Test images attacked for the robust accuracy (PGD is as costly as `steps` trainings).
    pub pgd_eval_limit: usize,
    /// Outlier exposure: one extra "none of the classes" output (judges; see `outliers`).
    #[serde(default)]
    pub outliers: Option<OutlierExposure>,
}

impl Default for TrainConfig {
    fn default() -> Self {
        TrainConfig {
            arch: "cnn-small".into(),
            epochs: 4,
            batch_size: 128,
            lr: 2e-3,
            weight_decay: 1e-4,
            seed: 0,
            robust: None,
            dro_eta: None,
            hflip: false,
            crop_pad: 0,
            pgd_eval: None,
            pgd_eval_limit: 1000,
            outliers: None,
        }
    }
}

/// What `train` produced.
pub struct TrainOutcome {
    pub net: Net,
    pub test: Evaluation,
    pub train_loss_last_epoch: f64,
    pub epochs_run: usize,
    pub resumed_from_epoch: usize,
    pub seconds: f64,
    pub group_weights: Option<Vec<f64>>,
    /// With outlier exposure: what the reject output does on real test images and on fresh
    /// outliers of every family (trained and held out).
    pub outlier_report: Option<OutlierReport>,
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct OutlierReport {
    pub class_name: String,
    /// Share of real test images the model rejects (they should all be accepted).
    pub real_rejected: f64,
    pub families: Vec<Rejection>,
}

/// Per-epoch checkpoint beside the output: `<out>.ckpt/{weights.safetensors,state.json}`.
pub fn checkpoint_dir(out: &Path) -> PathBuf {
    let mut s = out.as_os_str().to_owned();
    s.push(".ckpt");
    PathBuf::from(s)
}

#[derive(serde::Serialize, serde::Deserialize)]
struct CheckpointState {
    epochs_done: usize,
    config: TrainConfig,
    dro: Option<GroupDro>,
}

fn save_checkpoint(dir: &Path, net: &Net, state: &CheckpointState) -> Result<()> {
    std::fs::create_dir_all(dir).with_context(|| format!("{}: cannot create", dir.display()))?;
    // Write then rename, so a kill mid-write leaves the previous checkpoint intact.
    let w_tmp = dir.join("weights.safetensors.tmp");
    net.save(&w_tmp)?;
    std::fs::rename(&w_tmp, dir.join("weights.safetensors"))?;
    let s_tmp = dir.join("state.json.tmp");
    std::fs::write(&s_tmp, serde_json::to_string_pretty(state)?)?;
    std::fs::rename(&s_tmp, dir.join("state.json"))?;
    Ok(())
}

/// Per-example cross-entropy `[B]`.
fn per_example_ce(logits: &Tensor, labels: &Tensor) -> Result<Tensor> {
    let logp = candle_nn::ops::log_softmax(logits, 1)?;
    Ok(logp.gather(&labels.unsqueeze(1)?, 1)?.squeeze(1)?.neg()?)
}

/// Train on `train`, evaluate on `test`. With `checkpoint`, writes one after every epoch;
/// with `resume`, continues from it (weights and DRO weights; AdamW moments restart).
pub fn train(
    cfg: &TrainConfig,
    train: &Dataset,
    test: &Dataset,
    device: &Device,
    checkpoint: Option<&Path>,
    resume: bool,
    progress: bool,
) -> Result<TrainOutcome> {
    let start = std::time::Instant::now();
    if train.is_empty() {
        bail!("the training set is empty");
    }
    if train.class_names != test.class_names {
        bail!(
            "train and test sets disagree on class names: {:?} vs {:?}",
            train.class_names,
            test.class_names
        );
    }
    let net = Net::new(
        &cfg.arch,
        train.image_shape(),
        train.num_classes() + cfg.outliers.is_some() as usize,
        cfg.seed,
        device,
    )?;
    if cfg.dro_eta.is_some() && cfg.outliers.is_some() {
        // Group DRO weighs per-group losses; synthetic outliers belong to no group.
        bail!("--dro and --outlier-class cannot be combined");
    }
    let mut dro = match cfg.dro_eta {
        Some(eta) => {
            if train.groups.is_none() {
                bail!("--dro group needs a dataset with groups (a CSV with --group-col)");
            }
            Some(GroupDro::new(train.num_groups(), eta))
        }
        None => None,
    };
    let mut first_epoch = 0;
    if resume {
        let dir = checkpoint.context("--resume needs a checkpoint location")?;
        let state_path = dir.join("state.json");
        if state_path.is_file() {
            let state: CheckpointState = serde_json::from_str(&std::fs::read_to_string(
                &state_path,
            )?)
            .with_context(|| format!("{}: unreadable checkpoint state", state_path.display()))?;
            if state.config.arch != cfg.arch || state.config.seed != cfg.seed {
                bail!(
                    "{}: checkpoint is for --arch {} --seed {}, not --arch {} --seed {}",
                    state_path.display(),
                    state.config.arch,
                    state.config.seed,
                    cfg.arch,
                    cfg.seed
                );
            }
            net.load_weights(&dir.join("weights.safetensors"))?;
            first_epoch = state.epochs_done;
            if state.dro.is_some() {
                dro = state.dro;
            }
        }
    }
    let mut opt = AdamW::new(
        net.varmap.all_vars(),
        ParamsAdamW {
            lr: cfg.lr,
            weight_decay: cfg.weight_decay,
            ..Default::default()
        },
    )?;
    let steps_per_epoch = train.len().div_ceil(cfg.batch_size);
    let total_steps = (steps_per_epoch * cfg.epochs).max(1);
    let bar = if progress {
        let b = indicatif::ProgressBar::new(total_steps as u64);
        b.set_style(
            indicatif::ProgressStyle::with_template(
                "{elapsed_precise} [{bar:30}] {pos}/{len} batches ({eta}) {msg}",
            )
            .unwrap()
            .progress_chars("=> "),
        );
        b.set_position((first_epoch * steps_per_epoch) as u64);
        b
    } else {
        indicatif::ProgressBar::hidden()
    };
    let augment = Augment {
        hflip: cfg.hflip,
        crop_pad: cfg.crop_pad,
    };
    let mut last_loss = f64::NAN;
    for epoch in first_epoch..cfg.epochs {
        let (mut loss_sum, mut n) = (0.0, 0usize);
        let mut attack_rng = <rand_chacha::ChaCha8Rng as rand::SeedableRng>::seed_from_u64(
            cfg.seed ^ (epoch as u64).wrapping_mul(0x9e37_79b9),
        );
        for (bi, batch) in train
            .batches(cfg.batch_size, cfg.seed.wrapping_add(epoch as u64), device)
            .with_augment(augment)
            .enumerate()
        {
            let b = batch?;
            // Cosine decay to zero over the whole run: a good final model in few epochs.
            let t = (epoch * steps_per_epoch + bi) as f64 / total_steps as f64;
            opt.set_learning_rate(cfg.lr * 0.5 * (1.0 + (std::f64::consts::PI * t).cos()));
            let x = match &cfg.robust {
                Some(p) => pgd(
                    &net,
                    &b.images,
                    &b.labels,
                    p,
                    Mode::TrainNoUpdate,
                    &mut attack_rng,
                )?,
                None => b.images.clone(),
            };
            // Outliers are appended after the attack: the reject output is trained on clean
            // outliers, the garment outputs on (possibly attacked) real images.
            let (x, labels) = match &cfg.outliers {
                Some(o) => {
                    let n_out = o.count(b.indices.len());
                    let xo = outlier_batch(&b.images, n_out, &Family::TRAINED, &mut attack_rng)?;
                    let lo = Tensor::full(train.num_classes() as u32, n_out, device)?
                        .to_dtype(b.labels.dtype())?;
                    (
                        Tensor::cat(&[&x, &xo], 0)?,
                        Tensor::cat(&[&b.labels, &lo], 0)?,
                    )
                }
                None => (x, b.labels.clone()),
            };
            let logits = net.forward(&x, Mode::Train)?;
            let per = per_example_ce(&logits, &labels)?;
            let loss = match (&mut dro, &b.groups) {
                (Some(d), Some(g)) => d.loss(&per, g)?,
                _ => per.mean_all()?,
            };
            let lv = loss.to_dtype(DType::F64)?.to_scalar::<f64>()?;
            if !lv.is_finite() {
                bail!(
                    "training diverged (loss {lv}) at epoch {} batch {bi}; lower --lr",
                    epoch + 1
                );
            }
            opt.backward_step(&loss)?;
            loss_sum += lv * b.indices.len() as f64;
            n += b.indices.len();
            bar.inc(1);
            bar.set_message(format!(
                "epoch {}/{} loss {:.4}",
                epoch + 1,
                cfg.epochs,
                loss_sum / n as f64
            ));
        }
        last_loss = loss_sum / n.max(1) as f64;
        if let Some(dir) = checkpoint {
            save_checkpoint(
                dir,
                &net,
                &CheckpointState {
                    epochs_done: epoch + 1,
                    config: cfg.clone(),
                    dro: dro.clone(),
                },
            )?;
        }
    }
    bar.finish_and_clear();
    let attack = cfg.pgd_eval.or(cfg.robust.map(|p| PgdConfig {
        steps: p.steps * 2,
        step_size: 2.5 * p.eps / (p.steps * 2) as f64,
        ..p
    }));
    let test_eval = evaluate(
        &net,
        test,
        attack.as_ref().map(|a| (a, cfg.pgd_eval_limit)),
        device,
    )?;
    let outlier_report = match &cfg.outliers {
        Some(o) => Some(outlier_report(&net, test, o, cfg.seed, device)?),
        None => None,
    };
    Ok(TrainOutcome {
        outlier_report,
        net,
        test: test_eval,
        train_loss_last_epoch: last_loss,
        epochs_run: cfg.epochs.saturating_sub(first_epoch),
        resumed_from_epoch: first_epoch,
        seconds: start.elapsed().as_secs_f64(),
        group_weights: dro.map(|d| d.q),
    })
}

/// The reject output's behaviour on the real test set and on 500 fresh outliers per family.
fn outlier_report(
    net: &Net,
    test: &Dataset,
    o: &OutlierExposure,
    seed: u64,
    device: &Device,
) -> Result<OutlierReport> {
    let reject = net.num_classes - 1;
    let (mut rejected, mut total) = (0usize, 0usize);
    let mut first_batch = None;
    for batch in test.sequential_batches(500, device) {
        let b = batch?;
        let pred: Vec<u32> = net.predict(&b.images)?.to_vec1()?;
        rejected += pred.iter().filter(|&&p| p as usize == reject).count();
        total += pred.len();
        first_batch.get_or_insert(b.images);
    }
    let real = first_batch.context("the test set is empty")?;
    let predict = |x: &Tensor| -> Result<Vec<u32>> { Ok(net.predict(x)?.to_vec1()?) };
    Ok(OutlierReport {
        class_name: o.class_name.clone(),
        real_rejected: rejected as f64 / total.max(1) as f64,
        families: rejection_rates(&predict, &real, reject, 500, seed)?,
    })
}

/// The `metadata_props` key holding a mel model's `[mel]` adapter table, which `adapter init`
/// reads back: an ONNX graph that takes mel features cannot say how they were made.
pub const MEL_METADATA_KEY: &str = "probegan.mel";

/// Write into an exported model's `metadata_props` what `adapter init` reads back (its class
/// names, its input as a formula, and for a model of mel features the front end as the
/// adapter's `[mel]` table), so the model explains itself without its adapter file.
pub fn describe_in_metadata(
    model: &mut tract_onnx::pb::ModelProto,
    net: &Net,
    class_names: &[String],
    mel: Option<&crate::data::MelFeatures>,
) -> Result<()> {
    let colour = if net.input_shape.0 == 1 {
        "grey"
    } else {
        "RGB"
    };
    let mut entries = vec![("classes", serde_json::to_string(class_names)?)];
    match mel {
        Some(m) => {
            let (_, h, w) = net.input_shape;
            entries.push((
                "preprocessing",
                format!(
                    "log-mel features NCHW [N, 1, {h}, {w}] float32: (log(mel + {}) - {}) / {}, \
                     clamped to [-1, 1]; the front end is `{MEL_METADATA_KEY}`",
                    m.mel.log_offset, m.mel.mean, m.mel.std
                ),
            ));
            entries.push((MEL_METADATA_KEY, m.mel.toml_table(m.clip_samples)));
        }
        None => entries.push((
            "preprocessing",
            format!("{colour} NCHW float32 in [-1, 1]: (x-127.5)/127.5 for 0..255 pixels"),
        )),
    }
    for (key, value) in entries {
        model.metadata_props.retain(|e| e.key != key);
        model
            .metadata_props
            .push(tract_onnx::pb::StringStringEntryProto {
                key: key.into(),
                value,
            });
    }
    Ok(())
}

/// Class names as the items of a TOML array.
fn toml_names(class_names: &[String]) -> String {
    class_names
        .iter()
        .map(|n| format!("{n:?}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// The adapter TOML for a model trained on mel features (`[1, n_mels, frames]` from a WAV
/// folder): an audio adapter whose `[mel]` table is the front end the features came from.
pub fn mel_adapter_toml(
    mel: &crate::data::MelFeatures,
    class_names: &[String],
    model_file: &str,
) -> String {
    let names = toml_names(class_names);
    format!(
        "# Written by `probegan train-classifier`: the model reads mel features [N, 1, n_mels, frames]\n\
         # of these clips, clamped to [-1, 1].\nmodality = \"mel\"\nmodel = {model_file:?}\n\n{}\n[classes]\nnames = [{names}]\n",
        mel.mel.toml_table(mel.clip_samples)
    )
}

/// The adapter TOML for a model exported by `train` (generator space in, all logits out).
pub fn adapter_toml(net: &Net, class_names: &[String], model_file: &str) -> String {
    let (c, h, w) = net.input_shape;
    let names = toml_names(class_names);
    format!(
        "# Written by `probegan train-classifier`: the model reads generator space as is.\n\
         modality = \"image\"\nmodel = {model_file:?}\n\n[input]\nsize = [{h}, {w}]\nchannels = {c}\n\
         layout = \"NCHW\"\nrange = \"-1..1\"\nresize = \"bilinear\"\n\n[classes]\nnames = [{names}]\n"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The adapter written for a mel model reads back as the front end it was trained on.
    #[test]
    fn mel_adapter_round_trips_the_front_end() {
        let mut features = crate::data::MelFeatures::voices();
        features.mel.fmin = 30.0;
        features.mel.log = crate::adapter::mel::LogScale::Db;
        let names = vec!["men".to_string(), "women".to_string()];
        let text = mel_adapter_toml(&features, &names, "voices.onnx");
        let adapter = crate::adapter::Adapter::from_toml_str(&text, "written").unwrap();
        let audio = adapter.audio().expect("an audio adapter");
        assert_eq!(audio.mel, features.mel);
        assert_eq!(audio.clip_samples, features.clip_samples);
        assert_eq!(audio.frames, 64);
        assert_eq!(audio.model_input, crate::adapter::ModelInput::Mel);
    }
}
