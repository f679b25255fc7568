//! `probegan report RUN_DIR --out report.html`: one self-contained HTML audit report.

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
}

pub fn run(args: Args) -> Result<()> {
    crate::report::write_report(&args.run_dir, &args.out)?;
    let bytes = std::fs::metadata(&args.out).map(|m| m.len()).unwrap_or(0);
    println!(
        "wrote {} ({:.1} KB, self-contained)",
        args.out.display(),
        bytes as f64 / 1024.0
    );
    Ok(())
}
