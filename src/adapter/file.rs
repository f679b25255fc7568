//! The adapter file as written: the TOML schema (serde structs, unknown fields rejected), the
//! modality check, `[input]` parsed into an `InputSpec`, and an audio adapter's `[mel]` into an
//! `AudioInput`.
//!
//! Only the text form lives here; the `[classes]` section is resolved in `classes` and the
//! pieces are assembled into an `Adapter` in the module root.

use super::audio::{AudioInput, ModelInput, WaveLayout};
use super::check::validate_input;
use super::mel::{LogScale, MelNorm, MelScale, MelSpec, Padding, Window};
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
    #[serde(default)]
    pub input: Option<InputFile>,
    /// Audio front end; present exactly when `modality = "mel"`.
    #[serde(default)]
    pub mel: Option<MelFile>,
    pub classes: ClassesFile,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct InputFile {
    #[serde(default)]
    size: Option<Vec<usize>>,
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
pub(super) struct MelFile {
    input: String,
    sample_rate: u32,
    #[serde(default)]
    clip_seconds: Option<f64>,
    #[serde(default)]
    clip_samples: Option<usize>,
    n_fft: usize,
    hop: usize,
    #[serde(default)]
    window: Option<String>,
    n_mels: usize,
    #[serde(default)]
    fmin: Option<f64>,
    #[serde(default)]
    fmax: Option<f64>,
    #[serde(default)]
    mel_scale: Option<String>,
    #[serde(default)]
    mel_norm: Option<String>,
    #[serde(default)]
    power: Option<f64>,
    #[serde(default)]
    padding: Option<String>,
    #[serde(default)]
    log: Option<String>,
    #[serde(default)]
    log_offset: Option<f64>,
    #[serde(default)]
    mean: Option<f64>,
    #[serde(default)]
    std: Option<f64>,
    #[serde(default)]
    waveform_layout: Option<String>,
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
        "image" => {
            if file.mel.is_some() {
                bail!("{origin}: a [mel] table needs modality = \"mel\" (this adapter's modality is \"image\")");
            }
        }
        "mel" => {
            if file.mel.is_none() {
                bail!("{origin}: modality = \"mel\" needs a [mel] table (sample_rate, n_fft, hop, n_mels, clip length, input)");
            }
        }
        other => bail!("{origin}: unknown modality {other:?}; expected \"image\" or \"mel\""),
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
    let size = f
        .size
        .as_deref()
        .ok_or_else(|| anyhow!("size is missing: [height, width] (or [side])"))?;
    let (height, width) = match size {
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

/// One of `choices` (`(name, value)`), or an error listing them.
fn pick<T: Copy>(key: &str, given: Option<&str>, default: T, choices: &[(&str, T)]) -> Result<T> {
    let Some(g) = given else { return Ok(default) };
    let g = g.trim().to_ascii_lowercase();
    choices
        .iter()
        .find(|(name, _)| *name == g)
        .map(|(_, v)| *v)
        .ok_or_else(|| {
            let names: Vec<String> = choices.iter().map(|(n, _)| format!("{n:?}")).collect();
            anyhow!("{key} {g:?}: expected one of {}", names.join(", "))
        })
}

/// `[mel]` (and an optional `[input]` giving a mel model's layout) to the adapter's
/// generator-space `InputSpec` and its `AudioInput`. Errors name the table and key.
pub(super) fn parse_audio(
    m: &MelFile,
    input: Option<&InputFile>,
) -> Result<(InputSpec, AudioInput)> {
    let err = |e: anyhow::Error| anyhow!("[mel] {e}");
    let model_input = match m.input.trim().to_ascii_lowercase().as_str() {
        "mel" => {
            if m.waveform_layout.is_some() {
                bail!("[mel] waveform_layout applies to input = \"waveform\" only; a mel model's layout is [input] layout");
            }
            ModelInput::Mel
        }
        "waveform" => ModelInput::Waveform(
            pick(
                "waveform_layout",
                m.waveform_layout.as_deref(),
                WaveLayout::Nl,
                &[("nl", WaveLayout::Nl), ("ncl", WaveLayout::Ncl)],
            )
            .map_err(err)?,
        ),
        other => bail!("[mel] input {other:?}: expected \"waveform\" (the model takes samples) or \"mel\" (it takes mel features)"),
    };
    let clip_samples = match (m.clip_seconds, m.clip_samples) {
        (Some(_), Some(_)) => bail!("[mel] give clip_seconds or clip_samples, not both"),
        (None, None) => bail!("[mel] the clip length is missing: clip_seconds or clip_samples"),
        (None, Some(n)) => n,
        (Some(s), None) => {
            if !(s > 0.0 && s.is_finite() && s <= 3600.0) {
                bail!("[mel] clip_seconds {s} is out of range (0, 3600]");
            }
            (s * m.sample_rate as f64).round() as usize
        }
    };
    let mel_scale = pick(
        "mel_scale",
        m.mel_scale.as_deref(),
        MelScale::Slaney,
        &[("slaney", MelScale::Slaney), ("htk", MelScale::Htk)],
    )
    .map_err(err)?;
    // Each library's default norm goes with its scale: librosa Slaney/Slaney, torchaudio HTK/none.
    let norm_default = match mel_scale {
        MelScale::Slaney => MelNorm::Slaney,
        MelScale::Htk => MelNorm::None,
    };
    let spec = MelSpec {
        sample_rate: m.sample_rate,
        n_fft: m.n_fft,
        hop: m.hop,
        window: pick(
            "window",
            m.window.as_deref(),
            Window::Hann,
            &[
                ("hann", Window::Hann),
                ("hamming", Window::Hamming),
                ("rectangular", Window::Rectangular),
            ],
        )
        .map_err(err)?,
        n_mels: m.n_mels,
        fmin: m.fmin.unwrap_or(0.0),
        fmax: m.fmax.unwrap_or(m.sample_rate as f64 / 2.0),
        mel_scale,
        mel_norm: pick(
            "mel_norm",
            m.mel_norm.as_deref(),
            norm_default,
            &[("slaney", MelNorm::Slaney), ("none", MelNorm::None)],
        )
        .map_err(err)?,
        power: m.power.unwrap_or(2.0),
        padding: pick(
            "padding",
            m.padding.as_deref(),
            Padding::Zeros,
            &[
                ("zeros", Padding::Zeros),
                ("reflect", Padding::Reflect),
                ("none", Padding::None),
            ],
        )
        .map_err(err)?,
        log: pick(
            "log",
            m.log.as_deref(),
            LogScale::Ln,
            &[
                ("ln", LogScale::Ln),
                ("log10", LogScale::Log10),
                ("db", LogScale::Db),
                ("none", LogScale::None),
            ],
        )
        .map_err(err)?,
        log_offset: m.log_offset.unwrap_or(1e-6),
        mean: m.mean.unwrap_or(0.0),
        std: m.std.unwrap_or(1.0),
    };
    let audio = AudioInput::new(spec, clip_samples, model_input).map_err(err)?;
    let layout = match (model_input, input) {
        (_, None) => Layout::Nchw,
        (ModelInput::Waveform(_), Some(_)) => bail!(
            "[input] describes a mel model's feature tensor; a waveform model's layout is [mel] waveform_layout"
        ),
        (ModelInput::Mel, Some(f)) => mel_input_layout(f, &audio).map_err(|e| anyhow!("[input] {e}"))?,
    };
    Ok((audio.generator_spec(layout), audio))
}

/// A mel model's `[input]`: only the layout, and a size and channel count that must agree
/// with `[mel]` (image settings have no meaning for features).
fn mel_input_layout(f: &InputFile, audio: &AudioInput) -> Result<Layout> {
    for (key, given) in [
        ("range", f.range.is_some()),
        ("mean", f.mean.is_some()),
        ("std", f.std.is_some()),
        ("channel_order", f.channel_order.is_some()),
        ("resize", f.resize.is_some()),
        ("fit", f.fit.is_some()),
    ] {
        if given {
            bail!("{key} is an image setting; mel features are scaled by [mel] log, log_offset, mean and std");
        }
    }
    let want = [audio.mel.n_mels, audio.frames];
    if let Some(size) = &f.size {
        if size.as_slice() != want {
            bail!(
                "size {size:?} disagrees with [mel]: n_mels {} and {} frames per clip ({} samples, hop {}) make [{}, {}]",
                want[0], want[1], audio.clip_samples, audio.mel.hop, want[0], want[1]
            );
        }
    }
    if let Some(c) = f.channels {
        if c != 1 {
            bail!("channels {c}: mel features have one channel");
        }
    }
    pick(
        "layout",
        f.layout.as_deref(),
        Layout::Nchw,
        &[
            ("nchw", Layout::Nchw),
            ("nhwc", Layout::Nhwc),
            ("nhw", Layout::Nhw),
            ("nwh", Layout::Nwh),
        ],
    )
}
