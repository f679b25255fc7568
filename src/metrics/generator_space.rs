//! Real images as the generator sees them: resampled to its size exactly as training
//! resampled them (`TrainData`), so that pixel distances and D_u scores compare generated and
//! real images like for like (a generated copy of a training image lands at distance 0).

use crate::data::Dataset;
use crate::data::TrainData;
use anyhow::{bail, Context, Result};
use candle_core::{Device, Tensor};

/// Rows `rows` of `real` as `[n, C, H, W]` in generator space, where `like` is a generated
/// batch `[N, C, H, W]` giving the space.
pub fn real_in_generator_space(
    real: &Dataset,
    rows: &[usize],
    like: &Tensor,
    device: &Device,
) -> Result<Tensor> {
    let dims = like.dims();
    if dims.len() != 4 {
        bail!("generator space: expected generated images [N, C, H, W], got {dims:?}");
    }
    let (c, h, w) = (dims[1], dims[2], dims[3]);
    if rows.is_empty() {
        bail!("generator space: no real images selected");
    }
    if let Some(&bad) = rows.iter().find(|&&i| i >= real.len()) {
        bail!(
            "generator space: row {bad} out of range (the real data has {} images)",
            real.len()
        );
    }
    let (rc, _, _) = real.image_shape();
    if rc != c {
        bail!(
            "generator space: the real data has {rc} channel(s) but the generator emits {c}; \
             pixel comparisons need the same channels"
        );
    }
    let subset = real.select(rows);
    let all: Vec<usize> = (0..subset.num_classes()).collect();
    Ok(TrainData::from_dataset(&subset, &all, (h, w), c, device)
        .context("resampling real images to the generator's resolution")?
        .images)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resamples_to_the_generated_size_and_keeps_row_order() {
        // 2 images 1x2x2 -> 1x4x4 (constant images stay constant under bilinear resampling).
        let ds = Dataset::new(
            vec![0.5; 4].into_iter().chain(vec![-0.25; 4]).collect(),
            (1, 2, 2),
            vec![0, 1],
            vec!["a".into(), "b".into()],
            None,
        )
        .unwrap();
        let like = Tensor::zeros((3, 1, 4, 4), candle_core::DType::F32, &Device::Cpu).unwrap();
        let x = real_in_generator_space(&ds, &[1, 0], &like, &Device::Cpu).unwrap();
        assert_eq!(x.dims(), &[2, 1, 4, 4]);
        let v: Vec<f32> = x.flatten_all().unwrap().to_vec1().unwrap();
        assert!(v[..16].iter().all(|&p| p == -0.25) && v[16..].iter().all(|&p| p == 0.5));
        let rgb = Tensor::zeros((3, 3, 4, 4), candle_core::DType::F32, &Device::Cpu).unwrap();
        let e = real_in_generator_space(&ds, &[0], &rgb, &Device::Cpu).unwrap_err();
        assert!(e.to_string().contains("channel"), "{e}");
        assert!(real_in_generator_space(&ds, &[2], &like, &Device::Cpu).is_err());
    }
}
