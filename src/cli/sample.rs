//! `probegan sample` (not yet implemented).

use anyhow::{bail, Result};

#[derive(clap::Args, Debug)]
pub struct Args {}

pub fn run(_args: Args) -> Result<()> {
    bail!("`probegan sample` is not implemented yet")
}
