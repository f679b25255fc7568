//! The record `probegan eval` writes (`RUN_DIR/eval/eval.json`, images beside it) and
//! `probegan report` reads. Every metric is optional: what could not be computed (no real
//! data of a class, no judge) is absent, never a made-up number.

use super::diversity::Diversity;
use super::kid::Kid;
use super::prdc::Prdc;
use super::selection::{Agreement, CheckpointSignals, Selection};
use anyhow::{Context, Result};
use std::path::Path;

/// File name of the record inside the eval directory.
pub const EVAL_FILE: &str = "eval.json";

#[derive(Debug, Clone, Default, serde::Serialize, serde::Deserialize, PartialEq)]
pub struct EvalReport {
    /// The run directory or checkpoint evaluated.
    pub source: String,
    pub step: Option<u64>,
    /// Judge model (and adapter) used.
    pub judge: String,
    /// Feature extractor: model and layer.
    pub feature_extractor: String,
    pub class_names: Vec<String>,
    pub unseen: Vec<String>,
    pub samples_per_class: usize,
    pub classes: Vec<ClassEval>,
    pub overall: OverallEval,
    pub spectrum: Option<SpectrumEval>,
    pub gallery: Option<Gallery>,
    /// The neighbour panel of the space chosen with `eval --neighbours` (default: features).
    pub neighbours: Option<NeighbourPanel>,
    pub selection: Option<SelectionEval>,
    /// Every neighbour panel computed (features and pixels where possible), so that
    /// `report --neighbours` can show either without re-evaluating.
    #[serde(default)]
    pub neighbour_panels: Vec<NeighbourPanel>,
    /// The judge-free leakage score (`eval --leakage`).
    #[serde(default)]
    pub leakage: Option<super::leakage::LeakageScore>,
    /// A substrate run's evaluation (the class-generator fields above stay empty).
    #[serde(default)]
    pub substrate: Option<SubstrateEval>,
    /// An audio run's sound: pitch per class of generated and real clips, and the clips.
    #[serde(default)]
    pub audio: Option<super::audio_eval::AudioEval>,
}

/// The substrate method judged by a second classifier over its full label set: is the
/// painted class there for a model the painter never saw, does it survive a blur, is it
/// confined to the whole image's scale, and how much of the substrate photograph is left.
#[derive(Debug, Clone, Default, serde::Serialize, serde::Deserialize, PartialEq)]
pub struct SubstrateEval {
    /// Held-out substrates painted (each class, the all-zero target and the control).
    pub substrates: usize,
    /// The judge's label count (chance top-1 = 1 / this).
    pub judge_classes: usize,
    /// The degradation the "degraded" rates survive, in words.
    pub degradation: String,
    pub classes: Vec<SubstrateClassEval>,
    pub none: SubstrateNoneEval,
    pub mixes: Vec<SubstrateMixEval>,
    /// Grid of substrate → painted rows (one row per class, then the all-zero target), a
    /// PNG relative to the eval directory.
    pub grid: Option<String>,
    /// Where each class's paint goes (mean absolute change over substrates), then all
    /// classes together, on one scale (`paint_overlap::where_painted`).
    #[serde(default)]
    pub paint_maps: Option<String>,
    pub mixes_grid: Option<String>,
}

#[derive(Debug, Clone, Default, serde::Serialize, serde::Deserialize, PartialEq)]
pub struct SubstrateClassEval {
    pub name: String,
    /// The class's index among the judge's labels.
    pub judge_index: usize,
    /// Share of painted images whose judge top-1 / top-5 holds the class (whole image).
    pub judge_top1: f64,
    pub judge_top5: f64,
    /// The same after the degradation (an invisible adversarial pattern would not survive).
    pub degraded_top1: f64,
    pub degraded_top5: f64,
    /// Control: the unpainted substrates' top-1 / top-5 rates for the class.
    pub substrate_top1: f64,
    pub substrate_top5: f64,
    /// The judge's mean probability of the class on random crops of painted images.
    pub crop_probability: f64,
    /// The judge's mean probability of the class on the whole painted image.
    pub whole_probability: f64,
    /// The target classifier's mean probability of the class (softmax over all its
    /// outputs), when the run's classifier could be loaded.
    pub target_probability: Option<f64>,
    /// Mean SSIM and mean absolute difference (in [0, 1] units) to the substrate.
    pub ssim: f64,
    pub l1: f64,
    /// Mean cosine between this class's painted change (painted − substrate) and the other
    /// classes' on the same substrate (`metrics::paint_overlap`): near 1, the classes share
    /// what is painted. None in records written before it.
    #[serde(default)]
    pub paint_shared_with_classes: Option<f64>,
    /// Mean cosine between this class's changes on different substrates: near 1, the same
    /// stamp on every photograph.
    #[serde(default)]
    pub paint_shared_across_substrates: Option<f64>,
}

#[derive(Debug, Clone, Default, serde::Serialize, serde::Deserialize, PartialEq)]
pub struct SubstrateNoneEval {
    /// Share of all-zero-target images whose judge top-1 / top-5 holds any target class.
    pub as_target_top1: f64,
    pub as_target_top5: f64,
    /// The same for the unpainted substrates (the control).
    pub substrate_top1: f64,
    pub substrate_top5: f64,
    pub ssim: f64,
}

#[derive(Debug, Clone, Default, serde::Serialize, serde::Deserialize, PartialEq)]
pub struct SubstrateMixEval {
    pub classes: Vec<String>,
    /// Share of mixed images whose judge top-5 holds every mixed class.
    pub all_top5: f64,
    /// Share whose judge top-1 is one of the mixed classes.
    pub any_top1: f64,
}

#[derive(Debug, Clone, Default, serde::Serialize, serde::Deserialize, PartialEq)]
pub struct ClassEval {
    pub name: String,
    pub unseen: bool,
    /// Share of this class's samples the judge labels as this class.
    pub judge_recognition: Option<f64>,
    /// The same share on the class's real images: the judge's own ceiling, beside which a
    /// generated class's rate is read.
    #[serde(default)]
    pub real_judge_recognition: Option<f64>,
    /// Mean target-classifier probability of this class.
    pub target_confidence: Option<f64>,
    pub intra_fid: Option<f64>,
    pub diversity: Option<Diversity>,
    /// Sample grid, a PNG file relative to the eval directory.
    pub grid: Option<String>,
}

#[derive(Debug, Clone, Default, serde::Serialize, serde::Deserialize, PartialEq)]
pub struct OverallEval {
    pub fid: Option<f64>,
    pub kid: Option<Kid>,
    pub prdc: Option<Prdc>,
    pub judge_accuracy: Option<f64>,
    pub seen_recognition: Option<f64>,
    pub unseen_recognition: Option<f64>,
    pub spectral_discrepancy: Option<f64>,
}

#[derive(Debug, Clone, Default, serde::Serialize, serde::Deserialize, PartialEq)]
pub struct SpectrumEval {
    pub real: Vec<f64>,
    pub generated: Vec<f64>,
}

/// Unseen-class samples with the judge's label for each.
#[derive(Debug, Clone, Default, serde::Serialize, serde::Deserialize, PartialEq)]
pub struct Gallery {
    pub class: String,
    /// PNG files relative to the eval directory, one per sample.
    pub tiles: Vec<String>,
    pub judge_labels: Vec<String>,
    pub judge_confidences: Vec<f64>,
}

#[derive(Debug, Clone, Default, serde::Serialize, serde::Deserialize, PartialEq)]
pub struct NeighbourPanel {
    /// "features" or "pixels": the space distances were measured in.
    pub space: String,
    /// Median distance between a real image and its nearest other real image (the scale a
    /// near-copy must beat).
    pub median_real_nn: Option<f64>,
    pub rows: Vec<NeighbourRow>,
}

#[derive(Debug, Clone, Default, serde::Serialize, serde::Deserialize, PartialEq)]
pub struct NeighbourRow {
    pub class: String,
    pub generated: String,
    /// (PNG file, distance), closest first.
    pub neighbours: Vec<(String, f64)>,
}

#[derive(Debug, Clone, Default, serde::Serialize, serde::Deserialize, PartialEq)]
pub struct SelectionEval {
    pub checkpoints: Vec<CheckpointSignals>,
    pub selection: Option<Selection>,
    /// Unseen-class intra-FID per checkpoint, where real unseen data exist.
    pub unseen_intra_fid: Option<Vec<f64>>,
    pub agreement: Option<Agreement>,
    /// How the D_u realism signal was computed, or why it is absent.
    #[serde(default)]
    pub du_realism_note: Option<String>,
}

impl EvalReport {
    /// The neighbour panel measured in `space` ("features" or "pixels"), if computed.
    pub fn neighbour_panel(&self, space: &str) -> Option<&NeighbourPanel> {
        self.neighbour_panels
            .iter()
            .chain(self.neighbours.as_ref())
            .find(|p| p.space == space)
    }

    pub fn load(path: &Path) -> Result<EvalReport> {
        let text =
            std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
        serde_json::from_str(&text)
            .with_context(|| format!("{}: not a probegan eval record", path.display()))
    }

    pub fn save(&self, path: &Path) -> Result<()> {
        let text = serde_json::to_string_pretty(self)?;
        std::fs::write(path, text).with_context(|| format!("writing {}", path.display()))
    }
}
