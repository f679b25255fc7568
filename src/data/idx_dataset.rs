//! IDX image/label pairs as a `Dataset` (MNIST layout), and Fashion-MNIST's conventions.

use super::idx::{find_idx_file, parse_idx, read_idx};
use super::Dataset;
use anyhow::{bail, Context, Result};
use std::path::{Path, PathBuf};

/// Fashion-MNIST's class names, label order.
pub const FASHION_MNIST_CLASSES: [&str; 10] = [
    "T-shirt/top",
    "Trouser",
    "Pullover",
    "Dress",
    "Coat",
    "Sandal",
    "Shirt",
    "Sneaker",
    "Bag",
    "Ankle boot",
];

/// Where Debian's `dataset-fashion-mnist` package installs the full set.
pub const SYSTEM_FASHION_MNIST: &str = "/usr/share/datasets/fashion-mnist";

/// Which half of a dataset with a fixed train/test split.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Split {
    Train,
    Test,
}

impl Split {
    pub fn name(self) -> &'static str {
        match self {
            Split::Train => "train",
            Split::Test => "test",
        }
    }
}

/// Dataset from IDX bytes already in memory: images `[N, H, W]` (grey) and labels `[N]`.
pub fn dataset_from_idx_bytes(
    images: &[u8],
    labels: &[u8],
    class_names: Vec<String>,
    origin: &str,
) -> Result<Dataset> {
    let im = parse_idx(images, &format!("{origin} (images)"))?;
    let lb = parse_idx(labels, &format!("{origin} (labels)"))?;
    from_arrays(im, lb, class_names, origin)
}

fn from_arrays(
    im: super::idx::IdxArray,
    lb: super::idx::IdxArray,
    class_names: Vec<String>,
    origin: &str,
) -> Result<Dataset> {
    let (n, h, w) = match im.dims.as_slice() {
        [n, h, w] => (*n, *h, *w),
        [n, 1, h, w] => (*n, *h, *w),
        d => bail!("{origin}: image IDX must be [N, H, W], got {d:?}"),
    };
    if lb.dims != [n] {
        bail!(
            "{origin}: label IDX is {:?} but there are {n} images",
            lb.dims
        );
    }
    if let Some((row, &bad)) = lb
        .data
        .iter()
        .enumerate()
        .find(|(_, &l)| l as usize >= class_names.len())
    {
        bail!(
            "{origin}: label {bad} at row {row} but only {} classes ({:?})",
            class_names.len(),
            class_names
        );
    }
    let images = im.data.iter().map(|&v| v as f32 / 127.5 - 1.0).collect();
    let labels = lb.data.iter().map(|&l| l as u32).collect();
    Dataset::new(images, (1, h, w), labels, class_names, None)
}

/// The IDX pair of `split` in `dir` (`train-images-idx3-ubyte[.gz]`, `t10k-...`).
pub fn idx_files(dir: &Path, split: Split) -> Result<(PathBuf, PathBuf)> {
    let prefix = match split {
        Split::Train => "train",
        Split::Test => "t10k",
    };
    let im = find_idx_file(dir, &format!("{prefix}-images-idx3-ubyte"));
    let lb = find_idx_file(dir, &format!("{prefix}-labels-idx1-ubyte"));
    match (im, lb) {
        (Some(i), Some(l)) => Ok((i, l)),
        _ => bail!(
            "{}: no {prefix}-images-idx3-ubyte[.gz] / {prefix}-labels-idx1-ubyte[.gz] pair for the {} split",
            dir.display(),
            split.name()
        ),
    }
}

/// Whether `dir` holds an MNIST-style IDX pair.
pub fn is_idx_dir(dir: &Path) -> bool {
    idx_files(dir, Split::Train).is_ok() || idx_files(dir, Split::Test).is_ok()
}

/// Class names for an IDX directory: `classes.txt` (one per line) if present, else
/// Fashion-MNIST's when the path says so, else the digits.
pub fn class_names_for(dir: &Path) -> Result<Vec<String>> {
    let f = dir.join("classes.txt");
    if f.is_file() {
        let text =
            std::fs::read_to_string(&f).with_context(|| format!("{}: cannot read", f.display()))?;
        let names: Vec<String> = text
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty())
            .map(String::from)
            .collect();
        if names.is_empty() {
            bail!("{}: no class names", f.display());
        }
        return Ok(names);
    }
    if dir.to_string_lossy().to_lowercase().contains("fashion") {
        return Ok(FASHION_MNIST_CLASSES
            .iter()
            .map(|s| s.to_string())
            .collect());
    }
    Ok((0..10).map(|d| d.to_string()).collect())
}

/// Load `split` from an IDX directory.
pub fn load_idx_dir(dir: &Path, split: Split) -> Result<Dataset> {
    let (im, lb) = idx_files(dir, split)?;
    let names = class_names_for(dir)?;
    from_arrays(
        read_idx(&im)?,
        read_idx(&lb)?,
        names,
        &im.display().to_string(),
    )
}

/// The full Fashion-MNIST from the Debian package, if installed.
pub fn system_fashion_mnist(split: Split) -> Result<Dataset> {
    let dir = Path::new(SYSTEM_FASHION_MNIST);
    if !dir.is_dir() {
        bail!(
            "{SYSTEM_FASHION_MNIST} not found: install Debian's `dataset-fashion-mnist` package, or use `--data embedded` (the bundled subset)"
        );
    }
    let (im, lb) = idx_files(dir, split)?;
    let names = FASHION_MNIST_CLASSES
        .iter()
        .map(|s| s.to_string())
        .collect();
    from_arrays(
        read_idx(&im)?,
        read_idx(&lb)?,
        names,
        &im.display().to_string(),
    )
}
