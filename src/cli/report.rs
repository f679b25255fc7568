//! `probegan report RUN_DIR --out report.html`: one self-contained HTML audit report.

use crate::metrics::neighbours::NeighbourSpace;
use crate::report::ReportOptions;
use anyhow::Result;
use std::path::PathBuf;

#[derive(clap::Args, Debug)]
pub struct Args {
    /// The run directory written by `probegan train` (evaluated with `probegan eval` for the
    /// metric tables; sibling run directories appear as baselines).
    pub run_dir: PathBuf,
    /// Where to write the HTML file.
    #[arg(long, default_value = "report.html")]
    pub out: PathBuf,
    /// Space of the nearest-real-neighbour panel: `feature` or `pixel` (default: the one
    /// `probegan eval --neighbours` chose, feature unless told otherwise).
    #[arg(long, value_parser = ["feature", "pixel"])]
    pub neighbours: Option<String>,
}

pub fn run(args: Args) -> Result<()> {
    let options = ReportOptions {
        neighbours: args
            .neighbours
            .as_deref()
            .map(NeighbourSpace::parse)
            .transpose()?,
    };
    crate::report::write_report_with(&args.run_dir, &args.out, &options)?;
    let bytes = std::fs::metadata(&args.out).map(|m| m.len()).unwrap_or(0);
    println!(
        "wrote {} ({:.1} KB, self-contained)",
        args.out.display(),
        bytes as f64 / 1024.0
    );
    Ok(())
}
