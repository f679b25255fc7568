//! Run configuration: a TOML file in `configs/` plus `--set section.key=value` overrides.
//!
//! The config is data: one struct per TOML table, unknown keys are errors (a typo must not
//! silently train the wrong thing), and the resolved config is written into the run dir.

use crate::nets::NetConfig;
use anyhow::{bail, Context, Result};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Config {
    pub run: RunConfig,
    pub data: DataConfig,
    pub classifier: ClassifierConfig,
    pub model: NetConfig,
    pub train: TrainConfig,
    #[serde(default)]
    pub loss: LossConfig,
    #[serde(default)]
    pub am: AmConfig,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct RunConfig {
    /// `probegan`, `naive`, `oracle`, `am` or `soft-label`.
    pub method: String,
    /// Run directory (relative paths are relative to the working directory).
    pub out_dir: PathBuf,
    pub seed: u64,
    /// Generator steps (one step = `train.d_steps` D updates + one G update).
    pub steps: usize,
    #[serde(default = "d_log_every")]
    pub log_every: usize,
    #[serde(default = "d_sample_every")]
    pub sample_every: usize,
    #[serde(default = "d_checkpoint_every")]
    pub checkpoint_every: usize,
    #[serde(default = "d_keep")]
    pub keep_checkpoints: usize,
    /// Columns of the sample grid (samples per class row).
    #[serde(default = "d_grid_cols")]
    pub grid_columns: usize,
    /// The collapse guard: at every preview, a class whose EMA samples' pixel diversity falls
    /// below this fraction of real images' is logged as collapsed and warned about.
    #[serde(default = "d_collapse_fraction")]
    pub collapse_fraction: f64,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct DataConfig {
    /// A `--data` source: `embedded`, `fashion-mnist`, an IDX folder, an image folder, a CSV.
    pub source: String,
    /// Classes the auditor has no data for (names or indices).
    pub unseen: Vec<String>,
    /// Cap on training images per class (0 = all), for quick runs.
    #[serde(default)]
    pub max_per_class: usize,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ClassifierConfig {
    /// Adapter TOML (naming its model), or `embedded:regular` / `embedded:robust`.
    pub adapter: String,
    /// Model path overriding the adapter's own.
    #[serde(default)]
    pub model: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct TrainConfig {
    pub batch_size: usize,
    /// Discriminator updates per generator update.
    pub d_steps: usize,
    pub lr_g: f64,
    pub lr_d: f64,
    #[serde(default)]
    pub beta1: f64,
    #[serde(default = "d_beta2")]
    pub beta2: f64,
    pub ema_decay: f64,
    /// Steps before the EMA starts averaging (until then it copies G).
    #[serde(default)]
    pub ema_start: usize,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct LossConfig {
    /// Weight of the classifier cross-entropy in G's loss (lambda_g).
    pub ce_weight: f64,
    /// WGAN-GP weight on D_u.
    pub gp_weight: f64,
    /// Drift weight: drift * E[D_u²] on real and fake outputs.
    pub drift: f64,
    /// Weight of D_u's adversarial term in G's loss.
    pub d_u_weight: f64,
    /// TileMix on D_u's input: tiles per side (0 or 1 = off).
    pub tilemix: usize,
    /// How `ce_weight` is read: `fixed` (a plain weight) or `adaptive` (the norm of the
    /// classifier term's gradient at the generated image, as a multiple of the adversarial
    /// terms' gradient norm, re-measured every step).
    #[serde(default)]
    pub ce_balance: CeBalance,
    /// With `adaptive`: the largest multiplier λ the classifier term may get. Once the
    /// classifier is satisfied its gradient shrinks and λ grows to keep the ratio (4 → 56–115
    /// over 400 steps with the robust model), pulling every sample to the classifier's
    /// prototype; a cap lets the term fade instead. Unset: no cap beyond a 1e4 safety limit.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ce_lambda_max: Option<f64>,
    /// Weight of GN-GAN's neighbour embedding in G's loss (`losses::neighbour_embedding`:
    /// samples of one class keep their codes' neighbourhoods), 0 = off.
    #[serde(default)]
    pub neighbour_embedding: f64,
    /// Rotation self-supervision (`losses::rotation`): weight of D's rotation loss on real
    /// (and, with `rotation_minimax`, fake) images, 0 = off.
    #[serde(default)]
    pub rotation_d: f64,
    /// Weight of G's rotation term: its turned fakes should be read as their turn.
    #[serde(default)]
    pub rotation_g: f64,
    /// MS-GAN's multi-class minimax version: D also learns a fifth class, "fake".
    #[serde(default)]
    pub rotation_minimax: bool,
    /// DAG: weight of the turned-copy heads' hinge terms in D's and G's losses, 0 = off.
    #[serde(default)]
    pub dag: f64,
    /// InfoMax-GAN: weight of the InfoNCE term between D's global and local features, in
    /// D's loss (real and fake) and G's (fake), 0 = off.
    #[serde(default)]
    pub infomax: f64,
}

/// `loss.ce_balance`. `adaptive` exists because the scale of the classifier's input gradient
/// depends on the classifier, not on the method: an adversarially robust model's is much
/// smaller than a regular one's, so a fixed weight that lets a regular classifier lead the
/// unseen class lets a robust one be drowned by the discriminators (docs/results.md).
#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum CeBalance {
    #[default]
    Fixed,
    Adaptive,
}

impl Default for LossConfig {
    fn default() -> Self {
        LossConfig {
            ce_weight: 1.0,
            gp_weight: 10.0,
            drift: 1e-4,
            d_u_weight: 1.0,
            tilemix: 0,
            ce_balance: CeBalance::Fixed,
            ce_lambda_max: None,
            neighbour_embedding: 0.0,
            rotation_d: 0.0,
            rotation_g: 0.0,
            rotation_minimax: false,
            dag: 0.0,
            infomax: 0.0,
        }
    }
}

/// BigGAN-AM: the last `steps` of the run optimise a new class embedding instead of the GAN.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct AmConfig {
    pub steps: usize,
    pub lr: f64,
    pub batch_size: usize,
}

impl Default for AmConfig {
    fn default() -> Self {
        AmConfig {
            steps: 200,
            lr: 0.01,
            batch_size: 32,
        }
    }
}

fn d_log_every() -> usize {
    10
}
fn d_sample_every() -> usize {
    500
}
fn d_checkpoint_every() -> usize {
    500
}
fn d_keep() -> usize {
    3
}
fn d_grid_cols() -> usize {
    8
}
fn d_collapse_fraction() -> f64 {
    0.5
}
fn d_beta2() -> f64 {
    0.999
}

impl Config {
    pub fn load(path: &Path, overrides: &[String]) -> Result<Config> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("reading config {}", path.display()))?;
        Self::from_toml_str(&text, overrides).with_context(|| format!("config {}", path.display()))
    }

    pub fn from_toml_str(text: &str, overrides: &[String]) -> Result<Config> {
        let mut value: toml::Value = toml::from_str(text).context("invalid TOML")?;
        for o in overrides {
            apply_override(&mut value, o)?;
        }
        let config: Config = value.try_into().context("invalid config")?;
        config.validate()?;
        Ok(config)
    }

    pub fn to_toml(&self) -> Result<String> {
        Ok(toml::to_string_pretty(self)?)
    }

    pub fn validate(&self) -> Result<()> {
        self.model.validate()?;
        let t = &self.train;
        if t.batch_size < 2 {
            bail!(
                "train.batch_size = {}: batch norm needs at least 2",
                t.batch_size
            );
        }
        if !(0.0..1.0).contains(&t.ema_decay) {
            bail!("train.ema_decay = {}: expected 0 <= decay < 1", t.ema_decay);
        }
        if !(0.0..1.0).contains(&t.beta1) || !(0.0..1.0).contains(&t.beta2) {
            bail!("train.beta1/beta2 must be in [0, 1)");
        }
        if self.run.keep_checkpoints == 0 {
            bail!("run.keep_checkpoints must be at least 1");
        }
        if self.run.log_every == 0 || self.run.sample_every == 0 || self.run.checkpoint_every == 0 {
            bail!("run.log_every, sample_every and checkpoint_every must be positive");
        }
        if !(0.0..=1.0).contains(&self.run.collapse_fraction) {
            bail!(
                "run.collapse_fraction = {}: expected a fraction of real diversity in [0, 1] (0 turns the warning off)",
                self.run.collapse_fraction
            );
        }
        if let Some(cap) = self.loss.ce_lambda_max {
            if !(cap.is_finite() && cap > 0.0) {
                bail!("loss.ce_lambda_max = {cap}: expected a positive number");
            }
            if self.loss.ce_balance != CeBalance::Adaptive {
                bail!(
                    "loss.ce_lambda_max caps the adaptive balance; set loss.ce_balance = \"adaptive\" \
                     or remove it (with \"fixed\", ce_weight is the multiplier)"
                );
            }
        }
        crate::methods::check_method_name(&self.run.method)?;
        Ok(())
    }
}

/// Apply `section.key=value`; the value is parsed as TOML (numbers, booleans, arrays,
/// quoted strings) and otherwise taken as a bare string.
pub fn apply_override(root: &mut toml::Value, assignment: &str) -> Result<()> {
    let (path, raw) = assignment
        .split_once('=')
        .with_context(|| format!("--set {assignment}: expected key=value, e.g. train.lr_g=1e-4"))?;
    let path = path.trim();
    if path.is_empty() || path.split('.').any(|p| p.is_empty()) {
        bail!("--set {assignment}: empty key");
    }
    let raw = raw.trim();
    let value = match toml::from_str::<toml::Table>(&format!("v = {raw}")) {
        Ok(mut t) => t.remove("v").unwrap(),
        Err(_) => toml::Value::String(raw.to_string()),
    };
    let keys: Vec<&str> = path.split('.').collect();
    let mut node = root;
    for k in &keys[..keys.len() - 1] {
        let table = node
            .as_table_mut()
            .with_context(|| format!("--set {path}: `{k}` is not a table"))?;
        node = table
            .entry(k.to_string())
            .or_insert_with(|| toml::Value::Table(Default::default()));
    }
    let table = node
        .as_table_mut()
        .with_context(|| format!("--set {path}: parent is not a table"))?;
    table.insert(keys[keys.len() - 1].to_string(), value);
    Ok(())
}
