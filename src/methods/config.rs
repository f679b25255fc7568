//! The hyper-parameters methods read: the `[method]` table (which method, and its own
//! options, each variant's struct beside its method), `[train]` (batch size, D steps, Adam,
//! EMA) and `[loss]` (the classifier term and the stabilisers every method may compose).
//! They live here, under `methods`, so that the loop in `crate::train` can depend on the
//! methods without the methods depending on the loop.

use super::am::AmConfig;
use super::probegan::ProbeGanConfig;
use super::substrate::SubstrateConfig;
use super::views::ViewSpec;
use crate::adapter::mel::MelSpec;
use crate::nets::NetConfig;
use serde::{Deserialize, Serialize};

/// `[method]`: which method trains, tagged by `name`, with that method's own options.
/// Switching `name` with `--set method.name=X` drops the previous method's options.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(tag = "name", rename_all = "kebab-case", deny_unknown_fields)]
pub enum MethodConfig {
    Probegan(ProbeGanConfig),
    Naive {},
    Oracle(ProbeGanConfig),
    Am(AmConfig),
    SoftLabel {},
    /// Paints class content onto substrate images (`methods::substrate`).
    Substrate(SubstrateConfig),
}

impl MethodConfig {
    /// The name in configs, `run.json` and reports.
    pub fn name(&self) -> &'static str {
        match self {
            MethodConfig::Probegan(_) => "probegan",
            MethodConfig::Naive {} => "naive",
            MethodConfig::Oracle(_) => "oracle",
            MethodConfig::Am(_) => "am",
            MethodConfig::SoftLabel {} => "soft-label",
            MethodConfig::Substrate(_) => "substrate",
        }
    }

    /// Every method name a config may give.
    pub const NAMES: [&'static str; 6] = [
        "probegan",
        "naive",
        "oracle",
        "am",
        "soft-label",
        "substrate",
    ];

    /// Whether the method runs the class-conditional G/D of `[model]` (every method but
    /// the substrate painter, whose networks are configured in `[method]`).
    pub fn uses_class_conditional_nets(&self) -> bool {
        !matches!(self, MethodConfig::Substrate(_))
    }

    /// Whether the method trains an unconditional critic (D_u) whose score means something
    /// after training (`metrics` uses it to rank checkpoints without labels).
    pub fn trains_unconditional_critic(&self) -> bool {
        match self {
            MethodConfig::Probegan(c) | MethodConfig::Oracle(c) => c.d_u_weight > 0.0,
            _ => false,
        }
    }
}

impl MethodConfig {
    /// The `[method]` table of a config written before that table existed: its name was
    /// `run.method`, ProbeGAN's options lived in `[loss]` and AM's in `[am]`, whatever the method.
    pub fn from_legacy(
        name: Option<&str>,
        from_loss: serde_json::Map<String, serde_json::Value>,
        from_am: Option<serde_json::Value>,
    ) -> serde_json::Value {
        let name = name.unwrap_or("probegan");
        let mut table = serde_json::Map::new();
        table.insert("name".into(), name.into());
        let own = match name {
            "probegan" | "oracle" => Some(from_loss),
            "am" => from_am.and_then(|v| v.as_object().cloned()),
            _ => None,
        };
        table.extend(own.unwrap_or_default());
        serde_json::Value::Object(table)
    }
}

impl MethodConfig {
    /// The `[method]` table of a run's stored config (`run.json`'s `config`), moving the keys
    /// of configs written before that table existed.
    pub fn of_run(config: &serde_json::Value) -> anyhow::Result<MethodConfig> {
        let mut config = config.clone();
        migrate_legacy(&mut config);
        let table = config
            .get("method")
            .cloned()
            .ok_or_else(|| anyhow::anyhow!("the run's config has no [method] table"))?;
        Ok(serde_json::from_value(table)?)
    }
}

impl Default for MethodConfig {
    fn default() -> Self {
        MethodConfig::Probegan(ProbeGanConfig::default())
    }
}

/// What a method is built from: the tables it reads and the run's length and seed.
#[derive(Debug, Clone)]
pub struct Settings {
    pub train: TrainConfig,
    pub loss: LossConfig,
    pub model: NetConfig,
    /// The run's total number of steps (AM's second phase is its last steps).
    pub steps: usize,
    pub seed: u64,
    /// The classifier's mel front end, for a generator with a harmonic head
    /// (`model.harmonic`); None otherwise.
    pub mel: Option<MelSpec>,
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
    /// Weight of MSGAN's mode-seeking term in G's loss (`losses::mode_seeking`: two codes of
    /// one class must give different images), 0 = off.
    #[serde(default)]
    pub mode_seeking: f64,
    /// Whose pairs the mode-seeking term counts: `unseen` (the class no discriminator sees
    /// real images of, the one that collapses when D_u is diluted) or `all`.
    #[serde(default)]
    pub mode_seeking_classes: ModeSeekingClasses,
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
    /// A fake whose label the classifier already gives this probability adds nothing to G's
    /// classifier term (`losses::ce_above_margin`), 0 = off.
    #[serde(default)]
    pub ce_margin: f64,
    /// G's classifier term sees a random view of its images (`methods::views`): a crop of
    /// side in [1 − ce_view_jitter, 1], 0 = off ...
    #[serde(default)]
    pub ce_view_jitter: f64,
    /// ... with this probability a 2×2 resample ...
    #[serde(default)]
    pub ce_view_resample: f64,
    /// ... and a Gaussian blur of σ in [0, ce_view_blur] pixels.
    #[serde(default)]
    pub ce_view_blur: f64,
}

impl LossConfig {
    /// The views G's classifier term sees.
    pub fn ce_view(&self) -> ViewSpec {
        ViewSpec {
            jitter: self.ce_view_jitter,
            resample: self.ce_view_resample,
            blur: self.ce_view_blur,
        }
    }
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

/// `loss.mode_seeking_classes`.
#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum ModeSeekingClasses {
    #[default]
    Unseen,
    All,
}

impl Default for LossConfig {
    fn default() -> Self {
        LossConfig {
            ce_weight: 1.0,
            ce_balance: CeBalance::Fixed,
            ce_lambda_max: None,
            neighbour_embedding: 0.0,
            mode_seeking: 0.0,
            mode_seeking_classes: ModeSeekingClasses::Unseen,
            rotation_d: 0.0,
            rotation_g: 0.0,
            rotation_minimax: false,
            dag: 0.0,
            infomax: 0.0,
            ce_margin: 0.0,
            ce_view_jitter: 0.0,
            ce_view_resample: 0.0,
            ce_view_blur: 0.0,
        }
    }
}

/// Keys of configs written before the `[method]` table, and where each lives now.
const LEGACY_KEYS: [(&str, &str, &str); 8] = [
    ("run", "method", "method.name"),
    ("loss", "gp_weight", "method.gp_weight"),
    ("loss", "drift", "method.drift"),
    ("loss", "d_u_weight", "method.d_u_weight"),
    ("loss", "tilemix", "method.tilemix"),
    ("am", "steps", "method.steps"),
    ("am", "lr", "method.lr"),
    ("am", "batch_size", "method.batch_size"),
];

/// (old key, new key) for every legacy key present in a config (the whole config, as JSON).
pub fn legacy_moves(config: &serde_json::Value) -> Vec<(String, &'static str)> {
    LEGACY_KEYS
        .iter()
        .filter(|(table, key, _)| config.get(table).and_then(|t| t.get(key)).is_some())
        .map(|(table, key, new)| (format!("{table}.{key}"), *new))
        .collect()
}

/// Move legacy keys of a whole config into `[method]` (`MethodConfig::from_legacy` keeps the
/// options the named method has).
pub fn migrate_legacy(config: &mut serde_json::Value) {
    if legacy_moves(config).is_empty() {
        return;
    }
    let Some(root) = config.as_object_mut() else {
        return;
    };
    let name = root
        .get_mut("run")
        .and_then(|r| r.as_object_mut())
        .and_then(|r| r.remove("method"));
    let mut from_loss = serde_json::Map::new();
    if let Some(loss) = root.get_mut("loss").and_then(|l| l.as_object_mut()) {
        for (_, key, _) in LEGACY_KEYS.iter().filter(|(t, _, _)| *t == "loss") {
            if let Some(v) = loss.remove(*key) {
                from_loss.insert(key.to_string(), v);
            }
        }
    }
    let from_am = root.remove("am");
    let method =
        MethodConfig::from_legacy(name.as_ref().and_then(|n| n.as_str()), from_loss, from_am);
    root.insert("method".into(), method);
}

fn d_beta2() -> f64 {
    0.999
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn legacy_run_configs_move_into_the_method_table() {
        let legacy = |method: &str| {
            serde_json::json!({
                "run": { "method": method, "seed": 1 },
                "loss": { "ce_weight": 2.0, "gp_weight": 5.0, "drift": 0.5, "d_u_weight": 0.25, "tilemix": 2 },
                "am": { "steps": 7, "lr": 0.1, "batch_size": 4 },
            })
        };
        let oracle = MethodConfig::of_run(&legacy("oracle")).unwrap();
        let want = ProbeGanConfig {
            gp_weight: 5.0,
            drift: 0.5,
            d_u_weight: 0.25,
            tilemix: 2,
            unseen_dilution: 1.0,
            ..ProbeGanConfig::default()
        };
        assert_eq!(oracle, MethodConfig::Oracle(want));
        assert!(oracle.trains_unconditional_critic());
        let am = MethodConfig::of_run(&legacy("am")).unwrap();
        let want = AmConfig {
            steps: 7,
            lr: 0.1,
            batch_size: 4,
        };
        assert_eq!(am, MethodConfig::Am(want));
        assert_eq!(
            MethodConfig::of_run(&legacy("naive")).unwrap(),
            MethodConfig::Naive {}
        );
        // The shared classifier weight stays in [loss]; the moved keys leave it.
        let mut moved = legacy("soft-label");
        migrate_legacy(&mut moved);
        assert_eq!(moved["loss"], serde_json::json!({ "ce_weight": 2.0 }));
        assert_eq!(moved["run"], serde_json::json!({ "seed": 1 }));
        assert!(moved.get("am").is_none());
        assert_eq!(legacy_moves(&moved), vec![]);
        assert_eq!(legacy_moves(&legacy("am")).len(), 8);
    }

    #[test]
    fn each_method_takes_only_its_own_options() {
        let parse = |toml: &str| toml::from_str::<MethodConfig>(toml);
        assert_eq!(
            parse("name = \"probegan\"\ntilemix = 2").unwrap(),
            MethodConfig::Probegan(ProbeGanConfig {
                tilemix: 2,
                ..Default::default()
            })
        );
        let e = parse("name = \"naive\"\ntilemix = 2").unwrap_err();
        assert!(e.to_string().contains("tilemix"), "{e}");
        let e = parse("name = \"am\"\ngp_weight = 1.0").unwrap_err();
        assert!(e.to_string().contains("gp_weight"), "{e}");
        let e = parse("name = \"probe-gan\"").unwrap_err();
        assert!(e.to_string().contains("probegan"), "{e}");
        for name in MethodConfig::NAMES {
            assert_eq!(parse(&format!("name = \"{name}\"")).unwrap().name(), name);
        }
    }
}
