//! A problem's class space: class names, index-aligned with the classifier's (or a subset's)
//! logits, and the one rule by which a user's words name a class.

use anyhow::{bail, Result};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClassSpace {
    names: Vec<String>,
}

impl ClassSpace {
    pub fn new(names: Vec<String>) -> Self {
        ClassSpace { names }
    }

    pub fn names(&self) -> &[String] {
        &self.names
    }

    pub fn len(&self) -> usize {
        self.names.len()
    }

    pub fn is_empty(&self) -> bool {
        self.names.is_empty()
    }

    /// The class a user means by `wanted`: its exact name, else its name in any case, else
    /// its index. `whose` says where the list comes from in the error ("the run", "data.unseen").
    pub fn index(&self, wanted: &str, whose: &str) -> Result<usize> {
        let found = self
            .names
            .iter()
            .position(|n| n == wanted)
            .or_else(|| {
                self.names
                    .iter()
                    .position(|n| n.eq_ignore_ascii_case(wanted))
            })
            .or_else(|| {
                wanted
                    .trim()
                    .parse::<usize>()
                    .ok()
                    .filter(|&i| i < self.names.len())
            });
        match found {
            Some(i) => Ok(i),
            None => bail!(
                "{whose}: unknown class `{wanted}`; the classes are: {}",
                self.names.join(", ")
            ),
        }
    }

    /// Indices of several classes, in the order given, each once.
    pub fn indices(&self, wanted: &[String], whose: &str) -> Result<Vec<usize>> {
        let mut out = vec![];
        for w in wanted {
            let i = self.index(w, whose)?;
            if !out.contains(&i) {
                out.push(i);
            }
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_any_case_and_indices_name_a_class() {
        let space = ClassSpace::new(vec!["T-shirt/top".into(), "Trouser".into(), "7".into()]);
        assert_eq!(space.index("Trouser", "x").unwrap(), 1);
        assert_eq!(space.index("trouser", "x").unwrap(), 1);
        assert_eq!(space.index("0", "x").unwrap(), 0);
        // A class literally named "7" wins over index 7 (which does not exist anyway).
        assert_eq!(space.index("7", "x").unwrap(), 2);
        let e = space.index("Bag", "data.unseen").unwrap_err().to_string();
        assert!(
            e.contains("data.unseen: unknown class `Bag`") && e.contains("Trouser"),
            "{e}"
        );
        assert!(space.index("3", "x").is_err());
        let wanted = ["trouser".to_string(), "Trouser".into(), "0".into()];
        assert_eq!(space.indices(&wanted, "x").unwrap(), vec![1, 0]);
    }
}
