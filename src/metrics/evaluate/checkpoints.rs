//! Ranking several checkpoints of one run without unseen-class labels: each checkpoint's
//! unseen-class samples are measured (target confidence, diversity, D_u realism against real
//! seen images) and handed to [`crate::metrics::selection`], which picks one; where real
//! unseen data exist, unseen intra-FID per checkpoint checks that choice.

use super::real::{real_class_images, real_class_rows};
use super::{CriticFn, EvalInputs, EvalOptions, SampleFn};
use crate::data::Dataset;
use crate::metrics::confidence::classifier_confidence;
use crate::metrics::diversity::diversity;
use crate::metrics::evaluation::SelectionEval;
use crate::metrics::fid;
use crate::metrics::generator_space::real_in_generator_space;
use crate::metrics::judge::map_classes;
use crate::metrics::realism::du_realism;
use crate::metrics::selection::{agreement, select_checkpoint, CheckpointSignals};
use anyhow::{bail, Context, Result};
use candle_core::Tensor;

/// One checkpoint to rank: its generator and, for methods that train D_u, its critic.
pub struct SelectionCandidate<'a> {
    pub step: u64,
    pub sample: &'a SampleFn<'a>,
    pub du: Option<&'a CriticFn<'a>>,
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
    use super::super::test_support::{noisy_class, two_class_real, FirstTwoChannels, MeanStd};
    use super::*;
    use candle_core::Device;

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
