//! The one training loop shared by every method, and the run directory it writes.
//!
//! Run directory layout (the contract with `metrics`, `report` and `sample`):
//!
//! ```text
//! RUN_DIR/run.json            method, resolved config, classifier (adapter/model), class
//!                             names, unseen classes (indices and names), seed, net config
//! RUN_DIR/config.toml         the resolved config (file + --set overrides)
//! RUN_DIR/metrics.jsonl       one JSON object per logged step: {"step", losses by name,
//!                             "p_unseen" (classifier probability of the unseen class on EMA
//!                             samples), "it_per_s", "time_s"; at every preview also
//!                             "diversity" {class: EMA samples' pixel diversity / real's}
//!                             and "collapsed" [classes below run.collapse_fraction]}
//! RUN_DIR/samples/step_NNNNNN.png   grid, one row per class, unseen rows framed in red
//! RUN_DIR/checkpoints/step_NNNNNN/
//!     STORE.safetensors           each store the method owns, by name (parameters and
//!                                 buffers); the class-conditional methods have `generator`,
//!                                 `generator_ema` (what sampling uses) and `discriminator`
//!     optimizers.safetensors      Adam moments per parameter group (`GROUP.m.NAME`, `GROUP.v.NAME`)
//!     state.json                  step, RNG state, Adam's step count per group
//! ```
//!
//! Checkpoints are written to a temporary folder, fsynced, then renamed, so a crash never
//! leaves a half-written `step_NNNNNN`; the newest `run.keep_checkpoints` are kept.

pub mod checkpoint;
pub mod config;
pub mod diversity_watch;
pub mod grid;
pub mod load_discriminator;
pub mod optim;
pub mod rng_state;
pub mod sampler;
pub mod setup;
pub mod trainer;

pub use config::Config;
pub use sampler::{load_sampler, RunSampler};
pub use trainer::{StopReason, Trainer};
