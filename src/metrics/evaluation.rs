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
}

#[derive(Debug, Clone, Default, serde::Serialize, serde::Deserialize, PartialEq)]
pub struct ClassEval {
    pub name: String,
    pub unseen: bool,
    /// Share of this class's samples the judge labels as this class.
    pub judge_recognition: Option<f64>,
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
