//! Model zoo: a registry of public ONNX classifiers (`models/zoo.toml`, embedded), verified
//! downloads into a local cache, and the adapters that say how to feed each model.
//!
//! | file | concept |
//! |---|---|
//! | `names` | which names are safe as cache directory names |
//! | `registry` | built-in and user registry entries |
//! | `embedded` | built-in adapters and label files, written beside fetched models |
//! | `download` | HTTP download: resume, size/sha256 check, clear errors |
//! | `atomic` | temp file + fsync + rename |
//! | `cache` | cache location, options from the environment, fetch |

pub mod atomic;
pub mod cache;
pub mod download;
pub mod embedded;
pub mod names;
pub mod registry;

pub use cache::{fetch, is_cached, model_path, Fetched, ZooOptions};
pub use download::{DownloadOptions, Expected};
pub use registry::{Origin, Registry, ZooEntry};

use anyhow::{bail, Result};
use std::path::{Path, PathBuf};

/// A model argument resolved to a file on disk, plus the zoo entry's adapter when it has one.
#[derive(Debug, Clone)]
pub struct ResolvedModel {
    pub path: PathBuf,
    pub adapter: Option<PathBuf>,
}

/// Every command that takes a model calls this: an existing path is used as is; otherwise
/// the argument is looked up as a zoo name (fetched if not cached, unless offline:
/// `PROBEGAN_OFFLINE=1`). Directories come from `PROBEGAN_CACHE_DIR`/`PROBEGAN_CONFIG_DIR`.
pub fn resolve_model_arg(arg: &str) -> Result<ResolvedModel> {
    if let Some(found) = existing_file(arg)? {
        return Ok(found);
    }
    resolve_model_arg_with(arg, &ZooOptions::from_env()?)
}

/// `resolve_model_arg` with explicit options.
pub fn resolve_model_arg_with(arg: &str, opts: &ZooOptions) -> Result<ResolvedModel> {
    if let Some(found) = existing_file(arg)? {
        return Ok(found);
    }
    if names::validate_name(arg).is_err() {
        bail!("model file `{arg}` does not exist (and it is not a zoo model name)");
    }
    let registry = Registry::load(&opts.config_dir)?;
    let (entry, origin) = registry.require(arg)?;
    let fetched = fetch(entry, origin, &opts.zoo_root(), opts, false)?;
    Ok(ResolvedModel {
        path: fetched.model,
        adapter: fetched.adapter,
    })
}

fn existing_file(arg: &str) -> Result<Option<ResolvedModel>> {
    let p = Path::new(arg);
    if p.is_file() {
        return Ok(Some(ResolvedModel {
            path: p.to_path_buf(),
            adapter: None,
        }));
    }
    if p.is_dir() {
        bail!("`{arg}` is a directory, not an ONNX model file");
    }
    Ok(None)
}
