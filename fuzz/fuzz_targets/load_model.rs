//! Fuzz the ONNX loader: any byte string must load or fail with an error, never panic or
//! abort (e.g. by allocating what a hostile file claims). Models that load are run once on a
//! small input when their declared input shape allows.
//!
//! Needs a nightly toolchain: `cargo +nightly fuzz run load_model` from the repository root.
//! On stable, `tests/onnx_bad_input.rs::randomized_mutations_never_panic` runs the same
//! property over mutated seed models.
#![no_main]

use candle_core::{DType, Device, Tensor};
use libfuzzer_sys::fuzz_target;
use probegan::onnx::{Dim, OnnxModel};

fuzz_target!(|data: &[u8]| {
    // 2^24 elements (64 MiB of f32) per tensor: a hostile file is refused well below
    // libFuzzer's 2 GiB memory limit, so only real bugs show up as crashes.
    probegan::onnx::value::set_max_elements(1 << 24);
    let Ok(model) = OnnxModel::from_bytes(data, "fuzz input", &Device::Cpu) else {
        return;
    };
    let mut inputs = Vec::new();
    for io in model.inputs() {
        let dims: Option<Vec<usize>> = io
            .dims
            .iter()
            .enumerate()
            .map(|(i, d)| match d {
                Dim::Fixed(n) if *n <= 64 => Some(*n),
                Dim::Free(_) if i == 0 => Some(1),
                _ => None,
            })
            .collect();
        let Some(dims) = dims else { return };
        let Ok(t) = Tensor::zeros(dims, DType::F32, &Device::Cpu) else {
            return;
        };
        inputs.push(t);
    }
    let _ = model.forward(&inputs);
});
