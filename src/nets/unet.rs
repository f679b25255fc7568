//! The substrate method's painter: a U-Net that takes a substrate image and a tiled class
//! input and returns the substrate with class content painted on it
//! (`../shared/papers/restoring-training-distribution.txt`, Figure 4).
//!
//! Encoder: `k=4, s=2` weight-normalised convolutions with PReLU, down to the bottleneck.
//! There the tiled class input (one map per class, see [`tiled_class_input`]) joins the
//! features. Decoder: `k=4, s=2` transposed convolutions, each fed the previous decoder map
//! concatenated with the encoder map of the same resolution (skip connections); PReLU on all
//! but the last, which is tanh.
//!
//! `residual` (ours, on by default): the last layer's output is added to the substrate in
//! tanh's pre-image, so the untrained net returns the substrate and training spends its
//! steps on the painting, not on learning to copy a photo through the bottleneck.

use super::params::Scope;
use super::weight_norm::{Direction, PRelu, WnConv2d};
use anyhow::{bail, Result};
use candle_core::{Device, Tensor};
use rand::Rng;
use serde::{Deserialize, Serialize};

/// The painter's shape; part of the substrate method's config.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct UNetConfig {
    /// Square image side; must be the bottleneck side times 2^(encoder layers).
    pub resolution: usize,
    pub channels: usize,
    /// Encoder widths, one per halving; the decoder mirrors them.
    pub widths: Vec<usize>,
    /// Paint onto the substrate (output = tanh(atanh(substrate) + f(...))) rather than
    /// redraw it (output = tanh(f(...))).
    #[serde(default = "yes")]
    pub residual: bool,
    /// Beside the paper's noise maps, one constant plane per class holding its weight, at
    /// the bottleneck and again at every decoder layer (ours, on by default). The noise maps
    /// have mean zero whether a class is on or off, so the net can only tell classes apart
    /// by their variance after a rectifier; with the planes the class is a plain bias at
    /// every resolution. Measured on a tiny linear target (2026-12-04): 400
    /// steps raised p(target) 0.333 -> 0.395 without it, to 0.790 with it.
    #[serde(default = "yes")]
    pub class_indicator: bool,
}

fn yes() -> bool {
    true
}

impl UNetConfig {
    /// Channels of the class input for `classes` classes.
    pub fn class_planes(&self, classes: usize) -> usize {
        if self.class_indicator {
            2 * classes
        } else {
            classes
        }
    }

    /// Side of the bottleneck, where the tiled class input enters.
    pub fn bottleneck(&self) -> usize {
        self.resolution >> self.widths.len()
    }

    pub fn validate(&self) -> Result<()> {
        let l = self.widths.len();
        if l == 0 {
            bail!("the U-Net needs at least one encoder width");
        }
        if self.resolution == 0 || self.resolution % (1 << l) != 0 || self.bottleneck() < 2 {
            bail!(
                "a U-Net with {l} halvings cannot take {0}x{0} images: the side must be a multiple of {1} and at least {2}",
                self.resolution,
                1 << l,
                2 << l
            );
        }
        if self.channels == 0 {
            bail!("the U-Net needs at least one image channel");
        }
        Ok(())
    }
}

pub struct UNet {
    encoder: Vec<(WnConv2d, PRelu)>,
    /// All but the last decoder layer carry a PReLU.
    decoder: Vec<(WnConv2d, Option<PRelu>)>,
    config: UNetConfig,
    classes: usize,
}

/// Keeps atanh finite at the substrate's ±1 pixels (atanh(0.98) ≈ 2.3).
const RESIDUAL_SQUEEZE: f64 = 0.98;

impl UNet {
    pub fn new(s: &Scope, config: &UNetConfig, classes: usize) -> Result<Self> {
        config.validate()?;
        let w = &config.widths;
        let l = w.len();
        let mut encoder = Vec::with_capacity(l);
        let mut c_in = config.channels;
        for (i, &c) in w.iter().enumerate() {
            let sc = s.pp(&format!("enc{i}"));
            encoder.push((
                WnConv2d::new(&sc.pp("conv"), c_in, c, 4, 2, 1, Direction::Down)?,
                PRelu::new(&sc.pp("act"), c)?,
            ));
            c_in = c;
        }
        let mut decoder = Vec::with_capacity(l);
        // The first decoder layer reads the bottleneck plus the class maps; the others read
        // the previous decoder map plus the mirrored encoder map.
        let mut c_in = w[l - 1] + config.class_planes(classes);
        for j in 0..l {
            let last = j == l - 1;
            let c_out = if last { config.channels } else { w[l - 2 - j] };
            let sc = s.pp(&format!("dec{j}"));
            let conv = WnConv2d::new(&sc.pp("conv"), c_in, c_out, 4, 2, 1, Direction::Up)?;
            let act = if last {
                None
            } else {
                Some(PRelu::new(&sc.pp("act"), c_out)?)
            };
            decoder.push((conv, act));
            // Later layers also read the class indicator planes (see `class_indicator`).
            c_in = 2 * c_out + if config.class_indicator { classes } else { 0 };
        }
        Ok(UNet {
            encoder,
            decoder,
            config: config.clone(),
            classes,
        })
    }

    pub fn config(&self) -> &UNetConfig {
        &self.config
    }

    /// The class input for `targets` (see [`tiled_class_input`]), with the indicator planes
    /// when the config asks for them: [N, class_planes, b, b].
    pub fn class_input<R: Rng + ?Sized>(
        &self,
        rng: &mut R,
        targets: &[Vec<(usize, f32)>],
        device: &Device,
    ) -> Result<Tensor> {
        let b = self.config.bottleneck();
        let noise = tiled_class_input(rng, targets, self.classes, b, device)?;
        if !self.config.class_indicator {
            return Ok(noise);
        }
        let k = self.classes;
        let mut v = vec![0f32; targets.len() * k];
        for (i, target) in targets.iter().enumerate() {
            let top = target.iter().map(|&(_, w)| w).fold(0f32, f32::max);
            for &(class, weight) in target {
                if weight > 0.0 {
                    v[i * k + class] = weight / top;
                }
            }
        }
        let planes = Tensor::from_vec(v, (targets.len(), k, 1, 1), device)?.broadcast_as((
            targets.len(),
            k,
            b,
            b,
        ))?;
        Ok(Tensor::cat(&[&noise, &planes], 1)?)
    }

    /// `substrate` [N, C, R, R] in [-1, 1]; `class_maps` [N, classes, b, b] (b = the
    /// bottleneck side) -> painted [N, C, R, R] in (-1, 1).
    pub fn forward(&self, substrate: &Tensor, class_maps: &Tensor) -> Result<Tensor> {
        let (n, c, h, w) = substrate.dims4()?;
        let r = self.config.resolution;
        if (c, h, w) != (self.config.channels, r, r) {
            bail!(
                "the U-Net takes [N, {}, {r}, {r}] substrates, got {:?}",
                self.config.channels,
                substrate.dims()
            );
        }
        let b = self.config.bottleneck();
        let planes = self.config.class_planes(self.classes);
        if class_maps.dims() != [n, planes, b, b] {
            bail!(
                "the U-Net takes class maps [{n}, {planes}, {b}, {b}], got {:?}",
                class_maps.dims()
            );
        }
        let mut skips = Vec::with_capacity(self.encoder.len());
        let mut x = substrate.clone();
        for (conv, act) in &self.encoder {
            x = act.forward(&conv.forward(&x)?)?;
            skips.push(x.clone());
        }
        let class_maps = class_maps.to_dtype(x.dtype())?;
        let mut y = Tensor::cat(&[&x, &class_maps], 1)?;
        // The indicator values, one per class, to tile at every decoder resolution.
        let indicator = if self.config.class_indicator {
            Some(
                class_maps
                    .narrow(1, self.classes, self.classes)?
                    .mean_keepdim((2, 3))?,
            )
        } else {
            None
        };
        let l = self.decoder.len();
        for (j, (conv, act)) in self.decoder.iter().enumerate() {
            let out = conv.forward(&y)?;
            y = match act {
                Some(a) => {
                    let out = a.forward(&out)?;
                    let skip = &skips[l - 2 - j];
                    match &indicator {
                        Some(ind) => {
                            let (_, _, h, w) = out.dims4()?;
                            let planes = ind.broadcast_as((n, self.classes, h, w))?;
                            Tensor::cat(&[&out, skip, &planes], 1)?
                        }
                        None => Tensor::cat(&[&out, skip], 1)?,
                    }
                }
                None => out,
            };
        }
        if self.config.residual {
            let base = (substrate * RESIDUAL_SQUEEZE)?;
            // atanh(x) = ½·ln((1 + x) / (1 − x)).
            let pre = (((&base + 1.0)?.log()? - (1.0 - &base)?.log()?)? * 0.5)?;
            Ok((pre.detach() + y)?.tanh()?)
        } else {
            Ok(y.tanh()?)
        }
    }
}

/// The paper's tiled class input: for each class an `side`×`side` map, zeros when the class
/// is off, otherwise values from an even mixture of N(1, 2) and N(−1, 2) (variance 2)
/// scaled by the class's weight relative to the largest in the target. `targets[i]` lists
/// sample `i`'s (class, weight) pairs; an empty list is the all-zero target. Returns
/// [N, classes, side, side] (f32).
pub fn tiled_class_input<R: Rng + ?Sized>(
    rng: &mut R,
    targets: &[Vec<(usize, f32)>],
    classes: usize,
    side: usize,
    device: &Device,
) -> Result<Tensor> {
    let plane = side * side;
    let mut v = vec![0f32; targets.len() * classes * plane];
    let std = 2f64.sqrt();
    for (i, target) in targets.iter().enumerate() {
        let top = target.iter().map(|&(_, w)| w).fold(0f32, f32::max);
        for &(class, weight) in target {
            if class >= classes {
                bail!("class {class} out of range: the painter knows {classes} classes");
            }
            if weight <= 0.0 {
                continue;
            }
            let scale = weight / top;
            let start = (i * classes + class) * plane;
            for x in &mut v[start..start + plane] {
                let mean = if rng.random_bool(0.5) { 1.0 } else { -1.0 };
                *x = ((mean + std * super::params::gaussian(rng)) as f32) * scale;
            }
        }
    }
    Ok(Tensor::from_vec(
        v,
        (targets.len(), classes, side, side),
        device,
    )?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::nets::ParamStore;
    use candle_core::DType;
    use rand::SeedableRng;

    fn config() -> UNetConfig {
        UNetConfig {
            resolution: 32,
            channels: 3,
            widths: vec![8, 16],
            residual: true,
            class_indicator: true,
        }
    }

    #[test]
    fn tiled_input_is_zero_for_off_classes_and_a_two_mode_mixture_for_on_ones() {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(1);
        let targets = vec![vec![(1, 1.0)], vec![]];
        let t = tiled_class_input(&mut rng, &targets, 3, 64, &Device::Cpu).unwrap();
        assert_eq!(t.dims(), &[2, 3, 64, 64]);
        let flat = t.flatten_all().unwrap().to_vec1::<f32>().unwrap();
        let plane = 64 * 64;
        let on = &flat[plane..2 * plane];
        // Everything but sample 0's class 1 is exactly zero.
        let off: f32 = flat[..plane]
            .iter()
            .chain(&flat[2 * plane..])
            .map(|x| x.abs())
            .sum();
        assert_eq!(off, 0.0);
        // Mixture of N(±1, 2): mean 0, variance 2 + 1 = 3, E|x| well above a single N(0, 2)'s.
        let n = on.len() as f64;
        let mean = on.iter().map(|&x| x as f64).sum::<f64>() / n;
        let var = on.iter().map(|&x| (x as f64 - mean).powi(2)).sum::<f64>() / n;
        assert!(mean.abs() < 0.1, "mean {mean}");
        assert!((var - 3.0).abs() < 0.25, "variance {var}");
    }

    #[test]
    fn mixes_scale_each_class_by_its_weight_and_bad_classes_are_refused() {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(2);
        let t =
            tiled_class_input(&mut rng, &[vec![(0, 0.5), (2, 0.25)]], 3, 8, &Device::Cpu).unwrap();
        let flat = t.flatten_all().unwrap().to_vec1::<f32>().unwrap();
        let rms = |s: &[f32]| (s.iter().map(|x| x * x).sum::<f32>() / s.len() as f32).sqrt();
        let (a, c) = (rms(&flat[..64]), rms(&flat[128..]));
        assert!(a > 1.2 && c > 0.5 && c < a, "{a} {c}");
        assert_eq!(rms(&flat[64..128]), 0.0);
        assert!(tiled_class_input(&mut rng, &[vec![(3, 1.0)]], 3, 8, &Device::Cpu).is_err());
    }

    #[test]
    fn untrained_residual_net_returns_about_the_substrate_and_shapes_are_checked() {
        let st = ParamStore::with_dtype(&Device::Cpu, 0, DType::F32);
        let cfg = config();
        let net = UNet::new(&st.root(), &cfg, 5).unwrap();
        let x = Tensor::rand(0f32, 1.0, (2, 3, 32, 32), &Device::Cpu)
            .unwrap()
            .affine(1.6, -0.8)
            .unwrap();
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(3);
        let maps = net
            .class_input(&mut rng, &[vec![(0, 1.0)], vec![]], &Device::Cpu)
            .unwrap();
        assert_eq!(maps.dims(), &[2, 10, 8, 8]);
        // Indicator planes: class 0 on for sample 0 only.
        let ind = maps
            .narrow(1, 5, 5)
            .unwrap()
            .mean((2, 3))
            .unwrap()
            .to_vec2::<f32>()
            .unwrap();
        assert_eq!(ind, vec![vec![1.0, 0.0, 0.0, 0.0, 0.0], vec![0.0; 5]]);
        let y = net.forward(&x, &maps).unwrap();
        assert_eq!(y.dims(), &[2, 3, 32, 32]);
        let max = y
            .abs()
            .unwrap()
            .max_all()
            .unwrap()
            .to_scalar::<f32>()
            .unwrap();
        assert!(max < 1.0);
        // Not the identity (the decoder adds something), but near the substrate.
        let gap = (&y - &x)
            .unwrap()
            .abs()
            .unwrap()
            .mean_all()
            .unwrap()
            .to_scalar::<f32>()
            .unwrap();
        assert!(gap > 1e-4 && gap < 1.0, "mean |y - x| = {gap}");
        assert!(net.forward(&x.narrow(2, 0, 16).unwrap(), &maps).is_err());
        let bad = UNetConfig {
            resolution: 34,
            ..cfg
        };
        assert!(bad.validate().is_err());
    }
}
