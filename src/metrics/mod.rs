//! Evaluation metrics for generated samples, computed the way the field computes them.
//!
//! Every distribution metric works on a *feature matrix*: a candle tensor `[N, D]` (any float
//! dtype, any device) produced by a [`features::FeatureExtractor`] — by default the judge
//! classifier's penultimate layer. Heavy products (covariances, kernel and distance matrices)
//! run as candle matmuls in f64 on the features' device; only the `D x D` eigenproblems of FID
//! go to nalgebra on the CPU.
//!
//! ```
//! use candle_core::{Device, Tensor};
//! let real = Tensor::randn(0f32, 1.0, (200, 8), &Device::Cpu).unwrap();
//! let fake = Tensor::randn(0.5f32, 1.0, (200, 8), &Device::Cpu).unwrap();
//! let fid = probegan::metrics::fid::fid(&real, &fake).unwrap();
//! assert!(fid > 1.0); // the means differ by 0.5 in each of 8 dimensions: FID ~ 2
//! ```
//!
//! One file per metric family:
//! - [`judge`]: judge accuracy (any ONNX classifier + adapter) and [`confidence`] of the
//!   target classifier in the intended class,
//! - [`gaussian`], [`fid`], [`kid`], [`intra_fid`]: Fréchet and kernel inception distances,
//! - [`prdc`]: precision / recall / density / coverage (Naeem et al. 2020),
//! - [`diversity`]: mean pairwise distance and near-duplicates,
//! - [`spectrum`]: azimuthally averaged power spectrum (spectral-decay artefacts),
//! - [`ssim`]: structural similarity (how much of a substrate survives painting),
//!   [`paint_overlap`]: how much of the painted change is shared by classes or substrates,
//! - [`neighbours`]: nearest real neighbours in feature or pixel space (near-copies of
//!   training images), [`generator_space`]: real images resampled as the generator sees them,
//! - [`evaluation`]: the record `probegan eval` writes and `probegan report` reads,
//! - [`realism`]: D_u realism normalised against real images (comparable across checkpoints),
//! - [`selection`]: label-free checkpoint selection and its Spearman agreement with intra-FID.

pub mod audio_eval;
pub mod confidence;
pub mod diversity;
pub mod evaluate;
pub mod evaluation;
pub mod features;
pub mod fid;
pub mod gaussian;
pub mod generator_space;
pub mod intra_fid;
pub mod judge;
pub mod kid;
pub mod leakage;
pub mod neighbours;
pub mod paint_overlap;
pub mod pairwise;
pub mod pitch;
pub mod prdc;
pub mod realism;
pub mod selection;
pub mod spectrum;
pub mod ssim;
