//! GAN stabilisers that compose onto any method's losses, switched on in `[loss]`: each
//! adds named terms to the discriminator's or the generator's step and knows nothing of the
//! method it joins. Soft-label builds its own losses and takes none of them.
//!
//! | option | paper | D step | G step |
//! |---|---|---|---|
//! | `neighbour_embedding` | GN-GAN | | KL between the codes' and the images' neighbourhoods, per class |
//! | `mode_seeking` | MSGAN | | code distance over image distance, pairs of one class (the unseen by default) |
//! | `rotation_d`, `rotation_g`, `rotation_minimax` | SS-GAN / MS-GAN | predict the turn of real images (and "fake" for turned fakes) | turned fakes read as their turn |
//! | `dag` | DAG | one hinge head per turned copy (90°, 180°, 270°) | fool every head |
//! | `infomax` | InfoMax-GAN | InfoNCE between D's global and local features, real and fake | the same on its fakes |

use super::cgan::GanContext;
use super::common::{Fake, Terms};
use super::config::{LossConfig, ModeSeekingClasses};
use crate::losses::{self, rotation};
use crate::nets::{Discriminator, Mode, Scope};
use anyhow::Result;
use candle_core::Tensor;

/// Width of InfoMax-GAN's shared embedding of global and local features.
const INFOMAX_DIM: usize = 32;

/// Add the extra heads the enabled stabilisers need to `d`.
pub fn add_discriminator_heads(d: &mut Discriminator, s: &Scope, loss: &LossConfig) -> Result<()> {
    let width = d.width()?;
    if loss.rotation_d > 0.0 || loss.rotation_g > 0.0 {
        let outputs = rotation::ROTATIONS + loss.rotation_minimax as usize;
        d.add_head(s, "rotation", width, outputs)?;
    }
    if loss.dag > 0.0 {
        d.add_head(s, "dag", width, rotation::ROTATIONS - 1)?;
    }
    if loss.infomax > 0.0 {
        d.add_head(s, "infomax_global", width, INFOMAX_DIM)?;
        let local = d.local_width();
        d.add_head(s, "infomax_local", local, INFOMAX_DIM)?;
    }
    Ok(())
}

/// InfoMax-GAN's InfoNCE on D's features of `x`.
fn infomax(ctx: &GanContext, x: &Tensor, mode: Mode) -> Result<Tensor> {
    let d = &ctx.nets.d;
    let (global, local) = d.features_with_local(x, mode)?;
    let (n, c, h, w) = local.dims4()?;
    // Each location's channels as one row: [N, C, H, W] -> [N * H * W, C].
    let rows = local.permute((0, 2, 3, 1))?.reshape((n * h * w, c))?;
    let local = d
        .head("infomax_local", &rows, mode)?
        .reshape((n, h * w, INFOMAX_DIM))?;
    let global = d.head("infomax_global", &global, mode)?;
    losses::infonce::infonce(&global, &local)
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

/// D's extra head `head` on the features of `x`, each sample turned by `turns` quarter turns.
fn head_on_turned(
    ctx: &GanContext,
    head: &str,
    x: &Tensor,
    turns: &[u32],
    mode: Mode,
) -> Result<Tensor> {
    let d = &ctx.nets.d;
    d.head(head, &d.features(&rotation::rotate(x, turns)?, mode)?, mode)
}

/// DAG scores: each sample turned, judged by the head of its turn ([N]).
fn dag_scores(ctx: &GanContext, x: &Tensor, mode: Mode) -> Result<Tensor> {
    let (turns, heads) = dag_turns(x.dim(0)?, x.device())?;
    let out = head_on_turned(ctx, "dag", x, &turns, mode)?;
    Ok(out.gather(&heads, 1)?.squeeze(1)?)
}

/// Rotation-head logits of `x` turned by balanced quarter turns, and those turns ([N] u32).
fn rotation_logits(ctx: &GanContext, x: &Tensor, mode: Mode) -> Result<(Tensor, Tensor)> {
    let (turns, labels) = rotation::balanced_turns(x.dim(0)?, x.device())?;
    Ok((head_on_turned(ctx, "rotation", x, &turns, mode)?, labels))
}

/// The discriminator-side terms for one D step on `real` and (detached) `fake` images.
pub fn d_terms(ctx: &GanContext, terms: &mut Terms, real: &Tensor, fake: &Tensor) -> Result<()> {
    let loss = &ctx.config.loss;
    if loss.rotation_d > 0.0 {
        let (logits, turns) = rotation_logits(ctx, real, Mode::TRAIN)?;
        terms.add(
            "d_rotation_real",
            losses::cross_entropy(&logits, &turns)?,
            loss.rotation_d,
        )?;
        if loss.rotation_minimax {
            let m = fake.dim(0)?;
            let fake_class = Tensor::from_vec(vec![rotation::FAKE_CLASS; m], m, fake.device())?;
            let (logits, _) = rotation_logits(ctx, fake, Mode::TRAIN)?;
            terms.add(
                "d_rotation_fake",
                losses::cross_entropy(&logits, &fake_class)?,
                loss.rotation_d,
            )?;
        }
    }
    if loss.infomax > 0.0 {
        let both = Tensor::cat(&[real, fake], 0)?;
        terms.add("d_infomax", infomax(ctx, &both, Mode::TRAIN)?, loss.infomax)?;
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
pub fn g_terms(ctx: &GanContext, terms: &mut Terms, fake: &Fake, images: &Tensor) -> Result<()> {
    let loss = &ctx.config.loss;
    if loss.neighbour_embedding > 0.0 {
        let l = losses::neighbour_embedding(&fake.z, images, Some(&fake.labels_host))?;
        terms.add("g_neighbour_embedding", l, loss.neighbour_embedding)?;
    }
    if loss.mode_seeking > 0.0 {
        let classes = match loss.mode_seeking_classes {
            ModeSeekingClasses::Unseen => Some(ctx.unseen),
            ModeSeekingClasses::All => None,
        };
        let pairs = losses::mode_seeking::same_class_pairs(&fake.labels_host, classes);
        let l = losses::mode_seeking(&fake.z, images, &pairs)?;
        terms.add("g_mode_seeking", l, loss.mode_seeking)?;
    }
    if loss.rotation_g > 0.0 {
        let (logits, turns) = rotation_logits(ctx, images, Mode::TRAIN_FROZEN)?;
        terms.add(
            "g_rotation",
            losses::cross_entropy(&logits, &turns)?,
            loss.rotation_g,
        )?;
    }
    if loss.infomax > 0.0 {
        let l = infomax(ctx, images, Mode::TRAIN_FROZEN)?;
        terms.add("g_infomax", l, loss.infomax)?;
    }
    if loss.dag > 0.0 {
        let scores = dag_scores(ctx, images, Mode::TRAIN_FROZEN)?;
        terms.add("g_dag", losses::hinge_g(&scores, None)?, loss.dag)?;
    }
    Ok(())
}
