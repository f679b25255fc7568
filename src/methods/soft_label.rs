//! Soft-label baseline (C2G / PreImageGAN): label every auxiliary (seen-class) image with the
//! classifier's softmax output and train a generator conditioned on those soft labels, with a
//! projection discriminator that projects onto the soft-label mixture of class embeddings.
//! An unseen class is then sampled with its one-hot label, hoping that the classifier's small
//! probabilities for it on other images carried enough information. No classifier gradient.

use super::cgan::{CganMethod, CganNets, GanContext};
use super::common::Terms;
use super::{LossTerms, StepContext};
use crate::losses;
use crate::nets::Mode;
use anyhow::{Context, Result};
use candle_core::Tensor;
use rand::Rng;

pub struct SoftLabel {
    nets: CganNets,
    /// [N_data, K] classifier probabilities of every training image.
    soft: Option<Tensor>,
}

impl SoftLabel {
    pub fn new(nets: CganNets) -> Self {
        SoftLabel { nets, soft: None }
    }

    fn soft(&self) -> Result<&Tensor> {
        self.soft
            .as_ref()
            .context("soft-label: prepare() was not run")
    }
}

impl CganMethod for SoftLabel {
    fn name(&self) -> &'static str {
        "soft-label"
    }

    fn nets(&self) -> &CganNets {
        &self.nets
    }

    fn prepare(&mut self, ctx: &mut StepContext) -> Result<()> {
        let n = ctx.data.len;
        let mut parts = Vec::new();
        let chunk = 256;
        let mut start = 0;
        while start < n {
            let len = chunk.min(n - start);
            let x = ctx.data.images.narrow(0, start, len)?;
            let logits = ctx.classifier.logits(&x)?.detach();
            parts.push(losses::log_softmax(&logits)?.exp()?);
            start += len;
        }
        self.soft = Some(Tensor::cat(&parts, 0)?);
        Ok(())
    }

    fn d_loss(&self, ctx: &mut GanContext) -> Result<LossTerms> {
        let n = ctx.config.train.batch_size;
        let real = ctx.data.sample(ctx.rng, n)?;
        let soft = self.soft()?;
        let idx = |rows: &[usize]| {
            Tensor::from_vec(
                rows.iter().map(|&r| r as u32).collect::<Vec<_>>(),
                rows.len(),
                soft.device(),
            )
        };
        let p_real = soft.index_select(&idx(&real.indices)?, 0)?;
        // Fakes are conditioned on soft labels of other random real images.
        let rows: Vec<usize> = (0..n)
            .map(|_| ctx.rng.random_range(0..ctx.data.len))
            .collect();
        let p_fake = soft.index_select(&idx(&rows)?, 0)?;
        let z = ctx.noise(n)?;
        let g = &ctx.nets.g;
        let x_fake = g
            .forward_embedded(
                &z,
                &g.embedding.mix(&p_fake, Mode::TRAIN_FROZEN)?,
                Mode::TRAIN_FROZEN,
            )?
            .detach();
        let d = &ctx.nets.d;
        let h = d.features(&Tensor::cat(&[&real.images, &x_fake], 0)?, Mode::TRAIN)?;
        let dr = d.head_conditional_embedded(
            &h.narrow(0, 0, n)?,
            &d.project_soft(&p_real, Mode::TRAIN)?,
            Mode::TRAIN,
        )?;
        let df = d.head_conditional_embedded(
            &h.narrow(0, n, n)?,
            &d.project_soft(&p_fake, Mode::TRAIN)?,
            Mode::TRAIN,
        )?;
        let mut terms = Terms::default();
        terms.add("d_c_real", losses::hinge_d_real(&dr, None)?, 1.0)?;
        terms.add("d_c_fake", losses::hinge_d_fake(&df, None)?, 1.0)?;
        terms.finish()
    }

    fn g_loss(&self, ctx: &mut GanContext) -> Result<LossTerms> {
        let n = ctx.config.train.batch_size;
        let soft = self.soft()?;
        let rows: Vec<u32> = (0..n)
            .map(|_| ctx.rng.random_range(0..ctx.data.len) as u32)
            .collect();
        let p = soft.index_select(&Tensor::from_vec(rows, n, soft.device())?, 0)?;
        let z = ctx.noise(n)?;
        let g = &ctx.nets.g;
        let x = g.forward_embedded(&z, &g.embedding.mix(&p, Mode::TRAIN)?, Mode::TRAIN)?;
        let d = &ctx.nets.d;
        let h = d.features(&x, Mode::TRAIN_FROZEN)?;
        let dc = d.head_conditional_embedded(
            &h,
            &d.project_soft(&p, Mode::TRAIN_FROZEN)?,
            Mode::TRAIN_FROZEN,
        )?;
        let mut terms = Terms::default();
        terms.add("g_c_hinge", losses::hinge_g(&dc, None)?, 1.0)?;
        terms.finish()
    }
}
