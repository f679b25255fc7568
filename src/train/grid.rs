//! Sample grids: one row per class, the unseen classes' rows framed in red.

use crate::image_io::{grid, save_png, to_rgb_images};
use anyhow::Result;
use candle_core::Tensor;
use image::Rgb;
use std::path::Path;

const PAD: u32 = 2;

/// `images`: [classes * cols, C, H, W], class-major. Rows listed in `marked` get a red frame.
pub fn save_class_grid(images: &Tensor, cols: usize, marked: &[usize], path: &Path) -> Result<()> {
    let tiles = to_rgb_images(images)?;
    let (_, th) = tiles[0].dimensions();
    let mut img = grid(&tiles, cols, PAD)?;
    let width = img.width();
    let red = Rgb([220, 30, 30]);
    for &row in marked {
        let y0 = row as u32 * (th + PAD); // top padding line of the row
        let y1 = y0 + th + PAD; // bottom padding line
        if y1 + PAD > img.height() {
            continue;
        }
        for x in 0..width {
            for d in 0..PAD {
                img.put_pixel(x, y0 + d, red);
                img.put_pixel(x, y1 + d, red);
            }
        }
        for y in y0..y1 + PAD {
            for d in 0..PAD {
                img.put_pixel(d, y, red);
                img.put_pixel(width - 1 - d, y, red);
            }
        }
    }
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent)?;
    }
    save_png(&img, path)
}
