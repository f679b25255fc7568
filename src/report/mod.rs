//! (module report: see docs/ARCHITECTURE.md)
