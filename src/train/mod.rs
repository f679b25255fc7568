//! The one training loop shared by every method: it steps the parameter groups a method
//! declares, keeps their Adam states and EMA copies, logs, previews, checkpoints, resumes,
//! stops on NaN and on Ctrl-C. What it writes is the run directory of `crate::run`.
//!
//! | file | holds |
//! |---|---|
//! | `trainer.rs` | the `Trainer`: building a run, one step, the loop with its schedule of logs, previews and checkpoints |
//! | `previews.rs` | sample grids, the collapse guard's reading, the unseen class's probability |
//! | `save_resume.rs` | writing a checkpoint of the loop's state, resuming from the newest |
//! | `checkpoint.rs` | a checkpoint's folder (atomic, keep-last-K) and its `state.json` |
//! | `metrics_log.rs` | `metrics.jsonl` cut back to a checkpoint on resume |
//! | `config.rs` | the run config (`[run]`, `[data]`, `[classifier]`; the method's tables live in `methods`) |
//! | `sampler.rs` | a finished run's method rebuilt from `run.json`, for sampling |
//!
//! Checkpoints are written to a temporary folder, fsynced, then renamed, so a crash never
//! leaves a half-written `step_NNNNNN`; the newest `run.keep_checkpoints` are kept.

pub mod checkpoint;
pub mod config;
pub mod diversity_watch;
pub mod grid;
pub mod load_discriminator;
mod metrics_log;
pub mod optim;
mod previews;
pub mod rng_state;
pub mod sampler;
mod save_resume;
pub mod setup;
pub mod trainer;

pub use config::Config;
pub use sampler::{load_sampler, RunSampler};
pub use trainer::{StopReason, Trainer};
