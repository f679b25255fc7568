//! How much of what a painter adds is the same everywhere: the painted change
//! `δ = painted − substrate` compared by cosine similarity
//! - **across classes** on the same substrate: 1 means every class paints the same thing (a
//!   figure the target likes for all of them, not the class);
//! - **across substrates** for one class: 1 means the same stamp in the same place on every
//!   photograph (no diversity in what is painted, or where).
//!
//! Real class content depends on the class and adapts to the substrate, so both stay well
//! below 1; a shared corner figure or a global colour cast pushes them up. Changes are
//! compared raw (not centred), so a cast shared by all classes counts as shared paint too.

use anyhow::{bail, Result};
use candle_core::{DType, Tensor, D};

/// Rows of `delta` ([m, ...]) flattened and scaled to unit length (all-zero rows stay zero).
fn unit_rows(delta: &Tensor) -> Result<Tensor> {
    let m = delta.dim(0)?;
    let flat = delta.reshape((m, ()))?.to_dtype(DType::F64)?;
    let norm = flat.sqr()?.sum_keepdim(1)?.sqrt()?.clamp(1e-12, f64::MAX)?;
    Ok(flat.broadcast_div(&norm)?)
}

/// Mean cosine between the changes of different substrates for one class: the mean of
/// `u_i · u_j` over pairs `i ≠ j`, which is `(|Σ u_i|² − Σ |u_i|²) / (m (m − 1))`.
pub fn across_substrates(delta: &Tensor) -> Result<f64> {
    let m = delta.dim(0)?;
    if m < 2 {
        bail!("paint overlap across substrates needs at least 2 substrates, got {m}");
    }
    let u = unit_rows(delta)?;
    let total = u.sum(0)?.sqr()?.sum_all()?.to_scalar::<f64>()?;
    let own = u.sqr()?.sum_all()?.to_scalar::<f64>()?;
    Ok((total - own) / (m * (m - 1)) as f64)
}

/// For each class, the mean cosine between its change and every other class's change on the
/// same substrate. `deltas[c]`: class c's changes [m, ...], all the same shape.
pub fn across_classes(deltas: &[Tensor]) -> Result<Vec<f64>> {
    let k = deltas.len();
    if k < 2 {
        return Ok(vec![0.0; k]);
    }
    let units = deltas.iter().map(unit_rows).collect::<Result<Vec<_>>>()?;
    let mut sums = vec![0.0; k];
    for a in 0..k {
        for b in a + 1..k {
            let cos = (&units[a] * &units[b])?
                .sum(D::Minus1)?
                .mean_all()?
                .to_scalar::<f64>()?;
            sums[a] += cos;
            sums[b] += cos;
        }
    }
    Ok(sums.into_iter().map(|s| s / (k - 1) as f64).collect())
}

/// Where a class's paint goes: the mean absolute change over substrates and channels,
/// `[1, 1, H, W]` in generator space (−1 no change, 1 the largest mean change of any map in
/// the set). Maps of every class, then of all classes together, share one scale so a
/// figure painted in the same place for every class shows as the same bright spot.
pub fn where_painted(deltas: &[Tensor]) -> Result<Tensor> {
    if deltas.is_empty() {
        bail!("paint maps need at least one class's changes");
    }
    let mut maps = deltas
        .iter()
        .map(|d| {
            let (_, _, h, w) = d.dims4()?;
            Ok(d.abs()?.mean(0)?.mean(0)?.reshape((1, 1, h, w))?)
        })
        .collect::<Result<Vec<_>>>()?;
    let all = Tensor::cat(&maps, 0)?.mean_keepdim(0)?;
    maps.push(all);
    let maps = Tensor::cat(&maps, 0)?;
    let top = maps
        .max_all()?
        .to_dtype(DType::F64)?
        .to_scalar::<f64>()?
        .max(1e-12);
    Ok(maps.affine(2.0 / top, -1.0)?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::Device;

    fn rows(v: &[[f32; 2]]) -> Tensor {
        let flat: Vec<f32> = v.iter().flatten().copied().collect();
        Tensor::from_vec(flat, (v.len(), 2), &Device::Cpu).unwrap()
    }

    #[test]
    fn across_substrates_matches_hand_computed_cosines() {
        // Cosines: (1,0)·(0,1) = 0, (1,0)·(1,1)/√2 = 0.7071, (0,1)·(1,1)/√2 = 0.7071.
        let d = rows(&[[1.0, 0.0], [0.0, 2.0], [3.0, 3.0]]);
        let want = (0.0 + 2.0 * std::f64::consts::FRAC_1_SQRT_2) / 3.0;
        assert!((across_substrates(&d).unwrap() - want).abs() < 1e-9);
        // The same stamp everywhere: 1, whatever its strength.
        let same = rows(&[[1.0, 2.0], [2.0, 4.0], [0.5, 1.0]]);
        assert!((across_substrates(&same).unwrap() - 1.0).abs() < 1e-9);
        assert!(across_substrates(&rows(&[[1.0, 0.0]])).is_err());
    }

    #[test]
    fn paint_maps_show_where_the_change_is_on_one_scale() {
        let d = Device::Cpu;
        // Class 0 changes pixel (0, 0) by 1 on one substrate of two; class 1 changes (1, 1) by 2.
        let mut a = vec![0f32; 2 * 3 * 2 * 2];
        a[0] = 3.0; // substrate 0, channel 0, pixel (0, 0): mean over 2 substrates, 3 channels = 0.5
        let mut b = vec![0f32; 2 * 3 * 2 * 2];
        for s in 0..2 {
            for c in 0..3 {
                b[s * 12 + c * 4 + 3] = -2.0; // every substrate and channel, pixel (1, 1)
            }
        }
        let a = Tensor::from_vec(a, (2, 3, 2, 2), &d).unwrap();
        let b = Tensor::from_vec(b, (2, 3, 2, 2), &d).unwrap();
        let maps = where_painted(&[a, b]).unwrap();
        assert_eq!(maps.dims(), &[3, 1, 2, 2]);
        let v: Vec<f32> = maps.flatten_all().unwrap().to_vec1().unwrap();
        // Means 0.5 and 2 (the top), and their mean 0.25 and 1 for both classes together.
        let want = [
            -0.5, -1.0, -1.0, -1.0, -1.0, -1.0, -1.0, 1.0, -0.75, -1.0, -1.0, 0.0,
        ];
        for (g, w) in v.iter().zip(want) {
            assert!((g - w).abs() < 1e-6, "{v:?}");
        }
    }

    #[test]
    fn across_classes_is_each_class_mean_cosine_with_the_others_on_the_same_substrate() {
        let a = rows(&[[1.0, 0.0], [0.0, 1.0]]);
        let b = rows(&[[2.0, 0.0], [1.0, 0.0]]); // substrate 0: cos 1; substrate 1: cos 0
        let c = rows(&[[-1.0, 0.0], [0.0, 0.0]]); // opposite to a and b; then nothing painted
        let got = across_classes(&[a, b, c]).unwrap();
        // a·b = 0.5, a·c = -0.5, b·c = (-1 + 0) / 2 = -0.5.
        let want = [0.0, 0.0, -0.5];
        for (g, w) in got.iter().zip(want) {
            assert!((g - w).abs() < 1e-9, "{got:?}");
        }
        assert_eq!(across_classes(&[rows(&[[1.0, 0.0]])]).unwrap(), vec![0.0]);
    }
}
