//! Generator and discriminator building blocks for the GAN methods.
//!
//! - [`params`]: named, seeded parameters and buffers (one safetensors file per network);
//! - [`spectral`]: spectral normalisation for conv and linear layers, class embeddings;
//! - [`batchnorm`]: plain and class-conditional batch norm;
//! - [`generator`]: conditional G(z, y) with residual nearest-upsampling blocks;
//! - [`harmonic`]: a pitch-and-voicing head that draws a harmonic comb on log-mel outputs;
//! - [`discriminator`]: residual trunk with a projection head D_c and a linear head D_u;
//! - [`ema`]: exponential moving average of G;
//! - [`weight_norm`], [`unet`], [`patchgan`]: the substrate method's painter and critic.
//!
//! All convolutions, batch norms, pooling and upsampling go through `crate::kernels`.
//!
//! ```no_run
//! use probegan::nets::{Generator, NetConfig, ParamStore, Mode};
//! let cfg = NetConfig { resolution: 32, size: None, channels: 1, z_dim: 32, embed_dim: 32,
//!     g_widths: vec![64, 32, 32, 32], d_widths: vec![32, 32, 32],
//!     hierarchical_z: true, separate_du_trunk: true, sn_projection: true, harmonic: None,
//!     d_band_detail: false };
//! let store = ParamStore::new(&candle_core::Device::Cpu, 0);
//! let g = Generator::new(&store.root(), &cfg, 10).unwrap();
//! ```

pub mod batchnorm;
pub mod discriminator;
pub mod ema;
pub mod generator;
pub mod harmonic;
pub mod mode;
pub mod params;
pub mod patchgan;
pub mod spectral;
pub mod unet;
pub mod weight_norm;

pub use discriminator::Discriminator;
pub use ema::{ema_update, EmaPairs};
pub use generator::{Generator, NetConfig};
pub use mode::Mode;
pub use params::{Init, ParamStore, Scope};
