//! The evaluation pipeline behind `probegan eval`: sample every class from a generator, then
//! compute every metric the available evidence allows (judge, target classifier, features,
//! real data) and write the images the report shows.
//!
//! The pipeline takes its pieces as trait objects and closures, so it runs unchanged on any
//! generator, classifier backend and feature extractor (tests use tiny hand-made ones).

mod distribution;
mod neighbour_panels;
mod per_class;
mod real;
mod sampling;
#[cfg(test)]
mod test_support;

use super::confidence::classifier_confidence;
use super::diversity::{diversity, DEFAULT_DUPLICATE_FRACTION};
use super::evaluation::*;
use super::features::FeatureExtractor;
use super::generator_space::real_in_generator_space;
use super::judge::map_classes;
use super::neighbours::NeighbourSpace;
use super::realism::du_realism;
use super::selection::{agreement, select_checkpoint, CheckpointSignals};
use super::{fid, kid, prdc};
use crate::classifier::Classifier;
use crate::data::Dataset;
use anyhow::{bail, Context, Result};
use candle_core::{Device, Tensor};
use real::{real_class_images, real_class_rows, RealClasses};
use std::path::Path;

/// `sample(class, n, seed) -> [n, C, H, W]` in [-1, 1].
pub type SampleFn<'a> = dyn Fn(usize, usize, u64) -> Result<Tensor> + 'a;

/// `du(images) -> [n]`: a checkpoint's D_u scores of images in generator space.
pub type CriticFn<'a> = dyn Fn(&Tensor) -> Result<Tensor> + 'a;

/// One checkpoint to rank: its generator and, for methods that train D_u, its critic.
pub struct SelectionCandidate<'a> {
    pub step: u64,
    pub sample: &'a SampleFn<'a>,
    pub du: Option<&'a CriticFn<'a>>,
}

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

/// Label-free selection over checkpoints: `samplers[i] = (step, sample fn)`, without D_u
/// (see [`evaluate_selection_with`]).
pub fn evaluate_selection(
    inputs: &EvalInputs,
    samplers: &[(u64, Box<SampleFn>)],
    opts: &EvalOptions,
) -> Result<SelectionEval> {
    let candidates: Vec<SelectionCandidate> = samplers
        .iter()
        .map(|(step, s)| SelectionCandidate {
            step: *step,
            sample: s.as_ref(),
            du: None,
        })
        .collect();
    evaluate_selection_with(inputs, &candidates, opts)
}

/// Label-free selection over checkpoints. Uses only the unseen class's generated samples, the
/// target classifier, features and — where every checkpoint has its critic — D_u's realism of
/// those samples against real *seen*-class images (the data an auditor has); where real unseen
/// data exist, also computes unseen intra-FID per checkpoint and the agreement.
pub fn evaluate_selection_with(
    inputs: &EvalInputs,
    candidates: &[SelectionCandidate],
    opts: &EvalOptions,
) -> Result<SelectionEval> {
    let (Some(target), Some(fx)) = (inputs.target, inputs.features) else {
        bail!("checkpoint selection needs the target classifier and a feature extractor");
    };
    let &u = inputs
        .unseen
        .first()
        .context("checkpoint selection: the run has no unseen class")?;
    let name = &inputs.class_names[u];
    let tmap = map_classes(std::slice::from_ref(name), target.class_names())?[0];
    let real_unseen = match inputs.real {
        Some(r) => real_class_images(r, name, opts.real_per_class, &inputs.device)?
            .map(|x| fx.features(&x))
            .transpose()?,
        None => None,
    };
    let with_du = candidates.iter().filter(|c| c.du.is_some()).count();
    let real_seen_rows = match inputs.real {
        Some(r) if with_du > 0 => seen_rows(r, inputs, opts.du_real_images),
        _ => vec![],
    };
    let du_realism_note = if with_du == 0 {
        Some("no D_u: the method trains no unconditional discriminator".to_string())
    } else if with_du < candidates.len() {
        Some(format!(
            "D_u dropped: only {with_du} of {} checkpoints have a discriminator",
            candidates.len()
        ))
    } else if real_seen_rows.is_empty() {
        Some(
            "D_u dropped: no real images of the seen classes to compare against (pass --real)"
                .to_string(),
        )
    } else {
        Some(format!(
            "D_u realism = P(D_u(unseen sample) > D_u(real seen image)) over {} unseen samples and {} real seen images, each checkpoint scored by its own D (0.5: D_u cannot tell them apart)",
            opts.samples_per_class,
            real_seen_rows.len()
        ))
    };
    let mut real_seen: Option<Tensor> = None;
    let mut signals = vec![];
    let mut intra = vec![];
    for c in candidates {
        let x = (c.sample)(u, opts.samples_per_class, opts.seed.wrapping_add(u as u64))
            .with_context(|| format!("sampling the unseen class at step {}", c.step))?;
        let conf = classifier_confidence(target, &x, &vec![tmap; x.dim(0)?])?;
        let f = fx.features(&x)?;
        let div = diversity(&f, 0.0)?;
        let du = match (c.du, inputs.real) {
            (Some(critic), Some(real))
                if with_du == candidates.len() && !real_seen_rows.is_empty() =>
            {
                if real_seen.is_none() {
                    real_seen = Some(
                        real_in_generator_space(real, &real_seen_rows, &x, &inputs.device)
                            .context("D_u realism: real seen images in generator space")?,
                    );
                }
                let scores = |t: Tensor| -> Result<Vec<f64>> {
                    Ok(t.to_dtype(candle_core::DType::F64)?
                        .flatten_all()?
                        .to_vec1()?)
                };
                let fake_s = scores(critic(&x)?)?;
                let real_s = scores(critic(real_seen.as_ref().unwrap())?)?;
                Some(
                    du_realism(&fake_s, &real_s)
                        .with_context(|| format!("D_u realism at step {}", c.step))?,
                )
            }
            _ => None,
        };
        signals.push(CheckpointSignals {
            step: c.step,
            unseen_confidence: conf.mean_probability,
            du_realism: du,
            diversity: div.mean_pairwise_distance,
        });
        if let Some(r) = &real_unseen {
            intra.push(fid::fid(r, &f)?);
        }
    }
    let selection = select_checkpoint(&signals)?;
    let (unseen_intra_fid, agreement) = if real_unseen.is_some() && candidates.len() >= 2 {
        let a = Some(agreement(&selection, &intra)?);
        (Some(intra), a)
    } else {
        (None, None)
    };
    Ok(SelectionEval {
        checkpoints: signals,
        selection: Some(selection),
        unseen_intra_fid,
        agreement,
        du_realism_note,
    })
}

/// Up to `max` rows of real images of the run's seen classes (matched by name), spread evenly
/// over those classes.
fn seen_rows(real: &Dataset, inputs: &EvalInputs, max: usize) -> Vec<usize> {
    let seen: Vec<&String> = inputs
        .class_names
        .iter()
        .enumerate()
        .filter(|(c, _)| !inputs.unseen.contains(c))
        .map(|(_, n)| n)
        .collect();
    let per_class = max.div_ceil(seen.len().max(1));
    let mut rows: Vec<usize> = seen
        .iter()
        .filter_map(|n| real_class_rows(real, n, per_class))
        .flatten()
        .collect();
    rows.truncate(max);
    rows
}

#[cfg(test)]
mod tests {
    use super::test_support::{noisy_class, two_class_real, FirstTwoChannels, MeanStd};
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

    #[test]
    fn selection_uses_du_realism_normalised_against_real_seen_images() {
        let names: Vec<String> = vec!["r".into(), "g".into()];
        let real = two_class_real(&names, 60, 0.3);
        let clf = FirstTwoChannels {
            names: names.clone(),
        };
        let inputs = EvalInputs {
            class_names: names.clone(),
            unseen: vec![1],
            judge: None,
            judge_name: "none".into(),
            target: Some(&clf),
            features: Some(&MeanStd),
            real: Some(&real),
            device: Device::Cpu,
        };
        let opts = EvalOptions {
            samples_per_class: 40,
            ..Default::default()
        };
        // "Realism" the critics agree on: background noise as in the real data (std 0.3).
        let realism = |x: &Tensor| -> Result<Tensor> {
            let sd = x.narrow(1, 2, 1)?.flatten_from(1)?.var_keepdim(1)?.sqrt()?;
            Ok((sd - 0.3)?.abs()?.neg()?.squeeze(1)?)
        };
        // Checkpoint 100 makes realistic samples; checkpoint 200 noisy ones, but its D_u
        // drifted to a large offset and scale, so a raw mean would prefer it.
        let good = |c: usize, n: usize, _s: u64| noisy_class(c, n, 0.3);
        let bad = |c: usize, n: usize, _s: u64| noisy_class(c, n, 1.5);
        let critic_100 = |x: &Tensor| realism(x);
        let critic_200 = |x: &Tensor| -> Result<Tensor> { Ok(realism(x)?.affine(30.0, 100.0)?) };
        let raw_mean = |critic: &CriticFn, x: Tensor| -> f64 {
            critic(&x)
                .unwrap()
                .mean_all()
                .unwrap()
                .to_scalar::<f32>()
                .unwrap() as f64
        };
        assert!(
            raw_mean(&critic_200, bad(1, 40, 0).unwrap())
                > raw_mean(&critic_100, good(1, 40, 0).unwrap())
        );
        let candidates = [
            SelectionCandidate {
                step: 100,
                sample: &good,
                du: Some(&critic_100),
            },
            SelectionCandidate {
                step: 200,
                sample: &bad,
                du: Some(&critic_200),
            },
        ];
        let sel = evaluate_selection_with(&inputs, &candidates, &opts).unwrap();
        let du: Vec<f64> = sel
            .checkpoints
            .iter()
            .map(|c| c.du_realism.unwrap())
            .collect();
        assert!(du[0] > 0.25 && du[1] < 0.05, "{du:?}");
        let s = sel.selection.as_ref().unwrap();
        assert!(s.signals_used.contains(&"du_realism".to_string()));
        assert!(sel
            .du_realism_note
            .as_ref()
            .unwrap()
            .contains("real seen images"));
        // The unseen class's real images are never D_u's reference: swapping them for
        // anything leaves the signal unchanged.
        let mut other = real.clone();
        for i in 60..120 {
            let p = 3 * 8 * 8;
            other.images[i * p..(i + 1) * p]
                .iter_mut()
                .for_each(|v| *v = 1.0);
        }
        let inputs2 = EvalInputs {
            real: Some(&other),
            ..inputs
        };
        let sel2 = evaluate_selection_with(&inputs2, &candidates, &opts).unwrap();
        let du2: Vec<f64> = sel2
            .checkpoints
            .iter()
            .map(|c| c.du_realism.unwrap())
            .collect();
        assert!(
            (du2[0] - du[0]).abs() < 0.2 && du2[1] < 0.05,
            "{du2:?} vs {du:?}"
        );

        // A checkpoint without a critic: the signal is dropped for all, with the reason.
        let partial = [
            SelectionCandidate {
                step: 100,
                sample: &good,
                du: Some(&critic_100),
            },
            SelectionCandidate {
                step: 200,
                sample: &bad,
                du: None,
            },
        ];
        let sel = evaluate_selection_with(&inputs2, &partial, &opts).unwrap();
        assert!(sel.checkpoints.iter().all(|c| c.du_realism.is_none()));
        assert!(sel.du_realism_note.unwrap().contains("only 1 of 2"));
    }
}
