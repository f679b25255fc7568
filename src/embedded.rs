//! Assets compiled into the binary, so `probegan demo` runs from any directory with nothing
//! but the executable: the stratified Fashion-MNIST subset (`data/fashion-mnist-subset/`,
//! 1000 train + 300 test images per class, ~5.7 MB gzipped IDX; loaded by `data`, re-exported
//! here) and the three bundled Fashion-MNIST classifiers with their adapters (~1.7 MB of ONNX).

use anyhow::{Context, Result};
use std::path::{Path, PathBuf};

pub use crate::data::{fashion_mnist_subset, fashion_mnist_subset_split};

/// One classifier compiled into the binary, with its adapter.
#[derive(Debug, Clone, Copy)]
pub struct BundledModel {
    /// `regular`, `robust`, `judge` or `judge_open`.
    pub name: &'static str,
    /// The file it came from in the repository (`models/...`).
    pub file: &'static str,
    pub onnx: &'static [u8],
    /// Adapter TOML (`adapters/fmnist_<name>.toml`); its `model` path is ignored when the
    /// bytes above are used.
    pub adapter_toml: &'static str,
}

impl BundledModel {
    /// The adapter's file in the repository (`adapters/<model file's stem>.toml`).
    pub fn adapter_file(&self) -> String {
        let stem = Path::new(self.file)
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_default();
        format!("adapters/{stem}.toml")
    }
}

/// The four bundled Fashion-MNIST classifiers (see `models/README.md`): the regular audit
/// target, a PGD-robust one, and two judges of another architecture and seed: the closed
/// 10-way `judge`, and `judge_open`, which has an 11th reject output ("(not a garment)",
/// outlier exposure) and is the one the demo and the quality table read.
pub const BUNDLED_MODELS: [BundledModel; 6] = [
    BundledModel {
        name: "regular",
        file: "models/fmnist_regular.onnx",
        onnx: include_bytes!("../models/fmnist_regular.onnx"),
        adapter_toml: include_str!("../adapters/fmnist_regular.toml"),
    },
    BundledModel {
        name: "robust",
        file: "models/fmnist_robust.onnx",
        onnx: include_bytes!("../models/fmnist_robust.onnx"),
        adapter_toml: include_str!("../adapters/fmnist_robust.toml"),
    },
    BundledModel {
        name: "judge",
        file: "models/fmnist_judge.onnx",
        onnx: include_bytes!("../models/fmnist_judge.onnx"),
        adapter_toml: include_str!("../adapters/fmnist_judge.toml"),
    },
    BundledModel {
        name: "judge_open",
        file: "models/fmnist_judge_open.onnx",
        onnx: include_bytes!("../models/fmnist_judge_open.onnx"),
        adapter_toml: include_str!("../adapters/fmnist_judge_open.toml"),
    },
    // The audio pair of `demo --audio`: men / non-human / women from 64x64 log-mel features.
    BundledModel {
        name: "voices_regular",
        file: "models/voices_regular.onnx",
        onnx: include_bytes!("../models/voices_regular.onnx"),
        adapter_toml: include_str!("../adapters/voices_regular.toml"),
    },
    BundledModel {
        name: "voices_judge",
        file: "models/voices_judge.onnx",
        onnx: include_bytes!("../models/voices_judge.onnx"),
        adapter_toml: include_str!("../adapters/voices_judge.toml"),
    },
];

/// A bundled model by name (`regular`, `robust`, `judge`, `judge_open`, `voices_regular`,
/// `voices_judge`).
pub fn bundled_model(name: &str) -> Result<&'static BundledModel> {
    BUNDLED_MODELS
        .iter()
        .find(|m| m.name == name)
        .ok_or_else(|| {
            let names: Vec<&str> = BUNDLED_MODELS.iter().map(|m| m.name).collect();
            anyhow::anyhow!(
                "no bundled model {name:?}; the bundled ones are {}",
                names.join(", ")
            )
        })
}

/// A bundled model's adapter, parsed.
pub fn bundled_adapter(name: &str) -> Result<crate::adapter::Adapter> {
    let m = bundled_model(name)?;
    let origin = format!("embedded {}", m.adapter_file());
    crate::adapter::Adapter::from_toml_str_in(m.adapter_toml, &origin, Path::new("adapters"))
}

/// A bundled model and its adapter written as files into `dir`, named as in the repository
/// (`models/fmnist_judge_open.onnx` → `dir/fmnist_judge_open.onnx` and `.toml`), the
/// adapter's `model` line pointing beside it: for commands that take model files.
pub fn write_bundled_model(name: &str, dir: &Path) -> Result<(PathBuf, PathBuf)> {
    let m = bundled_model(name)?;
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let stem = Path::new(m.file)
        .file_stem()
        .and_then(|s| s.to_str())
        .unwrap_or(name);
    let model = dir.join(format!("{stem}.onnx"));
    let adapter = dir.join(format!("{stem}.toml"));
    std::fs::write(&model, m.onnx).with_context(|| format!("writing {}", model.display()))?;
    std::fs::write(&adapter, m.adapter_toml.replace("../models/", ""))
        .with_context(|| format!("writing {}", adapter.display()))?;
    Ok((model, adapter))
}

/// A bundled model compiled for `device` behind its adapter, ready for training.
pub fn bundled_classifier(
    name: &str,
    device: &candle_core::Device,
) -> Result<crate::classifier::OnnxClassifier> {
    let m = bundled_model(name)?;
    let adapter = bundled_adapter(name)?;
    let model =
        crate::onnx::OnnxModel::from_bytes(m.onnx, &format!("embedded {}", m.file), device)?;
    crate::classifier::OnnxClassifier::new(model, adapter)
}
