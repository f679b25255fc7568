//! Conditional generator G(z, y): BigGAN-style residual up-blocks with class-conditional BN.
//!
//! `z` enters a linear layer to a 4x4 map; each up-block doubles the resolution with nearest
//! upsampling followed by a 3x3 convolution (no transposed convolution, so no checkerboard).
//! The class enters through an embedding `e_y` that conditions every BN; callers may pass
//! any embedding (soft-label mixtures, or AM's optimised new class vector).
//!
//! With `hierarchical_z` (BigGAN), z is split into one chunk per block plus one for the
//! linear layer, and each block's BN is conditioned on `[e_y, z_chunk]`: noise then reaches
//! every resolution instead of only the 4x4 base, where the per-class BN gains can wash it out.

use super::batchnorm::{BatchNorm, ConditionalBatchNorm};
use super::harmonic::{HarmonicConfig, HarmonicHead, Voicing};
use super::mode::Mode;
use super::params::{Init, Scope};
use super::spectral::{Embedding, SnConv2d, SnLinear};
use crate::adapter::mel::MelSpec;
use crate::kernels;
use anyhow::{bail, Result};
use candle_core::Tensor;
use serde::{Deserialize, Serialize};

/// Architecture of both networks; part of the run config (`[model]`).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct NetConfig {
    /// Square output side in pixels: 32 or 64 (any 4·2^k works). 0 when `size` is given.
    #[serde(default)]
    pub resolution: usize,
    /// Non-square output `[height, width]` (e.g. mel bands × frames) instead of `resolution`:
    /// both sides must be multiples of 2^(up-blocks), the generator's base is that fraction
    /// of them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub size: Option<[usize; 2]>,
    /// Image channels (1 grey, 3 colour).
    pub channels: usize,
    // Defaulted (0 / empty) so that a method with its own networks (the substrate painter)
    // needs only the image's size and channels here; `validate` refuses them for G/D.
    #[serde(default)]
    pub z_dim: usize,
    #[serde(default)]
    pub embed_dim: usize,
    /// Generator widths: the base, then each up-block's output (log2(resolution/4)+1 values for
    /// a square `resolution`, whose base is 4x4).
    #[serde(default)]
    pub g_widths: Vec<usize>,
    /// Discriminator block widths; the first log2(resolution/8) blocks halve the resolution.
    #[serde(default)]
    pub d_widths: Vec<usize>,
    /// Split z into (up-blocks + 1) chunks: the first feeds the linear layer, each of the others
    /// joins the class embedding in one up-block's BN (BigGAN). Off in runs made before it.
    #[serde(default)]
    pub hierarchical_z: bool,
    /// Give D_u its own residual trunk instead of reading D_c's features: the WGAN critic's
    /// unbounded scores otherwise move the features D_c's hinge loss depends on. Off in runs
    /// made before it.
    #[serde(default)]
    pub separate_du_trunk: bool,
    /// Spectrally normalise D's class-projection embedding, as the projection discriminator
    /// and BigGAN do. Off in runs made before it.
    #[serde(default)]
    pub sn_projection: bool,
    /// Draw a harmonic comb at a learned per-frame pitch on log-mel outputs
    /// (`nets::harmonic`); needs an audio classifier's mel front end. Absent: off.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub harmonic: Option<HarmonicConfig>,
    /// Show D each image twice: as it is, and less its moving average over
    /// `discriminator::BAND_DETAIL_ROWS` rows. On a log-mel spectrogram that second copy is
    /// the harmonic stripes alone, the pitch the generated men went without while D_c passed
    /// them as men. With it the men stayed unvoiced (docs/results.md, "Why the generated men
    /// carry no pitch", 2026-12-08). Off: the image alone.
    #[serde(default)]
    pub d_band_detail: bool,
}

impl NetConfig {
    /// (height, width) of the generated images.
    pub fn dims(&self) -> (usize, usize) {
        match self.size {
            Some([h, w]) => (h, w),
            None => (self.resolution, self.resolution),
        }
    }

    /// The generator's up-blocks (each doubles both sides).
    pub fn up_blocks(&self) -> usize {
        self.g_widths.len().saturating_sub(1)
    }

    /// (height, width) of the generator's base, before the up-blocks.
    pub fn base(&self) -> (usize, usize) {
        let (h, w) = self.dims();
        (h >> self.up_blocks(), w >> self.up_blocks())
    }

    /// D's halving blocks: down to about 8 pixels on the shorter side (log2(resolution/8) for a
    /// square resolution).
    pub fn d_halvings(&self) -> usize {
        let (h, w) = self.dims();
        let short = h.min(w);
        if short < 16 {
            0
        } else {
            (short / 8).ilog2() as usize
        }
    }

    pub fn validate(&self) -> Result<()> {
        let ups = self.up_blocks();
        match self.size {
            None => self.validate_square()?,
            Some([h, w]) => {
                if self.resolution != 0 {
                    bail!(
                        "model.resolution = {} and model.size = [{h}, {w}]: give one (resolution for square images)",
                        self.resolution
                    );
                }
                if self.g_widths.is_empty() {
                    bail!("model.g_widths is empty: it needs the base width and one per up-block");
                }
                let step = 1usize << ups;
                if h == 0 || w == 0 || h % step != 0 || w % step != 0 {
                    bail!(
                        "model.size = [{h}, {w}]: with {ups} up-blocks (g_widths has {} values) both sides must be \
                         positive multiples of {step}; use fewer up-blocks or a size such as [{}, {}]",
                        self.g_widths.len(),
                        h.div_ceil(step).max(1) * step,
                        w.div_ceil(step).max(1) * step
                    );
                }
                let halvings = self.d_halvings();
                if h % (1 << halvings) != 0 || w % (1 << halvings) != 0 {
                    bail!(
                        "model.size = [{h}, {w}]: the discriminator halves both sides {halvings} times, so both must be multiples of {}",
                        1 << halvings
                    );
                }
                if self.d_widths.len() < halvings.max(1) {
                    bail!(
                        "model.d_widths has {} values; size [{h}, {w}] needs at least {}",
                        self.d_widths.len(),
                        halvings.max(1)
                    );
                }
            }
        }
        if self.channels == 0 || self.z_dim == 0 || self.embed_dim == 0 {
            bail!("model.channels, z_dim and embed_dim must be positive");
        }
        if self.g_widths.iter().chain(&self.d_widths).any(|&w| w == 0) {
            bail!("model widths must be positive");
        }
        if let Some(h) = &self.harmonic {
            h.validate()?;
        }
        if self.hierarchical_z && self.z_dim % (ups + 1) != 0 {
            bail!(
                "model.z_dim = {}: with hierarchical_z it must split evenly into {} chunks (the linear layer + {ups} up-blocks)",
                self.z_dim,
                ups + 1
            );
        }
        Ok(())
    }

    fn validate_square(&self) -> Result<()> {
        let r = self.resolution;
        if r < 8 || !r.is_power_of_two() {
            bail!("model.resolution = {r}: expected a power of two >= 8 (e.g. 32 or 64), or model.size = [height, width]");
        }
        let ups = (r / 4).trailing_zeros() as usize;
        if self.g_widths.len() != ups + 1 {
            bail!(
                "model.g_widths has {} values; resolution {r} needs {} (the 4x4 base + {ups} up-blocks)",
                self.g_widths.len(),
                ups + 1
            );
        }
        let downs = (r / 8).trailing_zeros() as usize;
        if self.d_widths.len() < downs.max(1) {
            bail!(
                "model.d_widths has {} values; resolution {r} needs at least {downs}",
                self.d_widths.len()
            );
        }
        Ok(())
    }

    /// Length of each z chunk (the whole z when z is not hierarchical).
    pub fn z_chunk(&self) -> usize {
        if self.hierarchical_z {
            self.z_dim / self.g_widths.len()
        } else {
            self.z_dim
        }
    }
}

struct UpBlock {
    bn1: ConditionalBatchNorm,
    conv1: SnConv2d,
    bn2: ConditionalBatchNorm,
    conv2: SnConv2d,
    shortcut: SnConv2d,
}

impl UpBlock {
    fn new(s: &Scope, c_in: usize, c_out: usize, cond: usize) -> Result<Self> {
        Ok(UpBlock {
            bn1: ConditionalBatchNorm::new(&s.pp("bn1"), c_in, cond)?,
            conv1: SnConv2d::new(&s.pp("conv1"), c_in, c_out, 3, 1)?,
            bn2: ConditionalBatchNorm::new(&s.pp("bn2"), c_out, cond)?,
            conv2: SnConv2d::new(&s.pp("conv2"), c_out, c_out, 3, 1)?,
            shortcut: SnConv2d::new(&s.pp("shortcut"), c_in, c_out, 1, 0)?,
        })
    }

    fn forward(&self, x: &Tensor, cond: &Tensor, mode: Mode) -> Result<Tensor> {
        let h = kernels::relu(&self.bn1.forward(x, cond, mode)?)?;
        let h = kernels::upsample_nearest2d(&h, 2, 2)?;
        let h = self.conv1.forward(&h, mode)?;
        let h = kernels::relu(&self.bn2.forward(&h, cond, mode)?)?;
        let h = self.conv2.forward(&h, mode)?;
        let sc = self
            .shortcut
            .forward(&kernels::upsample_nearest2d(x, 2, 2)?, mode)?;
        Ok((h + sc)?)
    }

    fn set_cumulative_stats(&self, on: bool) {
        self.bn1.set_cumulative_stats(on);
        self.bn2.set_cumulative_stats(on);
    }
}

pub struct Generator {
    pub config: NetConfig,
    pub num_classes: usize,
    pub embedding: Embedding,
    linear: SnLinear,
    blocks: Vec<UpBlock>,
    out_bn: BatchNorm,
    out_conv: SnConv2d,
    harmonic: Option<HarmonicHead>,
}

impl Generator {
    /// A generator without a harmonic head (`config.harmonic` must be unset).
    pub fn new(s: &Scope, config: &NetConfig, num_classes: usize) -> Result<Self> {
        Self::with_mel(s, config, num_classes, None)
    }

    /// `mel`: the classifier's mel front end, which `config.harmonic` needs.
    pub fn with_mel(
        s: &Scope,
        config: &NetConfig,
        num_classes: usize,
        mel: Option<&MelSpec>,
    ) -> Result<Self> {
        config.validate()?;
        let w = &config.g_widths;
        let embedding = Embedding::new(
            &s.pp("embedding"),
            num_classes,
            config.embed_dim,
            Init::Normal(1.0),
        )?;
        // Without hierarchical z the one "chunk" is all of z and the BNs see the class only.
        let cond = config.embed_dim + config.hierarchical_z as usize * config.z_chunk();
        let (bh, bw) = config.base();
        let linear = SnLinear::new(&s.pp("linear"), config.z_chunk(), w[0] * bh * bw, true)?;
        let blocks = (1..w.len())
            .map(|i| UpBlock::new(&s.pp(&format!("block{}", i - 1)), w[i - 1], w[i], cond))
            .collect::<Result<Vec<_>>>()?;
        let last = *w.last().unwrap();
        let harmonic = match (&config.harmonic, mel) {
            (None, _) => None,
            (Some(h), Some(mel)) => Some(HarmonicHead::new(&s.pp("harmonic"), h, mel, last)?),
            (Some(_), None) => bail!(
                "model.harmonic draws on the classifier's mel bands, but the classifier's adapter has no mel front end (modality = \"mel\")"
            ),
        };
        Ok(Generator {
            config: config.clone(),
            num_classes,
            embedding,
            linear,
            blocks,
            out_bn: BatchNorm::new(&s.pp("out_bn"), last)?,
            out_conv: SnConv2d::new(&s.pp("out_conv"), last, config.channels, 3, 1)?,
            harmonic,
        })
    }

    /// Class embeddings for integer labels ([N] u32) -> [N, embed_dim].
    pub fn embed(&self, labels: &Tensor, mode: Mode) -> Result<Tensor> {
        self.embedding.lookup(labels, mode)
    }

    /// `z`: [N, z_dim]; `e`: [N, embed_dim]. Returns [N, C, H, W] in [-1, 1].
    pub fn forward_embedded(&self, z: &Tensor, e: &Tensor, mode: Mode) -> Result<Tensor> {
        let h = self.features(z, e, mode)?;
        let out = self.out_conv.forward(&h, mode)?;
        // The harmonic ripple joins before the tanh, so outputs stay in [-1, 1].
        let out = match &self.harmonic {
            Some(head) => out.broadcast_add(&head.forward(&h, mode)?)?,
            None => out,
        };
        Ok(out.tanh()?)
    }

    /// The harmonic head's pitch and voicing per frame for (z, labels); None without a head.
    pub fn voicing(&self, z: &Tensor, labels: &Tensor, mode: Mode) -> Result<Option<Voicing>> {
        let Some(head) = &self.harmonic else {
            return Ok(None);
        };
        let h = self.features(z, &self.embed(labels, mode)?, mode)?;
        Ok(Some(head.voicing(&h, mode)?))
    }

    /// The last feature map, before the output convolution.
    fn features(&self, z: &Tensor, e: &Tensor, mode: Mode) -> Result<Tensor> {
        let n = z.dim(0)?;
        let chunk = self.config.z_chunk();
        let mut h = self
            .linear
            .forward(&z.narrow(1, 0, chunk)?, mode)?
            .reshape((
                n,
                self.config.g_widths[0],
                self.config.base().0,
                self.config.base().1,
            ))?;
        for (i, block) in self.blocks.iter().enumerate() {
            let cond = if self.config.hierarchical_z {
                Tensor::cat(&[e, &z.narrow(1, (i + 1) * chunk, chunk)?], 1)?
            } else {
                e.clone()
            };
            h = block.forward(&h, &cond, mode)?;
        }
        Ok(kernels::relu(&self.out_bn.forward(&h, mode)?)?)
    }

    /// The harmonic head, when the config has one.
    pub fn harmonic(&self) -> Option<&HarmonicHead> {
        self.harmonic.as_ref()
    }

    pub fn forward(&self, z: &Tensor, labels: &Tensor, mode: Mode) -> Result<Tensor> {
        let e = self.embed(labels, mode)?;
        self.forward_embedded(z, &e, mode)
    }

    /// Replace BN running statistics by their average over `batches` forward passes in
    /// training mode (BigGAN's "standing statistics"): the EMA generator never trains, so its
    /// running statistics would otherwise describe another network. `make_batch(i)` returns
    /// (z, labels) for batch i.
    pub fn standing_stats(
        &self,
        batches: usize,
        mut make_batch: impl FnMut(usize) -> Result<(Tensor, Tensor)>,
    ) -> Result<()> {
        self.set_cumulative_stats(true);
        let result = (0..batches).try_for_each(|i| {
            let (z, y) = make_batch(i)?;
            self.forward(&z, &y, Mode::TRAIN_FROZEN).map(|_| ())
        });
        self.set_cumulative_stats(false);
        result
    }

    fn set_cumulative_stats(&self, on: bool) {
        for b in &self.blocks {
            b.set_cumulative_stats(on);
        }
        self.out_bn.set_cumulative_stats(on);
    }
}
