//! Image writing: generator-space tensors to RGB images (single tiles and grids), PNG bytes and
//! files, and PNG bytes to inline `data:` URIs.
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
}
