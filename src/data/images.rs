//! Decoding image files (PNG, JPEG) into generator space: `[C, H, W]`, values in `[-1, 1]`.

use anyhow::{anyhow, bail, Result};
use candle_core::{Device, Tensor};
use std::path::Path;

/// An image with transparency composited over white, so a cut-out's transparent surround reads
/// as the white a viewer shows (dropping alpha would expose whatever colour the file stores
/// there, often black); an opaque image is returned unchanged.
fn over_white(img: image::DynamicImage) -> image::DynamicImage {
    if !img.color().has_alpha() {
        return img;
    }
    let mut rgba = img.to_rgba8();
    for px in rgba.pixels_mut() {
        let a = px[3] as f32 / 255.0;
        for c in 0..3 {
            px[c] = (px[c] as f32 * a + 255.0 * (1.0 - a)).round() as u8;
        }
        px[3] = 255;
    }
    image::DynamicImage::ImageRgb8(image::DynamicImage::ImageRgba8(rgba).to_rgb8())
}

/// The image file at `path`, decoded (format guessed from its content), transparency composited
/// over white; errors name the file and what failed.
pub fn open_image(path: &Path) -> Result<image::DynamicImage> {
    let img = image::ImageReader::open(path)
        .map_err(|e| anyhow!("{}: cannot open image: {e}", path.display()))?
        .with_guessed_format()
        .map_err(|e| anyhow!("{}: cannot read image: {e}", path.display()))?
        .decode()
        .map_err(|e| anyhow!("{}: cannot decode image: {e}", path.display()))?;
    Ok(over_white(img))
}

/// Decode `path` to `channels` (1 = grey, 3 = RGB) planes in `[-1, 1]` (transparency over
/// white), optionally resized to `(height, width)` with a triangle (antialiased bilinear)
/// filter. Returns `(pixels, h, w)`.
pub fn decode_image(
    path: &Path,
    channels: usize,
    size: Option<(usize, usize)>,
) -> Result<(Vec<f32>, usize, usize)> {
    let img = open_image(path)?;
    let img = match size {
        Some((h, w)) if (img.height() as usize, img.width() as usize) != (h, w) => {
            img.resize_exact(w as u32, h as u32, image::imageops::FilterType::Triangle)
        }
        _ => img,
    };
    let (w, h) = (img.width() as usize, img.height() as usize);
    let planes = match channels {
        1 => {
            let g = img.to_luma8();
            g.as_raw().iter().map(|&v| v as f32 / 127.5 - 1.0).collect()
        }
        3 => {
            let rgb = img.to_rgb8();
            let raw = rgb.as_raw();
            let mut out = vec![0f32; 3 * h * w];
            for (p, px) in raw.chunks_exact(3).enumerate() {
                for c in 0..3 {
                    out[c * h * w + p] = px[c] as f32 / 127.5 - 1.0;
                }
            }
            out
        }
        c => bail!(
            "{}: {c} channels requested; images decode to 1 (grey) or 3 (RGB)",
            path.display()
        ),
    };
    Ok((planes, h, w))
}

/// One image file as a `[1, C, H, W]` generator-space tensor at its own size.
pub fn image_file_to_generator_space(
    path: &Path,
    channels: usize,
    device: &Device,
) -> Result<Tensor> {
    let (px, h, w) = decode_image(path, channels, None)?;
    Ok(Tensor::from_vec(px, (1, channels, h, w), device)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn transparent_pixels_decode_as_white_and_opaque_ones_keep_their_colour() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("cutout.png");
        // Left half transparent black (what a cut-out stores outside its object), right half
        // opaque red, one column half transparent.
        let img = image::RgbaImage::from_fn(4, 2, |x, _| match x {
            0 | 1 => image::Rgba([0, 0, 0, 0]),
            2 => image::Rgba([255, 0, 0, 255]),
            _ => image::Rgba([0, 0, 0, 128]),
        });
        img.save(&path).unwrap();
        let (px, h, w) = decode_image(&path, 3, None).unwrap();
        assert_eq!((h, w), (2, 4));
        let at = |c: usize, x: usize| px[c * 8 + x];
        for c in 0..3 {
            assert_eq!(at(c, 0), 1.0, "transparent -> white, channel {c}");
        }
        assert_eq!((at(0, 2), at(1, 2), at(2, 2)), (1.0, -1.0, -1.0));
        // 50% black over white: mid grey.
        assert!(at(0, 3).abs() < 0.02, "{}", at(0, 3));
    }
}
