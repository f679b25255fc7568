//! Whether each class's samples are recognised as that class: by the independent judge
//! (recognition rates, overall and for seen / unseen classes) and by the target classifier
//! the generator was trained against (its mean confidence).

use super::{EvalInputs, EvalOptions};
use crate::metrics::confidence::classifier_confidence;
use crate::metrics::evaluation::{ClassEval, OverallEval};
use crate::metrics::judge::{judge, map_classes, JudgeResult};
use anyhow::Result;
use candle_core::Tensor;

/// Run the judge on every class's samples; fills each class's recognition rate and the
/// overall judge figures. Returns the judge's labels (the gallery shows them), None without
/// a judge.
pub(super) fn judge_recognition(
    inputs: &EvalInputs,
    fakes: &[Tensor],
    opts: &EvalOptions,
    classes: &mut [ClassEval],
    overall: &mut OverallEval,
) -> Result<Option<JudgeResult>> {
    let Some(j) = inputs.judge else {
        return Ok(None);
    };
    let names = &inputs.class_names;
    let n = opts.samples_per_class;
    let map = map_classes(names, j.class_names())?;
    let all = Tensor::cat(fakes, 0)?;
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
    overall.judge_accuracy = Some(r.accuracy());
    overall.seen_recognition = r.mean_recognition(&seen);
    overall.unseen_recognition = r.mean_recognition(&unseen);
    Ok(Some(r))
}

/// The target classifier's mean probability of each class on that class's samples.
pub(super) fn target_confidence(
    inputs: &EvalInputs,
    fakes: &[Tensor],
    opts: &EvalOptions,
    classes: &mut [ClassEval],
) -> Result<()> {
    let Some(t) = inputs.target else {
        return Ok(());
    };
    let n = opts.samples_per_class;
    let map = map_classes(&inputs.class_names, t.class_names())?;
    for c in 0..inputs.class_names.len() {
        classes[c].target_confidence =
            Some(classifier_confidence(t, &fakes[c], &vec![map[c]; n])?.mean_probability);
    }
    Ok(())
}

/// The judge's recognition of each class's real images (`real[c]`, None without any).
pub(super) fn real_judge_recognition(
    inputs: &EvalInputs,
    real: &[Option<Tensor>],
    classes: &mut [ClassEval],
) -> Result<()> {
    let Some(j) = inputs.judge else {
        return Ok(());
    };
    let map = map_classes(&inputs.class_names, j.class_names())?;
    for (c, images) in real.iter().enumerate() {
        if let Some(x) = images {
            let r = judge(j, x, &vec![map[c]; x.dim(0)?])?;
            classes[c].real_judge_recognition = r.recognition_rate(map[c]);
        }
    }
    Ok(())
}
