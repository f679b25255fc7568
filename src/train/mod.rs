//! (module train: see docs/ARCHITECTURE.md)
