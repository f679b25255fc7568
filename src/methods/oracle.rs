//! ORACLE: ProbeGAN's losses with every class's real data (nothing masked) — the upper
//! bound a method without unseen-class data can hope to reach.

use super::probegan::ProbeGan;
use super::{LossTerms, Method, StepContext};
use crate::train::Config;
use anyhow::Result;

pub struct Oracle(ProbeGan);

impl Oracle {
    pub fn new(config: &Config) -> Self {
        Oracle(ProbeGan {
            oracle: true,
            tilemix: config.loss.tilemix,
        })
    }
}

impl Method for Oracle {
    fn name(&self) -> &'static str {
        "oracle"
    }
    fn real_classes(&self, num_classes: usize, unseen: &[usize]) -> Vec<usize> {
        self.0.real_classes(num_classes, unseen)
    }
    fn d_loss(&self, ctx: &mut StepContext) -> Result<LossTerms> {
        self.0.d_loss(ctx)
    }
    fn g_loss(&self, ctx: &mut StepContext) -> Result<LossTerms> {
        self.0.g_loss(ctx)
    }
}
