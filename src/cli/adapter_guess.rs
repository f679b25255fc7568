//! `probegan adapter init MODEL > my.toml`, and the adapter `classify` uses when given none:
//! what the model's declared input and output say (layout, size, channels, class count; class
//! names from the model's `metadata_props` when it carries them, else 1000 outputs are named
//! with the bundled ImageNet-1k labels), written as an adapter whose comments
//! separate what was read from the model from what was guessed and must be checked.

use crate::adapter::Adapter;
use crate::onnx::{Dim, OnnxModel};
use anyhow::{bail, Context, Result};
use candle_core::{DType, Tensor};
use std::path::{Path, PathBuf};

#[derive(clap::Args, Debug)]
pub struct InitArgs {
    /// ONNX file or zoo name.
    pub model: String,
}

#[derive(clap::Subcommand, Debug)]
pub enum AdapterCommand {
    /// Print an adapter guessed from the model's declared input and output, with comments
    /// saying what was read from the model and what must be checked.
    Init(InitArgs),
}

/// An adapter guessed from a model, as TOML with comments and parsed.
pub struct AdapterGuess {
    pub toml: String,
    pub adapter: Adapter,
    /// One line on what was guessed rather than read (printed where the guess is used).
    pub summary: String,
}

/// Keys under which exporters store class names in `metadata_props` (compared ignoring case).
const NAME_KEYS: [&str; 6] = [
    "class_names",
    "classes",
    "labels",
    "names",
    "id2label",
    "synset",
];

/// Class names from the model's own metadata, when one of `NAME_KEYS` holds exactly `k` of
/// them: a JSON list, a JSON object from index to name (Hugging Face's `id2label`), or one
/// name per line or comma. Returns the key used.
pub fn names_from_metadata(
    metadata: &[(String, String)],
    k: usize,
) -> Option<(Vec<String>, String)> {
    for (key, value) in metadata {
        if !NAME_KEYS.iter().any(|n| n.eq_ignore_ascii_case(key.trim())) {
            continue;
        }
        let names: Vec<String> = match serde_json::from_str::<serde_json::Value>(value) {
            Ok(serde_json::Value::Array(v)) => v
                .iter()
                .map(|n| {
                    n.as_str()
                        .map(str::to_string)
                        .unwrap_or_else(|| n.to_string())
                })
                .collect(),
            Ok(serde_json::Value::Object(m)) => {
                let mut v: Vec<(usize, String)> = m
                    .iter()
                    .filter_map(|(i, n)| Some((i.trim().parse().ok()?, n.as_str()?.to_string())))
                    .collect();
                v.sort();
                // Indices must be exactly 0..k.
                if v.iter().enumerate().any(|(j, (i, _))| *i != j) {
                    continue;
                }
                v.into_iter().map(|(_, n)| n).collect()
            }
            _ => {
                let sep = if value.contains('\n') { '\n' } else { ',' };
                value
                    .split(sep)
                    .map(|n| n.trim().to_string())
                    .filter(|n| !n.is_empty())
                    .collect()
            }
        };
        if names.len() == k {
            return Some((names, key.clone()));
        }
    }
    None
}

/// The input normalisation a model's metadata states, as adapter values.
#[derive(Debug, Clone, PartialEq)]
pub struct Normalisation {
    /// `"0..255"` or `"0..1"`: the pixel scale the stated mean and std apply to.
    pub range: &'static str,
    pub mean: Vec<f64>,
    pub std: Vec<f64>,
    /// `RGB` or `BGR` when the text names one.
    pub channel_order: Option<&'static str>,
    /// The metadata key it was read from.
    pub key: String,
}

/// Numbers in `s` (a list like `[0.485, 0.456, 0.406]` or `127.5`).
fn numbers(s: &str) -> Vec<f64> {
    s.split(|c: char| !(c.is_ascii_digit() || c == '.' || c == '-' || c == 'e'))
        .filter_map(|t| t.parse::<f64>().ok())
        .collect()
}

/// The pixel scale a mean belongs to: means above 1 are on 0..255 pixels.
fn range_of(mean: &[f64]) -> &'static str {
    if mean.iter().any(|m| *m > 1.0) {
        "0..255"
    } else {
        "0..1"
    }
}

/// The normalisation a model's `metadata_props` state in either common form: a formula such
/// as `(x-127)/128` or `(x - 0.5) / 0.5` in any value, or `mean` and `std` keys holding one
/// or three numbers each. The pixel scale is inferred from the mean (above 1: 0..255).
pub fn normalisation_from_metadata(metadata: &[(String, String)]) -> Option<Normalisation> {
    let order = |v: &str| {
        if v.contains("BGR") {
            Some("BGR")
        } else if v.contains("RGB") {
            Some("RGB")
        } else {
            None
        }
    };
    let get = |name: &str| {
        metadata
            .iter()
            .find(|(k, _)| k.trim().eq_ignore_ascii_case(name))
            .map(|(_, v)| numbers(v))
    };
    if let (Some(mean), Some(std)) = (get("mean"), get("std")) {
        let ok = |v: &[f64]| matches!(v.len(), 1 | 3);
        if ok(&mean) && ok(&std) && std.iter().all(|s| *s > 0.0) {
            return Some(Normalisation {
                range: range_of(&mean),
                mean,
                std,
                channel_order: metadata.iter().find_map(|(_, v)| order(v)),
                key: "mean, std".into(),
            });
        }
    }
    for (key, value) in metadata {
        let compact: String = value.chars().filter(|c| !c.is_whitespace()).collect();
        // (x-M)/S, the formula as exporters and READMEs write it.
        let Some(at) = compact.find("(x-") else {
            continue;
        };
        let rest = &compact[at + 3..];
        let Some((m, rest)) = rest.split_once(")/") else {
            continue;
        };
        let s: String = rest
            .chars()
            .take_while(|c| c.is_ascii_digit() || *c == '.')
            .collect();
        if let (Ok(m), Ok(s)) = (m.parse::<f64>(), s.parse::<f64>()) {
            if s > 0.0 {
                return Some(Normalisation {
                    range: range_of(&[m]),
                    mean: vec![m],
                    std: vec![s],
                    channel_order: order(value),
                    key: key.clone(),
                });
            }
        }
    }
    None
}

/// Names for `k` logits: the bundled ImageNet-1k labels for 1000, else the indices.
fn class_names_for(k: usize) -> (Vec<String>, &'static str) {
    if k == 1000 {
        let (_, text) = crate::zoo::embedded::LABEL_FILES
            .iter()
            .find(|(p, _)| p.ends_with("imagenet_labels.txt"))
            .expect("the ImageNet labels are compiled in");
        let names: Vec<String> = text.lines().map(|l| l.trim().to_string()).collect();
        if names.len() == 1000 {
            return (
                names,
                "named with the bundled ImageNet-1k labels (standard order; check it is the model's)",
            );
        }
    }
    (
        (0..k).map(|i| i.to_string()).collect(),
        "classes named by logit index (give `names` or `labels_file`)",
    )
}

fn quote(s: &str) -> String {
    serde_json::to_string(s).unwrap_or_else(|_| format!("{s:?}"))
}

/// Input names that say a model takes spectrogram features, not pixels (compared in lower case).
const MEL_INPUT_NAMES: [&str; 5] = ["mel", "spectrogram", "spect", "fbank", "logmel"];

/// A mel adapter for a model whose one-channel input (`[N, 1, n_mels, frames]` or
/// `[N, n_mels, frames]`, sizes read by [`guess_adapter`]) is a mel map: read whole from the
/// `[mel]` table that `train-classifier` writes into `metadata_props`, or, where the input's
/// name says spectrogram but the model does not say how its features were made, sized from
/// the input with every front-end setting a marked GUESS. `None`: nothing says this is a mel
/// model.
fn guess_mel_adapter(
    model: &OnnxModel,
    model_path: &Path,
    (n_mels, frames): (usize, usize),
    k: usize,
    names: &[String],
    names_why: &str,
) -> Result<Option<AdapterGuess>> {
    let input = model.inputs().first().context("the model has no inputs")?;
    let table = model
        .metadata()
        .iter()
        .find(|(key, _)| key == crate::train_classifier::MEL_METADATA_KEY)
        .map(|(_, v)| v.clone());
    let lower = input.name.to_lowercase();
    let named = MEL_INPUT_NAMES.iter().any(|n| lower.contains(n));
    let (table, read) = match table {
        Some(t) => (t, true),
        None if named => {
            // The common 16 kHz speech front end, at the model's own size.
            let mut spec = crate::data::mel::MelSpec::new(16000, 512, 256, n_mels);
            spec.log_offset = 1e-4;
            let clip = (frames.max(1) - 1) * spec.hop;
            let guessed: String = spec
                .toml_table(clip)
                .lines()
                .map(|l| {
                    if l.starts_with('[') || l.starts_with("input") || l.starts_with("n_mels") {
                        format!("{l}\n")
                    } else {
                        format!("{l}    # GUESS\n")
                    }
                })
                .collect();
            (guessed, false)
        }
        None => return Ok(None),
    };
    let mut t = format!(
        "# Adapter guessed by `probegan adapter init` from {}.\n",
        model_path.display()
    );
    if read {
        t.push_str(&format!(
            "# READ from the model: a mel model; its front end is the `[mel]` table in its metadata_props `{}`.\n",
            crate::train_classifier::MEL_METADATA_KEY
        ));
    } else {
        t.push_str(&format!(
            "# READ from the model: input '{}' [{n_mels} mel bands x {frames} frames] is named as a spectrogram.\n\
             # GUESSED: every front-end setting marked GUESS (a 16 kHz speech front end); an ONNX graph\n\
             # does not record how its features were made: check them against the model's documentation.\n",
            input.name
        ));
    }
    t.push_str("modality = \"mel\"\n");
    t.push_str(&format!(
        "model = {}\n\n",
        quote(&model_path.display().to_string())
    ));
    t.push_str(&table);
    let adapter = finish_adapter(&mut t, model_path, k, names, names_why)?;
    let summary = if read {
        format!(
            "adapter read from the model's metadata: mel features {n_mels}x{frames}, {k} classes ({names_why})"
        )
    } else {
        format!(
            "adapter guessed from the model: mel features {n_mels}x{frames} (input '{}'), {k} classes ({names_why}); \
             the front end (sample rate, n_fft, hop, scaling) is a guess: write the adapter out with \
             `probegan adapter init MODEL > my.toml`, check it, and pass --adapter my.toml",
            input.name
        )
    };
    Ok(Some(AdapterGuess {
        toml: t,
        adapter,
        summary,
    }))
}

/// Append the `[classes]` table to the adapter text `t` and parse it, paths relative to the
/// model's folder.
fn finish_adapter(
    t: &mut String,
    model_path: &Path,
    k: usize,
    names: &[String],
    names_why: &str,
) -> Result<Adapter> {
    t.push_str(&format!(
        "\n[classes]\n# read: {k} outputs; {names_why}\nnames = [\n"
    ));
    for n in names {
        t.push_str(&format!("    {},\n", quote(n)));
    }
    t.push_str("]\n");
    let base = model_path
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from("."));
    Adapter::from_toml_str_in(t, "the guessed adapter", &base)
        .context("the guessed adapter does not parse (a bug in the guess)")
}

/// The number of classes: the output's last declared dimension, else one forward pass.
fn class_count(model: &OnnxModel, shape: Vec<usize>) -> Result<usize> {
    Ok(match model.outputs().first().and_then(|o| o.dims.last()) {
        Some(Dim::Fixed(k)) => *k,
        _ => {
            let x = Tensor::zeros(shape, DType::F32, model.device())?;
            model.forward(&[x])?[0].elem_count()
        }
    })
}

/// Class names for `k` outputs and where they came from: the model's metadata, else
/// [`class_names_for`].
fn names_of(model: &OnnxModel, k: usize) -> (Vec<String>, String) {
    match names_from_metadata(model.metadata(), k) {
        Some((names, key)) => (
            names,
            format!("named by the model's own metadata_props `{key}`"),
        ),
        None => {
            let (names, why) = class_names_for(k);
            (names, why.to_string())
        }
    }
}

/// Read what the model declares and write the adapter.
pub fn guess_adapter(model: &OnnxModel, model_path: &Path) -> Result<AdapterGuess> {
    let input = model.inputs().first().context("the model has no inputs")?;
    let fixed = |i: usize| match input.dims.get(i) {
        Some(Dim::Fixed(n)) => Some(*n),
        _ => None,
    };
    let free = || {
        anyhow::anyhow!(
            "input '{}' {:?} leaves its size open; write an adapter with [input] size (see `probegan adapter init` output of a similar model)",
            input.name,
            input.dims
        )
    };
    let (layout, c, h, w, why) = match input.dims.len() {
        4 => {
            let nhwc = matches!(fixed(3), Some(1 | 3)) && !matches!(fixed(1), Some(1 | 3));
            let (c, h, w) = if nhwc {
                (fixed(3), fixed(1), fixed(2))
            } else {
                (fixed(1), fixed(2), fixed(3))
            };
            let (Some(c), Some(h), Some(w)) = (c, h, w) else {
                return Err(free());
            };
            let why = if nhwc {
                "the last dimension holds the channels"
            } else {
                "the second dimension holds the channels"
            };
            (if nhwc { "NHWC" } else { "NCHW" }, c, h, w, why)
        }
        3 => {
            let (Some(h), Some(w)) = (fixed(1), fixed(2)) else {
                return Err(free());
            };
            ("NHW", 1, h, w, "a rank-3 input: one channel")
        }
        r => bail!(
            "input '{}' has rank {r}; probegan drives rank-4 images or rank-3 one-channel features",
            input.name
        ),
    };
    let shape: Vec<usize> = match layout {
        "NHWC" => vec![1, h, w, c],
        "NHW" => vec![1, h, w],
        _ => vec![1, c, h, w],
    };
    let k = class_count(model, shape)?;
    let (names, names_why) = names_of(model, k);
    if c == 1 && layout != "NHWC" {
        if let Some(mel) = guess_mel_adapter(model, model_path, (h, w), k, &names, &names_why)? {
            return Ok(mel);
        }
    }
    let dims: Vec<String> = input
        .dims
        .iter()
        .map(|d| match d {
            Dim::Fixed(n) => n.to_string(),
            Dim::Free(s) => s.clone(),
        })
        .collect();
    let mut t = String::new();
    t.push_str(&format!(
        "# Adapter guessed by `probegan adapter init` from {}.\n",
        model_path.display()
    ));
    t.push_str("# READ from the model: layout, size, channels, the number of classes.\n");
    t.push_str(
        "# GUESSED unless marked read, check against the model's documentation: range, mean,\n",
    );
    t.push_str("# std, channel_order\n");
    t.push_str(
        "# (e.g. EfficientNet-Lite wants (x - 127) / 128: range = \"-1..1\"; torchvision models\n",
    );
    t.push_str(
        "# want range = \"0..1\" with mean [0.485, 0.456, 0.406], std [0.229, 0.224, 0.225]).\n",
    );
    if !model.metadata().is_empty() {
        // Exporters often say the preprocessing here: put it beside the GUESS lines.
        t.push_str(
            "# The model's own metadata_props (read; check the GUESS lines against them):\n",
        );
        for (k, v) in model.metadata() {
            let v: String = v.replace(['\n', '\r'], " ").chars().take(120).collect();
            t.push_str(&format!("#   {k} = {v}\n"));
        }
    }
    t.push_str("modality = \"image\"\n");
    t.push_str(&format!(
        "model = {}\n\n",
        quote(&model_path.display().to_string())
    ));
    t.push_str("[input]\n");
    t.push_str(&format!(
        "size = [{h}, {w}]         # read: input '{}' declares [{}]\n",
        input.name,
        dims.join(", ")
    ));
    t.push_str(&format!("channels = {c}              # read\n"));
    t.push_str(&format!("layout = \"{layout}\"           # read: {why}\n"));
    let norm = normalisation_from_metadata(model.metadata());
    let list = |v: &[f64]| {
        let v: Vec<String> = v.iter().map(|x| format!("{x:?}")).collect();
        format!("[{}]", v.join(", "))
    };
    match &norm {
        Some(n) => {
            let why = format!("# read: metadata_props `{}`", n.key);
            t.push_str(&format!("range = \"{}\"  {why}\n", n.range));
            t.push_str(&format!("mean = {}  {why}\n", list(&n.mean)));
            t.push_str(&format!("std = {}  {why}\n", list(&n.std)));
        }
        None => {
            t.push_str("range = \"0..1\"            # GUESS\n");
            t.push_str("mean = [0.0]              # GUESS\n");
            t.push_str("std = [1.0]               # GUESS\n");
        }
    }
    if c == 3 {
        match norm.as_ref().and_then(|n| n.channel_order) {
            Some(o) => t.push_str(&format!(
                "channel_order = \"{o}\"     # read: metadata_props\n"
            )),
            None => t.push_str("channel_order = \"RGB\"     # GUESS\n"),
        }
    }
    let adapter = finish_adapter(&mut t, model_path, k, &names, &names_why)?;
    let pixels = match &norm {
        Some(n) => format!(
            "pixels {} normalised by mean {} and std {} as its metadata_props `{}` say",
            n.range,
            list(&n.mean),
            list(&n.std),
            n.key
        ),
        None => "pixel range 0..1 without normalisation is a guess".to_string(),
    };
    let summary = format!(
        "adapter guessed from the model: {layout} {c}x{h}x{w}, {k} classes ({names_why}); \
         {pixels}: write the adapter out with `probegan adapter init MODEL > my.toml`, check \
         it, and pass --adapter my.toml"
    );
    Ok(AdapterGuess {
        toml: t,
        adapter,
        summary,
    })
}

pub fn run(cmd: AdapterCommand) -> Result<()> {
    match cmd {
        AdapterCommand::Init(args) => {
            let resolved = crate::zoo::resolve_model_arg(&args.model)?;
            let model = OnnxModel::load(&resolved.path, &candle_core::Device::Cpu)?;
            let guess = guess_adapter(&model, &resolved.path)?;
            guess.adapter.validate_against(&model)?;
            print!("{}", guess.toml);
            eprintln!("{}", guess.summary);
            Ok(())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_thousand_outputs_get_imagenet_names_and_others_their_index() {
        let (names, why) = class_names_for(1000);
        assert!(names[0].starts_with("tench") && names[999].starts_with("toilet tissue"));
        assert!(why.contains("ImageNet"));
        let (names, why) = class_names_for(3);
        assert_eq!(names, vec!["0", "1", "2"]);
        assert!(why.contains("index"));
    }

    #[test]
    fn the_bundled_classifier_gets_its_declared_input_and_a_toml_that_round_trips() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("models/fmnist_regular.onnx");
        let model = OnnxModel::load(&path, &candle_core::Device::Cpu).unwrap();
        let guess = guess_adapter(&model, &path).unwrap();
        let input = guess.adapter.input();
        assert_eq!((input.height, input.width, input.channels), (28, 28, 1));
        assert_eq!(guess.adapter.class_names().len(), 10);
        guess.adapter.validate_against(&model).unwrap();
        assert!(guess.toml.contains("# GUESS") && guess.toml.contains("layout = \"NCHW\""));
        assert!(guess.summary.contains("is a guess"));
    }

    #[test]
    fn class_names_come_from_metadata_props_in_each_common_form() {
        let md = |k: &str, v: &str| vec![(k.to_string(), v.to_string())];
        let want = vec!["cat".to_string(), "dog".to_string(), "eel".to_string()];
        for meta in [
            md("classes", r#"["cat", "dog", "eel"]"#),
            md("id2label", r#"{"2": "eel", "0": "cat", "1": "dog"}"#),
            md("Labels", "cat\ndog\neel\n"),
            md("class_names", "cat, dog, eel"),
        ] {
            let (names, _) = names_from_metadata(&meta, 3).expect("names found");
            assert_eq!(names, want, "{meta:?}");
        }
        // Wrong count, gaps in id2label and unrelated keys give nothing.
        assert!(names_from_metadata(&md("classes", r#"["cat", "dog"]"#), 3).is_none());
        assert!(
            names_from_metadata(&md("id2label", r#"{"0": "a", "2": "b", "3": "c"}"#), 3).is_none()
        );
        assert!(names_from_metadata(&md("author", "a, b, c"), 3).is_none());
    }

    #[test]
    fn normalisation_comes_from_a_formula_or_mean_and_std_keys() {
        let md = |pairs: &[(&str, &str)]| -> Vec<(String, String)> {
            pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect()
        };
        let n = normalisation_from_metadata(&md(&[(
            "preprocessing",
            "RGB NCHW float32 (x-127)/128, 260x260",
        )]))
        .unwrap();
        assert_eq!(
            (n.range, n.mean.clone(), n.std.clone(), n.channel_order),
            ("0..255", vec![127.0], vec![128.0], Some("RGB"))
        );
        let n = normalisation_from_metadata(&md(&[("note", "x in 0..1, then (x - 0.5) / 0.25")]))
            .unwrap();
        assert_eq!(
            (n.range, n.mean.clone(), n.std.clone(), n.channel_order),
            ("0..1", vec![0.5], vec![0.25], None)
        );
        let n = normalisation_from_metadata(&md(&[
            ("mean", "[0.485, 0.456, 0.406]"),
            ("std", "0.229,0.224,0.225"),
            ("layout", "BGR planes"),
        ]))
        .unwrap();
        assert_eq!(
            (n.range, n.mean.len(), n.std[2], n.channel_order),
            ("0..1", 3, 0.225, Some("BGR"))
        );
        // Nothing stated, a zero std, or a two-number mean: nothing read.
        assert!(normalisation_from_metadata(&md(&[("author", "someone")])).is_none());
        assert!(normalisation_from_metadata(&md(&[("p", "(x-127)/0")])).is_none());
        assert!(normalisation_from_metadata(&md(&[("mean", "1, 2"), ("std", "1, 1")])).is_none());
    }

    /// A model that carries its class names gets them in the guessed adapter, said so.
    #[test]
    fn the_guess_uses_the_models_own_class_names() {
        use crate::onnx::builder::GraphBuilder;
        let mut g = GraphBuilder::new(13);
        g.input("x", &[1, 3, 4, 4]);
        g.init_f32("w", &[3, 48], vec![0.01; 144]);
        g.node("Flatten", &["x"], &["f"], vec![]);
        g.node(
            "Gemm",
            &["f", "w"],
            &["y"],
            vec![crate::onnx::builder::attr_int("transB", 1)],
        );
        g.output("y");
        let mut proto = g.model();
        proto
            .metadata_props
            .push(tract_onnx::pb::StringStringEntryProto {
                key: "classes".into(),
                value: r#"["cat", "dog", "eel"]"#.into(),
            });
        let bytes = prost::Message::encode_to_vec(&proto);
        let model = OnnxModel::from_bytes(&bytes, "test", &candle_core::Device::Cpu).unwrap();
        assert_eq!(model.metadata().len(), 1);
        let guess = guess_adapter(&model, Path::new("m.onnx")).unwrap();
        assert_eq!(guess.adapter.class_names(), vec!["cat", "dog", "eel"]);
        assert!(
            guess.summary.contains("metadata_props `classes`"),
            "{}",
            guess.summary
        );
    }

    /// The bundled voices classifier carries its front end in `metadata_props`: the adapter
    /// read from it is the mel adapter it ships with.
    #[test]
    fn a_mel_model_with_its_front_end_in_metadata_gets_its_own_mel_adapter() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR"));
        let path = root.join("models/voices_regular.onnx");
        let model = OnnxModel::load(&path, &candle_core::Device::Cpu).unwrap();
        let guess = guess_adapter(&model, &path).unwrap();
        let shipped = Adapter::load(&root.join("adapters/voices_regular.toml")).unwrap();
        let (got, want) = (guess.adapter.audio().unwrap(), shipped.audio().unwrap());
        assert_eq!(got.mel, want.mel);
        assert_eq!(
            (got.clip_samples, got.frames),
            (want.clip_samples, want.frames)
        );
        assert_eq!(guess.adapter.class_names(), shipped.class_names());
        assert!(!guess.toml.contains("GUESS"), "{}", guess.toml);
        guess.adapter.validate_against(&model).unwrap();
        // The human-readable line a model viewer shows is one sentence, not a code artefact.
        let (_, line) = model
            .metadata()
            .iter()
            .find(|(k, _)| k == "preprocessing")
            .cloned()
            .unwrap();
        assert!(
            line.starts_with("log-mel features") && !line.contains("  "),
            "{line}"
        );
    }

    /// Without that metadata, an input named as a spectrogram still makes a mel adapter sized
    /// from the input, every front-end setting marked as a guess; an image input does not.
    #[test]
    fn an_input_named_as_a_spectrogram_gets_a_mel_adapter_marked_as_guessed() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR"));
        let bytes = std::fs::read(root.join("models/voices_judge.onnx")).unwrap();
        let dir = tempfile::tempdir().unwrap();
        // The bundled voices judge without its metadata, its input renamed to `name`.
        let third_party = |name: &str| {
            let mut proto = crate::onnx::proto::decode_model(&bytes, "voices_judge").unwrap();
            proto.metadata_props.clear();
            let graph = proto.graph.as_mut().unwrap();
            let old = graph.input[0].name.clone();
            graph.input[0].name = name.into();
            for input in graph.node.iter_mut().flat_map(|n| n.input.iter_mut()) {
                if *input == old {
                    *input = name.into();
                }
            }
            let path = dir.path().join(format!("{name}.onnx"));
            crate::onnx::export::write_model(&proto, &path).unwrap();
            let model = OnnxModel::load(&path, &candle_core::Device::Cpu).unwrap();
            let guess = guess_adapter(&model, &path).unwrap();
            guess.adapter.validate_against(&model).unwrap();
            guess
        };
        let guess = third_party("log_mel_spectrogram");
        let audio = guess.adapter.audio().expect("a mel adapter");
        assert_eq!((audio.mel.n_mels, audio.frames), (64, 64));
        assert!(
            guess.toml.contains("sample_rate = 16000    # GUESS"),
            "{}",
            guess.toml
        );
        assert!(guess.summary.contains("is a guess"), "{}", guess.summary);
        // Named plainly, the same graph reads as a one-channel image.
        assert!(third_party("input").adapter.audio().is_none());
    }
}
