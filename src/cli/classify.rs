//! `probegan classify` (not yet implemented).

use anyhow::{bail, Result};

#[derive(clap::Args, Debug)]
pub struct Args {}

pub fn run(_args: Args) -> Result<()> {
    bail!("`probegan classify` is not implemented yet")
}
