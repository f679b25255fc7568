//! The local cache of zoo models: where it is, what a cached model looks like, and fetching
//! into it (or into any directory) with the adapter written beside the model.

use super::download::{download_verified, partial_path, sha256_file, DownloadOptions, Expected};
use super::embedded::materialize_adapter;
use super::names::child_dir;
use super::registry::{Origin, ZooEntry};
use anyhow::{anyhow, bail, Context, Result};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Overrides the cache directory (default: the platform cache dir + `probegan`).
pub const ENV_CACHE_DIR: &str = "PROBEGAN_CACHE_DIR";
/// Overrides the config directory holding the user registry (default: platform config dir).
pub const ENV_CONFIG_DIR: &str = "PROBEGAN_CONFIG_DIR";
/// `1`/`true`: never touch the network; only cached models resolve.
pub const ENV_OFFLINE: &str = "PROBEGAN_OFFLINE";
/// Seconds a stalled connection may stay silent before the download fails.
pub const ENV_HTTP_TIMEOUT: &str = "PROBEGAN_HTTP_TIMEOUT";

/// Everything zoo operations depend on from the environment, passed explicitly so tests
/// (and library users) need not touch process-wide environment variables.
#[derive(Debug, Clone)]
pub struct ZooOptions {
    pub cache_dir: PathBuf,
    pub config_dir: PathBuf,
    pub offline: bool,
    pub download: DownloadOptions,
}

impl ZooOptions {
    /// Directories from the env vars above or the platform defaults (`dirs` crate).
    pub fn from_env() -> Result<ZooOptions> {
        let cache_dir = match std::env::var_os(ENV_CACHE_DIR) {
            Some(d) if !d.is_empty() => PathBuf::from(d),
            _ => dirs::cache_dir()
                .map(|d| d.join("probegan"))
                .ok_or_else(|| anyhow!("no platform cache directory; set {ENV_CACHE_DIR}"))?,
        };
        let config_dir = match std::env::var_os(ENV_CONFIG_DIR) {
            Some(d) if !d.is_empty() => PathBuf::from(d),
            _ => dirs::config_dir()
                .map(|d| d.join("probegan"))
                .ok_or_else(|| anyhow!("no platform config directory; set {ENV_CONFIG_DIR}"))?,
        };
        let offline = std::env::var(ENV_OFFLINE)
            .map(|v| {
                matches!(
                    v.trim().to_ascii_lowercase().as_str(),
                    "1" | "true" | "yes" | "on"
                )
            })
            .unwrap_or(false);
        let mut download = DownloadOptions::default();
        if let Ok(v) = std::env::var(ENV_HTTP_TIMEOUT) {
            let secs: f64 = v
                .trim()
                .parse()
                .ok()
                .filter(|s: &f64| s.is_finite() && *s > 0.0)
                .ok_or_else(|| {
                    anyhow!("{ENV_HTTP_TIMEOUT}={v:?} is not a positive number of seconds")
                })?;
            download.read_timeout = Duration::from_secs_f64(secs);
        }
        Ok(ZooOptions {
            cache_dir,
            config_dir,
            offline,
            download,
        })
    }

    /// Directory holding one sub-directory per cached model.
    pub fn zoo_root(&self) -> PathBuf {
        self.cache_dir.join("zoo")
    }
}

/// A model file on disk and, when the entry has one, its adapter.
#[derive(Debug, Clone)]
pub struct Fetched {
    pub model: PathBuf,
    pub adapter: Option<PathBuf>,
    /// True when this call downloaded the file (false: it was already there).
    pub downloaded: bool,
}

/// Where `entry`'s model file lives under `root` (`root/NAME/NAME.onnx`).
pub fn model_path(entry: &ZooEntry, root: &Path) -> Result<PathBuf> {
    Ok(child_dir(root, &entry.name)?.join(entry.file_name()))
}

/// Make `entry`'s model available under `root`, downloading unless it is already there.
/// `verify_cached` re-hashes an existing file (slow for big models; `zoo fetch` does it,
/// model resolution only checks the size, since files only appear after verification).
pub fn fetch(
    entry: &ZooEntry,
    origin: Origin,
    root: &Path,
    opts: &ZooOptions,
    verify_cached: bool,
) -> Result<Fetched> {
    let dest = model_path(entry, root)?;
    let model_dir = dest
        .parent()
        .expect("model path has a parent")
        .to_path_buf();
    let mut downloaded = false;
    if let Some(problem) = cached_problem(entry, &dest, verify_cached)? {
        if dest.exists() {
            if opts.offline {
                bail!(
                    "cached model {} is damaged ({problem}) and offline mode is on",
                    dest.display()
                );
            }
            eprintln!(
                "warning: {} is damaged ({problem}); downloading it again",
                dest.display()
            );
            std::fs::remove_file(&dest).with_context(|| format!("removing {}", dest.display()))?;
        } else if opts.offline {
            bail!(
                "zoo model `{}` is not in the cache ({}) and offline mode is on \
                 (--offline or {ENV_OFFLINE}); fetch it first with `probegan zoo fetch {}` \
                 while online",
                entry.name,
                dest.display(),
                entry.name
            );
        }
        std::fs::create_dir_all(&model_dir)
            .map_err(|e| super::download::describe_io(e, &model_dir, "creating"))?;
        // One downloader per model at a time: a second process waits here, then finds the
        // file in place instead of appending to the same partial file.
        let _lock = lock_model_dir(&dest)?;
        if cached_problem(entry, &dest, false)?.is_none() {
            let adapter = adapter_for(entry, origin, &model_dir)?;
            return Ok(Fetched {
                model: dest,
                adapter,
                downloaded: false,
            });
        }
        let expected = Expected {
            sha256: &entry.sha256,
            size: entry.size,
        };
        download_verified(&entry.urls, &expected, &dest, &opts.download)
            .with_context(|| format!("fetching zoo model `{}`", entry.name))?;
        downloaded = true;
    }
    let adapter = adapter_for(entry, origin, &model_dir)?;
    Ok(Fetched {
        model: dest,
        adapter,
        downloaded,
    })
}

/// Hold an exclusive advisory lock on `dest.lock` until the returned file is dropped.
fn lock_model_dir(dest: &Path) -> Result<std::fs::File> {
    let mut name = dest.file_name().unwrap_or_default().to_os_string();
    name.push(".lock");
    let path = dest.with_file_name(name);
    let file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .map_err(|e| super::download::describe_io(e, &path, "opening"))?;
    if file.try_lock().is_err() {
        eprintln!(
            "waiting for another probegan process downloading {} ...",
            dest.display()
        );
        file.lock()
            .with_context(|| format!("locking {}", path.display()))?;
    }
    Ok(file)
}

/// Why the file at `dest` cannot be used as is (None: it is fine).
fn cached_problem(entry: &ZooEntry, dest: &Path, verify: bool) -> Result<Option<String>> {
    let meta = match std::fs::metadata(dest) {
        Ok(m) => m,
        Err(_) => return Ok(Some("not cached".into())),
    };
    if !meta.is_file() {
        bail!("{} exists but is not a file", dest.display());
    }
    if let Some(size) = entry.size {
        if meta.len() != size {
            return Ok(Some(format!("{} bytes, expected {size}", meta.len())));
        }
    }
    if verify {
        let actual = sha256_file(dest)?;
        if actual != entry.sha256 {
            return Ok(Some(format!("sha256 {actual}, expected {}", entry.sha256)));
        }
    }
    Ok(None)
}

/// Built-in adapters are written beside the model; user adapters are used where they are.
fn adapter_for(entry: &ZooEntry, origin: Origin, model_dir: &Path) -> Result<Option<PathBuf>> {
    let Some(adapter) = entry.adapter.as_deref() else {
        return Ok(None);
    };
    match origin {
        Origin::Builtin => materialize_adapter(adapter, model_dir).map(Some),
        Origin::User => {
            let p = PathBuf::from(adapter);
            if !p.is_file() {
                bail!(
                    "the adapter registered for zoo model `{}` is missing: {}",
                    entry.name,
                    p.display()
                );
            }
            Ok(Some(p))
        }
    }
}

/// Is a complete, verified-on-arrival model file present?
pub fn is_cached(entry: &ZooEntry, root: &Path) -> bool {
    model_path(entry, root)
        .ok()
        .and_then(|p| cached_problem(entry, &p, false).ok())
        .is_some_and(|problem| problem.is_none())
}

/// Bytes of an interrupted download waiting to be resumed (0 if none).
pub fn partial_bytes(entry: &ZooEntry, root: &Path) -> u64 {
    model_path(entry, root)
        .ok()
        .and_then(|p| std::fs::metadata(partial_path(&p)).ok())
        .map(|m| m.len())
        .unwrap_or(0)
}
