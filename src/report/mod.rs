//! The audit report: one self-contained HTML file per run (`probegan report RUN_DIR --out
//! report.html`) that a person can read in two minutes — setup, samples per class, the unseen
//! class with the judge's labels, nearest real neighbours, metric tables (baselines side by
//! side), training curves and the power spectrum; for substrate runs, the painted images and
//! the second classifier's verdict on them (`substrate`).
//!
//! Self-contained means no network and no side files: images are PNGs inlined as base64
//! `data:` URIs, plots are inline SVG, styles are inline CSS, and there is no script.

pub mod audio;
pub mod audit;
pub mod html;
pub mod run_dir;
pub mod substrate;
pub mod svg;

pub use audit::{
    render_report, render_report_with, write_report, write_report_with, ReportOptions,
};
