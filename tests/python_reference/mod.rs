//! Shared by the tests that compare against an independent numpy/scipy computation: the
//! tests write raw little-endian f64 files and a meta.json into a folder, run a script in
//! tests/ on it, and read its answer back. Skipped with a message where python3 lacks the
//! modules.

use std::path::Path;
use std::process::{Command, Output};

/// Whether `python3 -c "import MODULES"` works (e.g. "numpy, scipy.linalg").
pub fn python_has(modules: &str) -> bool {
    Command::new("python3")
        .args(["-c", &format!("import {modules}")])
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false)
}

pub fn write_f64(path: &Path, v: &[f64]) {
    let bytes: Vec<u8> = v.iter().flat_map(|x| x.to_le_bytes()).collect();
    std::fs::write(path, bytes).unwrap();
}

#[allow(dead_code)] // not every test reads f64 files back
pub fn read_f64(path: &Path) -> Vec<f64> {
    std::fs::read(path)
        .unwrap()
        .chunks(8)
        .map(|c| f64::from_le_bytes(c.try_into().unwrap()))
        .collect()
}

/// Runs `tests/SCRIPT DIR` and returns its output; panics with its stderr when it fails.
pub fn run_script(script: &str, dir: &Path) -> Output {
    let script = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests")
        .join(script);
    let out = Command::new("python3")
        .arg(&script)
        .arg(dir)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    out
}
