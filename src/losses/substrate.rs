//! The substrate method's losses (`../shared/papers/restoring-training-distribution.txt`,
//! section 3): the classifier's positive/negative presence loss, the substrate loss and the
//! mask loss. All are means, so weights compare across batch and image sizes.

use anyhow::{bail, Result};
use candle_core::{Tensor, D};

/// Keeps `log(1 − x)` finite when a probability or a distance reaches 1.
const LOG_FLOOR: f64 = 1e-6;

/// The paper's `L(x) = 1/n Σ_i (x_i − log(1 − x_i))` per row of `x` ([N, n], entries in
/// [0, 1]) -> [N]. Linear near 0, steep near 1: a class wrongly present at probability 0.99
/// costs ~5.6, at 0.5 ~1.2.
pub fn presence(x: &Tensor) -> Result<Tensor> {
    let one_minus = (1.0 - x)?.clamp(LOG_FLOOR, 1.0)?;
    Ok((x - one_minus.log()?)?.mean(D::Minus1)?)
}

/// `P(v) = |t − v| ⊙ t`: how far each target class is from present ([N, n]).
pub fn positive_gap(v: &Tensor, t: &Tensor) -> Result<Tensor> {
    Ok((t - v)?.abs()?.mul(t)?)
}

/// `N(v) = |t − v| ⊙ (1 − t)`: how present each non-target class is ([N, n]).
pub fn negative_gap(v: &Tensor, t: &Tensor) -> Result<Tensor> {
    Ok((t - v)?.abs()?.mul(&(1.0 - t)?)?)
}

/// `L_cls = L(P(whole)) + max over views of L(N(view))`, averaged over the batch.
/// `whole` [N, n]: class probabilities of each whole image, resized to the classifier;
/// `negative_views`: the same for each random crop (and, for an all-zero target, the whole
/// image too); `t` [N, n] the 0/1 targets. Returns (loss, L_p mean, L_n mean).
pub fn classifier_presence_loss(
    whole: &Tensor,
    negative_views: &[Tensor],
    t: &Tensor,
) -> Result<(Tensor, f64, f64)> {
    if negative_views.is_empty() {
        bail!("the presence loss needs at least one negative view (a random crop)");
    }
    let lp = presence(&positive_gap(whole, t)?)?;
    let per_view = negative_views
        .iter()
        .map(|v| presence(&negative_gap(v, t)?))
        .collect::<Result<Vec<_>>>()?;
    let ln = Tensor::stack(&per_view, 1)?.max(1)?;
    let scalar = |x: &Tensor| -> Result<f64> {
        Ok(x.mean_all()?
            .to_dtype(candle_core::DType::F64)?
            .to_scalar::<f64>()?)
    };
    let (lp_mean, ln_mean) = (scalar(&lp)?, scalar(&ln)?);
    Ok(((lp + ln)?.mean_all()?, lp_mean, ln_mean))
}

/// How present the *target* classes are on a small crop, `L(v ⊙ t)` per image ([N]) (ours:
/// the paper's negatives look only at the other classes). A whole instance of the class
/// inside a crop a third of the image's side is a sign of a tiled pattern; a painted
/// object larger than the crop shows only part of itself there.
pub fn target_on_crop(v: &Tensor, t: &Tensor) -> Result<Tensor> {
    presence(&v.mul(t)?)
}

/// `L_s = |T − G| − log(1 − |(T − G)/2|²)`, averaged over pixels: close to L1 for small
/// changes, and a wall as a pixel swings across the whole range (|T − G| → 2).
pub fn substrate_loss(substrate: &Tensor, image: &Tensor) -> Result<Tensor> {
    let d = (substrate - image)?.abs()?;
    let inner = (1.0 - (&d * 0.5)?.sqr()?)?.clamp(LOG_FLOOR, 1.0)?;
    Ok((d - inner.log()?)?.mean_all()?)
}

/// Where a substrate shows the background colour: 1 where every channel is within
/// `tolerance` of `colour` (generator space), else 0. [N, C, H, W] -> [N, 1, H, W].
pub fn background_mask(substrate: &Tensor, colour: &[f32], tolerance: f64) -> Result<Tensor> {
    let c = substrate.dim(1)?;
    if colour.len() != c {
        bail!(
            "the mask colour has {} values but the images have {c} channels",
            colour.len()
        );
    }
    let colour = Tensor::from_vec(colour.to_vec(), (1, c, 1, 1), substrate.device())?
        .to_dtype(substrate.dtype())?;
    let far = substrate.broadcast_sub(&colour)?.abs()?.max_keepdim(1)?;
    Ok(far.le(tolerance)?.to_dtype(substrate.dtype())?)
}

/// The mask loss: mean over all pixels of `mask · |colour − G|` (channel mean): the painted
/// image keeps the background colour where the substrate had it (the paper's white
/// background of product photos).
pub fn mask_loss(image: &Tensor, mask: &Tensor, colour: &[f32]) -> Result<Tensor> {
    let c = image.dim(1)?;
    let colour =
        Tensor::from_vec(colour.to_vec(), (1, c, 1, 1), image.device())?.to_dtype(image.dtype())?;
    let off = image.broadcast_sub(&colour)?.abs()?.mean_keepdim(1)?;
    Ok(off.mul(mask)?.mean_all()?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::Device;

    fn t2(v: &[f64], n: usize) -> Tensor {
        Tensor::from_vec(v.to_vec(), (n, v.len() / n), &Device::Cpu).unwrap()
    }

    fn scalar(x: &Tensor) -> f64 {
        x.to_scalar::<f64>().unwrap()
    }

    #[test]
    fn target_on_crop_scores_only_the_target_classes_by_hand() {
        // Row 0 targets class 1 (p = 0.5): (0.5 − ln 0.5) / 2; row 1 has no target: 0.
        let v = t2(&[0.9, 0.5, 0.3, 0.7], 2);
        let t = t2(&[0.0, 1.0, 0.0, 0.0], 2);
        let got = target_on_crop(&v, &t).unwrap().to_vec1::<f64>().unwrap();
        assert!((got[0] - (0.5 + 2f64.ln()) / 2.0).abs() < 1e-12, "{got:?}");
        assert_eq!(got[1], 0.0);
    }

    #[test]
    fn presence_matches_the_formula_by_hand() {
        // Row 1: (0 − ln 1 + 0.5 − ln 0.5) / 2 = (0.5 + 0.693147) / 2.
        let x = t2(&[0.0, 0.5, 0.9, 0.1], 2);
        let got = presence(&x).unwrap().to_vec1::<f64>().unwrap();
        let want0 = (0.5 + 2f64.ln()) / 2.0;
        let want1 = (0.9 - 0.1f64.ln() + 0.1 - 0.9f64.ln()) / 2.0;
        assert!(
            (got[0] - want0).abs() < 1e-12 && (got[1] - want1).abs() < 1e-12,
            "{got:?}"
        );
    }

    #[test]
    fn positives_on_the_whole_image_and_the_worst_crop_for_negatives() {
        // Two classes, target class 0. Whole image: v = (0.8, 0.1). Crops: (0.3, 0.4) and
        // (0.9, 0.05): the first shows class 1 more, so it is the max.
        let t = t2(&[1.0, 0.0], 1);
        let whole = t2(&[0.8, 0.1], 1);
        let crops = [t2(&[0.3, 0.4], 1), t2(&[0.9, 0.05], 1)];
        let (loss, lp, ln) = classifier_presence_loss(&whole, &crops, &t).unwrap();
        let l = |a: f64, b: f64| (a - (1.0 - a).ln() + b - (1.0 - b).ln()) / 2.0;
        // P = (|1 − 0.8|, 0) ; N(crop 1) = (0, 0.4) ; N(crop 2) = (0, 0.05).
        let (want_p, want_n) = (l(0.2, 0.0), l(0.0, 0.4).max(l(0.0, 0.05)));
        assert!((lp - want_p).abs() < 1e-12 && (ln - want_n).abs() < 1e-12);
        assert!((scalar(&loss) - (want_p + want_n)).abs() < 1e-12);
        // The target's own probability on a crop costs nothing (only other classes do).
        let (_, _, ln2) = classifier_presence_loss(&whole, &[t2(&[0.99, 0.0], 1)], &t).unwrap();
        assert!(ln2.abs() < 1e-12);
        assert!(classifier_presence_loss(&whole, &[], &t).is_err());
    }

    #[test]
    fn all_zero_target_penalises_every_class_and_rewards_none() {
        let t = t2(&[0.0, 0.0], 1);
        let whole = t2(&[0.7, 0.2], 1);
        let (_, lp, ln) = classifier_presence_loss(&whole, &[whole.clone()], &t).unwrap();
        assert_eq!(lp, 0.0);
        let want = (0.7 - 0.3f64.ln() + 0.2 - 0.8f64.ln()) / 2.0;
        assert!((ln - want).abs() < 1e-12);
    }

    #[test]
    fn substrate_loss_by_hand_and_finite_at_the_extremes() {
        let a = Tensor::from_vec(vec![0.0f64, 1.0], (1, 1, 1, 2), &Device::Cpu).unwrap();
        let b = Tensor::from_vec(vec![0.5f64, -1.0], (1, 1, 1, 2), &Device::Cpu).unwrap();
        // Pixel 1: 0.5 − ln(1 − 0.0625); pixel 2: |d| = 2 -> 2 − ln(1e-6) (the floor).
        let want = (0.5 - (1.0 - 0.0625f64).ln() + 2.0 - LOG_FLOOR.ln()) / 2.0;
        let got = scalar(&substrate_loss(&a, &b).unwrap());
        assert!((got - want).abs() < 1e-9, "{got} vs {want}");
        assert_eq!(scalar(&substrate_loss(&a, &a).unwrap()), 0.0);
    }

    #[test]
    fn mask_marks_the_background_colour_and_the_loss_reads_only_there() {
        // Two pixels, RGB: white, and a red one.
        let s = Tensor::from_vec(
            vec![1.0f64, 1.0, 1.0, -1.0, 1.0, -1.0],
            (1, 3, 1, 2),
            &Device::Cpu,
        )
        .unwrap();
        let white = [1.0f32, 1.0, 1.0];
        let m = background_mask(&s, &white, 0.05).unwrap();
        assert_eq!(
            m.flatten_all().unwrap().to_vec1::<f64>().unwrap(),
            vec![1.0, 0.0]
        );
        // Painted: pixel 1 goes grey (0.5 everywhere, 0.5 off white); pixel 2 anything.
        let g = Tensor::from_vec(
            vec![0.5f64, -1.0, 0.5, -1.0, 0.5, -1.0],
            (1, 3, 1, 2),
            &Device::Cpu,
        )
        .unwrap();
        let got = scalar(&mask_loss(&g, &m, &white).unwrap());
        assert!((got - 0.25).abs() < 1e-12, "{got}"); // (0.5 + 0) / 2 pixels
        assert!(background_mask(&s, &[1.0], 0.1).is_err());
    }
}
