//! Image writing: generator-space tensors to RGB images (single tiles and grids), PNG bytes and
//! files, PNG bytes to inline `data:` URIs, and mel spectrograms as viridis pictures.
//!
//! A module of its own that imports no other module of the crate: training previews, metrics,
//! the CLI and the report all write images, and `report` reads `metrics`, so image writing
//! inside `report` would tie `metrics` and `report` into a cycle.

use anyhow::{bail, Context, Result};
use base64::Engine;
use candle_core::{DType, Tensor};
use image::{ImageBuffer, ImageFormat, Rgb};
use std::io::Cursor;
use std::path::Path;

/// `[N, C, H, W]` in [-1, 1] (C = 1 or 3) to one RGB image per sample.
pub fn to_rgb_images(images: &Tensor) -> Result<Vec<ImageBuffer<Rgb<u8>, Vec<u8>>>> {
    let (n, c, h, w) = match images.dims() {
        [n, c, h, w] => (*n, *c, *h, *w),
        d => bail!("images to write must be [N, C, H, W], got {d:?}"),
    };
    if c != 1 && c != 3 {
        bail!("images to write must have 1 or 3 channels, got {c}");
    }
    let v: Vec<f32> = images.to_dtype(DType::F32)?.flatten_all()?.to_vec1()?;
    let byte = |x: f32| (((x.clamp(-1.0, 1.0) + 1.0) * 127.5).round()) as u8;
    Ok((0..n)
        .map(|i| {
            ImageBuffer::from_fn(w as u32, h as u32, |x, y| {
                let at = |ch: usize| v[((i * c + ch) * h + y as usize) * w + x as usize];
                if c == 1 {
                    let g = byte(at(0));
                    Rgb([g, g, g])
                } else {
                    Rgb([byte(at(0)), byte(at(1)), byte(at(2))])
                }
            })
        })
        .collect())
}

/// Tiles in rows of `cols`, separated by `pad` white pixels.
pub fn grid(
    tiles: &[ImageBuffer<Rgb<u8>, Vec<u8>>],
    cols: usize,
    pad: u32,
) -> Result<ImageBuffer<Rgb<u8>, Vec<u8>>> {
    let first = tiles
        .first()
        .context("an image grid needs at least one image")?;
    let (tw, th) = first.dimensions();
    let cols = cols.max(1).min(tiles.len());
    let rows = tiles.len().div_ceil(cols);
    let mut out = ImageBuffer::from_pixel(
        cols as u32 * (tw + pad) + pad,
        rows as u32 * (th + pad) + pad,
        Rgb([255, 255, 255]),
    );
    for (i, t) in tiles.iter().enumerate() {
        if t.dimensions() != (tw, th) {
            bail!(
                "image grid: tile {i} is {:?}, expected {:?}",
                t.dimensions(),
                (tw, th)
            );
        }
        let (x0, y0) = (
            pad + (i % cols) as u32 * (tw + pad),
            pad + (i / cols) as u32 * (th + pad),
        );
        image::imageops::replace(&mut out, t, x0 as i64, y0 as i64);
    }
    Ok(out)
}

pub fn encode_png(img: &ImageBuffer<Rgb<u8>, Vec<u8>>) -> Result<Vec<u8>> {
    let mut bytes = Vec::new();
    img.write_to(&mut Cursor::new(&mut bytes), ImageFormat::Png)
        .context("encoding PNG")?;
    Ok(bytes)
}

pub fn save_png(img: &ImageBuffer<Rgb<u8>, Vec<u8>>, path: &Path) -> Result<()> {
    std::fs::write(path, encode_png(img)?).with_context(|| format!("writing {}", path.display()))
}

pub fn png_data_uri(png: &[u8]) -> String {
    format!(
        "data:image/png;base64,{}",
        base64::engine::general_purpose::STANDARD.encode(png)
    )
}

/// Read an image file and return it as an inline PNG data URI (re-encoding non-PNGs).
pub fn file_data_uri(path: &Path) -> Result<String> {
    let bytes = std::fs::read(path).with_context(|| format!("reading image {}", path.display()))?;
    if bytes.starts_with(b"\x89PNG\r\n\x1a\n") {
        return Ok(png_data_uri(&bytes));
    }
    let img = image::load_from_memory(&bytes)
        .with_context(|| format!("{}: not a readable image", path.display()))?;
    Ok(png_data_uri(&encode_png(&img.to_rgb8())?))
}

/// Matplotlib's viridis at nine evenly spaced points: perceptually uniform and readable in
/// grey, so loudness differences are not invented by the colours.
const VIRIDIS: [[f32; 3]; 9] = [
    [68.0, 1.0, 84.0],
    [72.0, 40.0, 120.0],
    [62.0, 73.0, 137.0],
    [49.0, 104.0, 142.0],
    [38.0, 130.0, 142.0],
    [31.0, 158.0, 137.0],
    [53.0, 183.0, 121.0],
    [110.0, 206.0, 88.0],
    [253.0, 231.0, 37.0],
];

/// Viridis colour of `t` in `[0, 1]` (clamped).
fn viridis(t: f32) -> Rgb<u8> {
    let x = t.clamp(0.0, 1.0) * (VIRIDIS.len() - 1) as f32;
    let i = (x.floor() as usize).min(VIRIDIS.len() - 2);
    let f = x - i as f32;
    let c = |k: usize| (VIRIDIS[i][k] + f * (VIRIDIS[i + 1][k] - VIRIDIS[i][k])).round() as u8;
    Rgb([c(0), c(1), c(2)])
}

/// Smallest picture a spectrogram is drawn at; bins become blocks of whole pixels to reach
/// it, so a 40-band clip is not a 40-pixel smudge.
const MIN_HEIGHT: usize = 128;
const MIN_WIDTH: usize = 256;

/// Mel features `[n_mels, frames]` (row-major, the front end's layout) as a PNG: low bands at
/// the bottom, time to the right, viridis scaled to the image's own minimum and maximum.
pub fn spectrogram_png(features: &[f32], n_mels: usize, frames: usize) -> Result<Vec<u8>> {
    spectrogram_png_in(features, n_mels, frames, None)
}

/// As [`spectrogram_png`], with the colour scale's ends given (`Some((lo, hi))`: values
/// outside are clamped), so several spectrograms can share one scale.
pub fn spectrogram_png_in(
    features: &[f32],
    n_mels: usize,
    frames: usize,
    range: Option<(f32, f32)>,
) -> Result<Vec<u8>> {
    if n_mels == 0 || frames == 0 {
        bail!("spectrogram: {n_mels} mel bands x {frames} frames is empty");
    }
    if features.len() != n_mels * frames {
        bail!(
            "spectrogram: {} values, but {n_mels} mel bands x {frames} frames are {}",
            features.len(),
            n_mels * frames
        );
    }
    if let Some(i) = features.iter().position(|v| !v.is_finite()) {
        bail!("spectrogram: value {i} is not a finite number");
    }
    let (lo, hi) = match range {
        Some((lo, hi)) if lo.is_finite() && hi.is_finite() && lo < hi => (lo, hi),
        Some((lo, hi)) => bail!("spectrogram: colour range {lo}..{hi} is not increasing"),
        None => features
            .iter()
            .fold((f32::INFINITY, f32::NEG_INFINITY), |(a, b), &v| {
                (a.min(v), b.max(v))
            }),
    };
    let span = hi - lo;
    let sy = MIN_HEIGHT.div_ceil(n_mels).max(1);
    let sx = MIN_WIDTH.div_ceil(frames).max(1);
    let (w, h) = ((frames * sx) as u32, (n_mels * sy) as u32);
    let img = ImageBuffer::from_fn(w, h, |x, y| {
        let mel = n_mels - 1 - y as usize / sy;
        let t = x as usize / sx;
        let v = features[mel * frames + t];
        // A constant image gets the middle colour rather than a division by zero.
        viridis(if span > 0.0 { (v - lo) / span } else { 0.5 })
    });
    encode_png(&img)
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::Device;

    #[test]
    fn grey_tensor_round_trips_through_png() {
        let t = Tensor::new(&[-1f32, 0.0, 1.0, 0.5], &Device::Cpu)
            .unwrap()
            .reshape((1, 1, 2, 2))
            .unwrap();
        let imgs = to_rgb_images(&t).unwrap();
        assert_eq!(imgs[0].get_pixel(0, 0), &Rgb([0, 0, 0]));
        assert_eq!(imgs[0].get_pixel(0, 1), &Rgb([255, 255, 255]));
        let g = grid(&[imgs[0].clone(), imgs[0].clone(), imgs[0].clone()], 2, 1).unwrap();
        assert_eq!(g.dimensions(), (7, 7));
        let png = encode_png(&g).unwrap();
        let back = image::load_from_memory(&png).unwrap().to_rgb8();
        assert_eq!(back, g);
        assert!(png_data_uri(&png).starts_with("data:image/png;base64,iVBOR"));
        assert!(
            to_rgb_images(&Tensor::zeros((1, 2, 2, 2), DType::F32, &Device::Cpu).unwrap()).is_err()
        );
    }

    #[test]
    fn spectrogram_puts_low_bands_at_the_bottom() {
        // 4 bands x 3 frames; band 0 (lowest) loud, the rest quiet.
        let mut f = vec![0.0f32; 12];
        f[..3].iter_mut().for_each(|v| *v = 1.0);
        let png = spectrogram_png(&f, 4, 3).unwrap();
        let img = image::load_from_memory(&png).unwrap().to_rgb8();
        assert!(img.height() >= 128 && img.width() >= 256);
        let bottom = img.get_pixel(0, img.height() - 1);
        let top = img.get_pixel(0, 0);
        assert_eq!(*bottom, viridis(1.0));
        assert_eq!(*top, viridis(0.0));
        // A given range clamps: everything at or above its top is the top colour.
        let png = spectrogram_png_in(&f, 4, 3, Some((-1.0, 0.0))).unwrap();
        let img = image::load_from_memory(&png).unwrap().to_rgb8();
        assert_eq!(*img.get_pixel(0, img.height() - 1), viridis(1.0));
        assert_eq!(*img.get_pixel(0, 0), viridis(1.0));
        assert!(spectrogram_png(&f, 5, 3).is_err());
        assert!(spectrogram_png(&[], 0, 0).is_err());
        assert!(spectrogram_png(&[f32::NAN; 12], 4, 3).is_err());
        assert!(spectrogram_png_in(&f, 4, 3, Some((1.0, 1.0))).is_err());
        // Constant input is drawn, not divided by zero.
        assert!(spectrogram_png(&[2.0; 12], 4, 3).is_ok());
    }
}
