//! (module methods: see docs/ARCHITECTURE.md)
