//! probegan: audit image and audio classifiers by generating what they learned.
//!
//! The one data flow (see `docs/ARCHITECTURE.md`):
//! `z, y -> Generator -> x -> {Discriminators, Adapter -> OnnxModel (frozen, differentiable)}`.
//! Each module owns one concept; see the table in the architecture doc.

pub mod adapter;
pub mod allocator;
pub mod classifier;
pub mod cli;
pub mod data;
pub mod device;
pub mod embedded;
pub mod image_io;
pub mod kernels;
pub mod losses;
pub mod methods;
pub mod metrics;
pub mod nets;
pub mod onnx;
pub mod report;
pub mod run;
pub mod train;
pub mod train_classifier;
pub mod zoo;

pub use device::init;
