//! The in-memory dataset every trainer reads.
//!
//! Data are held in memory, decoded once to `f32` in generator space: the datasets probegan
//! audits with (Fashion-MNIST: 60k x 784 = 188 MB; Waterbirds at 64x64: 4.8k x 12k = 230 MB)
//! fit easily, GAN and classifier training revisit every image many times per run, and a
//! decoded array makes seeded shuffling, class filtering and batch assembly trivial and
//! device-agnostic (tensors are built per batch on the caller's device).

use anyhow::{bail, Result};
use candle_core::{Device, Tensor};
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

#[derive(Debug, Clone)]
pub struct Dataset {
    /// `N * C * H * W` pixels, values in `[-1, 1]`, NCHW order.
    pub images: Vec<f32>,
    pub channels: usize,
    pub height: usize,
    pub width: usize,
    /// Class index per image, into `class_names`.
    pub labels: Vec<u32>,
    pub class_names: Vec<String>,
    /// Group index per image (e.g. Waterbirds' label x place), into `group_names`.
    pub groups: Option<Vec<u32>>,
    pub group_names: Vec<String>,
}

/// One batch, on the device the caller asked for.
#[derive(Debug, Clone)]
pub struct Batch {
    /// `[B, C, H, W]`, f32, `[-1, 1]`.
    pub images: Tensor,
    /// `[B]`, u32.
    pub labels: Tensor,
    /// `[B]`, u32, when the dataset has groups.
    pub groups: Option<Tensor>,
    /// Dataset indices of the batch's images.
    pub indices: Vec<usize>,
}

/// Optional augmentation applied when a batch is assembled.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Augment {
    /// Mirror left-right with probability 1/2.
    pub hflip: bool,
    /// Random crop after zero-padding (value -1, i.e. black) by this many pixels per side.
    pub crop_pad: usize,
}

impl Dataset {
    /// Build and check consistency.
    pub fn new(
        images: Vec<f32>,
        (channels, height, width): (usize, usize, usize),
        labels: Vec<u32>,
        class_names: Vec<String>,
        groups: Option<(Vec<u32>, Vec<String>)>,
    ) -> Result<Dataset> {
        let per = channels * height * width;
        if per == 0 {
            bail!("dataset: image shape {channels}x{height}x{width} is empty");
        }
        if images.len() != labels.len() * per {
            bail!(
                "dataset: {} pixels for {} images of {channels}x{height}x{width}",
                images.len(),
                labels.len()
            );
        }
        if let Some(&bad) = labels.iter().find(|&&l| l as usize >= class_names.len()) {
            bail!(
                "dataset: label {bad} but only {} class names",
                class_names.len()
            );
        }
        let (groups, group_names) = match groups {
            Some((g, names)) => {
                if g.len() != labels.len() {
                    bail!("dataset: {} group ids for {} images", g.len(), labels.len());
                }
                if let Some(&bad) = g.iter().find(|&&x| x as usize >= names.len()) {
                    bail!("dataset: group {bad} but only {} group names", names.len());
                }
                (Some(g), names)
            }
            None => (None, Vec::new()),
        };
        Ok(Dataset {
            images,
            channels,
            height,
            width,
            labels,
            class_names,
            groups,
            group_names,
        })
    }

    pub fn len(&self) -> usize {
        self.labels.len()
    }

    pub fn is_empty(&self) -> bool {
        self.labels.is_empty()
    }

    pub fn num_classes(&self) -> usize {
        self.class_names.len()
    }

    pub fn num_groups(&self) -> usize {
        self.group_names.len()
    }

    /// `(C, H, W)`.
    pub fn image_shape(&self) -> (usize, usize, usize) {
        (self.channels, self.height, self.width)
    }

    fn per_image(&self) -> usize {
        self.channels * self.height * self.width
    }

    /// Pixels of image `i` (`C*H*W`, `[-1, 1]`).
    pub fn image(&self, i: usize) -> &[f32] {
        let p = self.per_image();
        &self.images[i * p..(i + 1) * p]
    }

    /// Index of a class by name (the rule of `ClassSpace::index`).
    pub fn class_index(&self, name: &str) -> Result<usize> {
        super::ClassSpace::new(self.class_names.clone()).index(name, "the dataset")
    }

    /// Images per class, index-aligned with `class_names`.
    pub fn class_counts(&self) -> Vec<usize> {
        let mut c = vec![0; self.num_classes()];
        for &l in &self.labels {
            c[l as usize] += 1;
        }
        c
    }

    /// Images per group (empty without groups).
    pub fn group_counts(&self) -> Vec<usize> {
        let mut c = vec![0; self.num_groups()];
        for &g in self.groups.iter().flatten() {
            c[g as usize] += 1;
        }
        c
    }

    /// A dataset of the given images, in the given order (class and group names kept).
    pub fn select(&self, indices: &[usize]) -> Dataset {
        let p = self.per_image();
        let mut images = Vec::with_capacity(indices.len() * p);
        for &i in indices {
            images.extend_from_slice(self.image(i));
        }
        Dataset {
            images,
            channels: self.channels,
            height: self.height,
            width: self.width,
            labels: indices.iter().map(|&i| self.labels[i]).collect(),
            class_names: self.class_names.clone(),
            groups: self
                .groups
                .as_ref()
                .map(|g| indices.iter().map(|&i| g[i]).collect()),
            group_names: self.group_names.clone(),
        }
    }

    /// Keep only images of the named classes. Labels and `class_names` are *unchanged*, so
    /// label indices stay aligned with a classifier trained on all classes (what the GAN
    /// trainer needs when it drops the unseen class).
    pub fn filter_classes(&self, keep: &[&str]) -> Result<Dataset> {
        let keep: Vec<usize> = keep
            .iter()
            .map(|n| self.class_index(n))
            .collect::<Result<_>>()?;
        let idx: Vec<usize> = (0..self.len())
            .filter(|&i| keep.contains(&(self.labels[i] as usize)))
            .collect();
        Ok(self.select(&idx))
    }

    /// Drop images of the named classes (labels unchanged, as `filter_classes`).
    pub fn exclude_classes(&self, drop: &[&str]) -> Result<Dataset> {
        let drop: Vec<usize> = drop
            .iter()
            .map(|n| self.class_index(n))
            .collect::<Result<_>>()?;
        let idx: Vec<usize> = (0..self.len())
            .filter(|&i| !drop.contains(&(self.labels[i] as usize)))
            .collect();
        Ok(self.select(&idx))
    }

    /// Keep only the named classes and relabel them `0..k` in the given order (to train a
    /// classifier on a sub-problem).
    pub fn relabel_classes(&self, keep: &[&str]) -> Result<Dataset> {
        let keep: Vec<usize> = keep
            .iter()
            .map(|n| self.class_index(n))
            .collect::<Result<_>>()?;
        let mut d = self.filter_classes(
            &keep
                .iter()
                .map(|&k| self.class_names[k].as_str())
                .collect::<Vec<_>>(),
        )?;
        for l in d.labels.iter_mut() {
            *l = keep.iter().position(|&k| k == *l as usize).unwrap() as u32;
        }
        d.class_names = keep.iter().map(|&k| self.class_names[k].clone()).collect();
        Ok(d)
    }

    /// At most `per_class` images of each class, chosen by a seeded shuffle; order is by
    /// class then draw, so the result does not depend on the original ordering's quirks.
    pub fn stratified_subset(&self, per_class: usize, seed: u64) -> Dataset {
        let order = self.shuffled_indices(seed);
        let mut taken = vec![0usize; self.num_classes()];
        let mut chosen: Vec<usize> = Vec::new();
        for i in order {
            let l = self.labels[i] as usize;
            if taken[l] < per_class {
                taken[l] += 1;
                chosen.push(i);
            }
        }
        chosen.sort_by_key(|&i| (self.labels[i], i));
        self.select(&chosen)
    }

    /// Seeded split into `(first, second)` with `fraction` of the images in `first`.
    pub fn split(&self, fraction: f64, seed: u64) -> (Dataset, Dataset) {
        let order = self.shuffled_indices(seed);
        let k = ((self.len() as f64) * fraction).round() as usize;
        let (mut a, mut b) = (order[..k].to_vec(), order[k..].to_vec());
        a.sort_unstable();
        b.sort_unstable();
        (self.select(&a), self.select(&b))
    }

    /// A permutation of `0..len` from a ChaCha8 stream: identical on every platform.
    pub fn shuffled_indices(&self, seed: u64) -> Vec<usize> {
        let mut idx: Vec<usize> = (0..self.len()).collect();
        idx.shuffle(&mut ChaCha8Rng::seed_from_u64(seed));
        idx
    }

    /// Seeded, shuffled batches over one epoch; the last short batch is kept unless
    /// `drop_last` is set on the iterator.
    pub fn batches<'a>(&'a self, batch_size: usize, seed: u64, device: &'a Device) -> Batches<'a> {
        Batches {
            data: self,
            order: self.shuffled_indices(seed),
            pos: 0,
            batch_size: batch_size.max(1),
            device,
            augment: Augment::default(),
            rng: ChaCha8Rng::seed_from_u64(seed ^ 0x5eed_a46e),
            drop_last: false,
        }
    }

    /// Batches in dataset order (evaluation).
    pub fn sequential_batches<'a>(&'a self, batch_size: usize, device: &'a Device) -> Batches<'a> {
        let mut b = self.batches(batch_size, 0, device);
        b.order = (0..self.len()).collect();
        b
    }

    /// Assemble the given images into a batch (no augmentation).
    pub fn batch(&self, indices: &[usize], device: &Device) -> Result<Batch> {
        self.assemble(indices, device, &Augment::default(), None)
    }

    /// All images as one `[N, C, H, W]` tensor.
    pub fn images_tensor(&self, device: &Device) -> Result<Tensor> {
        Ok(Tensor::from_slice(
            &self.images,
            (self.len(), self.channels, self.height, self.width),
            device,
        )?)
    }

    /// All labels as one `[N]` u32 tensor.
    pub fn labels_tensor(&self, device: &Device) -> Result<Tensor> {
        Ok(Tensor::from_slice(&self.labels, self.len(), device)?)
    }

    fn assemble(
        &self,
        indices: &[usize],
        device: &Device,
        aug: &Augment,
        rng: Option<&mut ChaCha8Rng>,
    ) -> Result<Batch> {
        let p = self.per_image();
        let mut px = Vec::with_capacity(indices.len() * p);
        let mut rng = rng;
        for &i in indices {
            if i >= self.len() {
                bail!(
                    "batch index {i} out of range for a dataset of {}",
                    self.len()
                );
            }
            let img = self.image(i);
            match rng.as_deref_mut() {
                Some(r) if aug.hflip || aug.crop_pad > 0 => px.extend(self.augmented(img, aug, r)),
                _ => px.extend_from_slice(img),
            }
        }
        let n = indices.len();
        let images = Tensor::from_vec(px, (n, self.channels, self.height, self.width), device)?;
        let labels = Tensor::from_vec(
            indices.iter().map(|&i| self.labels[i]).collect::<Vec<_>>(),
            n,
            device,
        )?;
        let groups = match &self.groups {
            Some(g) => Some(Tensor::from_vec(
                indices.iter().map(|&i| g[i]).collect::<Vec<_>>(),
                n,
                device,
            )?),
            None => None,
        };
        Ok(Batch {
            images,
            labels,
            groups,
            indices: indices.to_vec(),
        })
    }

    fn augmented(&self, img: &[f32], aug: &Augment, rng: &mut ChaCha8Rng) -> Vec<f32> {
        let (c, h, w) = self.image_shape();
        let flip = aug.hflip && rng.random_bool(0.5);
        let pad = aug.crop_pad as i64;
        let (dy, dx) = if pad > 0 {
            (
                rng.random_range(-pad..=pad) as isize,
                rng.random_range(-pad..=pad) as isize,
            )
        } else {
            (0, 0)
        };
        let mut out = vec![-1.0f32; c * h * w];
        for ch in 0..c {
            for y in 0..h as isize {
                let sy = y + dy;
                if sy < 0 || sy >= h as isize {
                    continue;
                }
                for x in 0..w as isize {
                    let sx0 = x + dx;
                    if sx0 < 0 || sx0 >= w as isize {
                        continue;
                    }
                    let sx = if flip { w as isize - 1 - sx0 } else { sx0 };
                    out[ch * h * w + y as usize * w + x as usize] =
                        img[ch * h * w + sy as usize * w + sx as usize];
                }
            }
        }
        out
    }
}

/// Iterator over one epoch of batches (see `Dataset::batches`).
pub struct Batches<'a> {
    data: &'a Dataset,
    order: Vec<usize>,
    pos: usize,
    batch_size: usize,
    device: &'a Device,
    augment: Augment,
    rng: ChaCha8Rng,
    drop_last: bool,
}

impl<'a> Batches<'a> {
    pub fn with_augment(mut self, augment: Augment) -> Self {
        self.augment = augment;
        self
    }

    pub fn drop_last(mut self) -> Self {
        self.drop_last = true;
        self
    }

    /// Number of batches this epoch yields in total.
    pub fn count_total(&self) -> usize {
        let n = self.order.len();
        if self.drop_last {
            n / self.batch_size
        } else {
            n.div_ceil(self.batch_size)
        }
    }
}

impl<'a> Iterator for Batches<'a> {
    type Item = Result<Batch>;
    fn next(&mut self) -> Option<Self::Item> {
        let n = self.order.len();
        if self.pos >= n || (self.drop_last && self.pos + self.batch_size > n) {
            return None;
        }
        let end = (self.pos + self.batch_size).min(n);
        let idx = self.order[self.pos..end].to_vec();
        self.pos = end;
        let aug = self.augment;
        Some(
            self.data
                .assemble(&idx, self.device, &aug, Some(&mut self.rng)),
        )
    }
}
