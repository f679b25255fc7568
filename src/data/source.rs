//! The `--data` argument: which loader a string means.
//!
//! * `embedded` (or `embedded:fashion-mnist`): the stratified Fashion-MNIST subset compiled
//!   into the binary; `embedded:voices`: the bundled audio clips as mel features;
//! * `fashion-mnist`: the full set from Debian's package (`/usr/share/datasets/fashion-mnist`);
//! * a folder of IDX files (`train-images-idx3-ubyte[.gz]`, ...);
//! * an image folder (`<class>/*.png`, optionally under `train/` and `test/`);
//! * a WAV folder (`<class>/*.wav`, optionally under `train/` and `test/`): mel features
//!   (`mel_clips`), by `LoadOptions::mel` or the default voices front end;
//! * a `.csv` metadata file (see `csv_metadata`).

use super::csv_metadata::{load_csv, CsvSpec};
use super::idx_dataset::{is_idx_dir, load_idx_dir, system_fashion_mnist};
use super::image_folder::{has_split_folders, is_image_folder, load_image_folder};
use super::{fashion_mnist_subset_split, Dataset, LoadOptions, LoadReport, Split};
use anyhow::{bail, Result};
use std::path::{Path, PathBuf};

/// Seed of the fixed train/test split for sources that have none (so `--data X` means the
/// same test set in every command).
pub const UNSPLIT_SEED: u64 = 0x7e57;
/// Seeds the substrate tiles' crops: the same folder gives the same tiles everywhere.
const SUBSTRATE_TILE_SEED: u64 = 0x5b57;

/// Fraction used for training when a source has no split of its own.
pub const UNSPLIT_TRAIN_FRACTION: f64 = 0.8;

#[derive(Debug, Clone)]
pub enum DataSource {
    Embedded,
    /// `embedded:voices`: the bundled men / non-human / women clips.
    EmbeddedVoices,
    SystemFashionMnist,
    Idx(PathBuf),
    ImageFolder(PathBuf),
    Csv(PathBuf, CsvSpec),
    /// `substrates:DIR`: photographs cut into tiles for the substrate method.
    Substrates(PathBuf),
    /// A WAV folder, loaded as mel features.
    WavFolder(PathBuf),
}

impl DataSource {
    /// Interpret a `--data` string. `csv` supplies column choices for CSV files.
    pub fn parse(spec: &str, csv: CsvSpec) -> Result<DataSource> {
        let s = spec.trim();
        match s.to_ascii_lowercase().as_str() {
            "embedded" | "embedded:fashion-mnist" | "embedded:fashion-mnist-subset" => {
                return Ok(DataSource::Embedded)
            }
            "embedded:voices" => return Ok(DataSource::EmbeddedVoices),
            "fashion-mnist" | "fashion_mnist" | "fmnist" => {
                return Ok(DataSource::SystemFashionMnist)
            }
            _ => {}
        }
        if let Some(dir) = s.strip_prefix(super::substrates::SUBSTRATES_PREFIX) {
            let dir = Path::new(dir.trim());
            if !dir.is_dir() {
                bail!("{}: no such substrate folder", dir.display());
            }
            return Ok(DataSource::Substrates(dir.to_path_buf()));
        }
        let p = Path::new(s);
        if p.is_file() {
            if p.extension()
                .map(|e| e.eq_ignore_ascii_case("csv"))
                .unwrap_or(false)
            {
                return Ok(DataSource::Csv(p.to_path_buf(), csv));
            }
            bail!("{s}: a data file must be a .csv metadata file; for IDX files pass their folder");
        }
        if p.is_dir() {
            if is_idx_dir(p) {
                return Ok(DataSource::Idx(p.to_path_buf()));
            }
            if is_image_folder(p) {
                return Ok(DataSource::ImageFolder(p.to_path_buf()));
            }
            if super::audio::is_wav_folder(p) {
                return Ok(DataSource::WavFolder(p.to_path_buf()));
            }
            bail!("{s}: neither IDX files (train-images-idx3-ubyte[.gz]) nor class subfolders of images or WAV files");
        }
        bail!("{s}: no such file or folder (or use `embedded` / `fashion-mnist`)");
    }

    /// Load one split.
    pub fn load(&self, split: Split, opts: &LoadOptions) -> Result<(Dataset, LoadReport)> {
        let whole = |d: Dataset| {
            let n = d.len();
            (
                d,
                LoadReport {
                    loaded: n,
                    ..Default::default()
                },
            )
        };
        match self {
            DataSource::Embedded => Ok(whole(fashion_mnist_subset_split(split)?)),
            DataSource::EmbeddedVoices => {
                let voices = super::MelFeatures::voices();
                let mel = opts.mel.as_ref().unwrap_or(&voices);
                let (d, clamped) = super::voices_subset(split, mel)?;
                let (d, mut report) = whole(d);
                report.clamped = Some(clamped);
                Ok((d, report))
            }
            DataSource::SystemFashionMnist => Ok(whole(system_fashion_mnist(split)?)),
            DataSource::Idx(dir) => Ok(whole(load_idx_dir(dir, split)?)),
            DataSource::ImageFolder(dir) => {
                let (d, r) = load_image_folder(dir, Some(split), opts)?;
                if has_split_folders(dir) {
                    Ok((d, r))
                } else {
                    Ok((fixed_split(d, split), r))
                }
            }
            DataSource::WavFolder(dir) => {
                let voices = super::MelFeatures::voices();
                let mel = opts.mel.as_ref().unwrap_or(&voices);
                super::load_mel_folder(dir, split, mel, opts.skip_bad)
            }
            DataSource::Substrates(dir) => {
                super::substrates::load_substrates(dir, split, opts, SUBSTRATE_TILE_SEED)
            }
            DataSource::Csv(path, spec) => {
                let has_split = csv_has_column(path, spec.split_col.as_deref().unwrap_or("split"))?;
                if has_split {
                    load_csv(path, spec, Some(split.name()), opts)
                } else {
                    let (d, r) = load_csv(path, spec, None, opts)?;
                    Ok((fixed_split(d, split), r))
                }
            }
        }
    }

    /// Whether this source holds sound (loaded as mel features of `LoadOptions::mel`).
    pub fn is_audio(&self) -> bool {
        matches!(self, DataSource::WavFolder(_) | DataSource::EmbeddedVoices)
    }

    /// Whether this source has groups (CSV with a group column).
    pub fn has_groups(&self) -> bool {
        matches!(self, DataSource::Csv(_, s) if s.group_col.is_some())
    }
}

fn fixed_split(d: Dataset, split: Split) -> Dataset {
    let (train, test) = d.split(UNSPLIT_TRAIN_FRACTION, UNSPLIT_SEED);
    match split {
        Split::Train => train,
        Split::Test => test,
    }
}

fn csv_has_column(path: &Path, col: &str) -> Result<bool> {
    let mut r = csv::ReaderBuilder::new()
        .flexible(true)
        .from_path(path)
        .map_err(|e| anyhow::anyhow!("{}: cannot open CSV: {e}", path.display()))?;
    Ok(r.headers()
        .map(|h| h.iter().any(|c| c.trim() == col))
        .unwrap_or(false))
}
