//! The class side of an adapter: the model's labels (inline names or a labels file), the
//! `subset` that picks the problem's classes among the model's logits, and the mapping of
//! the model's logits onto those classes.
//!
//! One file because the three are one map: the problem class `i` is named `class_names[i]`
//! and read from logit `logit_indices[i]`.

use super::check::first_duplicate;
use super::file::{ClassesFile, SubsetEntry};
use super::Adapter;
use anyhow::{anyhow, bail, Context, Result};
use candle_core::Tensor;
use std::path::{Path, PathBuf};

/// The `[classes]` section, resolved.
pub(super) struct ClassMap {
    /// Names of all model logits when known (names or labels file).
    pub model_labels: Option<Vec<String>>,
    pub class_names: Vec<String>,
    /// Model logit index per problem class; `None` means all logits, in order.
    pub logit_indices: Option<Vec<usize>>,
}

/// Resolve `[classes]`; `resolve` turns a path written in the file into one to open, and
/// `origin` names the adapter in errors.
pub(super) fn resolve_classes(
    classes: &ClassesFile,
    origin: &str,
    resolve: impl Fn(&str) -> PathBuf,
) -> Result<ClassMap> {
    let model_labels = match (&classes.names, &classes.labels_file) {
        (Some(_), Some(_)) => {
            bail!("{origin}: [classes] give either `names` or `labels_file`, not both")
        }
        (Some(n), None) => Some(n.clone()),
        (None, Some(f)) => Some(read_labels_file(&resolve(f), origin)?),
        (None, None) => None,
    };
    if let Some(labels) = &model_labels {
        if labels.is_empty() {
            bail!("{origin}: [classes] `names` is empty");
        }
        if let Some(dup) = first_duplicate(labels) {
            bail!("{origin}: [classes] class name {dup:?} appears twice");
        }
    }
    let (class_names, logit_indices) = match &classes.subset {
        None => match &model_labels {
            Some(l) => (l.clone(), None),
            None => bail!("{origin}: [classes] needs `names`, `labels_file`, or a `subset` of indices with names"),
        },
        Some(entries) => {
            if entries.is_empty() {
                bail!("{origin}: [classes] `subset` is empty");
            }
            let mut names = Vec::new();
            let mut indices = Vec::new();
            for (i, e) in entries.iter().enumerate() {
                let (name, index) = resolve_subset_entry(e, model_labels.as_deref())
                    .map_err(|err| anyhow!("{origin}: [classes] subset entry {i}: {err}"))?;
                names.push(name);
                indices.push(index);
            }
            if let Some(dup) = first_duplicate(&names) {
                bail!("{origin}: [classes] subset names class {dup:?} twice");
            }
            (names, Some(indices))
        }
    };
    Ok(ClassMap {
        model_labels,
        class_names,
        logit_indices,
    })
}

/// One label per non-empty line, trimmed.
fn read_labels_file(path: &Path, origin: &str) -> Result<Vec<String>> {
    let text = std::fs::read_to_string(path).with_context(|| {
        format!(
            "{origin}: [classes] cannot read labels_file {}",
            path.display()
        )
    })?;
    let labels: Vec<String> = text
        .lines()
        .map(|l| l.trim().to_string())
        .filter(|l| !l.is_empty())
        .collect();
    if labels.is_empty() {
        bail!(
            "{origin}: [classes] labels_file {} has no labels",
            path.display()
        );
    }
    Ok(labels)
}

fn resolve_subset_entry(e: &SubsetEntry, labels: Option<&[String]>) -> Result<(String, usize)> {
    let by_label = |l: &str| -> Result<usize> {
        let labels = labels.ok_or_else(|| {
            anyhow!("class {l:?} given by name, but the adapter has no `names` or `labels_file`")
        })?;
        labels.iter().position(|x| x == l).ok_or_else(|| {
            let close: Vec<&String> = labels
                .iter()
                .filter(|x| x.to_lowercase().contains(&l.to_lowercase()))
                .take(5)
                .collect();
            if close.is_empty() {
                anyhow!(
                    "unknown class name {l:?} (not among the model's {} labels)",
                    labels.len()
                )
            } else {
                anyhow!("unknown class name {l:?}; did you mean one of {close:?}?")
            }
        })
    };
    let check_index = |i: i64| -> Result<usize> {
        if i < 0 {
            bail!("logit index {i} is negative");
        }
        let i = i as usize;
        if let Some(l) = labels {
            if i >= l.len() {
                bail!("logit index {i} is out of range for {} labels", l.len());
            }
        }
        Ok(i)
    };
    let label_of = |i: usize| labels.map(|l| l[i].clone());
    Ok(match e {
        SubsetEntry::Index(i) => {
            let i = check_index(*i)?;
            (label_of(i).unwrap_or_else(|| format!("class {i}")), i)
        }
        SubsetEntry::Label(l) => (l.clone(), by_label(l)?),
        SubsetEntry::Named { name, index, label } => {
            let i = match (index, label) {
                (Some(_), Some(_)) => bail!("give `index` or `label`, not both"),
                (Some(i), None) => check_index(*i)?,
                (None, Some(l)) => by_label(l)?,
                (None, None) => match name {
                    Some(n) => by_label(n)?,
                    None => bail!("needs `index`, `label` or `name`"),
                },
            };
            let name = name
                .clone()
                .or_else(|| label.clone())
                .or_else(|| label_of(i))
                .unwrap_or_else(|| format!("class {i}"));
            (name, i)
        }
    })
}

impl Adapter {
    /// The problem's class names, index-aligned with `select_logits`' output.
    pub fn class_names(&self) -> &[String] {
        &self.class_names
    }

    /// Model logit index of each problem class (`None`: identity over all logits).
    pub fn logit_indices(&self) -> Option<&[usize]> {
        self.logit_indices.as_deref()
    }

    /// Map the model's full logits ([N, K]) onto the problem's classes ([N, num_classes]).
    pub fn select_logits(&self, logits: &Tensor) -> Result<Tensor> {
        let logits = if logits.rank() > 2 {
            logits.flatten_from(1)?
        } else {
            logits.clone()
        };
        let k = logits.dim(logits.rank() - 1)?;
        match &self.logit_indices {
            None => {
                if k != self.class_names.len() {
                    bail!(
                        "{}: the model returned {k} logits but the adapter names {} classes",
                        self.origin_str(),
                        self.class_names.len()
                    );
                }
                Ok(logits)
            }
            Some(ix) => {
                if let Some(&bad) = ix.iter().find(|&&j| j >= k) {
                    bail!(
                        "{}: logit index {bad} is out of range for the model's {k} logits",
                        self.origin_str()
                    );
                }
                let idx = Tensor::from_vec(
                    ix.iter().map(|&j| j as u32).collect::<Vec<_>>(),
                    ix.len(),
                    logits.device(),
                )?;
                Ok(logits.index_select(&idx, logits.rank() - 1)?)
            }
        }
    }
}
