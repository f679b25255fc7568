//! Zoo names become directory names under the cache: this file is the one place that
//! decides which names are safe, so no registry entry can write outside the cache.

use anyhow::{bail, Result};
use std::path::{Component, Path, PathBuf};

/// Longest accepted name; keeps paths well under filesystem limits.
const MAX_NAME_LEN: usize = 64;

/// Accept `[A-Za-z0-9._-]`, not starting with `.` or `-`. That rules out `/`, `\`, `..`,
/// absolute paths, drive letters, hidden files and option-like names in one rule.
pub fn validate_name(name: &str) -> Result<()> {
    if name.is_empty() {
        bail!("zoo name is empty");
    }
    if name.len() > MAX_NAME_LEN {
        bail!("zoo name `{name}` is longer than {MAX_NAME_LEN} characters");
    }
    if name.starts_with('.') || name.starts_with('-') {
        bail!("zoo name `{name}` must not start with `.` or `-`");
    }
    if let Some(bad) = name
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-')))
    {
        bail!(
            "zoo name `{name}` contains {bad:?}; names may only use letters, digits, `.`, `_` \
             and `-` (they become directory names in the cache)"
        );
    }
    Ok(())
}

/// `root/name` for a validated name, checked once more to be a direct child of `root`.
pub fn child_dir(root: &Path, name: &str) -> Result<PathBuf> {
    validate_name(name)?;
    let rel = Path::new(name);
    let mut components = rel.components();
    match (components.next(), components.next()) {
        (Some(Component::Normal(_)), None) => Ok(root.join(rel)),
        _ => bail!("zoo name `{name}` does not name a single directory"),
    }
}

/// A file name inside a model directory (the model file, the adapter, a labels file).
pub fn validate_file_name(file: &str) -> Result<()> {
    validate_name(file).map_err(|e| anyhow::anyhow!("file name `{file}`: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_usual_names() {
        for n in ["resnet50-v2", "squeezenet1.1", "mnist_8", "VGG16"] {
            validate_name(n).unwrap();
        }
    }

    #[test]
    fn rejects_escaping_names() {
        for n in [
            "", "..", ".", "../x", "a/b", "/abs", "a\\b", "C:x", ".hidden", "-rf", "a b", "x\0",
        ] {
            assert!(validate_name(n).is_err(), "{n:?} accepted");
        }
        assert!(child_dir(Path::new("/c"), "../x").is_err());
        assert_eq!(child_dir(Path::new("/c"), "m").unwrap(), Path::new("/c/m"));
    }
}
