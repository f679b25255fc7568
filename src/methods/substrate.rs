//! The substrate method (`../shared/papers/restoring-training-distribution.txt`): a U-Net
//! paints class content onto substrate photographs against a PatchGAN, while the frozen
//! classifier must find the class in the whole painted image and no *other* target class in
//! any of three random crops. Built for a third-party classifier (an ImageNet model with a
//! class subset) and substrates of an unrelated kind, with no training data at all.
//!
//! G's loss: `gan·L_cGAN + mask·L_m + classifier·L_cls + substrate·L_s` (the paper's
//! 3, 10, 50, 150). D sees pairs (substrate, image): the untouched pair (T, T) is real,
//! (T, G(T)) fake: "could this image be the substrate photo itself".
//!
//! One class is active per batch (uniform), as in the paper; with `none_frequency` the
//! batch's target is all-zero (an image free of every target class, judged on the whole
//! image as well as the crops: our addition, so "none" means none anywhere), and with
//! `mix_frequency` it mixes 2..=`mix_max` classes.

use super::class_focus::ClassFocus;
use super::views::ViewSpec;
use super::{
    AdamSettings, Condition, LossTerms, Method, ParamGroup, Phase, RealImages, Sampler, Settings,
    StepContext,
};
use crate::adapter::crops::{crop_boxes, cut};
use crate::classifier::Classifier;
use crate::losses::{self, substrate as sl};
use crate::nets::patchgan::PatchGan;
use crate::nets::unet::{UNet, UNetConfig};
use crate::nets::{EmaPairs, Mode, ParamStore};
use anyhow::{bail, Result};
use candle_core::{DType, Device, Tensor};
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

/// `[method]` options of `name = "substrate"`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct SubstrateConfig {
    /// U-Net encoder widths, one per halving of `[model] resolution` (the class maps enter
    /// at resolution / 2^len; the paper's 8×8 at 128 with four).
    #[serde(default = "d_unet_widths")]
    pub unet_widths: Vec<usize>,
    /// Paint onto the substrate instead of redrawing it (see `nets::unet`).
    #[serde(default = "yes")]
    pub residual: bool,
    /// Constant class planes beside the paper's noise maps (see `nets::unet`).
    #[serde(default = "yes")]
    pub class_indicator: bool,
    /// PatchGAN widths, one per halving.
    #[serde(default = "d_patch_widths")]
    pub patch_widths: Vec<usize>,
    #[serde(default = "d_gan")]
    pub gan_weight: f64,
    #[serde(default = "d_mask")]
    pub mask_weight: f64,
    #[serde(default = "d_classifier")]
    pub classifier_weight: f64,
    #[serde(default = "d_substrate")]
    pub substrate_weight: f64,
    /// The substrate weight for a class the target does not see yet (ours; unset = always
    /// `substrate_weight`). A batch of one class uses
    /// `unlearned + (substrate_weight − unlearned) · min(1, p̄ / learned_at)`, p̄ the class's
    /// running p(target) (`methods::class_focus`): a class finds its content under a loose
    /// hold on the tile, then keeps it under the full one. All-zero batches always get the
    /// full weight, mixes that of their least learned class.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub substrate_weight_unlearned: Option<f64>,
    /// The running p(target) at which a class counts as learned (full substrate weight).
    #[serde(default = "d_learned_at")]
    pub learned_at: f64,
    /// Random crops per image for the negative classes (the paper's three).
    #[serde(default = "d_crops")]
    pub crops: usize,
    /// Crop side as a fraction of the image side, drawn uniformly in [min, max] (the paper:
    /// 224 of 512 = 0.44).
    #[serde(default = "d_crop_min")]
    pub crop_min: f64,
    #[serde(default = "d_crop_max")]
    pub crop_max: f64,
    /// Weight, relative to `classifier_weight`, of keeping the *target* class low on one
    /// small random crop (ours; 0 = off, the paper). The paper's crop negatives look only at
    /// the other classes, so a painter may tile small copies of the class over the image;
    /// a crop of `object_crop_min..object_crop_max` of the side that holds a whole copy
    /// costs this much (`losses::substrate::target_on_crop`), so fewer, larger shapes pay.
    #[serde(default)]
    pub object_crop: f64,
    #[serde(default = "d_object_crop_min")]
    pub object_crop_min: f64,
    #[serde(default = "d_object_crop_max")]
    pub object_crop_max: f64,
    /// Fraction of batches whose target is all-zero.
    #[serde(default = "d_none")]
    pub none_frequency: f64,
    /// Fraction of batches that mix 2..=`mix_max` classes.
    #[serde(default)]
    pub mix_frequency: f64,
    #[serde(default = "d_mix_max")]
    pub mix_max: usize,
    /// Background colour the mask loss keeps (generator space, one value per channel), e.g.
    /// `[1.0, 1.0, 1.0]` for white product photos. Unset: no mask loss.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mask_colour: Option<Vec<f32>>,
    /// How close (max over channels) a substrate pixel must be to `mask_colour` to count
    /// as background.
    #[serde(default = "d_tolerance")]
    pub mask_tolerance: f64,
    /// Feed the classifier a grey copy (replicated to its channels); the paper found it
    /// better.
    #[serde(default)]
    pub grey_classifier_input: bool,
    /// Robustness of the positive term (ours; 0 and 0 give the paper's exact whole image):
    /// the classifier sees a random square crop of side in [1 − view_jitter, 1] of the
    /// image (a random shift and rescale), and with probability `view_resample` the image
    /// reduced to its 2×2 means first. A painting that works only as a pixel-exact
    /// pattern (an adversarial texture) then earns nothing; content that survives resampling
    /// does.
    #[serde(default)]
    pub view_jitter: f64,
    #[serde(default)]
    pub view_resample: f64,
    /// Largest σ (pixels at the painted resolution) of a Gaussian blur applied to the
    /// positive term's view, σ drawn uniformly in [0, view_blur] per batch (ours, 0 = off).
    /// With `view_resample` it spans the family of degradations `eval` checks
    /// (`metrics::evaluate::substrate::degrade`: 2× resampling, then σ = 1), so only content
    /// that survives them raises the target class: painted shapes, not pixel patterns.
    #[serde(default)]
    pub view_blur: f64,
    /// Grow the positive views with each class (ours; off = full views from the start): a
    /// class's views are `min(1, peak p̄ / learned_at)` as strong as configured, p̄ its running
    /// p(target) (`methods::class_focus`). A class the target does not see yet is sought on
    /// the exact image, where the classifier's gradient is least noisy; once it is found it
    /// must hold through every view. The highest p̄ so far counts, so a class does not win
    /// back easy views by losing what it painted.
    #[serde(default)]
    pub view_ramp: bool,
    /// Under `view_ramp`, the weakest views a class gets, as a fraction of full (ours; 0 =
    /// the exact image until the class is found): `floor + (1 − floor) · ramp`. With the
    /// exact image, one figure in the same corner of every class's tiles, the all-zero
    /// target's too, raised the target (docs/results.md, 2026-12-07); a figure that only
    /// one framing carries cannot survive views that shift the frame.
    #[serde(default)]
    pub view_floor: f64,
    /// Substrate augmentation: colour-channel swaps and horizontal flips.
    #[serde(default = "yes")]
    pub augment: bool,
    /// Favour the classes the target does not see yet when drawing a batch's class (ours;
    /// 0 = the paper's uniform draw): weight `1 + class_focus · (1 − p̄_c)`, see
    /// `methods::class_focus`.
    #[serde(default)]
    pub class_focus: f64,
}

fn yes() -> bool {
    true
}
fn d_unet_widths() -> Vec<usize> {
    vec![32, 64, 128, 128]
}
fn d_patch_widths() -> Vec<usize> {
    vec![32, 64, 128]
}
fn d_gan() -> f64 {
    3.0
}
fn d_mask() -> f64 {
    10.0
}
fn d_classifier() -> f64 {
    50.0
}
fn d_substrate() -> f64 {
    150.0
}
fn d_object_crop_min() -> f64 {
    0.25
}
fn d_object_crop_max() -> f64 {
    0.35
}
fn d_learned_at() -> f64 {
    0.5
}
fn d_crops() -> usize {
    3
}
fn d_crop_min() -> f64 {
    0.45
}
fn d_crop_max() -> f64 {
    0.6
}
fn d_none() -> f64 {
    0.1
}
fn d_mix_max() -> usize {
    3
}
fn d_tolerance() -> f64 {
    0.05
}

impl Default for SubstrateConfig {
    fn default() -> Self {
        toml::from_str("").expect("every field has a default")
    }
}

impl SubstrateConfig {
    /// The positive term's views (`view_jitter`, `view_resample`, `view_blur`).
    pub fn view(&self) -> ViewSpec {
        ViewSpec {
            jitter: self.view_jitter,
            resample: self.view_resample,
            blur: self.view_blur,
        }
    }

    pub fn validate(&self, channels: usize) -> Result<()> {
        if self.crops == 0 {
            bail!("method.crops must be at least 1 (the negatives are judged on crops)");
        }
        if !(0.05..=1.0).contains(&self.crop_min) || !(self.crop_min..=1.0).contains(&self.crop_max)
        {
            bail!(
                "method.crop_min = {}, crop_max = {}: expected 0.05 <= min <= max <= 1",
                self.crop_min,
                self.crop_max
            );
        }
        if !(0.0..=10.0).contains(&self.object_crop) {
            bail!(
                "method.object_crop = {}: expected a weight in [0, 10] (0 = off)",
                self.object_crop
            );
        }
        if !(0.05..=1.0).contains(&self.object_crop_min)
            || !(self.object_crop_min..=1.0).contains(&self.object_crop_max)
        {
            bail!(
                "method.object_crop_min = {}, object_crop_max = {}: expected 0.05 <= min <= max <= 1",
                self.object_crop_min,
                self.object_crop_max
            );
        }
        for (name, f) in [
            ("none_frequency", self.none_frequency),
            ("mix_frequency", self.mix_frequency),
        ] {
            if !(0.0..=1.0).contains(&f) {
                bail!("method.{name} = {f}: expected a fraction in [0, 1]");
            }
        }
        self.view().validate("method.view")?;
        if !(0.0..=1.0).contains(&self.view_floor) {
            bail!(
                "method.view_floor = {}: expected a fraction of the full views in [0, 1]",
                self.view_floor
            );
        }
        if self.view_floor > 0.0 && !self.view_ramp {
            bail!("method.view_floor = {} does nothing without method.view_ramp = true (the views are full from the start)", self.view_floor);
        }
        if !(0.0..=100.0).contains(&self.class_focus) {
            bail!(
                "method.class_focus = {}: expected a weight in [0, 100] (0 draws uniformly)",
                self.class_focus
            );
        }
        if let Some(w) = self.substrate_weight_unlearned {
            if !(0.0..=self.substrate_weight).contains(&w) {
                bail!(
                    "method.substrate_weight_unlearned = {w}: expected 0 <= it <= substrate_weight ({})",
                    self.substrate_weight
                );
            }
        }
        if !(self.learned_at > 0.0 && self.learned_at <= 1.0) {
            bail!(
                "method.learned_at = {}: expected a probability in (0, 1]",
                self.learned_at
            );
        }
        if self.none_frequency + self.mix_frequency > 1.0 {
            bail!("method.none_frequency + mix_frequency exceed 1");
        }
        if self.mix_frequency > 0.0 && self.mix_max < 2 {
            bail!(
                "method.mix_max = {}: a mix needs at least 2 classes",
                self.mix_max
            );
        }
        if let Some(c) = &self.mask_colour {
            if c.len() != channels {
                bail!(
                    "method.mask_colour has {} values; the images have {channels} channels",
                    c.len()
                );
            }
        }
        Ok(())
    }
}

/// Substrates previews and `Condition::Class` samples paint onto.
const PREVIEW_SUBSTRATES: usize = 32;

pub struct SubstrateMethod {
    config: SubstrateConfig,
    classes: usize,
    channels: usize,
    resolution: usize,
    painter_store: ParamStore,
    painter: UNet,
    ema_store: ParamStore,
    painter_ema: UNet,
    critic_store: ParamStore,
    critic: PatchGan,
    adam_painter: AdamSettings,
    adam_critic: AdamSettings,
    batch: usize,
    d_steps: usize,
    previews: Option<Tensor>,
    /// Per-class running p(target): logged always, steers the draw when `class_focus > 0`.
    focus: ClassFocus,
}

/// One batch's substrates, targets and painted images.
struct Painted {
    /// (class, weight) pairs of the batch's target; empty for none.
    target: Vec<(usize, f32)>,
    substrates: Tensor,
    /// 0/1 targets [N, classes].
    targets: Tensor,
    images: Tensor,
}

impl SubstrateMethod {
    pub fn new(
        config: SubstrateConfig,
        settings: &Settings,
        classes: usize,
        device: &Device,
    ) -> Result<Self> {
        let (h, w) = settings.model.dims();
        if h != w {
            bail!("the substrate method paints square images; [model] gives {h}x{w}");
        }
        let channels = settings.model.channels;
        config.validate(channels)?;
        let unet = UNetConfig {
            resolution: h,
            channels,
            widths: config.unet_widths.clone(),
            residual: config.residual,
            class_indicator: config.class_indicator,
        };
        unet.validate()
            .map_err(|e| anyhow::anyhow!("method.unet_widths with [model] resolution: {e}"))?;
        let seed = settings.seed;
        let focus = ClassFocus::new(device, classes, config.class_focus)?;
        let painter_store = ParamStore::new(device, seed ^ 0x5b57_0001);
        let painter = UNet::new(&painter_store.root(), &unet, classes)?;
        let ema_store = ParamStore::new(device, seed ^ 0x5b57_0001);
        let painter_ema = UNet::new(&ema_store.root(), &unet, classes)?;
        ema_store.copy_from(&painter_store)?;
        let critic_store = ParamStore::new(device, seed ^ 0x5b57_0002);
        let critic = PatchGan::new(&critic_store.root(), channels, &config.patch_widths)?;
        let t = &settings.train;
        let adam = |lr| AdamSettings {
            lr,
            beta1: t.beta1,
            beta2: t.beta2,
        };
        Ok(SubstrateMethod {
            config,
            classes,
            channels,
            resolution: h,
            painter_store,
            painter,
            ema_store,
            painter_ema,
            critic_store,
            critic,
            adam_painter: adam(t.lr_g),
            adam_critic: adam(t.lr_d),
            batch: t.batch_size,
            d_steps: t.d_steps,
            previews: None,
            focus,
        })
    }

    /// The batch's target: one class (uniform, or by `class_focus`), none, or a mix, by the
    /// configured odds.
    fn draw_target(&self, rng: &mut ChaCha8Rng) -> Result<Vec<(usize, f32)>> {
        let u: f64 = rng.random();
        if u < self.config.none_frequency {
            return Ok(vec![]);
        }
        if u < self.config.none_frequency + self.config.mix_frequency && self.classes >= 2 {
            let k = rng.random_range(2..=self.config.mix_max.min(self.classes));
            let mut all: Vec<usize> = (0..self.classes).collect();
            all.shuffle(rng);
            return Ok(all[..k].iter().map(|&c| (c, 1.0 / k as f32)).collect());
        }
        // At 0 the paper's uniform draw, random stream included, so older runs reproduce.
        if self.config.class_focus > 0.0 {
            return Ok(vec![(self.focus.draw(rng)?, 1.0)]);
        }
        Ok(vec![(rng.random_range(0..self.classes), 1.0)])
    }

    /// Channel swaps and mirror images of a substrate batch (host-side: it is small).
    fn augment(&self, x: &Tensor, rng: &mut ChaCha8Rng) -> Result<Tensor> {
        if !self.config.augment {
            return Ok(x.clone());
        }
        let (n, c, h, w) = x.dims4()?;
        let v = x.to_dtype(DType::F32)?.flatten_all()?.to_vec1::<f32>()?;
        let mut out = vec![0f32; v.len()];
        let plane = h * w;
        for i in 0..n {
            let mut order: Vec<usize> = (0..c).collect();
            if c == 3 {
                order.shuffle(rng);
            }
            let flip = rng.random_bool(0.5);
            for (dst_c, &src_c) in order.iter().enumerate() {
                let src = &v[(i * c + src_c) * plane..(i * c + src_c + 1) * plane];
                let dst = &mut out[(i * c + dst_c) * plane..(i * c + dst_c + 1) * plane];
                for y in 0..h {
                    for xx in 0..w {
                        let sx = if flip { w - 1 - xx } else { xx };
                        dst[y * w + xx] = src[y * w + sx];
                    }
                }
            }
        }
        Ok(Tensor::from_vec(out, (n, c, h, w), x.device())?.to_dtype(x.dtype())?)
    }

    fn paint_batch(&self, ctx: &mut StepContext, net: &UNet) -> Result<Painted> {
        let n = self.batch;
        let raw = ctx.data.sample(ctx.rng, n)?.images;
        let substrates = self.augment(&raw, ctx.rng)?;
        let target = self.draw_target(ctx.rng)?;
        let targets: Vec<Vec<(usize, f32)>> = vec![target.clone(); n];
        let maps = net.class_input(ctx.rng, &targets, substrates.device())?;
        let images = net.forward(&substrates, &maps)?;
        let mut t = vec![0f32; n * self.classes];
        for i in 0..n {
            for &(c, w) in &target {
                if w > 0.0 {
                    t[i * self.classes + c] = 1.0;
                }
            }
        }
        let targets = Tensor::from_vec(t, (n, self.classes), substrates.device())?
            .to_dtype(images.dtype())?;
        Ok(Painted {
            target,
            substrates,
            targets,
            images,
        })
    }

    /// Class probabilities the classifier gives `x` (grey first if configured).
    fn probabilities(&self, classifier: &dyn Classifier, x: &Tensor) -> Result<Tensor> {
        let x = if self.config.grey_classifier_input && self.channels == 3 {
            let luma = ((x.narrow(1, 0, 1)? * 0.299)? + (x.narrow(1, 1, 1)? * 0.587)?)?
                .add(&(x.narrow(1, 2, 1)? * 0.114)?)?;
            Tensor::cat(&[&luma, &luma, &luma], 1)?
        } else {
            x.clone()
        };
        Ok(classifier.class_log_probs(&x)?.exp()?)
    }

    /// `count` random square crops of every image, sides a fraction `range` of the image's,
    /// distinct within an image; one batch per crop (all images cropped to the same side, so
    /// the classifier takes them together).
    fn random_crops(
        images: &Tensor,
        rng: &mut ChaCha8Rng,
        count: usize,
        range: (f64, f64),
    ) -> Result<Vec<Tensor>> {
        let (n, _, r, _) = images.dims4()?;
        crop_boxes(rng, n, r, count, range)
            .into_iter()
            .map(|boxes| cut(images, &boxes))
            .collect()
    }

    fn critic_loss(&self, ctx: &mut StepContext) -> Result<LossTerms> {
        let p = self.paint_batch(ctx, &self.painter)?;
        let fake = p.images.detach();
        let real_score = self
            .critic
            .forward(&p.substrates, &p.substrates, Mode::TRAIN)?;
        let fake_score = self.critic.forward(&p.substrates, &fake, Mode::TRAIN)?;
        let loss = losses::non_saturating_d(&real_score, &fake_score)?;
        let v = scalar(&loss)?;
        Ok(LossTerms {
            total: loss,
            logs: vec![("d_patch".into(), v)],
        })
    }

    fn painter_loss(&self, ctx: &mut StepContext) -> Result<LossTerms> {
        let c = &self.config;
        let p = self.paint_batch(ctx, &self.painter)?;
        let mut logs = vec![];
        let score = self
            .critic
            .forward(&p.substrates, &p.images, Mode::TRAIN_FROZEN)?;
        let gan = losses::non_saturating_g(&score)?;
        let sub = sl::substrate_loss(&p.substrates, &p.images)?;
        let strength = if c.view_ramp {
            let s = view_strength(c, &self.focus, &p.target)?;
            logs.push(("view_strength".into(), s));
            s
        } else {
            1.0
        };
        let view = positive_view(&self.config, strength, &p.images, ctx.rng)?;
        let whole = self.probabilities(ctx.classifier, &view)?;
        let mut negatives = vec![];
        for view in Self::random_crops(&p.images, ctx.rng, c.crops, (c.crop_min, c.crop_max))? {
            negatives.push(self.probabilities(ctx.classifier, &view)?);
        }
        if p.target.is_empty() {
            negatives.push(whole.clone());
        }
        let (cls, lp, ln) = sl::classifier_presence_loss(&whole, &negatives, &p.targets)?;
        let hold = substrate_hold(c, &self.focus, &p.target)?;
        if c.substrate_weight_unlearned.is_some() {
            logs.push(("substrate_weight".into(), hold));
        }
        let mut total = ((gan.clone() * c.gan_weight)? + (sub.clone() * hold)?)?;
        total = (total + (cls.clone() * c.classifier_weight)?)?;
        if c.object_crop > 0.0 && !p.target.is_empty() {
            let range = (c.object_crop_min, c.object_crop_max);
            let crop = Self::random_crops(&p.images, ctx.rng, 1, range)?.remove(0);
            let v = self.probabilities(ctx.classifier, &crop)?;
            let obj = sl::target_on_crop(&v, &p.targets)?.mean_all()?;
            logs.push(("g_object".into(), scalar(&obj)?));
            total = (total + (obj * (c.object_crop * c.classifier_weight))?)?;
        }
        if let Some(colour) = &c.mask_colour {
            let mask = sl::background_mask(&p.substrates, colour, c.mask_tolerance)?;
            let m = sl::mask_loss(&p.images, &mask, colour)?;
            logs.push(("g_mask".into(), scalar(&m)?));
            total = (total + (m * c.mask_weight)?)?;
        }
        // The target classes' probability on the whole image (mean over active classes), and
        // the largest non-target probability on any crop: the two things the loss trades.
        let active = p
            .targets
            .sum_all()?
            .to_dtype(DType::F64)?
            .to_scalar::<f64>()?;
        if active > 0.0 {
            let hit = whole
                .mul(&p.targets)?
                .sum_all()?
                .to_dtype(DType::F64)?
                .to_scalar::<f64>()?;
            logs.push(("p_target".into(), hit / active));
            if let [(class, _)] = p.target[..] {
                self.focus.record(class, hit / active)?;
            }
        }
        // Each class's running p(target), so a run's log shows which classes lag.
        for (c, mean) in self.focus.progress()?.into_iter().enumerate() {
            logs.push((format!("p_class{c}"), mean));
        }
        logs.extend([
            ("g_gan".into(), scalar(&gan)?),
            ("g_substrate".into(), scalar(&sub)?),
            ("g_cls".into(), scalar(&cls)?),
            ("g_cls_pos".into(), lp),
            ("g_cls_neg".into(), ln),
        ]);
        Ok(LossTerms { total, logs })
    }

    /// Paint `target` onto `substrates` ([N, C, R, R]) with the EMA painter.
    fn paint(&self, substrates: &Tensor, target: &[(usize, f32)], seed: u64) -> Result<Tensor> {
        let n = substrates.dim(0)?;
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let maps = self.painter_ema.class_input(
            &mut rng,
            &vec![target.to_vec(); n],
            substrates.device(),
        )?;
        Ok(self.painter_ema.forward(substrates, &maps)?.detach())
    }

    fn preview_substrates(&self, n: usize, seed: u64) -> Result<Tensor> {
        let Some(pool) = &self.previews else {
            bail!("the substrate method has no substrates yet (it samples after training starts or a checkpoint loads)");
        };
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let rows: Vec<u32> = (0..n)
            .map(|i| {
                if n <= pool.dim(0).unwrap_or(0) {
                    i as u32
                } else {
                    rng.random_range(0..pool.dim(0).unwrap_or(1)) as u32
                }
            })
            .collect();
        let rows = Tensor::from_vec(rows, n, pool.device())?;
        Ok(pool.index_select(&rows, 0)?)
    }
}

fn scalar(x: &Tensor) -> Result<f64> {
    Ok(x.to_dtype(DType::F64)?.to_scalar::<f64>()?)
}

impl Sampler for SubstrateMethod {
    fn sample(&self, condition: &Condition, n: usize, seed: u64) -> Result<Tensor> {
        let check = |target: &[(usize, f32)]| -> Result<()> {
            if let Some(&(c, _)) = target.iter().find(|(c, _)| *c >= self.classes) {
                bail!(
                    "class index {c} out of range: the run has {} classes",
                    self.classes
                );
            }
            Ok(())
        };
        match condition {
            Condition::Class(c) => {
                let target = [(*c, 1.0)];
                check(&target)?;
                self.paint(&self.preview_substrates(n, seed)?, &target, seed)
            }
            Condition::Mix(target) => {
                check(target)?;
                self.paint(&self.preview_substrates(n, seed)?, target, seed)
            }
            Condition::OnImage { image, target } => {
                check(target)?;
                let dims = image.dims();
                let r = self.resolution;
                if dims != [1, self.channels, r, r] {
                    bail!(
                        "the painter takes one [1, {}, {r}, {r}] substrate, got {dims:?}",
                        self.channels
                    );
                }
                self.paint(&image.repeat((n, 1, 1, 1))?, target, seed)
            }
            Condition::Group { .. } => {
                bail!("the substrate method paints classes, not groups")
            }
        }
    }
}

impl Method for SubstrateMethod {
    fn name(&self) -> &'static str {
        "substrate"
    }

    fn real_images(&self, _num_classes: usize, _unseen: &[usize]) -> RealImages {
        RealImages::Substrates
    }

    fn prepare(&mut self, ctx: &mut StepContext) -> Result<()> {
        // Spread over the data: tiles of one file sit together, previews should show many.
        let len = ctx.data.len;
        let n = len.min(PREVIEW_SUBSTRATES);
        let rows: Vec<usize> = (0..n).map(|i| i * len / n).collect();
        self.use_substrates(ctx.data.batch(&rows)?.images)
    }

    fn use_substrates(&mut self, images: Tensor) -> Result<()> {
        let r = self.resolution;
        let dims = images.dims();
        if dims.len() != 4 || dims[0] == 0 || dims[1..] != [self.channels, r, r] {
            bail!(
                "the painter takes substrates [N, {}, {r}, {r}], got {dims:?}",
                self.channels
            );
        }
        self.previews = Some(images);
        Ok(())
    }

    fn param_groups(&self) -> Result<Vec<ParamGroup>> {
        Ok(vec![
            ParamGroup {
                name: "critic",
                params: self.critic_store.trainable(),
                adam: self.adam_critic,
                ema: None,
                legacy: None,
            },
            ParamGroup {
                name: "painter",
                params: self.painter_store.trainable(),
                adam: self.adam_painter,
                ema: Some(EmaPairs::new(&self.ema_store, &self.painter_store)?),
                legacy: None,
            },
        ])
    }

    fn stores(&self) -> Vec<(&'static str, &ParamStore)> {
        vec![
            ("painter", &self.painter_store),
            ("painter_ema", &self.ema_store),
            ("critic", &self.critic_store),
        ]
    }

    fn optional_stores(&self) -> Vec<(&'static str, &ParamStore)> {
        self.focus.stores()
    }

    fn schedule(&self, _step: usize) -> Vec<Phase> {
        vec![
            Phase {
                group: "critic",
                repeats: self.d_steps,
            },
            Phase {
                group: "painter",
                repeats: 1,
            },
        ]
    }

    fn loss(&mut self, group: &'static str, ctx: &mut StepContext) -> Result<LossTerms> {
        match group {
            "critic" => self.critic_loss(ctx),
            "painter" => self.painter_loss(ctx),
            other => bail!("the substrate method has no parameter group `{other}`"),
        }
    }
}

/// The substrate loss's weight for a batch painting `target` (`substrate_weight_unlearned`).
fn substrate_hold(c: &SubstrateConfig, focus: &ClassFocus, target: &[(usize, f32)]) -> Result<f64> {
    let Some(low) = c.substrate_weight_unlearned else {
        return Ok(c.substrate_weight);
    };
    let learned = least(target, |class| focus.learned(class, c.learned_at))?;
    Ok(low + (c.substrate_weight - low) * learned)
}

/// The smallest of `of(class)` over the target's classes; 1 for the all-zero target.
fn least(target: &[(usize, f32)], of: impl Fn(usize) -> Result<f64>) -> Result<f64> {
    target
        .iter()
        .try_fold(1.0f64, |m, &(class, _)| Ok(m.min(of(class)?)))
}

/// The whole image as the positive term sees it (see `view_jitter`, `view_resample`, `view_blur`).
/// `strength` scales the views (`view_ramp`).
fn positive_view(
    c: &SubstrateConfig,
    strength: f64,
    images: &Tensor,
    rng: &mut ChaCha8Rng,
) -> Result<Tensor> {
    let (n, _, h, w) = images.dims4()?;
    c.view().scaled(strength).draw(rng, n, h, w)?.apply(images)
}

/// How strong the positive views are for a batch painting `target` (`view_ramp`): full for
/// the all-zero target, that of the least learned class for a mix.
fn view_strength(c: &SubstrateConfig, focus: &ClassFocus, target: &[(usize, f32)]) -> Result<f64> {
    let ramp = least(target, |class| focus.ever_learned(class, c.learned_at))?;
    Ok(c.view_floor + (1.0 - c.view_floor) * ramp)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crops_are_distinct_within_an_image_inside_it_and_of_the_asked_size() {
        let mut rng = ChaCha8Rng::seed_from_u64(4);
        // A 6-pixel image and sides of 3..4: few places, so repeats would be likely.
        for _ in 0..50 {
            let rounds = crop_boxes(&mut rng, 2, 6, 3, (0.5, 0.6));
            assert_eq!(rounds.len(), 3);
            for i in 0..2 {
                let boxes: Vec<_> = rounds.iter().map(|r| r[i]).collect();
                for (a, b) in [(0, 1), (0, 2), (1, 2)] {
                    assert_ne!(boxes[a], boxes[b], "{boxes:?}");
                }
                for &(side, y, x) in &boxes {
                    assert!((3..=4).contains(&side) && y + side <= 6 && x + side <= 6);
                }
            }
            // One side per round across images (the classifier takes a round as a batch).
            assert!(rounds.iter().all(|r| r[0].0 == r[1].0));
        }
    }

    #[test]
    fn the_substrate_weight_rises_with_the_class_learned_and_is_full_for_none() {
        let c: SubstrateConfig =
            toml::from_str("substrate_weight = 450.0\nsubstrate_weight_unlearned = 150.0").unwrap();
        let focus = ClassFocus::new(&Device::Cpu, 3, 0.0).unwrap();
        assert_eq!(substrate_hold(&c, &focus, &[(1, 1.0)]).unwrap(), 150.0);
        assert_eq!(substrate_hold(&c, &focus, &[]).unwrap(), 450.0);
        for _ in 0..400 {
            focus.record(0, 1.0).unwrap();
        }
        assert_eq!(substrate_hold(&c, &focus, &[(0, 1.0)]).unwrap(), 450.0);
        // A mix is held as its least learned class.
        assert_eq!(
            substrate_hold(&c, &focus, &[(0, 0.5), (2, 0.5)]).unwrap(),
            150.0
        );
        // Halfway to learned_at (p̄ = 0.25 of 0.5): halfway between the two weights.
        let half = ClassFocus::new(&Device::Cpu, 1, 0.0).unwrap();
        let mut p = 0.0;
        while p < 0.25 {
            half.record(0, 0.26).unwrap();
            p = half.progress().unwrap()[0];
        }
        let w = substrate_hold(&c, &half, &[(0, 1.0)]).unwrap();
        assert!((w - (150.0 + 300.0 * p / 0.5)).abs() < 1e-6, "{w}");
        // Unset: the paper's constant weight.
        let plain: SubstrateConfig = toml::from_str("substrate_weight = 450.0").unwrap();
        assert_eq!(substrate_hold(&plain, &focus, &[(1, 1.0)]).unwrap(), 450.0);
    }

    #[test]
    fn the_views_grow_with_the_class_once_learned_and_are_full_for_none() {
        let c: SubstrateConfig = toml::from_str("view_ramp = true\nview_blur = 1.5").unwrap();
        let focus = ClassFocus::new(&Device::Cpu, 2, 0.0).unwrap();
        assert_eq!(view_strength(&c, &focus, &[(0, 1.0)]).unwrap(), 0.0);
        assert_eq!(view_strength(&c, &focus, &[]).unwrap(), 1.0);
        for _ in 0..400 {
            focus.record(0, 1.0).unwrap();
        }
        for _ in 0..400 {
            focus.record(0, 0.0).unwrap();
        }
        assert_eq!(view_strength(&c, &focus, &[(0, 1.0)]).unwrap(), 1.0);
        assert_eq!(
            view_strength(&c, &focus, &[(0, 0.5), (1, 0.5)]).unwrap(),
            0.0
        );
        // A floor: a class not yet found gets the floor, a found one the full views.
        let floored: SubstrateConfig =
            toml::from_str("view_ramp = true\nview_blur = 1.5\nview_floor = 0.4").unwrap();
        assert_eq!(view_strength(&floored, &focus, &[(1, 1.0)]).unwrap(), 0.4);
        assert_eq!(view_strength(&floored, &focus, &[(0, 1.0)]).unwrap(), 1.0);
        // Strength 0 leaves the image as it is.
        let image = Tensor::randn(0f32, 1.0, (2, 3, 8, 8), &Device::Cpu).unwrap();
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        let view = positive_view(&c, 0.0, &image, &mut rng).unwrap();
        let diff = (view - &image).unwrap().abs().unwrap().max_all().unwrap();
        assert_eq!(diff.to_scalar::<f32>().unwrap(), 0.0);
    }

    #[test]
    fn out_of_range_view_options_are_refused() {
        let bad = |text: &str| {
            toml::from_str::<SubstrateConfig>(text)
                .unwrap()
                .validate(3)
                .is_err()
        };
        assert!(bad("view_jitter = 0.95"));
        assert!(bad("view_resample = 1.5"));
        assert!(bad("view_blur = -1.0"));
        assert!(bad("view_blur = 5.0"));
        assert!(bad("view_ramp = true\nview_floor = 1.5"));
        assert!(bad("view_floor = 0.5"));
        assert!(bad(
            "substrate_weight = 450.0\nsubstrate_weight_unlearned = 500.0"
        ));
        assert!(bad("learned_at = 0.0"));
        assert!(bad("object_crop = -1.0"));
        assert!(bad("object_crop_min = 0.5\nobject_crop_max = 0.3"));
        assert!(!bad(
            "view_jitter = 0.2\nview_resample = 0.5\nview_blur = 1.5"
        ));
    }

    #[test]
    fn a_blurred_view_smooths_a_pixel_pattern_and_passes_gradients_back() {
        // A one-pixel checkerboard: the pattern an adversarial texture is made of.
        let r = 16;
        let v: Vec<f32> = (0..3 * r * r)
            .map(|i| if (i % r + i / r) % 2 == 0 { 1.0 } else { -1.0 })
            .collect();
        let image = candle_core::Var::from_vec(v, (1, 3, r, r), &Device::Cpu).unwrap();
        let config: SubstrateConfig = toml::from_str("view_blur = 2.0").unwrap();
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        let mean_abs = |t: &Tensor| -> f32 {
            t.abs()
                .and_then(|a| a.mean_all())
                .and_then(|m| m.to_scalar::<f32>())
                .unwrap()
        };
        let mut blurred = 0;
        for _ in 0..10 {
            let view = positive_view(&config, 1.0, image.as_tensor(), &mut rng).unwrap();
            assert_eq!(view.dims(), &[1, 3, r, r]);
            let contrast = mean_abs(&view);
            if contrast < 0.999 {
                blurred += usize::from(contrast < 0.5);
                let grads = view.sqr().unwrap().sum_all().unwrap().backward().unwrap();
                let g = grads.get(&image).expect("the blur is differentiable");
                assert!(mean_abs(g) > 0.0);
            } else {
                // σ ≤ 0.3 is skipped: the view is the image itself.
                assert!((contrast - 1.0).abs() < 1e-6, "{contrast}");
            }
        }
        // σ is uniform in [0, 2]: most draws blur, and a blur past ~0.4 px halves the
        // checkerboard's contrast.
        assert!(blurred >= 6, "{blurred} of 10 views blurred");
    }
}
