//! The evaluation pipeline behind `probegan eval`: sample every class from a generator, then
//! compute every metric the available evidence allows (judge, target classifier, features,
//! real data) and write the images the report shows.
//!
//! The pipeline takes its pieces as trait objects and closures, so it runs unchanged on any
//! generator, classifier backend and feature extractor (tests use tiny hand-made ones).

use super::confidence::classifier_confidence;
use super::diversity::{diversity, DEFAULT_DUPLICATE_FRACTION};
use super::evaluation::*;
use super::features::FeatureExtractor;
use super::judge::{judge, map_classes};
use super::selection::{agreement, select_checkpoint, CheckpointSignals};
use super::{fid, kid, neighbours, prdc, spectrum};
use crate::classifier::Classifier;
use crate::data::Dataset;
use crate::report::png::{grid, save_png, to_rgb_images};
use anyhow::{bail, Context, Result};
use candle_core::{Device, Tensor};
use std::path::Path;

/// `sample(class, n, seed) -> [n, C, H, W]` in [-1, 1].
pub type SampleFn<'a> = dyn Fn(usize, usize, u64) -> Result<Tensor> + 'a;

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
        }
    }
}

/// Real images of one class (by name), up to `max`, as `[n, C, H, W]`.
fn real_class_images(
    real: &Dataset,
    name: &str,
    max: usize,
    device: &Device,
) -> Result<Option<Tensor>> {
    let Some(c) = real.class_names.iter().position(|n| n == name) else {
        return Ok(None);
    };
    let idx: Vec<usize> = (0..real.len())
        .filter(|&i| real.labels[i] as usize == c)
        .take(max)
        .collect();
    if idx.len() < 2 {
        return Ok(None);
    }
    Ok(Some(real.batch(&idx, device)?.images))
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
    let mut fakes = Vec::with_capacity(names.len());
    for c in 0..names.len() {
        fakes.push(
            sample(c, n, opts.seed.wrapping_add(c as u64))
                .with_context(|| format!("sampling class `{}`", names[c]))?,
        );
    }
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

    // Sample grids.
    for (c, x) in fakes.iter().enumerate() {
        let file = format!("class_{c:02}.png");
        let shown = x.narrow(0, 0, n.min(16))?;
        save_png(&grid(&to_rgb_images(&shown)?, 4, 1)?, &out_dir.join(&file))?;
        classes[c].grid = Some(file);
    }

    // Judge.
    let mut judge_rows = None;
    if let Some(j) = inputs.judge {
        let map = map_classes(names, j.class_names())?;
        let all = Tensor::cat(&fakes, 0)?;
        let intended: Vec<usize> = (0..names.len())
            .flat_map(|c| std::iter::repeat(map[c]).take(n))
            .collect();
        let r = judge(j, &all, &intended)?;
        for c in 0..names.len() {
            classes[c].judge_recognition = r.recognition_rate(map[c]);
        }
        let seen: Vec<usize> = (0..names.len())
            .filter(|c| !inputs.unseen.contains(c))
            .map(|c| map[c])
            .collect();
        let unseen: Vec<usize> = inputs.unseen.iter().map(|&c| map[c]).collect();
        report.overall.judge_accuracy = Some(r.accuracy());
        report.overall.seen_recognition = r.mean_recognition(&seen);
        report.overall.unseen_recognition = r.mean_recognition(&unseen);
        judge_rows = Some(r);
    }

    // Target-classifier confidence.
    if let Some(t) = inputs.target {
        let map = map_classes(names, t.class_names())?;
        for c in 0..names.len() {
            classes[c].target_confidence =
                Some(classifier_confidence(t, &fakes[c], &vec![map[c]; n])?.mean_probability);
        }
    }

    // Unseen gallery with judge labels.
    if let Some(&u) = inputs.unseen.first() {
        let g = opts.gallery.min(n);
        let tiles = to_rgb_images(&fakes[u].narrow(0, 0, g)?)?;
        let mut gallery = Gallery {
            class: names[u].clone(),
            ..Default::default()
        };
        for (i, t) in tiles.iter().enumerate() {
            let f = format!("tiles/unseen_{i:03}.png");
            save_png(&grid(std::slice::from_ref(t), 1, 0)?, &out_dir.join(&f))?;
            gallery.tiles.push(f);
            if let Some(r) = &judge_rows {
                let row = u * n + i;
                gallery
                    .judge_labels
                    .push(r.class_names[r.predictions[row]].clone());
                gallery.judge_confidences.push(r.confidences[row]);
            }
        }
        report.gallery = Some(gallery);
    }

    // Real data per class (for distribution metrics, spectrum, neighbours).
    let real_per_class: Vec<Option<Tensor>> = match inputs.real {
        Some(real) => names
            .iter()
            .map(|nm| real_class_images(real, nm, opts.real_per_class, &inputs.device))
            .collect::<Result<_>>()?,
        None => vec![None; names.len()],
    };
    let real_all: Vec<&Tensor> = real_per_class.iter().flatten().collect();

    // Spectrum (needs real images of the same size).
    if !real_all.is_empty() && real_all[0].dims()[2..] == fakes[0].dims()[2..] {
        let r = spectrum::radial_power_spectrum(&Tensor::cat(&real_all, 0)?)?;
        let f = spectrum::radial_power_spectrum(&Tensor::cat(&fakes, 0)?)?;
        report.overall.spectral_discrepancy = Some(spectrum::high_frequency_discrepancy(&r, &f)?);
        report.spectrum = Some(SpectrumEval {
            real: r.power,
            generated: f.power,
        });
    }

    // Feature-space metrics.
    if let Some(fx) = inputs.features {
        let fake_feats: Vec<Tensor> = fakes
            .iter()
            .map(|x| fx.features(x))
            .collect::<Result<_>>()?;
        let real_feats: Vec<Option<Tensor>> = real_per_class
            .iter()
            .map(|r| r.as_ref().map(|x| fx.features(x)).transpose())
            .collect::<Result<_>>()?;
        let real_cat: Vec<&Tensor> = real_feats.iter().flatten().collect();
        let real_all_f = if real_cat.is_empty() {
            None
        } else {
            Some(Tensor::cat(&real_cat, 0)?)
        };
        let threshold = match &real_all_f {
            Some(r) => {
                DEFAULT_DUPLICATE_FRACTION * super::diversity::median_nearest_neighbour_distance(r)?
            }
            None => 0.0,
        };
        for c in 0..names.len() {
            classes[c].diversity = Some(diversity(&fake_feats[c], threshold)?);
            if let Some(r) = &real_feats[c] {
                classes[c].intra_fid = Some(
                    fid::fid(r, &fake_feats[c])
                        .with_context(|| format!("intra-FID of `{}`", names[c]))?,
                );
            }
        }
        if let Some(r) = &real_all_f {
            // Compare like with like: generated classes that have real counterparts.
            let with_real: Vec<&Tensor> = (0..names.len())
                .filter(|&c| real_feats[c].is_some())
                .map(|c| &fake_feats[c])
                .collect();
            let f = Tensor::cat(&with_real, 0)?;
            report.overall.fid = Some(fid::fid(r, &f)?);
            report.overall.kid = Some(kid::kid(r, &f, &opts.kid)?);
            report.overall.prdc = Some(prdc::prdc(r, &f, opts.prdc_k)?);
            // Nearest real neighbours of unseen samples (or of the first class if none unseen).
            let show = inputs.unseen.first().copied().unwrap_or(0);
            report.neighbours = Some(neighbour_panel(
                &fakes[show],
                &fake_feats[show],
                &Tensor::cat(&real_all, 0)?,
                r,
                &names[show],
                threshold / DEFAULT_DUPLICATE_FRACTION,
                opts,
                out_dir,
            )?);
        }
    }
    report.classes = classes;
    Ok(report)
}

#[allow(clippy::too_many_arguments)]
fn neighbour_panel(
    fake_images: &Tensor,
    fake_feats: &Tensor,
    real_images: &Tensor,
    real_feats: &Tensor,
    class: &str,
    median_real_nn: f64,
    opts: &EvalOptions,
    out_dir: &Path,
) -> Result<NeighbourPanel> {
    let rows = opts.neighbour_rows.min(fake_feats.dim(0)?);
    let k = opts.neighbours_k.min(real_feats.dim(0)?);
    let nn = neighbours::nearest_real(&fake_feats.narrow(0, 0, rows)?, real_feats, k)?;
    let mut panel = NeighbourPanel {
        space: "features".into(),
        median_real_nn: Some(median_real_nn),
        rows: vec![],
    };
    let gen_tiles = to_rgb_images(&fake_images.narrow(0, 0, rows)?)?;
    for (i, list) in nn.iter().enumerate() {
        let g = format!("tiles/nn_{i:02}_generated.png");
        save_png(
            &grid(std::slice::from_ref(&gen_tiles[i]), 1, 0)?,
            &out_dir.join(&g),
        )?;
        let mut row = NeighbourRow {
            class: class.to_string(),
            generated: g,
            neighbours: vec![],
        };
        for (j, nb) in list.iter().enumerate() {
            let img = to_rgb_images(&real_images.narrow(0, nb.index, 1)?)?;
            let f = format!("tiles/nn_{i:02}_real_{j}.png");
            save_png(&grid(&img, 1, 0)?, &out_dir.join(&f))?;
            row.neighbours.push((f, nb.distance));
        }
        panel.rows.push(row);
    }
    Ok(panel)
}

/// Label-free selection over checkpoints: `samplers[i] = (step, sample fn)`. Uses only the
/// unseen class's generated samples, the target classifier and features; where real unseen
/// data exist, also computes unseen intra-FID per checkpoint and the agreement.
pub fn evaluate_selection(
    inputs: &EvalInputs,
    samplers: &[(u64, Box<SampleFn>)],
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
    let mut signals = vec![];
    let mut intra = vec![];
    for (step, sample) in samplers {
        let x = sample(u, opts.samples_per_class, opts.seed.wrapping_add(u as u64))?;
        let conf = classifier_confidence(target, &x, &vec![tmap; x.dim(0)?])?;
        let f = fx.features(&x)?;
        let div = diversity(&f, 0.0)?;
        signals.push(CheckpointSignals {
            step: *step,
            unseen_confidence: conf.mean_probability,
            du_realism: None,
            diversity: div.mean_pairwise_distance,
        });
        if let Some(r) = &real_unseen {
            intra.push(fid::fid(r, &f)?);
        }
    }
    let selection = select_checkpoint(&signals)?;
    let (unseen_intra_fid, agreement) = if real_unseen.is_some() && samplers.len() >= 2 {
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
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Class = the brighter of the first two channels (the third is background, so the
    /// images are RGB and can go into the report).
    struct FirstTwoChannels {
        names: Vec<String>,
    }
    impl Classifier for FirstTwoChannels {
        fn logits(&self, x: &Tensor) -> Result<Tensor> {
            Ok((x.narrow(1, 0, 2)?.mean(3)?.mean(2)? * 10.0)?)
        }
        fn class_names(&self) -> &[String] {
            &self.names
        }
    }

    /// Identity-ish features: the per-channel mean and the pixel std, so classes separate.
    struct MeanStd;
    impl FeatureExtractor for MeanStd {
        fn features(&self, x: &Tensor) -> Result<Tensor> {
            let m = x.mean(3)?.mean(2)?;
            let s = x.flatten_from(1)?.var_keepdim(1)?;
            Ok(Tensor::cat(&[m, s], 1)?)
        }
        fn describe(&self) -> String {
            "mean+std".into()
        }
    }

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
    }
}
