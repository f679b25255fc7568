//! The real images a method may see, resident on the training device at the generator's
//! resolution, with seeded batch sampling.

use super::{Batch, Dataset};
use anyhow::{bail, Result};
use candle_core::{Device, Tensor};
use rand::Rng;

pub struct TrainData {
    /// [N, C, R, R] in [-1, 1].
    pub images: Tensor,
    /// Labels in the problem's class space.
    pub labels: Vec<u32>,
    pub class_names: Vec<String>,
    /// Index into the original dataset for each row (for per-image side data).
    pub len: usize,
}

impl TrainData {
    /// Keep the images of `classes` only, resampled to `size` = (height, width) (see `place`).
    pub fn from_dataset(
        ds: &Dataset,
        classes: &[usize],
        size: (usize, usize),
        channels: usize,
        device: &Device,
    ) -> Result<Self> {
        let (c, h, w) = ds.image_shape();
        if c != channels {
            bail!("the data has {c} channel(s) but model.channels = {channels}");
        }
        let keep: Vec<usize> = (0..ds.len())
            .filter(|&i| classes.contains(&(ds.labels[i] as usize)))
            .collect();
        if keep.is_empty() {
            bail!("no training images left for classes {classes:?}");
        }
        let (oh, ow) = size;
        let per = c * oh * ow;
        let mut out = vec![-1f32; keep.len() * per];
        for (k, &i) in keep.iter().enumerate() {
            let img = ds.image(i);
            place(img, c, (h, w), &mut out[k * per..(k + 1) * per], (oh, ow));
        }
        let labels: Vec<u32> = keep.iter().map(|&i| ds.labels[i]).collect();
        let images = Tensor::from_vec(out, (keep.len(), c, oh, ow), device)?;
        Ok(TrainData {
            images,
            len: labels.len(),
            labels,
            class_names: ds.class_names.clone(),
        })
    }

    /// Uniformly random rows (with replacement, so every batch has the same size).
    pub fn sample<R: Rng>(&self, rng: &mut R, n: usize) -> Result<Batch> {
        let rows: Vec<usize> = (0..n).map(|_| rng.random_range(0..self.len)).collect();
        self.batch(&rows)
    }

    /// The images and labels of `rows` (`Batch::indices` are the rows; no groups).
    pub fn batch(&self, rows: &[usize]) -> Result<Batch> {
        let dev = self.images.device();
        let idx = Tensor::from_vec(
            rows.iter().map(|&r| r as u32).collect::<Vec<_>>(),
            rows.len(),
            dev,
        )?;
        let labels: Vec<u32> = rows.iter().map(|&r| self.labels[r]).collect();
        Ok(Batch {
            images: self.images.index_select(&idx, 0)?,
            labels: Tensor::from_vec(labels, rows.len(), dev)?,
            groups: None,
            indices: rows.to_vec(),
        })
    }
}

/// Resample a [c, h, w] image to [c, r, r] bilinearly (half-pixel centres). Resizing rather
/// than padding keeps the generator's space consistent with adapters that resize generator
/// output back to the classifier's input size (Fashion-MNIST: 28 -> 32 here, 32 -> 28 there).
fn place(img: &[f32], c: usize, (h, w): (usize, usize), dst: &mut [f32], (oh, ow): (usize, usize)) {
    if h == oh && w == ow {
        dst.copy_from_slice(&img[..c * h * w]);
        return;
    }
    let taps = |in_len: usize, out_len: usize, o: usize| -> (usize, usize, f32) {
        let x = ((o as f64 + 0.5) * in_len as f64 / out_len as f64 - 0.5)
            .clamp(0.0, (in_len - 1) as f64);
        let x0 = x.floor() as usize;
        let x1 = (x0 + 1).min(in_len - 1);
        (x0, x1, (x - x0 as f64) as f32)
    };
    for ch in 0..c {
        let src = &img[ch * h * w..(ch + 1) * h * w];
        for oy in 0..oh {
            let (y0, y1, fy) = taps(h, oh, oy);
            for ox in 0..ow {
                let (x0, x1, fx) = taps(w, ow, ox);
                let top = src[y0 * w + x0] * (1.0 - fx) + src[y0 * w + x1] * fx;
                let bottom = src[y1 * w + x0] * (1.0 - fx) + src[y1 * w + x1] * fx;
                dst[(ch * oh + oy) * ow + ox] = top * (1.0 - fy) + bottom * fy;
            }
        }
    }
}
