//! Sampling every class from the generator, and the images the report shows of the samples:
//! a grid per class and the unseen-class gallery labelled by the judge.

use super::{EvalInputs, EvalOptions, SampleFn};
use crate::image_io::{grid, save_png, to_rgb_images};
use crate::metrics::evaluation::{ClassEval, Gallery};
use crate::metrics::judge::JudgeResult;
use anyhow::{Context, Result};
use candle_core::Tensor;
use std::path::Path;

/// `opts.samples_per_class` samples of every class, in class order; class `c` is drawn with
/// seed `opts.seed + c`.
pub(super) fn sample_classes(
    names: &[String],
    sample: &SampleFn,
    opts: &EvalOptions,
) -> Result<Vec<Tensor>> {
    let n = opts.samples_per_class;
    let mut fakes = Vec::with_capacity(names.len());
    for c in 0..names.len() {
        fakes.push(
            sample(c, n, opts.seed.wrapping_add(c as u64))
                .with_context(|| format!("sampling class `{}`", names[c]))?,
        );
    }
    Ok(fakes)
}

/// A grid of the first 16 samples of each class, `class_NN.png`, recorded in its `ClassEval`.
pub(super) fn write_class_grids(
    fakes: &[Tensor],
    opts: &EvalOptions,
    classes: &mut [ClassEval],
    out_dir: &Path,
) -> Result<()> {
    for (c, x) in fakes.iter().enumerate() {
        let file = format!("class_{c:02}.png");
        let shown = x.narrow(0, 0, opts.samples_per_class.min(16))?;
        save_png(&grid(&to_rgb_images(&shown)?, 4, 1)?, &out_dir.join(&file))?;
        classes[c].grid = Some(file);
    }
    Ok(())
}

/// The first `opts.gallery` samples of the first unseen class as single tiles, with the
/// judge's label and confidence for each where a judge ran; None without an unseen class.
pub(super) fn unseen_gallery(
    inputs: &EvalInputs,
    fakes: &[Tensor],
    judged: Option<&JudgeResult>,
    opts: &EvalOptions,
    out_dir: &Path,
) -> Result<Option<Gallery>> {
    let Some(&u) = inputs.unseen.first() else {
        return Ok(None);
    };
    let n = opts.samples_per_class;
    let g = opts.gallery.min(n);
    let tiles = to_rgb_images(&fakes[u].narrow(0, 0, g)?)?;
    let mut gallery = Gallery {
        class: inputs.class_names[u].clone(),
        ..Default::default()
    };
    for (i, t) in tiles.iter().enumerate() {
        let f = format!("tiles/unseen_{i:03}.png");
        save_png(&grid(std::slice::from_ref(t), 1, 0)?, &out_dir.join(&f))?;
        gallery.tiles.push(f);
        if let Some(r) = judged {
            // The judge saw every class's samples concatenated in class order.
            let row = u * n + i;
            gallery
                .judge_labels
                .push(r.class_names[r.predictions[row]].clone());
            gallery.judge_confidences.push(r.confidences[row]);
        }
    }
    Ok(Some(gallery))
}
