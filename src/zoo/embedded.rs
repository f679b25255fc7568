//! Adapters and label files of the built-in zoo entries, embedded in the binary, and how they
//! are written next to a fetched model so that `Adapter::load` finds its labels file.

use super::atomic::write_file_atomic;
use anyhow::{bail, Result};
use std::path::{Path, PathBuf};

/// (repository-relative path, contents) of every built-in adapter.
pub const ADAPTERS: &[(&str, &str)] = &[
    (
        "adapters/zoo/mnist-8.toml",
        include_str!("../../adapters/zoo/mnist-8.toml"),
    ),
    (
        "adapters/zoo/squeezenet1.1.toml",
        include_str!("../../adapters/zoo/squeezenet1.1.toml"),
    ),
    (
        "adapters/zoo/mobilenetv2.toml",
        include_str!("../../adapters/zoo/mobilenetv2.toml"),
    ),
    (
        "adapters/zoo/shufflenet-v2.toml",
        include_str!("../../adapters/zoo/shufflenet-v2.toml"),
    ),
    (
        "adapters/zoo/resnet18-v2.toml",
        include_str!("../../adapters/zoo/resnet18-v2.toml"),
    ),
    (
        "adapters/zoo/resnet50-v2.toml",
        include_str!("../../adapters/zoo/resnet50-v2.toml"),
    ),
    (
        "adapters/zoo/efficientnet-lite4.toml",
        include_str!("../../adapters/zoo/efficientnet-lite4.toml"),
    ),
    (
        "adapters/zoo/vgg16.toml",
        include_str!("../../adapters/zoo/vgg16.toml"),
    ),
];

/// (repository-relative path, contents) of label files the built-in adapters reference.
pub const LABEL_FILES: &[(&str, &str)] = &[(
    "models/imagenet_labels.txt",
    include_str!("../../models/imagenet_labels.txt"),
)];

/// The embedded adapter text for a repository-relative path.
pub fn adapter_text(repo_path: &str) -> Option<&'static str> {
    ADAPTERS
        .iter()
        .find(|(p, _)| *p == repo_path)
        .map(|(_, t)| *t)
}

/// Name of the adapter file inside a model's cache directory.
pub const ADAPTER_FILE: &str = "adapter.toml";

/// Write a built-in adapter into `model_dir`, with each label file it references copied
/// beside it and the reference rewritten to the bare file name. Files are only rewritten
/// when their content differs, so concurrent readers never see a half-written file.
pub fn materialize_adapter(repo_path: &str, model_dir: &Path) -> Result<PathBuf> {
    let Some(text) = adapter_text(repo_path) else {
        bail!("built-in adapter `{repo_path}` is not embedded in this binary");
    };
    let adapter_dir = Path::new(repo_path).parent().unwrap_or(Path::new(""));
    let mut text = text.to_string();
    for (label_path, contents) in LABEL_FILES {
        let relative = relative_path(adapter_dir, Path::new(label_path));
        let quoted = format!("\"{relative}\"");
        if text.contains(&quoted) {
            let file_name = Path::new(label_path)
                .file_name()
                .unwrap()
                .to_string_lossy()
                .into_owned();
            super::names::validate_file_name(&file_name)?;
            write_if_changed(&model_dir.join(&file_name), contents.as_bytes())?;
            text = text.replace(&quoted, &format!("\"{file_name}\""));
        }
    }
    let path = model_dir.join(ADAPTER_FILE);
    write_if_changed(&path, text.as_bytes())?;
    Ok(path)
}

fn write_if_changed(path: &Path, bytes: &[u8]) -> Result<()> {
    if std::fs::read(path).map(|old| old == bytes).unwrap_or(false) {
        return Ok(());
    }
    write_file_atomic(path, bytes)
}

/// `to` relative to directory `from`, both repository-relative with `/` separators.
fn relative_path(from: &Path, to: &Path) -> String {
    let from: Vec<_> = from.components().collect();
    let to: Vec<_> = to.components().collect();
    let common = from.iter().zip(&to).take_while(|(a, b)| a == b).count();
    let mut parts: Vec<String> = vec!["..".to_string(); from.len() - common];
    parts.extend(
        to[common..]
            .iter()
            .map(|c| c.as_os_str().to_string_lossy().into_owned()),
    );
    parts.join("/")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn relative_paths() {
        assert_eq!(
            relative_path(Path::new("adapters/zoo"), Path::new("models/x.txt")),
            "../../models/x.txt"
        );
        assert_eq!(
            relative_path(Path::new("models"), Path::new("models/x.txt")),
            "x.txt"
        );
    }

    #[test]
    fn every_builtin_entry_has_an_embedded_adapter() {
        let reg = super::super::registry::Registry::builtin().unwrap();
        for (e, _) in reg.entries() {
            let a = e.adapter.as_deref().unwrap();
            assert!(
                adapter_text(a).is_some(),
                "{}: adapter {a} not embedded",
                e.name
            );
        }
        assert_eq!(
            ADAPTERS.len(),
            reg.names().len(),
            "an embedded adapter has no registry entry"
        );
    }

    #[test]
    fn imagenet_labels_are_1000_unique_lines() {
        let text = LABEL_FILES[0].1;
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 1000);
        let unique: std::collections::HashSet<_> = lines.iter().collect();
        assert_eq!(unique.len(), 1000, "duplicate ImageNet label lines");
        assert_eq!(lines[0], "tench, Tinca tinca");
        assert_eq!(lines[999], "toilet tissue, toilet paper, bathroom tissue");
    }
}
