//! Two-headed discriminator: one residual trunk, a projection head D_c (conditional, Miyato &
//! Koyama 2018) and a linear head D_u (unconditional). ProbeGAN trains D_c with hinge loss on
//! seen classes and D_u with WGAN-GP on everything; other methods use only D_c.

use super::mode::Mode;
use super::params::{Init, Scope};
use super::spectral::{Embedding, SnConv2d, SnLinear};
use super::NetConfig;
use crate::kernels::{self, Pad2d, Pool2dSpec};
use anyhow::Result;
use candle_core::Tensor;

fn avg_pool2(x: &Tensor) -> Result<Tensor> {
    let spec = Pool2dSpec {
        kernel: (2, 2),
        stride: (2, 2),
        padding: Pad2d::default(),
        dilation: (1, 1),
        ceil_mode: false,
        count_include_pad: true,
    };
    Ok(kernels::avg_pool2d(x, &spec)?)
}

struct DownBlock {
    conv1: SnConv2d,
    conv2: SnConv2d,
    shortcut: Option<SnConv2d>,
    down: bool,
    /// The first block sees raw pixels: no ReLU before its first convolution.
    preactivation: bool,
}

impl DownBlock {
    fn new(s: &Scope, c_in: usize, c_out: usize, down: bool, preactivation: bool) -> Result<Self> {
        let shortcut = if c_in != c_out || down {
            Some(SnConv2d::new(&s.pp("shortcut"), c_in, c_out, 1, 0)?)
        } else {
            None
        };
        Ok(DownBlock {
            conv1: SnConv2d::new(&s.pp("conv1"), c_in, c_out, 3, 1)?,
            conv2: SnConv2d::new(&s.pp("conv2"), c_out, c_out, 3, 1)?,
            shortcut,
            down,
            preactivation,
        })
    }

    fn forward(&self, x: &Tensor, mode: Mode) -> Result<Tensor> {
        let h = if self.preactivation {
            kernels::relu(x)?
        } else {
            x.clone()
        };
        let h = kernels::relu(&self.conv1.forward(&h, mode)?)?;
        let mut h = self.conv2.forward(&h, mode)?;
        if self.down {
            h = avg_pool2(&h)?;
        }
        let sc = match &self.shortcut {
            // Pool before the 1x1 conv on raw input (cheaper, same as BigGAN's first block).
            Some(conv) if !self.preactivation => {
                let x = if self.down { avg_pool2(x)? } else { x.clone() };
                conv.forward(&x, mode)?
            }
            Some(conv) => {
                let s = conv.forward(x, mode)?;
                if self.down {
                    avg_pool2(&s)?
                } else {
                    s
                }
            }
            None => x.clone(),
        };
        Ok((h + sc)?)
    }
}

/// Rows averaged by `band_detail`: a man's harmonics lie 2–4 mel bands apart in the voices
/// front end's low bands, so 5 rows span more than one stripe period.
pub const BAND_DETAIL_ROWS: usize = 5;

/// `[N, C, H, W]` → `[N, 2C, H, W]`: the image, then the image less its moving average over
/// `BAND_DETAIL_ROWS` rows (the edge rows repeated), which keeps only detail across rows.
pub fn band_detail(x: &Tensor) -> Result<Tensor> {
    let h = x.dim(2)?;
    let half = BAND_DETAIL_ROWS / 2;
    let top = x.narrow(2, 0, 1)?.repeat((1, 1, half, 1))?;
    let bottom = x.narrow(2, h - 1, 1)?.repeat((1, 1, half, 1))?;
    let padded = Tensor::cat(&[&top, x, &bottom], 2)?;
    let mut sum = padded.narrow(2, 0, h)?;
    for k in 1..BAND_DETAIL_ROWS {
        sum = (sum + padded.narrow(2, k, h)?)?;
    }
    let detail = (x - (sum / BAND_DETAIL_ROWS as f64)?)?;
    Ok(Tensor::cat(&[x, &detail], 1)?)
}

/// The residual trunk: the first `NetConfig::d_halvings` blocks halve both sides.
fn trunk(s: &Scope, config: &NetConfig) -> Result<Vec<DownBlock>> {
    let downs = config.d_halvings();
    let mut blocks = Vec::new();
    let mut c_in = config.channels * if config.d_band_detail { 2 } else { 1 };
    for (i, &w) in config.d_widths.iter().enumerate() {
        blocks.push(DownBlock::new(
            &s.pp(&format!("block{i}")),
            c_in,
            w,
            i < downs,
            i > 0,
        )?);
        c_in = w;
    }
    Ok(blocks)
}

/// Blocks `blocks` on `x`, then ReLU and global sum pooling -> [N, width].
fn run_trunk(blocks: &[DownBlock], x: &Tensor, mode: Mode) -> Result<Tensor> {
    let mut h = x.clone();
    for b in blocks {
        h = b.forward(&h, mode)?;
    }
    Ok(kernels::relu(&h)?.sum((2, 3))?)
}

/// The trunk's pooled features and the (ReLU'd) map after its first block: [N, width] and
/// [N, C_0, H/2, W/2] (the local features of InfoMax-GAN). Only InfoMax pays for the map.
fn run_trunk_with_local(blocks: &[DownBlock], x: &Tensor, mode: Mode) -> Result<(Tensor, Tensor)> {
    let first = blocks[0].forward(x, mode)?;
    let local = kernels::relu(&first)?;
    Ok((run_trunk(&blocks[1..], &first, mode)?, local))
}

pub struct Discriminator {
    pub num_classes: usize,
    blocks: Vec<DownBlock>,
    /// D_u's own trunk (`model.separate_du_trunk`); `None`: D_u reads `blocks`' features.
    blocks_u: Option<Vec<DownBlock>>,
    /// D_c's unconditional part, `psi(h)`.
    head_c: SnLinear,
    /// D_c's projection: `<embed(y), h>`.
    projection: Embedding,
    head_u: SnLinear,
    /// Extra linear heads that stabilisers ask for (rotation self-supervision, DAG,
    /// InfoMax's projections), by name.
    aux_heads: Vec<(String, SnLinear)>,
    local_width: usize,
    /// `model.d_band_detail`: the trunks read `band_detail(x)`.
    band_detail: bool,
}

impl Discriminator {
    pub fn new(s: &Scope, config: &NetConfig, num_classes: usize) -> Result<Self> {
        config.validate()?;
        let blocks = trunk(s, config)?;
        let blocks_u = if config.separate_du_trunk {
            Some(trunk(&s.pp("trunk_u"), config)?)
        } else {
            None
        };
        let c_in = *config
            .d_widths
            .last()
            .expect("validated: d_widths is not empty");
        let init = Init::Xavier {
            fan_in: num_classes,
            fan_out: c_in,
        };
        let projection = if config.sn_projection {
            Embedding::new_spectral(&s.pp("projection"), num_classes, c_in, init)?
        } else {
            Embedding::new(&s.pp("projection"), num_classes, c_in, init)?
        };
        Ok(Discriminator {
            num_classes,
            blocks,
            blocks_u,
            head_c: SnLinear::new(&s.pp("head_c"), c_in, 1, true)?,
            projection,
            head_u: SnLinear::new(&s.pp("head_u"), c_in, 1, true)?,
            aux_heads: vec![],
            local_width: config.d_widths[0],
            band_detail: config.d_band_detail,
        })
    }

    /// What the trunks read: `x`, or `x` with its band detail (`model.d_band_detail`).
    fn input(&self, x: &Tensor) -> Result<Tensor> {
        if self.band_detail {
            band_detail(x)
        } else {
            Ok(x.clone())
        }
    }

    /// Width of D_c's pooled features.
    pub fn width(&self) -> Result<usize> {
        Ok(self.projection.table.dim(1)?)
    }

    /// Add a linear head `name` from `inputs` to `outputs` values (stored under `head_NAME.`
    /// in checkpoints); stabilisers apply it to D's pooled or local features.
    pub fn add_head(&mut self, s: &Scope, name: &str, inputs: usize, outputs: usize) -> Result<()> {
        let head = SnLinear::new(&s.pp(&format!("head_{name}")), inputs, outputs, true)?;
        self.aux_heads.push((name.to_string(), head));
        Ok(())
    }

    /// The extra head `name` on features `h`: [N, outputs].
    pub fn head(&self, name: &str, h: &Tensor, mode: Mode) -> Result<Tensor> {
        match self.aux_heads.iter().find(|(n, _)| n == name) {
            Some((_, head)) => head.forward(h, mode),
            None => anyhow::bail!("this discriminator has no `{name}` head"),
        }
    }

    /// D_c's features (and D_u's, when the trunk is shared): residual trunk, ReLU, global sum
    /// pooling -> [N, width].
    pub fn features(&self, x: &Tensor, mode: Mode) -> Result<Tensor> {
        run_trunk(&self.blocks, &self.input(x)?, mode)
    }

    /// D_c's features and its first block's map (local features), from one trunk pass.
    pub fn features_with_local(&self, x: &Tensor, mode: Mode) -> Result<(Tensor, Tensor)> {
        run_trunk_with_local(&self.blocks, &self.input(x)?, mode)
    }

    /// Channels of the first block's map (`features_with_local`'s local features).
    pub fn local_width(&self) -> usize {
        self.local_width
    }

    /// D_u's features of `x`. With a shared trunk these are D_c's: pass them as `shared` when
    /// the caller already has them for the same `x`, so the trunk does not run twice.
    pub fn features_u(&self, x: &Tensor, shared: Option<&Tensor>, mode: Mode) -> Result<Tensor> {
        match (&self.blocks_u, shared) {
            (Some(own), _) => run_trunk(own, &self.input(x)?, mode),
            (None, Some(h)) => Ok(h.clone()),
            (None, None) => self.features(x, mode),
        }
    }

    /// D_c for integer labels: [N].
    pub fn head_conditional(&self, h: &Tensor, labels: &Tensor, mode: Mode) -> Result<Tensor> {
        let e = self.projection.lookup(labels, mode)?;
        self.head_conditional_embedded(h, &e, mode)
    }

    /// D_c for a given projection vector per sample (soft labels: `probs @ table`).
    pub fn head_conditional_embedded(&self, h: &Tensor, e: &Tensor, mode: Mode) -> Result<Tensor> {
        let psi = self.head_c.forward(h, mode)?.squeeze(1)?;
        let proj = (h * e)?.sum(1)?;
        Ok((psi + proj)?)
    }

    /// Projection vectors for soft labels ([N, K] probabilities -> [N, width]).
    pub fn project_soft(&self, probs: &Tensor, mode: Mode) -> Result<Tensor> {
        self.projection.mix(probs, mode)
    }

    /// D_u: [N].
    pub fn head_unconditional(&self, h: &Tensor, mode: Mode) -> Result<Tensor> {
        Ok(self.head_u.forward(h, mode)?.squeeze(1)?)
    }
}
