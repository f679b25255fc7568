//! `metrics.jsonl` as the loop keeps it: rows appended as training goes, and cut back to a
//! checkpoint's step when a run resumes (so no step is logged twice).

use crate::run::{write_atomic, MetricsRow};
use anyhow::Result;
use std::path::Path;

/// Drop metric lines after `step` (a resumed run rewrites them).
pub fn truncate_metrics(path: &Path, step: usize) -> Result<()> {
    let Ok(text) = std::fs::read_to_string(path) else {
        return Ok(());
    };
    let kept: Vec<&str> = text
        .lines()
        .filter(|l| {
            serde_json::from_str::<MetricsRow>(l).is_ok_and(|row| row.step as usize <= step)
        })
        .collect();
    let mut out = kept.join("\n");
    if !out.is_empty() {
        out.push('\n');
    }
    write_atomic(path, out.as_bytes())
}
