//! PatchGAN (Isola et al. 2017; Li & Wand 2016): a discriminator that scores every
//! overlapping patch of an image rather than the whole, so it judges local texture and leaves
//! global layout to the other losses. The substrate method's D sees the pair
//! (substrate, image) stacked on the channel axis: "is this image a plausible photo *given
//! this substrate*".
//!
//! Layers: `k=4, s=2` spectrally normalised convolutions with leaky ReLU (0.2) for each
//! width, then a `k=4, s=1` convolution to one score per patch. Spectral norm instead of
//! pix2pix's batch norm: the method trains with batches of one to three.

use super::mode::Mode;
use super::params::Scope;
use super::spectral::SnConv2d;
use crate::kernels;
use anyhow::{bail, Result};
use candle_core::Tensor;

pub struct PatchGan {
    layers: Vec<SnConv2d>,
    head: SnConv2d,
    in_channels: usize,
}

impl PatchGan {
    /// `channels` per image (the input has twice as many); `widths` one per halving.
    pub fn new(s: &Scope, channels: usize, widths: &[usize]) -> Result<Self> {
        if widths.is_empty() {
            bail!("the PatchGAN needs at least one width");
        }
        let mut layers = Vec::with_capacity(widths.len());
        let mut c_in = 2 * channels;
        for (i, &c) in widths.iter().enumerate() {
            layers.push(SnConv2d::strided(
                &s.pp(&format!("conv{i}")),
                c_in,
                c,
                4,
                2,
                1,
            )?);
            c_in = c;
        }
        let head = SnConv2d::strided(&s.pp("head"), c_in, 1, 4, 1, 1)?;
        Ok(PatchGan {
            layers,
            head,
            in_channels: channels,
        })
    }

    /// `substrate`, `image`: [N, C, H, W] -> patch scores [N, 1, h, w] (logits).
    pub fn forward(&self, substrate: &Tensor, image: &Tensor, mode: Mode) -> Result<Tensor> {
        if substrate.dims() != image.dims() || substrate.dim(1)? != self.in_channels {
            bail!(
                "the PatchGAN takes two [N, {}, H, W] batches, got {:?} and {:?}",
                self.in_channels,
                substrate.dims(),
                image.dims()
            );
        }
        let mut x = Tensor::cat(&[substrate, image], 1)?;
        for layer in &self.layers {
            x = kernels::leaky_relu(&layer.forward(&x, mode)?, 0.2)?;
        }
        self.head.forward(&x, mode)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::nets::ParamStore;
    use candle_core::{DType, Device};

    #[test]
    fn scores_one_value_per_patch() {
        let st = ParamStore::with_dtype(&Device::Cpu, 0, DType::F32);
        let d = PatchGan::new(&st.root(), 3, &[8, 16, 16]).unwrap();
        let x = Tensor::zeros((2, 3, 64, 64), DType::F32, &Device::Cpu).unwrap();
        // 64 -> 32 -> 16 -> 8, then k=4 s=1 p=1: 7x7 patches.
        let y = d.forward(&x, &x, Mode::TRAIN).unwrap();
        assert_eq!(y.dims(), &[2, 1, 7, 7]);
        let one = Tensor::zeros((2, 1, 64, 64), DType::F32, &Device::Cpu).unwrap();
        assert!(d.forward(&one, &one, Mode::TRAIN).is_err());
    }
}
