//! ORACLE: ProbeGAN's losses with every class's real data (nothing masked) — the upper
//! bound a method without unseen-class data can hope to reach.

use super::cgan::CganNets;
use super::probegan::{ProbeGan, ProbeGanConfig};

/// ProbeGAN with nothing masked; it reads every class's real images.
pub fn oracle(nets: CganNets, options: ProbeGanConfig) -> anyhow::Result<ProbeGan> {
    ProbeGan::new(nets, options, true)
}
