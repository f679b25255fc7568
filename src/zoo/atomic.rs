//! Files appear complete or not at all: write a sibling temp file, fsync, rename, fsync dir.

use anyhow::{Context, Result};
use std::io::Write;
use std::path::Path;

/// Replace `path` with `bytes` atomically.
pub fn write_file_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    let tmp = temp_sibling(path);
    let result = (|| -> Result<()> {
        let mut f = std::fs::File::create(&tmp)
            .map_err(|e| super::download::describe_io(e, &tmp, "creating"))?;
        f.write_all(bytes)
            .map_err(|e| super::download::describe_io(e, &tmp, "writing"))?;
        f.sync_all()
            .map_err(|e| super::download::describe_io(e, &tmp, "syncing"))?;
        Ok(())
    })();
    if let Err(e) = result {
        let _ = std::fs::remove_file(&tmp);
        return Err(e);
    }
    publish(&tmp, path)
}

/// Rename a finished, synced temp file to its final name and sync the directory so the
/// rename survives a crash.
pub fn publish(tmp: &Path, path: &Path) -> Result<()> {
    std::fs::rename(tmp, path)
        .with_context(|| format!("renaming {} to {}", tmp.display(), path.display()))?;
    if let Some(dir) = path.parent() {
        // Directory fsync is not supported everywhere (e.g. Windows); the rename already happened.
        if let Ok(d) = std::fs::File::open(dir) {
            let _ = d.sync_all();
        }
    }
    Ok(())
}

fn temp_sibling(path: &Path) -> std::path::PathBuf {
    let mut name = path.file_name().unwrap_or_default().to_os_string();
    name.push(format!(".tmp{}", std::process::id()));
    path.with_file_name(name)
}
