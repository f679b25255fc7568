//! The nearest-real-neighbour panels of the report: the first samples of one class beside
//! their closest real images, in feature space and in pixel space, with the tiles written.
//! The search itself is [`crate::metrics::neighbours`].

use super::real::RealClasses;
use super::EvalOptions;
use crate::image_io::{grid, save_png, to_rgb_images};
use crate::metrics::evaluation::{NeighbourPanel, NeighbourRow};
use crate::metrics::neighbours::{self, NeighbourSpace};
use anyhow::Result;
use candle_core::Tensor;
use std::path::Path;

/// The panel in the feature extractor's space; `median_real_nn` is the median real
/// nearest-neighbour distance in that space.
#[allow(clippy::too_many_arguments)]
pub(super) fn feature_panel(
    fake_images: &Tensor,
    fake_features: &Tensor,
    real: &RealClasses,
    real_features: &Tensor,
    class: &str,
    median_real_nn: f64,
    opts: &EvalOptions,
    out_dir: &Path,
) -> Result<NeighbourPanel> {
    neighbour_panel(
        NeighbourSpace::Feature,
        fake_images,
        fake_features,
        &real.all_images()?,
        real_features,
        class,
        median_real_nn,
        opts,
        out_dir,
    )
}

/// The panel in pixel space: L2 on the images as the generator emits them, real images
/// resampled the way training resampled them, so a copied training image sits at 0. None
/// without real images, or when they could not be brought into generator space and pixel
/// neighbours were not asked for (the feature panel then stands alone).
pub(super) fn pixel_panel(
    real: RealClasses,
    fake_images: &Tensor,
    class: &str,
    opts: &EvalOptions,
    out_dir: &Path,
) -> Result<Option<NeighbourPanel>> {
    let any = real.any();
    let Some(real_px) = real.generator_space else {
        return Ok(None);
    };
    if !any {
        return Ok(None);
    }
    match real_px {
        Ok(real_px) => {
            let real_flat = neighbours::flatten_images(&real_px)?;
            let median =
                neighbours::median_real_nn_distance(&real_flat, opts.neighbour_median_queries)?;
            Ok(Some(neighbour_panel(
                NeighbourSpace::Pixel,
                fake_images,
                &neighbours::flatten_images(fake_images)?,
                &real_px,
                &real_flat,
                class,
                median,
                opts,
                out_dir,
            )?))
        }
        Err(e) if opts.neighbours == NeighbourSpace::Pixel => {
            Err(e.context("pixel-space nearest neighbours"))
        }
        Err(_) => Ok(None),
    }
}

/// The panel of the chosen space; without a feature extractor, the pixel panel is all there
/// is.
pub(super) fn primary_panel(
    panels: &[NeighbourPanel],
    opts: &EvalOptions,
) -> Option<NeighbourPanel> {
    let primary = opts.neighbours.panel_name();
    panels
        .iter()
        .find(|p| p.space == primary)
        .or(panels.first())
        .cloned()
}

/// Nearest real neighbours of the first generated samples, measured on `fake_repr` /
/// `real_repr` (features or flattened pixels), with the tiles the report shows.
#[allow(clippy::too_many_arguments)]
fn neighbour_panel(
    space: NeighbourSpace,
    fake_images: &Tensor,
    fake_repr: &Tensor,
    real_images: &Tensor,
    real_repr: &Tensor,
    class: &str,
    median_real_nn: f64,
    opts: &EvalOptions,
    out_dir: &Path,
) -> Result<NeighbourPanel> {
    let rows = opts.neighbour_rows.min(fake_repr.dim(0)?);
    let k = opts.neighbours_k.min(real_repr.dim(0)?);
    let nn = neighbours::nearest_real(&fake_repr.narrow(0, 0, rows)?, real_repr, k)?;
    let name = space.panel_name();
    let mut panel = NeighbourPanel {
        space: name.into(),
        median_real_nn: Some(median_real_nn),
        rows: vec![],
    };
    let gen_tiles = to_rgb_images(&fake_images.narrow(0, 0, rows)?)?;
    for (i, list) in nn.iter().enumerate() {
        let g = format!("tiles/nn_{name}_{i:02}_generated.png");
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
            let f = format!("tiles/nn_{name}_{i:02}_real_{j}.png");
            save_png(&grid(&img, 1, 0)?, &out_dir.join(&f))?;
            row.neighbours.push((f, nb.distance));
        }
        panel.rows.push(row);
    }
    Ok(panel)
}

#[cfg(test)]
mod tests {
    use super::super::test_support::{noisy_class, two_class_real, MeanStd};
    use super::super::{evaluate, EvalInputs};
    use super::*;
    use crate::metrics::generator_space::real_in_generator_space;
    use crate::metrics::kid;
    use candle_core::Device;

    #[test]
    fn pixel_neighbours_find_a_copied_training_image_at_distance_zero() {
        let names: Vec<String> = vec!["r".into(), "g".into()];
        let real = two_class_real(&names, 30, 0.3);
        // A generator that memorised real images: its unseen-class samples are exact copies
        // of real "g" images (rows 30..), in generator space.
        let real_ref = &real;
        let sample = move |c: usize, n: usize, _s: u64| -> Result<Tensor> {
            if c == 1 {
                let rows: Vec<usize> = (0..n).map(|i| 30 + (i * 7) % 30).collect();
                let like = Tensor::zeros((1, 3, 8, 8), candle_core::DType::F32, &Device::Cpu)?;
                real_in_generator_space(real_ref, &rows, &like, &Device::Cpu)
            } else {
                noisy_class(c, n, 0.3)
            }
        };
        let inputs = EvalInputs {
            class_names: names.clone(),
            unseen: vec![1],
            judge: None,
            judge_name: "none".into(),
            target: None,
            features: Some(&MeanStd),
            real: Some(&real),
            device: Device::Cpu,
        };
        let opts = EvalOptions {
            samples_per_class: 20,
            kid: kid::KidOptions {
                subsets: 2,
                subset_size: 10,
                seed: 0,
            },
            neighbours: NeighbourSpace::Pixel,
            ..Default::default()
        };
        let dir = tempfile::tempdir().unwrap();
        let r = evaluate(&inputs, &sample, &opts, dir.path()).unwrap();
        let p = r.neighbours.as_ref().unwrap();
        assert_eq!(p.space, "pixels");
        assert_eq!(p.rows.len(), 6);
        for row in &p.rows {
            assert_eq!(row.neighbours[0].1, 0.0, "{row:?}");
            assert!(row.neighbours[1].1 > 0.0);
            assert!(dir.path().join(&row.neighbours[0].0).exists());
        }
        assert!(p.median_real_nn.unwrap() > 1.0);
        assert!(r.neighbour_panel("features").is_some());
    }
}
