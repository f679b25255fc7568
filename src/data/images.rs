//! Decoding image files (PNG, JPEG) into generator space: `[C, H, W]`, values in `[-1, 1]`.

use anyhow::{anyhow, bail, Result};
use candle_core::{Device, Tensor};
use std::path::Path;

/// Decode `path` to `channels` (1 = grey, 3 = RGB) planes in `[-1, 1]`, optionally resized
/// to `(height, width)` with a triangle (antialiased bilinear) filter. Returns `(pixels, h, w)`.
pub fn decode_image(
    path: &Path,
    channels: usize,
    size: Option<(usize, usize)>,
) -> Result<(Vec<f32>, usize, usize)> {
    let img = image::ImageReader::open(path)
        .map_err(|e| anyhow!("{}: cannot open image: {e}", path.display()))?
        .with_guessed_format()
        .map_err(|e| anyhow!("{}: cannot read image: {e}", path.display()))?
        .decode()
        .map_err(|e| anyhow!("{}: cannot decode image: {e}", path.display()))?;
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
