//! `probegan zoo list|fetch|add|path`: thin wrappers over `crate::zoo`.

use crate::zoo::{self, registry, Origin, Registry, ZooEntry, ZooOptions};
use anyhow::{bail, Context, Result};
use std::path::PathBuf;

#[derive(clap::Subcommand, Debug)]
pub enum ZooCommand {
    /// List the registered models (built-in and your own) and whether each is cached.
    List {
        /// Print JSON (one array of entries) instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Download a model (resuming an interrupted download), check its size and sha256, and
    /// write its adapter beside it. A cached model is re-verified instead.
    Fetch {
        /// Zoo name (see `probegan zoo list`).
        name: String,
        /// Put the model in DIR/NAME/ instead of the cache.
        #[arg(long, value_name = "DIR")]
        dir: Option<PathBuf>,
        /// Never use the network: only verify an already present file.
        #[arg(long, env = "PROBEGAN_OFFLINE")]
        offline: bool,
    },
    /// Register your own ONNX model in the user registry (config dir, or $PROBEGAN_CONFIG_DIR).
    Add {
        /// New zoo name: letters, digits, `.`, `_`, `-`.
        name: String,
        /// Download URL (repeat for mirrors, tried in order).
        #[arg(long = "url", required = true, value_name = "URL")]
        urls: Vec<String>,
        /// Expected sha256 of the file (64 hex digits).
        #[arg(long)]
        sha256: String,
        /// Adapter TOML for the model; its absolute path is recorded.
        #[arg(long, value_name = "A.toml")]
        adapter: PathBuf,
        /// Expected size in bytes (checked before and after downloading).
        #[arg(long)]
        size: Option<u64>,
        #[arg(long, default_value = "unknown")]
        license: String,
        #[arg(long, default_value = "")]
        description: String,
    },
    /// Print the path of a cached model (or of its adapter); fails if it is not cached.
    Path {
        name: String,
        /// Print the adapter's path instead of the model's.
        #[arg(long)]
        adapter: bool,
    },
}

pub fn run(cmd: ZooCommand) -> Result<()> {
    let mut opts = ZooOptions::from_env()?;
    match cmd {
        ZooCommand::List { json } => list(&opts, json),
        ZooCommand::Fetch { name, dir, offline } => {
            opts.offline |= offline;
            let registry = Registry::load(&opts.config_dir)?;
            let (entry, origin) = registry.require(&name)?;
            let root = dir.unwrap_or_else(|| opts.zoo_root());
            let fetched = zoo::fetch(entry, origin, &root, &opts, true)?;
            let what = if fetched.downloaded {
                "downloaded and verified"
            } else {
                "already present, verified"
            };
            eprintln!("{}: {what} (sha256 {})", entry.name, entry.sha256);
            println!("{}", fetched.model.display());
            if let Some(a) = fetched.adapter {
                eprintln!("adapter: {}", a.display());
            }
            Ok(())
        }
        ZooCommand::Add {
            name,
            urls,
            sha256,
            adapter,
            size,
            license,
            description,
        } => {
            let adapter = adapter
                .canonicalize()
                .with_context(|| format!("adapter {}", adapter.display()))?;
            crate::adapter::Adapter::load(&adapter)?;
            let entry = ZooEntry {
                name,
                description,
                urls,
                sha256,
                size,
                license,
                modality: "image".into(),
                adapter: Some(adapter.to_string_lossy().into_owned()),
                hash_source: Some("given to `probegan zoo add`".into()),
            };
            let path = registry::add_user_entry(&opts.config_dir, entry.clone())?;
            eprintln!("added `{}` to {}", entry.name, path.display());
            Ok(())
        }
        ZooCommand::Path { name, adapter } => {
            let registry = Registry::load(&opts.config_dir)?;
            let (entry, origin) = registry.require(&name)?;
            let root = opts.zoo_root();
            if !zoo::is_cached(entry, &root) {
                bail!("zoo model `{name}` is not cached; run `probegan zoo fetch {name}`");
            }
            // Offline: this command only reports what is on disk.
            opts.offline = true;
            let fetched = zoo::fetch(entry, origin, &root, &opts, false)?;
            if adapter {
                match fetched.adapter {
                    Some(a) => println!("{}", a.display()),
                    None => bail!("zoo model `{name}` has no adapter"),
                }
            } else {
                println!("{}", fetched.model.display());
            }
            Ok(())
        }
    }
}

fn list(opts: &ZooOptions, json: bool) -> Result<()> {
    let registry = Registry::load(&opts.config_dir)?;
    let root = opts.zoo_root();
    if json {
        let items: Vec<serde_json::Value> = registry
            .entries()
            .map(|(e, origin)| {
                let mut v = serde_json::to_value(e).expect("entries serialise");
                v["origin"] = serde_json::to_value(origin).expect("origin serialises");
                v["cached"] = zoo::is_cached(e, &root).into();
                v["path"] = zoo::model_path(e, &root)
                    .map(|p| p.display().to_string())
                    .unwrap_or_default()
                    .into();
                v
            })
            .collect();
        println!("{}", serde_json::to_string_pretty(&items)?);
        return Ok(());
    }
    println!(
        "{:<20} {:>10} {:<13} {:<7} DESCRIPTION",
        "NAME", "SIZE", "LICENSE", "CACHED"
    );
    for (e, origin) in registry.entries() {
        let size = e.size.map(human_size).unwrap_or_else(|| "?".into());
        let cached = if zoo::is_cached(e, &root) {
            "yes"
        } else {
            "no"
        };
        let mut desc = e.description.clone();
        if origin == Origin::User {
            desc = format!("(yours) {desc}");
        }
        if desc.chars().count() > 70 {
            desc = desc.chars().take(67).collect::<String>() + "...";
        }
        println!(
            "{:<20} {:>10} {:<13} {:<7} {}",
            e.name, size, e.license, cached, desc
        );
    }
    println!("\ncache: {}", root.display());
    Ok(())
}

fn human_size(bytes: u64) -> String {
    let b = bytes as f64;
    if b >= 1e9 {
        format!("{:.1} GB", b / 1e9)
    } else if b >= 1e6 {
        format!("{:.1} MB", b / 1e6)
    } else if b >= 1e3 {
        format!("{:.1} kB", b / 1e3)
    } else {
        format!("{bytes} B")
    }
}
