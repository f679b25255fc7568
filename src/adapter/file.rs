//! The adapter file as written: the TOML schema (serde structs, unknown fields rejected), the
//! modality check, and `[input]` parsed into an `InputSpec`.
//!
//! Only the text form lives here; the `[classes]` section is resolved in `classes` and the
//! pieces are assembled into an `Adapter` in the module root.

use super::check::validate_input;
use super::{Fit, InputSpec, Layout, ResizeMethod, ValueRange};
use anyhow::{anyhow, bail, Result};
use serde::Deserialize;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct AdapterFile {
    #[serde(default)]
    pub modality: Option<String>,
    #[serde(default)]
    pub model: Option<String>,
    #[serde(default)]
    pub zoo: Option<String>,
    pub input: InputFile,
    pub classes: ClassesFile,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct InputFile {
    size: Vec<usize>,
    #[serde(default)]
    channels: Option<usize>,
    #[serde(default)]
    layout: Option<String>,
    #[serde(default)]
    range: Option<String>,
    #[serde(default)]
    mean: Option<Vec<f64>>,
    #[serde(default)]
    std: Option<Vec<f64>>,
    #[serde(default)]
    channel_order: Option<String>,
    #[serde(default)]
    resize: Option<String>,
    #[serde(default)]
    fit: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct ClassesFile {
    #[serde(default)]
    pub names: Option<Vec<String>>,
    #[serde(default)]
    pub labels_file: Option<String>,
    #[serde(default)]
    pub subset: Option<Vec<SubsetEntry>>,
}

/// One `subset` entry: a logit by index, by label, or either under a new problem name.
#[derive(Deserialize, Debug, Clone)]
#[serde(untagged)]
pub(super) enum SubsetEntry {
    Index(i64),
    Label(String),
    Named {
        name: Option<String>,
        index: Option<i64>,
        label: Option<String>,
    },
}

/// Parse adapter TOML text and check its modality; `origin` names it in errors.
pub(super) fn read(text: &str, origin: &str) -> Result<AdapterFile> {
    let file: AdapterFile =
        toml::from_str(text).map_err(|e| anyhow!("{origin}: invalid adapter TOML: {e}"))?;
    match file.modality.as_deref().unwrap_or("image") {
        "image" => {}
        "mel" => bail!("{origin}: modality \"mel\" (audio) is not supported yet; only \"image\""),
        other => bail!("{origin}: unknown modality {other:?}; expected \"image\" (or \"mel\", not yet supported)"),
    }
    Ok(file)
}

fn parse_range(s: &str) -> Option<ValueRange> {
    match s.trim().replace(' ', "").as_str() {
        "0..1" | "0-1" | "[0,1]" => Some(ValueRange::ZeroOne),
        "0..255" | "0-255" | "[0,255]" => Some(ValueRange::ZeroTo255),
        "-1..1" | "[-1,1]" => Some(ValueRange::MinusOneOne),
        _ => None,
    }
}

/// `[input]` with its defaults filled in, validated.
pub(super) fn parse_input(f: &InputFile) -> Result<InputSpec> {
    let (height, width) = match f.size.as_slice() {
        [s] => (*s, *s),
        [h, w] => (*h, *w),
        other => bail!("size must be [height, width] (or [side]), got {other:?}"),
    };
    let channels = f.channels.unwrap_or(3);
    let layout = match f
        .layout
        .as_deref()
        .unwrap_or("NCHW")
        .to_ascii_uppercase()
        .as_str()
    {
        "NCHW" => Layout::Nchw,
        "NHWC" => Layout::Nhwc,
        "NHW" => Layout::Nhw,
        "NWH" => Layout::Nwh,
        other => bail!(
            "layout {other:?}: expected \"NCHW\" or \"NHWC\" (rank-4 models), or \"NHW\" or \"NWH\" (rank-3, one channel)"
        ),
    };
    let range = match &f.range {
        None => ValueRange::ZeroOne,
        Some(r) => parse_range(r)
            .ok_or_else(|| anyhow!("range {r:?}: expected \"0..1\", \"0..255\" or \"-1..1\""))?,
    };
    let per_channel = |v: &Option<Vec<f64>>, default: f64, what: &str| -> Result<Vec<f64>> {
        match v {
            None => Ok(vec![default; channels]),
            Some(v) if v.len() == channels => Ok(v.clone()),
            Some(v) if v.len() == 1 => Ok(vec![v[0]; channels]),
            Some(v) => bail!("{what} has {} values for {channels} channels", v.len()),
        }
    };
    let mean = per_channel(&f.mean, 0.0, "mean")?;
    let std = per_channel(&f.std, 1.0, "std")?;
    let bgr = match f
        .channel_order
        .as_deref()
        .unwrap_or("RGB")
        .to_ascii_uppercase()
        .as_str()
    {
        "RGB" => false,
        "BGR" => true,
        other => bail!("channel_order {other:?}: expected \"RGB\" or \"BGR\""),
    };
    let resize = match f
        .resize
        .as_deref()
        .unwrap_or("bilinear")
        .to_ascii_lowercase()
        .as_str()
    {
        "bilinear" | "linear" => ResizeMethod::Bilinear,
        "nearest" => ResizeMethod::Nearest,
        "none" => ResizeMethod::None,
        other => bail!("resize {other:?}: expected \"bilinear\", \"nearest\" or \"none\""),
    };
    let fit = match f
        .fit
        .as_deref()
        .unwrap_or("stretch")
        .to_ascii_lowercase()
        .as_str()
    {
        "stretch" => Fit::Stretch,
        "center-crop" | "center_crop" => Fit::CenterCrop,
        other => bail!("fit {other:?}: expected \"stretch\" or \"center-crop\""),
    };
    let spec = InputSpec {
        height,
        width,
        channels,
        layout,
        range,
        mean,
        std,
        bgr,
        resize,
        fit,
    };
    validate_input(&spec)?;
    Ok(spec)
}
