//! The evaluation pipeline behind `probegan eval`: sample every class from a generator, then
//! compute every metric the available evidence allows (judge, target classifier, features,
//! real data) and write the images the report shows.
//!
//! The pipeline takes its pieces as trait objects and closures, so it runs unchanged on any
//! generator, classifier backend and feature extractor (tests use tiny hand-made ones).
//!
//! [`evaluate`] runs the steps in order, one file each:
//! - `sampling`: every class's samples, their grids and the unseen gallery,
//! - `per_class`: judge recognition and target-classifier confidence,
//! - `real`: the real images of each class, matched by name,
//! - `distribution`: the spectrum and the feature-space metrics against real data,
//! - `neighbour_panels`: nearest real neighbours in feature and pixel space;
//!
//! `checkpoints` ranks several checkpoints of a run ([`evaluate_selection_with`]), and
//! `substrate` evaluates substrate runs (painted images, not class samples).

pub mod audio;
mod checkpoints;
mod distribution;
mod neighbour_panels;
mod per_class;
mod real;
mod sampling;
pub mod substrate;
#[cfg(test)]
mod test_support;

pub use checkpoints::{evaluate_selection, evaluate_selection_with, SelectionCandidate};

use super::diversity::DEFAULT_DUPLICATE_FRACTION;
use super::evaluation::{ClassEval, EvalReport};
use super::features::FeatureExtractor;
use super::neighbours::NeighbourSpace;
use super::{kid, prdc};
use crate::classifier::Classifier;
use crate::data::Dataset;
use anyhow::{bail, Context, Result};
use candle_core::{Device, Tensor};
use real::RealClasses;
use std::path::Path;

/// `sample(class, n, seed) -> [n, C, H, W]` in [-1, 1].
pub type SampleFn<'a> = dyn Fn(usize, usize, u64) -> Result<Tensor> + 'a;

/// `du(images) -> [n]`: a checkpoint's D_u scores of images in generator space.
pub type CriticFn<'a> = dyn Fn(&Tensor) -> Result<Tensor> + 'a;

pub struct EvalInputs<'a> {
    pub class_names: Vec<String>,
    /// Indices of the unseen classes.
    pub unseen: Vec<usize>,
    pub judge: Option<&'a dyn Classifier>,
    pub judge_name: String,
    /// The classifier the generator was trained against (its confidence is reported).
    pub target: Option<&'a dyn Classifier>,
    pub features: Option<&'a dyn FeatureExtractor>,
    /// Real images (generator space); matched to generated classes by name.
    pub real: Option<&'a Dataset>,
    pub device: Device,
}

#[derive(Debug, Clone)]
pub struct EvalOptions {
    pub samples_per_class: usize,
    /// Real images per class used for FID-type metrics (at most what exists).
    pub real_per_class: usize,
    pub seed: u64,
    pub kid: kid::KidOptions,
    pub prdc_k: usize,
    pub gallery: usize,
    /// Generated samples shown with their nearest real neighbours, and neighbours each.
    pub neighbour_rows: usize,
    pub neighbours_k: usize,
    /// The space of the primary neighbour panel (both are computed where possible).
    pub neighbours: NeighbourSpace,
    /// Real images queried for the median real nearest-neighbour distance in pixel space.
    pub neighbour_median_queries: usize,
    /// Real seen-class images D_u scores as the reference for its realism signal.
    pub du_real_images: usize,
}

impl Default for EvalOptions {
    fn default() -> Self {
        Self {
            samples_per_class: 500,
            real_per_class: 1000,
            seed: 0,
            kid: kid::KidOptions {
                subsets: 50,
                subset_size: 1000,
                seed: 0,
            },
            prdc_k: prdc::DEFAULT_K,
            gallery: 32,
            neighbour_rows: 6,
            neighbours_k: 4,
            neighbours: NeighbourSpace::Feature,
            neighbour_median_queries: 1000,
            du_real_images: 2000,
        }
    }
}

/// Run the whole evaluation of one generator; images go to `out_dir`.
pub fn evaluate(
    inputs: &EvalInputs,
    sample: &SampleFn,
    opts: &EvalOptions,
    out_dir: &Path,
) -> Result<EvalReport> {
    std::fs::create_dir_all(out_dir.join("tiles"))
        .with_context(|| format!("creating {}", out_dir.display()))?;
    let names = &inputs.class_names;
    let n = opts.samples_per_class;
    if n < 2 {
        bail!("eval: need at least 2 samples per class, got {n}");
    }
    let fakes = sampling::sample_classes(names, sample, opts)?;
    let mut report = EvalReport {
        judge: inputs.judge_name.clone(),
        feature_extractor: inputs
            .features
            .map(|f| f.describe())
            .unwrap_or_else(|| "none".into()),
        class_names: names.clone(),
        unseen: inputs.unseen.iter().map(|&u| names[u].clone()).collect(),
        samples_per_class: n,
        ..Default::default()
    };
    let mut classes: Vec<ClassEval> = names
        .iter()
        .enumerate()
        .map(|(c, name)| ClassEval {
            name: name.clone(),
            unseen: inputs.unseen.contains(&c),
            ..Default::default()
        })
        .collect();

    sampling::write_class_grids(&fakes, opts, &mut classes, out_dir)?;
    let judged =
        per_class::judge_recognition(inputs, &fakes, opts, &mut classes, &mut report.overall)?;
    per_class::target_confidence(inputs, &fakes, opts, &mut classes)?;
    report.gallery = sampling::unseen_gallery(inputs, &fakes, judged.as_ref(), opts, out_dir)?;

    // Nearest real neighbours are shown for unseen samples (or the first class if none).
    let show = inputs.unseen.first().copied().unwrap_or(0);
    let real = RealClasses::gather(inputs, opts, &fakes[show])?;
    per_class::real_judge_recognition(inputs, &real.images, &mut classes)?;
    report.spectrum = distribution::spectrum(&real, &fakes, &mut report.overall)?;

    let mut panels = vec![];
    if let Some(fx) = inputs.features {
        let space = distribution::feature_metrics(
            fx,
            names,
            &fakes,
            &real,
            opts,
            &mut classes,
            &mut report.overall,
        )?;
        if let Some(real_features) = &space.real {
            panels.push(neighbour_panels::feature_panel(
                &fakes[show],
                &space.fake[show],
                &real,
                real_features,
                &names[show],
                // The median real nearest-neighbour distance the threshold was made from.
                space.duplicate_threshold / DEFAULT_DUPLICATE_FRACTION,
                opts,
                out_dir,
            )?);
        }
    }
    if let Some(panel) =
        neighbour_panels::pixel_panel(real, &fakes[show], &names[show], opts, out_dir)?
    {
        panels.push(panel);
    }
    report.neighbours = neighbour_panels::primary_panel(&panels, opts);
    report.neighbour_panels = panels;
    report.classes = classes;
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::test_support::{FirstTwoChannels, MeanStd};
    use super::*;

    #[test]
    fn pipeline_fills_every_metric_it_has_evidence_for() {
        let dev = Device::Cpu;
        let names: Vec<String> = vec!["r".into(), "g".into()];
        // class c: channel c bright, the other dark, plus noise
        let sample = |c: usize, n: usize, _seed: u64| -> Result<Tensor> {
            let noise = Tensor::randn(0f32, 0.3, (n, 3, 8, 8), &Device::Cpu)?;
            let base = if c == 0 {
                [0.6f32, -0.6, 0.0]
            } else {
                [-0.6, 0.6, 0.0]
            };
            let b = Tensor::new(&base, &Device::Cpu)?.reshape((1, 3, 1, 1))?;
            Ok(noise.broadcast_add(&b)?.clamp(-1f32, 1f32)?)
        };
        let real_x =
            Tensor::cat(&[sample(0, 60, 0).unwrap(), sample(1, 60, 0).unwrap()], 0).unwrap();
        let real = Dataset::new(
            real_x.flatten_all().unwrap().to_vec1().unwrap(),
            (3, 8, 8),
            (0..120).map(|i| (i / 60) as u32).collect(),
            names.clone(),
            None,
        )
        .unwrap();
        let clf = FirstTwoChannels {
            names: names.clone(),
        };
        let inputs = EvalInputs {
            class_names: names.clone(),
            unseen: vec![1],
            judge: Some(&clf),
            judge_name: "mean-pixel".into(),
            target: Some(&clf),
            features: Some(&MeanStd),
            real: Some(&real),
            device: dev,
        };
        let opts = EvalOptions {
            samples_per_class: 40,
            kid: kid::KidOptions {
                subsets: 5,
                subset_size: 30,
                seed: 0,
            },
            gallery: 5,
            ..Default::default()
        };
        let dir = tempfile::tempdir().unwrap();
        let r = evaluate(&inputs, &sample, &opts, dir.path()).unwrap();
        assert_eq!(r.overall.unseen_recognition, Some(1.0));
        assert_eq!(r.overall.seen_recognition, Some(1.0));
        assert!(
            r.classes
                .iter()
                .all(|c| c.intra_fid.unwrap() < 0.5 && c.target_confidence.unwrap() > 0.9),
            "{:?}",
            r.classes
        );
        assert!(r.overall.fid.unwrap() < 0.5 && r.overall.prdc.unwrap().precision > 0.5);
        let g = r.gallery.as_ref().unwrap();
        assert_eq!((g.tiles.len(), g.judge_labels[0].as_str()), (5, "g"));
        assert!(dir.path().join(&g.tiles[4]).exists() && dir.path().join("class_01.png").exists());
        assert_eq!(r.neighbours.as_ref().unwrap().rows.len(), 6);
        assert_eq!(r.neighbours.as_ref().unwrap().space, "features");
        let spaces: Vec<&str> = r
            .neighbour_panels
            .iter()
            .map(|p| p.space.as_str())
            .collect();
        assert_eq!(spaces, vec!["features", "pixels"]);
        assert!(r.spectrum.is_some());

        // Selection: a "later" checkpoint that makes the unseen class right beats one that
        // makes the seen class's images.
        let bad: Box<SampleFn> = Box::new(move |_c, n, s| sample(0, n, s));
        let good: Box<SampleFn> = Box::new(move |c, n, s| sample(c, n, s));
        let sel = evaluate_selection(&inputs, &[(100, bad), (200, good)], &opts).unwrap();
        assert_eq!(sel.selection.as_ref().unwrap().chosen, 1);
        let intra = sel.unseen_intra_fid.as_ref().unwrap();
        assert!(intra[0] > intra[1]);
        assert_eq!(sel.agreement.as_ref().unwrap().regret, 0.0);
        assert!(sel.checkpoints.iter().all(|c| c.du_realism.is_none()));
        assert!(sel.du_realism_note.as_ref().unwrap().contains("no D_u"));
    }
}
