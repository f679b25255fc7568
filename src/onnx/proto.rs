//! Reading the ONNX protobuf: model bytes, tensors (inline and external data) and declared
//! value shapes. Every size a file claims is checked before anything is allocated for it.

use super::value::checked_elements;
use super::Dim;
use anyhow::{bail, Context, Result};
use candle_core::{DType, Device, Tensor};
use prost::Message;
use std::io::{Read, Seek, SeekFrom};
use std::path::{Component, Path};
use tract_onnx::pb;
use tract_onnx::pb::tensor_proto::DataType;

pub fn decode_model(bytes: &[u8], origin: &str) -> Result<pb::ModelProto> {
    let model = pb::ModelProto::decode(bytes)
        .map_err(|e| anyhow::anyhow!("{origin}: not a valid ONNX protobuf ({e})"))?;
    if model.graph.is_none() {
        bail!("{origin}: the ONNX model has no graph (empty or not an ONNX file)");
    }
    Ok(model)
}

pub fn data_type_name(t: i32) -> &'static str {
    DataType::try_from(t)
        .map(|d| d.as_str_name())
        .unwrap_or("UNKNOWN")
}

/// The kind of values an ONNX element type turns into in the engine.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Float,
    Int,
    Bool,
}

pub fn kind_of(data_type: i32) -> Option<Kind> {
    use DataType as T;
    match DataType::try_from(data_type).ok()? {
        T::Float | T::Double | T::Float16 | T::Bfloat16 => Some(Kind::Float),
        T::Int8 | T::Int16 | T::Int32 | T::Int64 | T::Uint8 | T::Uint16 | T::Uint32 | T::Uint64 => {
            Some(Kind::Int)
        }
        T::Bool => Some(Kind::Bool),
        _ => None,
    }
}

fn elem_size(dt: DataType) -> usize {
    use DataType as T;
    match dt {
        T::Float | T::Int32 | T::Uint32 => 4,
        T::Double | T::Int64 | T::Uint64 => 8,
        T::Float16 | T::Bfloat16 | T::Int16 | T::Uint16 => 2,
        _ => 1,
    }
}

pub fn tensor_dims(t: &pb::TensorProto, what: &str) -> Result<Vec<usize>> {
    t.dims
        .iter()
        .map(|&d| {
            usize::try_from(d)
                .map_err(|_| anyhow::anyhow!("{what}: negative dimension {d} in {:?}", t.dims))
        })
        .collect()
}

/// Decode a TensorProto into a CPU tensor: floats as `float_dtype`, integers as I64, bools as
/// U8. `base_dir` is where external data files are looked up.
pub fn tensor_from_proto(
    t: &pb::TensorProto,
    base_dir: Option<&Path>,
    float_dtype: DType,
    what: &str,
) -> Result<Tensor> {
    let dims = tensor_dims(t, what)?;
    let n = checked_elements(&dims, what)?;
    let dt = DataType::try_from(t.data_type)
        .map_err(|_| anyhow::anyhow!("{what}: unknown tensor data type {}", t.data_type))?;
    let kind = kind_of(t.data_type).with_context(|| {
        format!(
            "{what}: tensors of type {} are not supported",
            dt.as_str_name()
        )
    })?;
    let external = t.data_location == Some(pb::tensor_proto::DataLocation::External as i32);
    let raw_owned;
    let raw: Option<&[u8]> = if external {
        raw_owned = read_external(t, base_dir, n * elem_size(dt), what)?;
        Some(&raw_owned)
    } else if !t.raw_data.is_empty() {
        Some(&t.raw_data)
    } else {
        None
    };
    let typed_len = match dt {
        DataType::Float => t.float_data.len(),
        DataType::Double => t.double_data.len(),
        DataType::Int64 => t.int64_data.len(),
        DataType::Uint32 | DataType::Uint64 => t.uint64_data.len(),
        _ => t.int32_data.len(),
    };
    if let Some(raw) = raw {
        let want = n * elem_size(dt);
        if raw.len() != want {
            bail!(
                "{what}: shape {dims:?} of {} needs {want} bytes, the data has {}",
                dt.as_str_name(),
                raw.len()
            );
        }
    } else if typed_len != n {
        bail!("{what}: shape {dims:?} needs {n} values, the tensor stores {typed_len}");
    }
    let dev = &Device::Cpu;
    macro_rules! le {
        ($ty:ty, $raw:expr) => {
            $raw.chunks_exact(std::mem::size_of::<$ty>())
                .map(|c| <$ty>::from_le_bytes(c.try_into().unwrap()))
        };
    }
    let tensor = match kind {
        Kind::Float => {
            let v: Vec<f64> = match (dt, raw) {
                (DataType::Float, Some(r)) => le!(f32, r).map(f64::from).collect(),
                (DataType::Float, None) => t.float_data.iter().map(|&v| v as f64).collect(),
                (DataType::Double, Some(r)) => le!(f64, r).collect(),
                (DataType::Double, None) => t.double_data.clone(),
                (DataType::Float16, Some(r)) => le!(u16, r)
                    .map(|b| half::f16::from_bits(b).to_f64())
                    .collect(),
                (DataType::Float16, None) => t
                    .int32_data
                    .iter()
                    .map(|&b| half::f16::from_bits(b as u16).to_f64())
                    .collect(),
                (DataType::Bfloat16, Some(r)) => le!(u16, r)
                    .map(|b| half::bf16::from_bits(b).to_f64())
                    .collect(),
                (_, _) => t
                    .int32_data
                    .iter()
                    .map(|&b| half::bf16::from_bits(b as u16).to_f64())
                    .collect(),
            };
            Tensor::from_vec(v, dims.as_slice(), dev)?.to_dtype(float_dtype)?
        }
        Kind::Int | Kind::Bool => {
            let v: Vec<i64> = match (dt, raw) {
                (DataType::Int64, Some(r)) => le!(i64, r).collect(),
                (DataType::Int64, None) => t.int64_data.clone(),
                (DataType::Int32, Some(r)) => le!(i32, r).map(i64::from).collect(),
                (DataType::Int16, Some(r)) => le!(i16, r).map(i64::from).collect(),
                (DataType::Uint16, Some(r)) => le!(u16, r).map(i64::from).collect(),
                (DataType::Uint32, Some(r)) => le!(u32, r).map(i64::from).collect(),
                (DataType::Uint64, Some(r)) => le!(u64, r).map(|v| v as i64).collect(),
                (DataType::Int8, Some(r)) => r.iter().map(|&b| b as i8 as i64).collect(),
                (DataType::Uint8 | DataType::Bool, Some(r)) => {
                    r.iter().map(|&b| b as i64).collect()
                }
                (DataType::Uint32 | DataType::Uint64, None) => {
                    t.uint64_data.iter().map(|&v| v as i64).collect()
                }
                (_, None) => t.int32_data.iter().map(|&v| v as i64).collect(),
                (_, Some(_)) => bail!("{what}: cannot decode {}", dt.as_str_name()),
            };
            let t = Tensor::from_vec(v, dims.as_slice(), dev)?;
            if kind == Kind::Bool {
                t.ne(0i64)?
            } else {
                t
            }
        }
    };
    Ok(tensor)
}

fn read_external(
    t: &pb::TensorProto,
    base_dir: Option<&Path>,
    want: usize,
    what: &str,
) -> Result<Vec<u8>> {
    let get = |k: &str| {
        t.external_data
            .iter()
            .find(|e| e.key == k)
            .map(|e| e.value.as_str())
    };
    let location =
        get("location").with_context(|| format!("{what}: external data without a `location`"))?;
    let rel = Path::new(location);
    if rel.is_absolute() || rel.components().any(|c| matches!(c, Component::ParentDir)) {
        bail!(
            "{what}: external data location `{location}` must be a relative path beside the model"
        );
    }
    let base = base_dir.with_context(|| {
        format!("{what}: external data `{location}` but the model was not read from a file")
    })?;
    let path = base.join(rel);
    let parse = |k: &str| -> Result<Option<u64>> {
        get(k)
            .map(|v| {
                v.parse::<u64>()
                    .with_context(|| format!("{what}: external data {k} `{v}` is not a number"))
            })
            .transpose()
    };
    let offset = parse("offset")?.unwrap_or(0);
    let length = parse("length")?.unwrap_or(want as u64);
    if length != want as u64 {
        bail!("{what}: external data length {length} but the tensor's shape needs {want} bytes");
    }
    let mut f = std::fs::File::open(&path)
        .with_context(|| format!("{what}: cannot open external data {}", path.display()))?;
    let size = f.metadata()?.len();
    if offset.checked_add(length).is_none_or(|end| end > size) {
        bail!(
            "{what}: external data {} has {size} bytes, needs {length} at offset {offset}",
            path.display()
        );
    }
    f.seek(SeekFrom::Start(offset))?;
    let mut buf = vec![0u8; want];
    f.read_exact(&mut buf)
        .with_context(|| format!("{what}: reading {}", path.display()))?;
    Ok(buf)
}

/// Declared element type and dims of a graph input/output.
pub fn value_info_dims(v: &pb::ValueInfoProto) -> (String, Option<Vec<Dim>>) {
    use pb::tensor_shape_proto::dimension::Value as DV;
    let Some(pb::type_proto::Value::TensorType(tt)) =
        v.r#type.as_ref().and_then(|t| t.value.as_ref())
    else {
        return ("unknown".into(), None);
    };
    let elem = data_type_name(tt.elem_type).to_ascii_lowercase();
    let dims = tt.shape.as_ref().map(|s| {
        s.dim
            .iter()
            .enumerate()
            .map(|(i, d)| match &d.value {
                Some(DV::DimValue(v)) if *v >= 0 => Dim::Fixed(*v as usize),
                Some(DV::DimParam(p)) if !p.is_empty() => Dim::Free(p.clone()),
                _ => Dim::Free(format!("d{i}")),
            })
            .collect()
    });
    (elem, dims)
}

pub fn elem_kind_of_value_info(v: &pb::ValueInfoProto) -> Option<Kind> {
    match v.r#type.as_ref().and_then(|t| t.value.as_ref()) {
        Some(pb::type_proto::Value::TensorType(tt)) => kind_of(tt.elem_type),
        _ => None,
    }
}
