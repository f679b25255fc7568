//! Typed access to a node's attributes, with errors that name the node.

use super::value::MAX_ELEMENTS;
use anyhow::{bail, Result};
use tract_onnx::pb;

pub struct Attrs<'a> {
    node: &'a pb::NodeProto,
}

impl<'a> Attrs<'a> {
    pub fn new(node: &'a pb::NodeProto) -> Self {
        Attrs { node }
    }

    fn get(&self, name: &str) -> Option<&'a pb::AttributeProto> {
        self.node.attribute.iter().find(|a| a.name == name)
    }

    pub fn has(&self, name: &str) -> bool {
        self.get(name).is_some()
    }

    fn kind_err<T>(&self, name: &str, want: &str) -> Result<T> {
        bail!("attribute `{name}` should be {want}")
    }

    pub fn int(&self, name: &str, default: i64) -> Result<i64> {
        Ok(self.opt_int(name)?.unwrap_or(default))
    }

    pub fn opt_int(&self, name: &str) -> Result<Option<i64>> {
        match self.get(name) {
            None => Ok(None),
            Some(a)
                if a.r#type == pb::attribute_proto::AttributeType::Int as i32 || a.r#type == 0 =>
            {
                Ok(Some(a.i))
            }
            Some(_) => self.kind_err(name, "an int"),
        }
    }

    pub fn float(&self, name: &str, default: f32) -> Result<f32> {
        Ok(self.opt_float(name)?.unwrap_or(default))
    }

    pub fn opt_float(&self, name: &str) -> Result<Option<f32>> {
        match self.get(name) {
            None => Ok(None),
            Some(a)
                if a.r#type == pb::attribute_proto::AttributeType::Float as i32
                    || a.r#type == 0 =>
            {
                Ok(Some(a.f))
            }
            Some(_) => self.kind_err(name, "a float"),
        }
    }

    pub fn opt_ints(&self, name: &str) -> Result<Option<Vec<i64>>> {
        match self.get(name) {
            None => Ok(None),
            Some(a)
                if a.r#type == pb::attribute_proto::AttributeType::Ints as i32 || a.r#type == 0 =>
            {
                Ok(Some(a.ints.clone()))
            }
            Some(_) => self.kind_err(name, "a list of ints"),
        }
    }

    pub fn opt_floats(&self, name: &str) -> Result<Option<Vec<f32>>> {
        match self.get(name) {
            None => Ok(None),
            Some(a)
                if a.r#type == pb::attribute_proto::AttributeType::Floats as i32
                    || a.r#type == 0 =>
            {
                Ok(Some(a.floats.clone()))
            }
            Some(_) => self.kind_err(name, "a list of floats"),
        }
    }

    pub fn string(&self, name: &str, default: &str) -> Result<String> {
        match self.get(name) {
            None => Ok(default.to_string()),
            Some(a)
                if a.r#type == pb::attribute_proto::AttributeType::String as i32
                    || a.r#type == 0 =>
            {
                Ok(String::from_utf8_lossy(&a.s).into_owned())
            }
            Some(_) => self.kind_err(name, "a string"),
        }
    }

    pub fn opt_strings(&self, name: &str) -> Result<Option<Vec<String>>> {
        match self.get(name) {
            None => Ok(None),
            Some(a)
                if a.r#type == pb::attribute_proto::AttributeType::Strings as i32
                    || a.r#type == 0 =>
            {
                Ok(Some(
                    a.strings
                        .iter()
                        .map(|s| String::from_utf8_lossy(s).into_owned())
                        .collect(),
                ))
            }
            Some(_) => self.kind_err(name, "a list of strings"),
        }
    }

    /// A subgraph attribute (If branches).
    pub fn graph(&self, name: &str) -> Result<&'a pb::GraphProto> {
        match self.get(name) {
            None => bail!("attribute `{name}` (a graph) is missing"),
            Some(a) => match a.g.as_ref() {
                Some(g) => Ok(g),
                None => self.kind_err(name, "a graph"),
            },
        }
    }

    pub fn tensor(&self, name: &str) -> Option<&'a pb::TensorProto> {
        self.get(name).and_then(|a| a.t.as_ref())
    }

    /// Non-negative ints (kernel sizes, strides...).
    pub fn usizes(&self, name: &str) -> Result<Option<Vec<usize>>> {
        match self.opt_ints(name)? {
            None => Ok(None),
            Some(v) => v
                .iter()
                .map(|&x| {
                    let v = usize::try_from(x).map_err(|_| {
                        anyhow::anyhow!("attribute `{name}` has negative value {x}")
                    })?;
                    // Sizes, strides and pads past the element limit are hostile; refusing them
                    // here keeps every later size computation free of overflow.
                    if v > MAX_ELEMENTS {
                        bail!(
                            "attribute `{name}` value {x} is absurdly large (over {MAX_ELEMENTS})"
                        );
                    }
                    Ok(v)
                })
                .collect::<Result<Vec<_>>>()
                .map(Some),
        }
    }
}
