//! `probegan inspect MODEL [--json]`: what the model is and whether the engine can run it.

use crate::onnx::summary::summarize;
use anyhow::Result;

#[derive(clap::Args, Debug)]
pub struct Args {
    /// ONNX file or zoo name.
    pub model: String,
    /// Print the summary as JSON.
    #[arg(long)]
    pub json: bool,
}

pub fn run(args: Args) -> Result<()> {
    let resolved = crate::zoo::resolve_model_arg(&args.model)?;
    let summary = summarize(&resolved.path)?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&summary)?);
    } else {
        print!("{}", summary.to_text());
    }
    Ok(())
}
