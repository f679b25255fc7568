//! Device selection (`--device cpu|cuda[:N]`) and process-wide candle set-up.

use anyhow::{bail, Context, Result};
use candle_core::Device;

/// Must run before any candle work: second-order gradients (the WGAN-GP penalty
/// differentiates through D's backward) are right only when candle keeps the backward
/// graph, and candle reads this variable once per thread.
pub fn init() {
    if std::env::var_os("CANDLE_GRAD_DO_NOT_DETACH").is_none() {
        std::env::set_var("CANDLE_GRAD_DO_NOT_DETACH", "1");
    }
    // candle's own pool (elementwise ops and every gradient accumulation of its backward)
    // spin-waits on a barrier; beside our rayon kernels on 2 cores that spin was 13-20% of the
    // training and engine profiles. One thread there; our convs and matmuls keep rayon's
    // threads (they read RAYON_NUM_THREADS, which candle's matmul also uses).
    if std::env::var_os("CANDLE_NUM_THREADS").is_none() {
        std::env::set_var("CANDLE_NUM_THREADS", "1");
    }
}

/// `--device` as every computing command takes it.
#[derive(clap::Args, Debug, Clone)]
pub struct DeviceArgs {
    /// Where to compute: `cpu`, `cuda` or `cuda:N` (needs a build with `--features cuda`).
    #[arg(long, default_value = "cpu")]
    pub device: String,
}

impl DeviceArgs {
    pub fn device(&self) -> Result<Device> {
        parse_device(&self.device)
    }
}

/// Parse `cpu`, `cuda`, `cuda:N`.
pub fn parse_device(spec: &str) -> Result<Device> {
    let spec = spec.trim().to_ascii_lowercase();
    if spec == "cpu" {
        return Ok(Device::Cpu);
    }
    let ordinal = if spec == "cuda" {
        0
    } else if let Some(n) = spec.strip_prefix("cuda:") {
        n.parse::<usize>()
            .with_context(|| format!("--device {spec}: expected cuda:N with N a GPU index"))?
    } else {
        bail!("--device {spec}: expected `cpu`, `cuda` or `cuda:N`");
    };
    if !candle_core::utils::cuda_is_available() {
        bail!("--device {spec}: this probegan was built without CUDA; rebuild with `scripts/build-cuda.sh` (cargo feature `cuda`)");
    }
    Device::new_cuda(ordinal)
        .with_context(|| format!("--device {spec}: cannot open CUDA device {ordinal}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    #[test]
    fn parses_cpu_and_rejects_garbage() {
        assert!(parse_device("cpu").unwrap().is_cpu());
        assert!(parse_device("gpu").is_err());
        assert!(parse_device("cuda:x").is_err());
    }
}
