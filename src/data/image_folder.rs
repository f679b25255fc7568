//! Image folders: one subfolder per class (`root/<class>/*.png|jpg`), optionally under
//! `root/train/` and `root/test/`.

use super::images::decode_image;
use super::{Dataset, LoadOptions, LoadReport, Split};
use anyhow::{bail, Context, Result};
use std::path::{Path, PathBuf};

const IMAGE_EXTENSIONS: [&str; 4] = ["png", "jpg", "jpeg", "bmp"];

fn is_image(p: &Path) -> bool {
    p.extension()
        .and_then(|e| e.to_str())
        .map(|e| IMAGE_EXTENSIONS.contains(&e.to_ascii_lowercase().as_str()))
        .unwrap_or(false)
}

/// A folder's entries, sorted (so every machine sees the same order).
pub(crate) fn sorted_entries(dir: &Path) -> Result<Vec<PathBuf>> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir)
        .with_context(|| format!("{}: cannot list directory", dir.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .collect();
    v.sort();
    Ok(v)
}

/// Whether `root` has `train/` and `test/` subfolders (a pre-split image folder).
pub fn has_split_folders(root: &Path) -> bool {
    root.join("train").is_dir() && root.join("test").is_dir()
}

/// Whether `root` looks like an image folder (class subfolders holding images).
pub fn is_image_folder(root: &Path) -> bool {
    is_class_folder_of(root, is_image)
}

/// Whether `root` (or its `train/`) has a class subfolder holding a file `is_member` accepts.
pub(crate) fn is_class_folder_of(root: &Path, is_member: impl Fn(&Path) -> bool) -> bool {
    let base = if has_split_folders(root) {
        root.join("train")
    } else {
        root.to_path_buf()
    };
    sorted_entries(&base)
        .map(|v| {
            v.iter().any(|d| {
                d.is_dir()
                    && sorted_entries(d)
                        .map(|f| f.iter().any(|p| is_member(p)))
                        .unwrap_or(false)
            })
        })
        .unwrap_or(false)
}

/// Load an image folder. With `train/`/`test/` subfolders `split` picks one (class names are
/// the union of both, so labels agree); without them the whole folder is returned.
pub fn load_image_folder(
    root: &Path,
    split: Option<Split>,
    opts: &LoadOptions,
) -> Result<(Dataset, LoadReport)> {
    let (base, class_dirs) = if has_split_folders(root) {
        let split = split.unwrap_or(Split::Train);
        let mut names: Vec<String> = Vec::new();
        for s in ["train", "test"] {
            for d in sorted_entries(&root.join(s))? {
                if d.is_dir() {
                    names.push(d.file_name().unwrap().to_string_lossy().into_owned());
                }
            }
        }
        names.sort();
        names.dedup();
        (root.join(split.name()), names)
    } else {
        let names = sorted_entries(root)?
            .into_iter()
            .filter(|d| d.is_dir())
            .map(|d| d.file_name().unwrap().to_string_lossy().into_owned())
            .collect();
        (root.to_path_buf(), names)
    };
    if class_dirs.is_empty() {
        bail!(
            "{}: no class subfolders (expected {}/<class>/*.png)",
            base.display(),
            base.display()
        );
    }
    let mut files = Vec::new();
    for (label, name) in class_dirs.iter().enumerate() {
        let dir = base.join(name);
        if !dir.is_dir() {
            continue;
        }
        for f in sorted_entries(&dir)? {
            if f.is_file() && is_image(&f) {
                files.push((f, label as u32));
            }
        }
    }
    if files.is_empty() {
        bail!(
            "{}: the class subfolders hold no images (.png, .jpg, .jpeg, .bmp)",
            base.display()
        );
    }
    decode_all(
        files.into_iter().map(|(f, l)| (f, l, None, String::new())),
        class_dirs,
        None,
        opts,
    )
}

/// Decode `(file, label, group, row description)` items into a dataset, honouring `skip_bad`.
pub(crate) fn decode_all(
    items: impl Iterator<Item = (PathBuf, u32, Option<u32>, String)>,
    class_names: Vec<String>,
    group_names: Option<Vec<String>>,
    opts: &LoadOptions,
) -> Result<(Dataset, LoadReport)> {
    let channels = opts.channels.unwrap_or(3);
    let mut size = opts.size;
    let mut images = Vec::new();
    let mut labels = Vec::new();
    let mut groups = Vec::new();
    let mut report = LoadReport::default();
    for (file, label, group, row) in items {
        let where_ = if row.is_empty() {
            String::new()
        } else {
            format!(" ({row})")
        };
        match decode_image(&file, channels, size) {
            Ok((px, h, w)) => {
                match size {
                    None => size = Some((h, w)),
                    Some(s) if s != (h, w) => {
                        let msg = format!(
                            "{}{where_}: image is {h}x{w} but earlier ones are {}x{}; pass a size to resize all",
                            file.display(),
                            s.0,
                            s.1
                        );
                        if opts.skip_bad {
                            report.skip(msg);
                            continue;
                        }
                        bail!(msg);
                    }
                    _ => {}
                }
                images.extend(px);
                labels.push(label);
                if let Some(g) = group {
                    groups.push(g);
                }
            }
            Err(e) => {
                if opts.skip_bad {
                    report.skip(format!("{e:#}{where_}"));
                } else {
                    return Err(e.context(format!(
                        "bad image{where_} (use --skip-bad to skip such images)"
                    )));
                }
            }
        }
    }
    let (h, w) = match size {
        Some(s) if !labels.is_empty() => s,
        _ => bail!(
            "no readable images ({} skipped; first problem: {})",
            report.skipped,
            report.problems.first().cloned().unwrap_or_default()
        ),
    };
    report.loaded = labels.len();
    let groups = group_names.map(|names| (groups, names));
    Ok((
        Dataset::new(images, (channels, h, w), labels, class_names, groups)?,
        report,
    ))
}
