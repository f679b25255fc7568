//! GAN stabilisers that compose onto any method's losses, switched on in `[loss]`: each
//! adds named terms to the discriminator's or the generator's step and knows nothing of the
//! method it joins. Soft-label builds its own losses and takes none of them.
//!
//! | option | paper | D step | G step |
//! |---|---|---|---|
//! | `neighbour_embedding` | GN-GAN | | KL between the codes' and the images' neighbourhoods, per class |
//! | `rotation_d`, `rotation_g`, `rotation_minimax` | SS-GAN / MS-GAN | predict the turn of real images (and "fake" for turned fakes) | turned fakes read as their turn |
//! | `dag` | DAG | one hinge head per turned copy (90°, 180°, 270°) | fool every head |

use super::common::{Fake, Terms};
use super::StepContext;
use crate::losses::{self, rotation};
use crate::nets::Mode;
use crate::train::config::LossConfig;
use anyhow::Result;
use candle_core::Tensor;

/// The extra discriminator heads the enabled stabilisers need: (name, outputs).
pub fn discriminator_heads(loss: &LossConfig) -> Vec<(&'static str, usize)> {
    let mut heads = vec![];
    if loss.rotation_d > 0.0 || loss.rotation_g > 0.0 {
        heads.push((
            "rotation",
            rotation::ROTATIONS + loss.rotation_minimax as usize,
        ));
    }
    if loss.dag > 0.0 {
        heads.push(("dag", rotation::ROTATIONS - 1));
    }
    heads
}

/// DAG's turns (1..=3 quarter turns, balanced) and, per sample, the head that judges it.
fn dag_turns(n: usize, device: &candle_core::Device) -> Result<(Vec<u32>, Tensor)> {
    let turns: Vec<u32> = (0..n).map(|i| 1 + (i % 3) as u32).collect();
    let heads = Tensor::from_vec(
        turns.iter().map(|t| t - 1).collect::<Vec<_>>(),
        (n, 1),
        device,
    )?;
    Ok((turns, heads))
}

/// DAG scores: each sample turned, judged by the head of its turn ([N]).
fn dag_scores(ctx: &StepContext, x: &Tensor, mode: Mode) -> Result<Tensor> {
    let d = &ctx.nets.d;
    let (turns, heads) = dag_turns(x.dim(0)?, x.device())?;
    let out = d.head(
        "dag",
        &d.features(&rotation::rotate(x, &turns)?, mode)?,
        mode,
    )?;
    Ok(out.gather(&heads, 1)?.squeeze(1)?)
}

/// The discriminator-side terms for one D step on `real` and (detached) `fake` images.
pub fn d_terms(ctx: &StepContext, terms: &mut Terms, real: &Tensor, fake: &Tensor) -> Result<()> {
    let loss = &ctx.config.loss;
    let d = &ctx.nets.d;
    if loss.rotation_d > 0.0 {
        let (turns, labels) = rotation::balanced_turns(real.dim(0)?, real.device())?;
        let logits = d.head(
            "rotation",
            &d.features(&rotation::rotate(real, &turns)?, Mode::TRAIN)?,
            Mode::TRAIN,
        )?;
        terms.add(
            "d_rotation_real",
            losses::cross_entropy(&logits, &labels)?,
            loss.rotation_d,
        )?;
        if loss.rotation_minimax {
            let m = fake.dim(0)?;
            let (turns, _) = rotation::balanced_turns(m, fake.device())?;
            let fake_class = Tensor::from_vec(vec![rotation::FAKE_CLASS; m], m, fake.device())?;
            let logits = d.head(
                "rotation",
                &d.features(&rotation::rotate(fake, &turns)?, Mode::TRAIN)?,
                Mode::TRAIN,
            )?;
            terms.add(
                "d_rotation_fake",
                losses::cross_entropy(&logits, &fake_class)?,
                loss.rotation_d,
            )?;
        }
    }
    if loss.dag > 0.0 {
        let real_scores = dag_scores(ctx, real, Mode::TRAIN)?;
        let fake_scores = dag_scores(ctx, fake, Mode::TRAIN)?;
        let l = (losses::hinge_d_real(&real_scores, None)?
            + losses::hinge_d_fake(&fake_scores, None)?)?;
        terms.add("d_dag", l, loss.dag)?;
    }
    Ok(())
}

/// The generator-side terms for `images`, the generated images of `fake` as the method's
/// adversarial terms see them.
pub fn g_terms(ctx: &StepContext, terms: &mut Terms, fake: &Fake, images: &Tensor) -> Result<()> {
    let loss = &ctx.config.loss;
    if loss.neighbour_embedding > 0.0 {
        let l = losses::neighbour_embedding(&fake.z, images, Some(&fake.labels_host))?;
        terms.add("g_neighbour_embedding", l, loss.neighbour_embedding)?;
    }
    if loss.rotation_g > 0.0 {
        let d = &ctx.nets.d;
        let (turns, labels) = rotation::balanced_turns(images.dim(0)?, images.device())?;
        let logits = d.head(
            "rotation",
            &d.features(&rotation::rotate(images, &turns)?, Mode::TRAIN_FROZEN)?,
            Mode::TRAIN_FROZEN,
        )?;
        terms.add(
            "g_rotation",
            losses::cross_entropy(&logits, &labels)?,
            loss.rotation_g,
        )?;
    }
    if loss.dag > 0.0 {
        let scores = dag_scores(ctx, images, Mode::TRAIN_FROZEN)?;
        terms.add("g_dag", losses::hinge_g(&scores, None)?, loss.dag)?;
    }
    Ok(())
}
