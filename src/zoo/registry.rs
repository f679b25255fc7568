//! The registry: which models exist, where to download them and what their bytes hash to.
//! The built-in list is `models/zoo.toml` (embedded); users add entries to a second file of
//! the same format in their config directory.

use super::names::validate_name;
use anyhow::{bail, Context, Result};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// One downloadable model.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ZooEntry {
    /// Short name used on the command line and as the cache directory name.
    pub name: String,
    #[serde(default)]
    pub description: String,
    /// Mirrors of the same bytes, tried in order.
    pub urls: Vec<String>,
    /// Lower-case hex sha256 of the file.
    pub sha256: String,
    /// Size in bytes; required for built-in entries, optional for user entries.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub size: Option<u64>,
    #[serde(default = "unknown")]
    pub license: String,
    /// "image" or "audio".
    #[serde(default = "image")]
    pub modality: String,
    /// Built-in entries: repository-relative path of an embedded adapter
    /// (`adapters/zoo/NAME.toml`). User entries: absolute path of the user's adapter file.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub adapter: Option<String>,
    /// Where the sha256 and size were read (provenance, shown by `zoo list --json`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hash_source: Option<String>,
}

fn unknown() -> String {
    "unknown".into()
}
fn image() -> String {
    "image".into()
}

#[derive(Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct RegistryFile {
    #[serde(default, rename = "model")]
    models: Vec<ZooEntry>,
}

/// Where an entry came from: decides how its adapter path is interpreted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Origin {
    Builtin,
    User,
}

#[derive(Debug, Clone)]
pub struct Registry {
    entries: Vec<(ZooEntry, Origin)>,
}

/// The built-in registry text, embedded so the binary works from any directory.
pub const BUILTIN_REGISTRY: &str = include_str!("../../models/zoo.toml");

impl ZooEntry {
    /// Check every field that later becomes a path, a URL or a comparison.
    pub fn validate(&mut self, origin: &str) -> Result<()> {
        let ctx = || format!("{origin}: model `{}`", self.name);
        validate_name(&self.name).with_context(ctx)?;
        self.sha256 = normalize_sha256(&self.sha256).with_context(ctx)?;
        if self.urls.is_empty() {
            bail!("{}: no urls", ctx());
        }
        for url in &self.urls {
            check_url(url).with_context(ctx)?;
        }
        if self.size == Some(0) {
            bail!("{}: size 0", ctx());
        }
        if !matches!(self.modality.as_str(), "image" | "audio") {
            bail!(
                "{}: modality `{}` is not `image` or `audio`",
                ctx(),
                self.modality
            );
        }
        Ok(())
    }

    /// The model file's name inside its cache directory.
    pub fn file_name(&self) -> String {
        format!("{}.onnx", self.name)
    }
}

/// Lower-case a 64-digit hex sha256 or explain what is wrong with it.
pub fn normalize_sha256(text: &str) -> Result<String> {
    let t = text.trim().to_ascii_lowercase();
    if t.len() != 64 || !t.bytes().all(|b| b.is_ascii_hexdigit()) {
        bail!("sha256 `{text}` is not 64 hex digits");
    }
    Ok(t)
}

fn check_url(url: &str) -> Result<()> {
    let parsed = reqwest::Url::parse(url).with_context(|| format!("bad url `{url}`"))?;
    if !matches!(parsed.scheme(), "http" | "https") {
        bail!("url `{url}`: only http and https are supported");
    }
    Ok(())
}

impl Registry {
    /// Parse registry TOML; `origin` names the file in errors.
    pub fn from_toml_str(text: &str, origin: &str, kind: Origin) -> Result<Registry> {
        let file: RegistryFile =
            toml::from_str(text).with_context(|| format!("{origin}: not a valid zoo registry"))?;
        let mut reg = Registry {
            entries: Vec::new(),
        };
        for mut entry in file.models {
            entry.validate(origin)?;
            if kind == Origin::Builtin && entry.size.is_none() {
                bail!("{origin}: model `{}` has no size", entry.name);
            }
            reg.insert(entry, kind, origin)?;
        }
        Ok(reg)
    }

    /// Only the embedded list.
    pub fn builtin() -> Result<Registry> {
        Registry::from_toml_str(
            BUILTIN_REGISTRY,
            "models/zoo.toml (built in)",
            Origin::Builtin,
        )
    }

    /// The embedded list plus the user registry in `config_dir` (if present).
    pub fn load(config_dir: &Path) -> Result<Registry> {
        let mut reg = Registry::builtin()?;
        let user = user_registry_path(config_dir);
        if user.exists() {
            let text = std::fs::read_to_string(&user)
                .with_context(|| format!("reading {}", user.display()))?;
            let origin = user.display().to_string();
            let extra = Registry::from_toml_str(&text, &origin, Origin::User)?;
            for (entry, kind) in extra.entries {
                reg.insert(entry, kind, &origin)?;
            }
        }
        Ok(reg)
    }

    fn insert(&mut self, entry: ZooEntry, kind: Origin, origin: &str) -> Result<()> {
        if self.get(&entry.name).is_some() {
            bail!("{origin}: model `{}` is defined twice", entry.name);
        }
        self.entries.push((entry, kind));
        Ok(())
    }

    pub fn get(&self, name: &str) -> Option<(&ZooEntry, Origin)> {
        self.entries
            .iter()
            .find(|(e, _)| e.name == name)
            .map(|(e, o)| (e, *o))
    }

    /// Look a name up or list the known names in the error.
    pub fn require(&self, name: &str) -> Result<(&ZooEntry, Origin)> {
        self.get(name).ok_or_else(|| {
            anyhow::anyhow!(
                "`{name}` is neither an existing file nor a zoo model; known models: {}",
                self.names().join(", ")
            )
        })
    }

    pub fn entries(&self) -> impl Iterator<Item = (&ZooEntry, Origin)> {
        self.entries.iter().map(|(e, o)| (e, *o))
    }

    pub fn names(&self) -> Vec<&str> {
        self.entries.iter().map(|(e, _)| e.name.as_str()).collect()
    }
}

/// `CONFIG/zoo.toml`: the user's additions.
pub fn user_registry_path(config_dir: &Path) -> PathBuf {
    config_dir.join("zoo.toml")
}

/// Add an entry to the user registry (validated; names must be new), written atomically.
pub fn add_user_entry(config_dir: &Path, mut entry: ZooEntry) -> Result<PathBuf> {
    let path = user_registry_path(config_dir);
    entry.validate("zoo add")?;
    let existing = Registry::load(config_dir)?;
    if let Some((_, origin)) = existing.get(&entry.name) {
        let what = match origin {
            Origin::Builtin => "a built-in model",
            Origin::User => "already in your registry",
        };
        bail!(
            "`{}` is {what} ({}); pick another name",
            entry.name,
            path.display()
        );
    }
    let mut file: RegistryFile = if path.exists() {
        let text = std::fs::read_to_string(&path)
            .with_context(|| format!("reading {}", path.display()))?;
        toml::from_str(&text)
            .with_context(|| format!("{}: not a valid zoo registry", path.display()))?
    } else {
        RegistryFile::default()
    };
    file.models.push(entry);
    let text = toml::to_string_pretty(&file).context("serialising the user registry")?;
    std::fs::create_dir_all(config_dir)
        .with_context(|| format!("creating config dir {}", config_dir.display()))?;
    super::atomic::write_file_atomic(&path, text.as_bytes())?;
    Ok(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builtin_registry_is_valid() {
        let reg = Registry::builtin().unwrap();
        assert!(reg.names().len() >= 5);
        for (e, _) in reg.entries() {
            assert!(
                e.urls.iter().all(|u| u.starts_with("https://")),
                "{}",
                e.name
            );
            assert!(e.hash_source.is_some(), "{} has no hash_source", e.name);
            assert!(e.adapter.is_some(), "{} has no adapter", e.name);
        }
    }

    #[test]
    fn rejects_bad_fields() {
        let base = |name: &str, sha: &str, url: &str| {
            format!(
                "[[model]]\nname = \"{name}\"\nurls = [\"{url}\"]\nsha256 = \"{sha}\"\nsize = 1\n"
            )
        };
        let sha = "a".repeat(64);
        assert!(
            Registry::from_toml_str(&base("ok", &sha, "https://x/y"), "t", Origin::User).is_ok()
        );
        assert!(
            Registry::from_toml_str(&base("../evil", &sha, "https://x/y"), "t", Origin::User)
                .is_err()
        );
        assert!(
            Registry::from_toml_str(&base("/abs", &sha, "https://x/y"), "t", Origin::User).is_err()
        );
        assert!(
            Registry::from_toml_str(&base("ok", "abc", "https://x/y"), "t", Origin::User).is_err()
        );
        assert!(Registry::from_toml_str(
            &base("ok", &sha, "file:///etc/passwd"),
            "t",
            Origin::User
        )
        .is_err());
        let twice = format!(
            "{}{}",
            base("a", &sha, "https://x"),
            base("a", &sha, "https://x")
        );
        assert!(Registry::from_toml_str(&twice, "t", Origin::User).is_err());
    }
}
