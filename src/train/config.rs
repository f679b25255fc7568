//! Run configuration: a TOML file in `configs/` plus `--set section.key=value` overrides.
//!
//! The config is data: one struct per TOML table, unknown keys are errors (a typo must not
//! silently train the wrong thing), and the resolved config is written into the run dir.

use crate::methods::config::{
    legacy_moves, migrate_legacy, CeBalance, LossConfig, MethodConfig, Settings, TrainConfig,
};
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
    /// Which method trains, and its own options.
    pub method: MethodConfig,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct RunConfig {
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
        let moved = legacy_moves(&serde_json::to_value(&value)?);
        if !moved.is_empty() {
            bail!(
                "this config uses keys that have moved to the `[method]` table: {}",
                moved
                    .iter()
                    .map(|(old, new)| format!("`{old}` is now `{new}`"))
                    .collect::<Vec<_>>()
                    .join("; ")
            );
        }
        let config: Config = value.try_into().context("invalid config")?;
        config.validate()?;
        Ok(config)
    }

    /// The resolved config stored in a run's `run.json`. Runs written before the `[method]`
    /// table existed are read by moving their keys to where they live now.
    pub fn from_run_json(value: &serde_json::Value) -> Result<Config> {
        let mut value = value.clone();
        migrate_legacy(&mut value);
        Ok(serde_json::from_value(value)?)
    }

    /// What a method is built from, less the classifier's mel front end
    /// (`setup::method_settings` adds it where `model.harmonic` needs it).
    pub fn settings(&self) -> Settings {
        Settings {
            train: self.train.clone(),
            loss: self.loss.clone(),
            model: self.model.clone(),
            steps: self.run.steps,
            seed: self.run.seed,
            mel: None,
        }
    }

    pub fn to_toml(&self) -> Result<String> {
        Ok(toml::to_string_pretty(self)?)
    }

    pub fn validate(&self) -> Result<()> {
        let t = &self.train;
        if self.method.uses_class_conditional_nets() {
            self.model.validate()?;
        } else if self.model.channels == 0 || self.model.dims().0 == 0 || self.model.dims().1 == 0 {
            bail!("[model] needs the image's resolution (or size) and channels");
        }
        if t.batch_size == 0 {
            bail!("train.batch_size must be at least 1");
        }
        if t.batch_size < 2 && self.method.uses_class_conditional_nets() {
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
        if let MethodConfig::Probegan(c) | MethodConfig::Oracle(c) = &self.method {
            if !(0.0..=1.0).contains(&c.unseen_dilution) {
                bail!(
                    "method.unseen_dilution = {}: expected the unseen fakes' weight in D_u's critic, in [0, 1]",
                    c.unseen_dilution
                );
            }
            if !(c.class_blind.is_finite() && c.class_blind >= 0.0) {
                bail!(
                    "method.class_blind = {}: expected the confusion loss's weight, 0 or more",
                    c.class_blind
                );
            }
            if c.class_blind > 0.0 && !self.model.separate_du_trunk {
                bail!(
                    "method.class_blind needs model.separate_du_trunk = true: a shared trunk would hide the class from D_c's projection too"
                );
            }
            if c.class_blind > 0.0 && c.tilemix > 1 {
                bail!("method.class_blind does not combine with method.tilemix: TileMix mixes samples, so D_u's inputs have no single class");
            }
            if c.unseen_anchor_step > 0 {
                if matches!(self.method, MethodConfig::Oracle(_)) {
                    bail!("method.unseen_anchor_step: ORACLE sees every class; there is no unseen class to anchor");
                }
                if c.unseen_anchor_size == 0 {
                    bail!(
                        "method.unseen_anchor_size = 0: the anchor's pool needs at least one image"
                    );
                }
                if c.unseen_anchor_candidates == 0 {
                    bail!("method.unseen_anchor_candidates = 0: each pool image is chosen from at least one sample");
                }
                if c.class_blind > 0.0 {
                    bail!("method.unseen_anchor_step does not combine with method.class_blind: the class probe would read the pool's images under the seen reals' labels");
                }
            }
        }
        self.loss.ce_view().validate("loss.ce_view")?;
        if !(0.0..1.0).contains(&self.loss.ce_margin) {
            bail!(
                "loss.ce_margin = {}: expected the probability above which a fake stops counting, in [0, 1)",
                self.loss.ce_margin
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
    let last = keys[keys.len() - 1];
    // A new method name starts from that method's defaults: the previous method's options
    // would be unknown keys to it.
    if keys == ["method", "name"] && table.get(last) != Some(&value) {
        table.clear();
    }
    table.insert(last.to_string(), value);
    Ok(())
}
