//! Evaluating a substrate run (`methods::substrate`) with a second classifier over its full
//! label set (e.g. all 1000 ImageNet classes), never the one the painter trained against:
//! - per class, the judge's top-1 / top-5 recognition of the whole painted image, the same
//!   after a blur and a 2× down-and-up resampling (an invisible adversarial pattern does not
//!   survive that; painted content does), and on the unpainted substrates as the control;
//! - the judge's probability of the class on random crops beside the whole image (the
//!   method asks for the class at the scale of the whole image, not of every patch);
//! - SSIM and L1 to the substrate: how much of the photograph is left;
//! - how much of the painted change every class shares, and every substrate
//!   (`metrics::paint_overlap`): a figure the target likes for all classes is not a class;
//! - the all-zero target: how often its images are taken for any target class;
//! - class mixes: how often the judge's top-5 holds every mixed class;
//! - grids of substrate → painted images.
//!
//! Judge classes are found by name: a run class matches a judge label equal to it or
//! listing it among comma-separated synonyms ("tandem bicycle" in "bicycle-built-for-two,
//! tandem bicycle, tandem").

use crate::adapter::crops::{crop_boxes, cut};
use crate::classifier::Classifier;
use crate::image_io::{grid, save_png, to_rgb_images};
use crate::metrics::evaluation::{
    SubstrateClassEval, SubstrateEval, SubstrateMixEval, SubstrateNoneEval,
};
use crate::metrics::judge::softmax_in_batches_of;
use crate::metrics::paint_overlap;
use crate::metrics::ssim::{gaussian_blur_3sigma, ssim};
use anyhow::{bail, Context, Result};
use candle_core::Tensor;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use std::path::Path;

/// `paint(substrates [m, C, R, R], target, seed) -> [m, C, R, R]`.
pub type PaintFn<'a> = dyn Fn(&Tensor, &[(usize, f32)], u64) -> Result<Tensor> + 'a;

pub struct SubstrateInputs<'a> {
    /// The run's classes.
    pub class_names: Vec<String>,
    /// Held-out substrates [M, C, R, R] in generator space.
    pub substrates: &'a Tensor,
    pub paint: &'a PaintFn<'a>,
    /// The judge, over its full label set.
    pub judge: &'a dyn Classifier,
    /// The classifier the run trained against (its probabilities are reported beside).
    pub target: Option<&'a dyn Classifier>,
}

#[derive(Debug, Clone)]
pub struct SubstrateEvalOptions {
    pub seed: u64,
    /// Random crops per image and their side as a fraction of the image side.
    pub crops: usize,
    pub crop_min: f64,
    pub crop_max: f64,
    /// σ of the degradation's Gaussian blur (pixels at the painted resolution).
    pub blur_sigma: f64,
    /// Class pairs mixed (the first `mix_pairs` in order) and substrates per mix.
    pub mix_pairs: usize,
    pub mix_substrates: usize,
    /// Substrates shown per grid row.
    pub grid_columns: usize,
}

impl Default for SubstrateEvalOptions {
    fn default() -> Self {
        Self {
            seed: 0,
            crops: 3,
            crop_min: 0.45,
            crop_max: 0.6,
            blur_sigma: 1.0,
            mix_pairs: 10,
            mix_substrates: 16,
            grid_columns: 8,
        }
    }
}

/// The judge's index of each run class (see the module note on synonyms).
pub fn judge_indices(ours: &[String], judge_names: &[String]) -> Result<Vec<usize>> {
    ours.iter()
        .map(|name| {
            let want = name.trim().to_lowercase();
            let hits: Vec<usize> = judge_names
                .iter()
                .enumerate()
                .filter(|(_, j)| j.split(',').any(|s| s.trim().to_lowercase() == want))
                .map(|(i, _)| i)
                .collect();
            match hits.as_slice() {
                [i] => Ok(*i),
                [] => bail!("judge: no label names `{name}` (as a whole label or one of its comma-separated synonyms)"),
                many => bail!("judge: `{name}` names several labels {many:?}; rename the run's class to the full label"),
            }
        })
        .collect()
}

/// Halve and restore the resolution bilinearly (at exactly 2× with half-pixel centres,
/// bilinear down-sampling is the 2×2 mean), then blur (σ).
pub fn degrade(x: &Tensor, sigma: f64) -> Result<Tensor> {
    let (_, _, h, w) = x.dims4()?;
    let back = x.avg_pool2d(2)?.upsample_bilinear2d(h, w, false)?;
    gaussian_blur_3sigma(&back, sigma)
}

/// Rank of `class` in a probability row (0 = top-1).
fn rank(row: &[f64], class: usize) -> usize {
    row.iter().filter(|&&p| p > row[class]).count()
}

fn share(hits: impl Iterator<Item = bool>) -> f64 {
    mean(hits.map(|h| if h { 1.0 } else { 0.0 }))
}

fn mean(v: impl Iterator<Item = f64>) -> f64 {
    let (mut n, mut s) = (0usize, 0.0);
    for x in v {
        n += 1;
        s += x;
    }
    if n == 0 {
        0.0
    } else {
        s / n as f64
    }
}

/// Judge probabilities a few images at a time (large judges at full size are heavy).
fn judge_probs(judge: &dyn Classifier, x: &Tensor) -> Result<Vec<Vec<f64>>> {
    softmax_in_batches_of(judge, x, 16)
}

/// `crops` random square crops of every image, one batch per crop (one side per batch), drawn
/// as the method draws its negatives.
fn random_crops(
    x: &Tensor,
    opts: &SubstrateEvalOptions,
    rng: &mut ChaCha8Rng,
) -> Result<Vec<Tensor>> {
    let (n, _, r, _) = x.dims4()?;
    crop_boxes(rng, n, r, opts.crops, (opts.crop_min, opts.crop_max))
        .into_iter()
        .map(|boxes| cut(x, &boxes))
        .collect()
}

/// `k` rows of `x` spread evenly over its first axis (substrate tiles of one photograph sit
/// together; a grid should show many photographs).
fn spread(x: &Tensor, k: usize) -> Result<Tensor> {
    let m = x.dim(0)?;
    let k = k.min(m);
    let rows: Vec<u32> = (0..k).map(|i| (i * m / k) as u32).collect();
    Ok(x.index_select(&Tensor::from_vec(rows, k, x.device())?, 0)?)
}

fn mean_abs_unit(a: &Tensor, b: &Tensor) -> Result<f64> {
    // Generator space spans 2; [0, 1] units halve it.
    Ok((a - b)?
        .abs()?
        .mean_all()?
        .to_dtype(candle_core::DType::F64)?
        .to_scalar::<f64>()?
        / 2.0)
}

/// Mean target-classifier probability of `class` on `x`.
fn target_probability(target: &dyn Classifier, x: &Tensor, class: usize) -> Result<f64> {
    let n = x.dim(0)?;
    let mut total = 0.0;
    let mut start = 0;
    while start < n {
        let len = 16.min(n - start);
        let p = target
            .class_log_probs(&x.narrow(0, start, len)?.detach())?
            .detach()
            .exp()?
            .narrow(1, class, 1)?
            .sum_all()?
            .to_dtype(candle_core::DType::F64)?
            .to_scalar::<f64>()?;
        total += p;
        start += len;
    }
    Ok(total / n as f64)
}

/// Run the substrate evaluation; grids go to `out_dir`.
pub fn evaluate_substrate(
    inputs: &SubstrateInputs,
    opts: &SubstrateEvalOptions,
    out_dir: &Path,
) -> Result<SubstrateEval> {
    std::fs::create_dir_all(out_dir).with_context(|| format!("creating {}", out_dir.display()))?;
    let subs = inputs.substrates;
    let m = subs.dim(0)?;
    if m == 0 {
        bail!("substrate evaluation: no held-out substrates to paint on");
    }
    let judge_names = inputs.judge.class_names();
    let idx = judge_indices(&inputs.class_names, judge_names)?;
    let mut rng = ChaCha8Rng::seed_from_u64(opts.seed);
    let control = judge_probs(inputs.judge, subs)?;
    let cols = opts.grid_columns.min(m).max(1);
    let mut rows: Vec<Tensor> = vec![spread(subs, cols)?];
    let mut classes = vec![];
    let mut deltas = vec![];
    for (c, name) in inputs.class_names.iter().enumerate() {
        let jc = idx[c];
        let painted = (inputs.paint)(subs, &[(c, 1.0)], opts.seed ^ (c as u64 + 1))?;
        rows.push(spread(&painted, cols)?);
        let whole = judge_probs(inputs.judge, &painted)?;
        let degraded = judge_probs(inputs.judge, &degrade(&painted, opts.blur_sigma)?)?;
        let mut crop_p = vec![];
        for crop in random_crops(&painted, opts, &mut rng)? {
            crop_p.extend(judge_probs(inputs.judge, &crop)?.into_iter().map(|r| r[jc]));
        }
        let s = ssim(&painted, subs)?;
        let delta = (&painted - subs)?;
        classes.push(SubstrateClassEval {
            name: name.clone(),
            judge_index: jc,
            judge_top1: share(whole.iter().map(|r| rank(r, jc) == 0)),
            judge_top5: share(whole.iter().map(|r| rank(r, jc) < 5)),
            degraded_top1: share(degraded.iter().map(|r| rank(r, jc) == 0)),
            degraded_top5: share(degraded.iter().map(|r| rank(r, jc) < 5)),
            substrate_top1: share(control.iter().map(|r| rank(r, jc) == 0)),
            substrate_top5: share(control.iter().map(|r| rank(r, jc) < 5)),
            crop_probability: mean(crop_p.into_iter()),
            whole_probability: mean(whole.iter().map(|r| r[jc])),
            target_probability: inputs
                .target
                .map(|t| target_probability(t, &painted, c))
                .transpose()?,
            ssim: mean(s.into_iter()),
            l1: mean_abs_unit(&painted, subs)?,
            paint_shared_with_classes: None,
            paint_shared_across_substrates: if m > 1 {
                Some(paint_overlap::across_substrates(&delta)?)
            } else {
                None
            },
        });
        deltas.push(delta);
    }
    let maps_file = "substrate_paint_maps.png";
    let maps = to_rgb_images(&paint_overlap::where_painted(&deltas)?)?;
    save_png(&grid(&maps, maps.len(), 2)?, &out_dir.join(maps_file))?;
    if deltas.len() > 1 {
        for (c, shared) in classes
            .iter_mut()
            .zip(paint_overlap::across_classes(&deltas)?)
        {
            c.paint_shared_with_classes = Some(shared);
        }
    }
    // The all-zero target, and the untouched substrates as its control.
    let none = (inputs.paint)(subs, &[], opts.seed ^ 0x0e0e)?;
    rows.push(spread(&none, cols)?);
    let none_p = judge_probs(inputs.judge, &none)?;
    let any = |probs: &[Vec<f64>], k: usize| {
        share(probs.iter().map(|r| idx.iter().any(|&j| rank(r, j) < k)))
    };
    let none_eval = SubstrateNoneEval {
        as_target_top1: any(&none_p, 1),
        as_target_top5: any(&none_p, 5),
        substrate_top1: any(&control, 1),
        substrate_top5: any(&control, 5),
        ssim: mean(ssim(&none, subs)?.into_iter()),
    };
    let grid_file = "substrate_grid.png";
    let tiles = to_rgb_images(&Tensor::cat(&rows, 0)?)?;
    save_png(&grid(&tiles, cols, 2)?, &out_dir.join(grid_file))?;

    // Mixes of two classes, in pair order.
    let k = inputs.class_names.len();
    let pairs: Vec<(usize, usize)> = (0..k)
        .flat_map(|a| (a + 1..k).map(move |b| (a, b)))
        .take(opts.mix_pairs)
        .collect();
    let ms = opts.mix_substrates.min(m);
    let mix_subs = spread(subs, ms)?;
    let mcols = cols.min(ms);
    let mut mix_rows = vec![spread(&mix_subs, mcols)?];
    let mut mixes = vec![];
    for (i, &(a, b)) in pairs.iter().enumerate() {
        let x = (inputs.paint)(
            &mix_subs,
            &[(a, 0.5), (b, 0.5)],
            opts.seed ^ (0x3100 + i as u64),
        )?;
        if i < 4 {
            mix_rows.push(spread(&x, mcols)?);
        }
        let p = judge_probs(inputs.judge, &x)?;
        let (ja, jb) = (idx[a], idx[b]);
        mixes.push(SubstrateMixEval {
            classes: vec![inputs.class_names[a].clone(), inputs.class_names[b].clone()],
            all_top5: share(p.iter().map(|r| rank(r, ja) < 5 && rank(r, jb) < 5)),
            any_top1: share(p.iter().map(|r| rank(r, ja) == 0 || rank(r, jb) == 0)),
        });
    }
    let mixes_grid = if pairs.is_empty() {
        None
    } else {
        let file = "substrate_mixes.png";
        let tiles = to_rgb_images(&Tensor::cat(&mix_rows, 0)?)?;
        save_png(&grid(&tiles, mcols, 2)?, &out_dir.join(file))?;
        Some(file.to_string())
    };
    Ok(SubstrateEval {
        substrates: m,
        judge_classes: judge_names.len(),
        degradation: format!(
            "2× bilinear down- and up-sampling, then a Gaussian blur of σ = {} px",
            opts.blur_sigma
        ),
        classes,
        none: none_eval,
        mixes,
        grid: Some(grid_file.to_string()),
        paint_maps: Some(maps_file.to_string()),
        mixes_grid,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::judge::tests::MeanPixelClassifier;
    use candle_core::Device;

    #[test]
    fn judge_labels_match_by_name_or_synonym_and_ambiguity_is_an_error() {
        let judge: Vec<String> = ["goldfish, Carassius auratus", "crane", "crane", "tandem"]
            .map(String::from)
            .to_vec();
        let ours = vec!["Goldfish".to_string(), "tandem".to_string()];
        assert_eq!(judge_indices(&ours, &judge).unwrap(), vec![0, 3]);
        assert!(judge_indices(&["crane".to_string()], &judge).is_err());
        assert!(judge_indices(&["horse".to_string()], &judge).is_err());
    }

    #[test]
    fn degrade_keeps_smooth_images_and_wipes_pixel_noise() {
        let d = Device::Cpu;
        let smooth = Tensor::ones((1, 3, 16, 16), candle_core::DType::F32, &d).unwrap();
        let gap = mean_abs_unit(&degrade(&smooth, 1.0).unwrap(), &smooth).unwrap();
        assert!(gap < 1e-6);
        // A ±0.5 checkerboard (the finest pattern there is) is averaged out.
        let v: Vec<f32> = (0..256)
            .map(|i| {
                if (i / 16 + i % 16) % 2 == 0 {
                    0.5
                } else {
                    -0.5
                }
            })
            .collect();
        let board = Tensor::from_vec(v, (1, 1, 16, 16), &d).unwrap();
        let left = degrade(&board, 1.0)
            .unwrap()
            .abs()
            .unwrap()
            .max_all()
            .unwrap();
        assert!(left.to_scalar::<f32>().unwrap() < 0.1);
    }

    /// A "painter" that pushes the painted class's channel up, and a judge of the mean
    /// channel: every measure can be worked out by hand.
    #[test]
    fn a_painter_the_judge_recognises_scores_full_marks_and_none_stays_clear() {
        let d = Device::Cpu;
        let names: Vec<String> = ["r", "g", "b"].map(String::from).to_vec();
        let judge = MeanPixelClassifier {
            names: names.clone(),
        };
        let subs = Tensor::rand(-0.2f32, 0.2, (6, 3, 16, 16), &d).unwrap();
        let paint = |x: &Tensor, target: &[(usize, f32)], _seed: u64| -> Result<Tensor> {
            let mut shift = [0f32; 3];
            for &(c, w) in target {
                shift[c] = 0.6 * w / target.iter().map(|t| t.1).fold(0.0, f32::max);
            }
            let s = Tensor::from_vec(shift.to_vec(), (1, 3, 1, 1), &Device::Cpu)?;
            Ok(x.broadcast_add(&s)?)
        };
        let inputs = SubstrateInputs {
            class_names: names.clone(),
            substrates: &subs,
            paint: &paint,
            judge: &judge,
            target: Some(&judge),
        };
        let dir = tempfile::tempdir().unwrap();
        let opts = SubstrateEvalOptions {
            grid_columns: 4,
            ..Default::default()
        };
        let r = evaluate_substrate(&inputs, &opts, dir.path()).unwrap();
        assert_eq!((r.substrates, r.judge_classes), (6, 3));
        for c in &r.classes {
            assert_eq!(
                (c.judge_top1, c.degraded_top1, c.judge_top5),
                (1.0, 1.0, 1.0),
                "{c:?}"
            );
            assert!(c.whole_probability > 0.4 && c.crop_probability > 0.4);
            // A uniform 0.6 shift: L1 = 0.3 in [0, 1] units on one channel of three.
            assert!((c.l1 - 0.1).abs() < 1e-5, "{}", c.l1);
            assert!(c.ssim < 1.0 && c.target_probability.unwrap() > 0.4);
            // Each class shifts its own channel by the same amount everywhere: nothing shared
            // with the other classes, one stamp on every substrate.
            assert!(c.paint_shared_with_classes.unwrap().abs() < 1e-6, "{c:?}");
            assert!((c.paint_shared_across_substrates.unwrap() - 1.0).abs() < 1e-6);
        }
        // The all-zero target leaves the substrate as it is.
        assert!((r.none.ssim - 1.0).abs() < 1e-6);
        assert_eq!(r.mixes.len(), 3);
        assert!(r.mixes.iter().all(|m| m.any_top1 == 1.0));
        assert!(dir.path().join("substrate_grid.png").exists());
        assert!(dir.path().join("substrate_mixes.png").exists());
        assert!(dir.path().join("substrate_paint_maps.png").exists());
    }
}
