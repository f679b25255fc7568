//! Substrates: the images the substrate method paints class content onto. Any folder of
//! photographs (searched recursively), cut into square tiles at the run's resolution: each
//! file gives `tiles_per_image` seeded random square crops whose side is 50–100% of the
//! file's shorter side, resized with a triangle (antialiased) filter. Transparent pixels of
//! cut-outs (PNG alpha) are composited over white, the background the mask loss keeps.
//!
//! Files are split between training and evaluation by position (every fifth sorted file is
//! held out for `Split::Test`), so an evaluation paints substrates the run never saw;
//! folders of fewer than five files are used whole by both.
//!
//! The result is a one-class `Dataset` ("substrate"), so the loop, previews and the
//! collapse guard read it like any other; the class space of a substrate run is the
//! classifier's, not the folder's.

use super::{Dataset, LoadOptions, LoadReport, Split};
use anyhow::{bail, Context, Result};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use std::path::{Path, PathBuf};

/// The `data.source` prefix that names a substrate folder: `substrates:DIR`.
pub const SUBSTRATES_PREFIX: &str = "substrates:";

/// Tiles cut from each file.
pub const TILES_PER_IMAGE: usize = 8;

/// Tile side when the caller gives no size.
pub const DEFAULT_TILE: usize = 128;

const EXTENSIONS: [&str; 4] = ["png", "jpg", "jpeg", "bmp"];

/// Every image file under `root`, sorted (so tiles are the same on every machine).
pub fn image_files(root: &Path) -> Result<Vec<PathBuf>> {
    let mut out = vec![];
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        let entries = std::fs::read_dir(&dir)
            .with_context(|| format!("{}: cannot list substrate folder", dir.display()))?;
        for e in entries {
            let p = e
                .with_context(|| format!("{}: cannot list substrate folder", dir.display()))?
                .path();
            if p.is_dir() {
                stack.push(p);
            } else if p
                .extension()
                .and_then(|e| e.to_str())
                .is_some_and(|e| EXTENSIONS.contains(&e.to_ascii_lowercase().as_str()))
            {
                out.push(p);
            }
        }
    }
    out.sort();
    Ok(out)
}

/// Load `root`'s `split` as substrate tiles of `opts.size` (square; default 128) with
/// `opts.channels` (default 3). With `opts.skip_bad` unreadable files are counted, not fatal.
pub fn load_substrates(
    root: &Path,
    split: Split,
    opts: &LoadOptions,
    seed: u64,
) -> Result<(Dataset, LoadReport)> {
    let (h, w) = opts.size.unwrap_or((DEFAULT_TILE, DEFAULT_TILE));
    if h != w || h == 0 {
        bail!("substrate tiles are square; asked for {h}x{w}");
    }
    let channels = opts.channels.unwrap_or(3);
    if channels != 1 && channels != 3 {
        bail!("substrates decode to 1 (grey) or 3 (RGB) channels, not {channels}");
    }
    if !root.is_dir() {
        bail!("{}: no such substrate folder", root.display());
    }
    let files = image_files(root)?;
    if files.is_empty() {
        bail!(
            "{}: no images (png, jpg, bmp) in this folder or below it",
            root.display()
        );
    }
    let files: Vec<PathBuf> = if files.len() < 5 {
        files
    } else {
        files
            .into_iter()
            .enumerate()
            .filter(|(i, _)| (i % 5 == 4) == (split == Split::Test))
            .map(|(_, f)| f)
            .collect()
    };
    let mut report = LoadReport::default();
    let mut images = Vec::with_capacity(files.len() * TILES_PER_IMAGE * channels * h * h);
    for (i, file) in files.iter().enumerate() {
        let mut rng = ChaCha8Rng::seed_from_u64(seed ^ (i as u64).wrapping_mul(0x9e37_79b9));
        match tiles_of(file, h, channels, &mut rng) {
            Ok(tiles) => {
                images.extend(tiles);
                report.loaded += 1;
            }
            Err(e) if opts.skip_bad => report.skip(format!("{e:#}")),
            Err(e) => return Err(e.context("pass --skip-bad to skip unreadable substrates")),
        }
    }
    let n = images.len() / (channels * h * h);
    if n == 0 {
        bail!("{}: no substrate could be read", root.display());
    }
    let ds = Dataset::new(
        images,
        (channels, h, h),
        vec![0; n],
        vec!["substrate".into()],
        None,
    )?;
    Ok((ds, report))
}

/// `TILES_PER_IMAGE` random square crops of one file, as `side`² generator-space planes.
fn tiles_of(path: &Path, side: usize, channels: usize, rng: &mut ChaCha8Rng) -> Result<Vec<f32>> {
    // A cut-out's transparent surround becomes the white background.
    let rgb = super::images::open_image(path)?.to_rgb8();
    let (iw, ih) = rgb.dimensions();
    let short = iw.min(ih);
    if short < 8 {
        bail!("{}: {iw}x{ih} is too small for a substrate", path.display());
    }
    let mut out = Vec::with_capacity(TILES_PER_IMAGE * channels * side * side);
    for _ in 0..TILES_PER_IMAGE {
        let s = ((short as f64) * rng.random_range(0.5..=1.0))
            .round()
            .max(8.0) as u32;
        let x = rng.random_range(0..=iw - s);
        let y = rng.random_range(0..=ih - s);
        let crop = image::imageops::crop_imm(&rgb, x, y, s, s).to_image();
        let tile = image::imageops::resize(
            &crop,
            side as u32,
            side as u32,
            image::imageops::FilterType::Triangle,
        );
        let plane = side * side;
        let start = out.len();
        out.resize(start + channels * plane, 0.0);
        for (p, px) in tile.pixels().enumerate() {
            let v = |c: usize| px[c] as f32 / 127.5 - 1.0;
            if channels == 1 {
                // ITU-R BT.601 luma, as PIL's convert("L").
                out[start + p] = 0.299 * v(0) + 0.587 * v(1) + 0.114 * v(2);
            } else {
                for c in 0..3 {
                    out[start + c * plane + p] = v(c);
                }
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write_png(path: &Path, w: u32, h: u32, alpha_hole: bool) {
        let img = image::RgbaImage::from_fn(w, h, |x, y| {
            let a = if alpha_hole && x < w / 2 { 0 } else { 255 };
            image::Rgba([(x * 7 % 256) as u8, (y * 5 % 256) as u8, 40, a])
        });
        img.save(path).unwrap();
    }

    #[test]
    fn tiles_every_image_below_the_root_reproducibly_and_composites_alpha_over_white() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("a/b")).unwrap();
        write_png(&dir.path().join("one.png"), 60, 40, false);
        write_png(&dir.path().join("a/b/two.png"), 50, 50, true);
        std::fs::write(dir.path().join("notes.txt"), "not an image").unwrap();
        let opts = LoadOptions {
            size: Some((16, 16)),
            ..Default::default()
        };
        let (ds, report) = load_substrates(dir.path(), Split::Train, &opts, 7).unwrap();
        assert_eq!(report.loaded, 2);
        assert_eq!(ds.len(), 2 * TILES_PER_IMAGE);
        assert_eq!(ds.image_shape(), (3, 16, 16));
        assert_eq!(ds.class_names, vec!["substrate".to_string()]);
        let (again, _) = load_substrates(dir.path(), Split::Train, &opts, 7).unwrap();
        assert_eq!(ds.images, again.images);
        let (other, _) = load_substrates(dir.path(), Split::Train, &opts, 8).unwrap();
        assert_ne!(ds.images, other.images);
        // The cut-out (sorted second: "a/b/two.png" < "one.png") has a transparent left half:
        // white (1.0 in every channel) wherever a whole tile column came from it.
        let plane = 16 * 16;
        let white = (0..TILES_PER_IMAGE)
            .map(|t| &ds.images[t * 3 * plane..(t + 1) * 3 * plane])
            .filter(|tile| tile.iter().step_by(16).take(16).all(|&v| v > 0.99))
            .count();
        assert!(
            white > 0,
            "no tile of the cut-out starts with a white column"
        );
    }

    #[test]
    fn every_fifth_file_is_held_out_for_evaluation() {
        let dir = tempfile::tempdir().unwrap();
        for i in 0..10 {
            write_png(&dir.path().join(format!("{i}.png")), 20, 20, false);
        }
        let opts = LoadOptions {
            size: Some((8, 8)),
            ..Default::default()
        };
        let (train, _) = load_substrates(dir.path(), Split::Train, &opts, 0).unwrap();
        let (test, r) = load_substrates(dir.path(), Split::Test, &opts, 0).unwrap();
        assert_eq!(r.loaded, 2);
        assert_eq!(train.len(), 8 * TILES_PER_IMAGE);
        assert_eq!(test.len(), 2 * TILES_PER_IMAGE);
    }

    #[test]
    fn bad_folders_and_files_are_named() {
        let dir = tempfile::tempdir().unwrap();
        let err =
            load_substrates(dir.path(), Split::Train, &LoadOptions::default(), 0).unwrap_err();
        assert!(format!("{err:#}").contains("no images"), "{err:#}");
        std::fs::write(dir.path().join("broken.png"), b"not a png").unwrap();
        write_png(&dir.path().join("fine.png"), 30, 30, false);
        let err =
            load_substrates(dir.path(), Split::Train, &LoadOptions::default(), 0).unwrap_err();
        assert!(format!("{err:#}").contains("broken.png"), "{err:#}");
        let opts = LoadOptions {
            skip_bad: true,
            mel: None,
            size: Some((8, 8)),
            ..Default::default()
        };
        let (ds, report) = load_substrates(dir.path(), Split::Train, &opts, 0).unwrap();
        assert_eq!((report.loaded, report.skipped), (1, 1));
        assert_eq!(ds.len(), TILES_PER_IMAGE);
        let missing =
            load_substrates(&dir.path().join("nope"), Split::Train, &opts, 0).unwrap_err();
        assert!(format!("{missing:#}").contains("nope"));
    }
}
