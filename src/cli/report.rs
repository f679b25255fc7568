//! `probegan report` (not yet implemented).

use anyhow::{bail, Result};

#[derive(clap::Args, Debug)]
pub struct Args {}

pub fn run(_args: Args) -> Result<()> {
    bail!("`probegan report` is not implemented yet")
}
