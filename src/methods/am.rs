//! BigGAN-AM style activation maximisation (Li et al. 2020): first a conditional GAN on the
//! seen classes (no classifier involved), then, with the generator frozen, a new class
//! embedding is optimised so that the classifier recognises its samples as the unseen class.
//! The run's last `method.steps` steps are the second phase; it works on the EMA generator,
//! the one sampling uses, whose batch-norm statistics are fixed from seen classes first.

use super::cgan::{CganMethod, CganNets, GanContext};
use super::common::{add_classifier_ce, d_loss_seen_cgan, draw_fakes, Terms};
use super::{AdamSettings, LegacyOptimizerKeys, LossTerms, ParamGroup, Phase, Settings};
use crate::losses;
use crate::nets::Mode;
use anyhow::{bail, Result};
use serde::{Deserialize, Serialize};

/// `[method]` options of AM: the second phase's length and its optimiser.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct AmConfig {
    #[serde(default = "d_steps")]
    pub steps: usize,
    #[serde(default = "d_lr")]
    pub lr: f64,
    #[serde(default = "d_batch_size")]
    pub batch_size: usize,
}

fn d_steps() -> usize {
    200
}
fn d_lr() -> f64 {
    0.01
}
fn d_batch_size() -> usize {
    32
}

impl Default for AmConfig {
    fn default() -> Self {
        AmConfig {
            steps: d_steps(),
            lr: d_lr(),
            batch_size: d_batch_size(),
        }
    }
}

/// The second phase's parameter group: the EMA generator's class-embedding table.
const CLASS_EMBEDDING: &str = "class_embedding";

pub struct Am {
    nets: CganNets,
    options: AmConfig,
    /// The first step of the embedding phase.
    phase_two: usize,
}

impl Am {
    pub fn new(nets: CganNets, options: AmConfig, settings: &Settings) -> Self {
        Am {
            nets,
            phase_two: settings.steps.saturating_sub(options.steps),
            options,
        }
    }
}

impl CganMethod for Am {
    fn name(&self) -> &'static str {
        "am"
    }

    fn nets(&self) -> &CganNets {
        &self.nets
    }

    fn extra_groups(&self) -> Vec<ParamGroup> {
        vec![ParamGroup {
            name: CLASS_EMBEDDING,
            params: vec![(
                "embedding.weight".to_string(),
                self.nets.g_ema.embedding.table.clone(),
            )],
            adam: AdamSettings {
                lr: self.options.lr,
                beta1: 0.9,
                beta2: 0.999,
            },
            ema: None,
            legacy: Some(LegacyOptimizerKeys {
                prefix: "am",
                step_field: "opt_am_step",
            }),
        }]
    }

    fn schedule(&self, step: usize) -> Vec<Phase> {
        if step >= self.phase_two {
            vec![Phase {
                group: CLASS_EMBEDDING,
                repeats: 1,
            }]
        } else {
            self.nets.schedule()
        }
    }

    fn d_loss(&self, ctx: &mut GanContext) -> Result<LossTerms> {
        d_loss_seen_cgan(ctx)
    }

    fn g_loss(&self, ctx: &mut GanContext) -> Result<LossTerms> {
        let mut terms = Terms::default();
        let n = ctx.config.train.batch_size;
        let seen = ctx.seen_classes();
        let fake = draw_fakes(ctx, &seen, n, Mode::TRAIN)?;
        let d = &ctx.nets.d;
        let h = d.features(&fake.images, Mode::TRAIN_FROZEN)?;
        let dc = d.head_conditional(&h, &fake.labels, Mode::TRAIN_FROZEN)?;
        terms.add("g_c_hinge", losses::hinge_g(&dc, None)?, 1.0)?;
        terms.finish()
    }

    fn extra_loss(&self, group: &'static str, ctx: &mut GanContext) -> Result<LossTerms> {
        if group != CLASS_EMBEDDING {
            bail!("am: no parameter group `{group}`");
        }
        if ctx.unseen.is_empty() {
            bail!("method `am` needs an unseen class (data.unseen)");
        }
        // The statistics the embedding is optimised against must not move under it. (After a
        // resume they are recomputed from the same frozen weights and seen classes: the same.)
        self.nets.freeze_stats(ctx.step)?;
        let mut terms = Terms::default();
        let n = self.options.batch_size;
        let unseen = ctx.unseen.to_vec();
        let (labels, _) = ctx.labels_from(&unseen, n)?;
        let z = ctx.noise(n)?;
        let g = &ctx.nets.g_ema;
        // Only the embedding is differentiated; G itself is frozen, BN uses fixed statistics.
        let e = g.embed(
            &labels,
            Mode {
                train: false,
                frozen: false,
            },
        )?;
        let x = g.forward_embedded(&z, &e, Mode::EVAL)?;
        add_classifier_ce(ctx, &mut terms, "am_cls_ce", &x, &labels, 1.0, 0.0)?;
        terms.finish()
    }
}
