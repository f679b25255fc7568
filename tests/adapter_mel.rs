//! Audio adapters (`modality = "mel"`): parsing and defaults of `[mel]`, validation errors that
//! name the file, table and key, the check against a model's declared shapes, and the
//! differentiable map from generated waveforms or features to the model's input.

use candle_core::{DType, Device, Tensor, Var};
use probegan::adapter::mel::{LogScale, MelFrontEnd, MelNorm, MelScale, Padding, Window};
use probegan::adapter::{Adapter, Layout, ModelInput, WaveLayout};
use probegan::onnx::IoInfo;

fn io(name: &str, dims: &[Option<usize>]) -> IoInfo {
    IoInfo::float(name, dims)
}

const MEL: &str = r#"
modality = "mel"
model = "voices.onnx"

[mel]
input = "mel"
sample_rate = 16000
clip_seconds = 1.0
n_fft = 512
hop = 160
n_mels = 64
fmax = 7600.0
log = "db"
log_offset = 1e-10
mean = -40.0
std = 20.0

[input]
layout = "NWH"

[classes]
names = ["men", "women", "non-human"]
"#;

const WAVE: &str = r#"
modality = "mel"

[mel]
input = "waveform"
waveform_layout = "NCL"
sample_rate = 8000
clip_samples = 4000
n_fft = 256
hop = 128
n_mels = 32
mel_scale = "htk"
padding = "reflect"

[classes]
names = ["a", "b"]
"#;

fn err(text: &str) -> String {
    format!(
        "{:#}",
        Adapter::from_toml_str(text, "voice.toml").unwrap_err()
    )
}

#[test]
fn mel_model_settings_and_defaults() {
    let a = Adapter::from_toml_str(MEL, "voice.toml").unwrap();
    let audio = a.audio().expect("an audio adapter");
    assert_eq!(audio.model_input, ModelInput::Mel);
    assert_eq!(audio.clip_samples, 16000);
    assert_eq!(audio.frames, 101, "1 + 16000 / 160 centred frames");
    let m = &audio.mel;
    assert_eq!(
        (m.sample_rate, m.n_fft, m.hop, m.n_mels),
        (16000, 512, 160, 64)
    );
    assert_eq!((m.fmin, m.fmax), (0.0, 7600.0));
    assert_eq!(m.window, Window::Hann);
    assert_eq!(
        (m.mel_scale, m.mel_norm),
        (MelScale::Slaney, MelNorm::Slaney)
    );
    assert_eq!((m.power, m.padding), (2.0, Padding::Zeros));
    assert_eq!(
        (m.log, m.log_offset, m.mean, m.std),
        (LogScale::Db, 1e-10, -40.0, 20.0)
    );
    // The generator-space shape: features, bands as rows.
    let s = a.input();
    assert_eq!(
        (s.channels, s.height, s.width, s.layout),
        (1, 64, 101, Layout::Nwh)
    );
    assert_eq!(a.model_path().unwrap().to_str(), Some("voices.onnx"));

    let w = Adapter::from_toml_str(WAVE, "w.toml").unwrap();
    let audio = w.audio().unwrap();
    assert_eq!(audio.model_input, ModelInput::Waveform(WaveLayout::Ncl));
    assert_eq!(audio.mel.fmax, 4000.0, "fmax defaults to Nyquist");
    assert_eq!(
        (audio.mel.mel_scale, audio.mel.mel_norm),
        (MelScale::Htk, MelNorm::None),
        "HTK's default norm is none, as torchaudio's"
    );
    assert_eq!((w.input().height, w.input().width), (1, 4000));
}

#[test]
fn bad_settings_are_errors_naming_file_table_and_key() {
    let cases: Vec<(String, &[&str])> = vec![
        (
            MEL.replace("modality = \"mel\"", "modality = \"image\""),
            &["[mel] table needs modality = \"mel\""],
        ),
        (
            MEL.replace("input = \"mel\"", "input = \"spectrogram\""),
            &["[mel] input \"spectrogram\"", "waveform"],
        ),
        (
            MEL.replace("clip_seconds = 1.0", ""),
            &["[mel]", "clip_seconds or clip_samples"],
        ),
        (
            MEL.replace("clip_seconds = 1.0", "clip_seconds = 1.0\nclip_samples = 5"),
            &["not both"],
        ),
        (
            MEL.replace("clip_seconds = 1.0", "clip_seconds = -2.0"),
            &["clip_seconds -2"],
        ),
        (
            MEL.replace(
                "clip_seconds = 1.0",
                "clip_samples = 100\npadding = \"none\"",
            ),
            &["[mel] clip length", "100 samples", "shorter than one frame"],
        ),
        (
            MEL.replace("fmax = 7600.0", "fmax = 9000.0"),
            &["[mel]", "fmax 9000"],
        ),
        (MEL.replace("hop = 160", "hop = 0"), &["[mel] hop"]),
        (
            MEL.replace("log = \"db\"", "log = \"log2\""),
            &["[mel] log \"log2\"", "\"db\""],
        ),
        (
            MEL.replace("log_offset = 1e-10", "log_offset = 0.0"),
            &["log_offset"],
        ),
        (MEL.replace("std = 20.0", "std = -1.0"), &["std"]),
        (
            MEL.replace("n_mels = 64", "n_mels = 64\nwindow = \"kaiser\""),
            &["window \"kaiser\"", "\"hann\""],
        ),
        (
            MEL.replace("n_mels = 64", "n_mels = 64\nhop_length = 10"),
            &["hop_length"],
        ),
        (
            MEL.replace("n_mels = 64", "n_mels = 64\nwaveform_layout = \"NL\""),
            &["waveform_layout applies to input = \"waveform\""],
        ),
        (
            MEL.replace("layout = \"NWH\"", "layout = \"NWH\"\nsize = [64, 100]"),
            &["[input] size [64, 100]", "[64, 101]"],
        ),
        (
            MEL.replace("layout = \"NWH\"", "layout = \"NWH\"\nmean = [0.5]"),
            &["[input] mean is an image setting"],
        ),
        (
            MEL.replace("layout = \"NWH\"", "layout = \"NWH\"\nchannels = 3"),
            &["channels 3"],
        ),
        (
            MEL.replace("layout = \"NWH\"", "layout = \"NCWH\""),
            &["layout \"ncwh\""],
        ),
        (MEL.replace("[mel]", "[audio]"), &["audio"]),
        (
            WAVE.replace("\"NCL\"", "\"NLC\""),
            &["waveform_layout \"nlc\"", "\"ncl\""],
        ),
        (
            format!("{WAVE}\n[input]\nlayout = \"NCHW\"\n"),
            &["[input] describes a mel model's", "waveform_layout"],
        ),
        (
            WAVE.replace("padding = \"reflect\"", "padding = \"mirror\""),
            &["padding \"mirror\""],
        ),
    ];
    for (text, wanted) in cases {
        let e = err(&text);
        assert!(e.contains("voice.toml"), "no file name in: {e}");
        for w in wanted {
            assert!(e.contains(w), "{w:?} not in: {e}");
        }
    }
    // An image adapter still needs [input].
    let e = err("modality = \"image\"\n[classes]\nnames = [\"a\"]\n");
    assert!(e.contains("missing [input]"), "{e}");
}

#[test]
fn declared_model_shapes_are_checked() {
    let mel = Adapter::from_toml_str(MEL, "voice.toml").unwrap();
    let out = [io("logits", &[None, Some(3)])];
    // NWH: [N, frames, n_mels].
    mel.validate_against_io(&[io("x", &[None, Some(101), Some(64)])], &out)
        .unwrap();
    let e = mel
        .validate_against_io(&[io("x", &[None, Some(64), Some(101)])], &out)
        .unwrap_err()
        .to_string();
    assert!(e.contains("voice.toml") && e.contains("64"), "{e}");
    let e = mel
        .validate_against_io(
            &[io("x", &[None, Some(101), Some(64)])],
            &[io("y", &[None, Some(5)])],
        )
        .unwrap_err()
        .to_string();
    assert!(e.contains("3 classes") && e.contains("5 logits"), "{e}");

    let wave = Adapter::from_toml_str(WAVE, "w.toml").unwrap();
    let out = [io("logits", &[None, Some(2)])];
    wave.validate_against_io(&[io("audio", &[None, Some(1), Some(4000)])], &out)
        .unwrap();
    wave.validate_against_io(&[io("audio", &[None, Some(1), None])], &out)
        .unwrap();
    let e = wave
        .validate_against_io(&[io("audio", &[None, Some(1), Some(16000)])], &out)
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("4000") && e.contains("16000") && e.contains("clip_samples = 16000"),
        "{e}"
    );
    let e = wave
        .validate_against_io(&[io("audio", &[None, Some(4000)])], &out)
        .unwrap_err()
        .to_string();
    assert!(e.contains("rank-3") && e.contains("\"NL\""), "{e}");
    let e = wave
        .validate_against_io(&[io("audio", &[None, Some(2), Some(4000)])], &out)
        .unwrap_err()
        .to_string();
    assert!(e.contains("one channel"), "{e}");
    let e = wave
        .validate_against_io(
            &[io("audio", &[None, Some(1), Some(4000)])],
            &[io("y", &[None, Some(7)])],
        )
        .unwrap_err()
        .to_string();
    assert!(e.contains("7 logits"), "{e}");
}

#[test]
fn generated_audio_reaches_the_model_input_with_gradients() {
    let dev = Device::Cpu;
    let mel = Adapter::from_toml_str(MEL, "voice.toml").unwrap();
    let audio = mel.audio().unwrap().clone();
    let wave: Vec<f32> = (0..2 * 16000)
        .map(|i| (0.3 * (i as f32 * 0.07).sin()) + 0.01 * ((i * 7919 % 1000) as f32 / 1000.0))
        .collect();
    let wave = Var::from_vec(wave, (2, 16000), &dev).unwrap();
    // A waveform drawn as a one-row image goes through the front end, then the NWH layout.
    let x = mel
        .generator_to_input(&wave.as_tensor().reshape((2, 1, 1, 16000)).unwrap())
        .unwrap();
    assert_eq!(x.dims(), [2, 101, 64]);
    let fe = MelFrontEnd::new(&audio.mel, &dev, DType::F32).unwrap();
    let direct = fe.forward(wave.as_tensor()).unwrap();
    let same = (direct.squeeze(1).unwrap().transpose(1, 2).unwrap() - &x)
        .unwrap()
        .abs()
        .unwrap()
        .max_all()
        .unwrap()
        .to_scalar::<f32>()
        .unwrap();
    assert_eq!(same, 0.0, "the adapter runs the same front end");
    let g = x.sum_all().unwrap().backward().unwrap();
    let gw = g
        .get(wave.as_tensor())
        .expect("a gradient reaches the waveform");
    let norm = gw
        .sqr()
        .unwrap()
        .sum_all()
        .unwrap()
        .to_scalar::<f32>()
        .unwrap();
    assert!(norm.is_finite() && norm > 0.0, "gradient norm {norm}");

    // Features drawn directly are only laid out.
    let feats = Tensor::randn(0f32, 1.0, (2, 1, 64, 101), &dev).unwrap();
    let y = mel.generator_to_input(&feats).unwrap();
    assert_eq!(y.dims(), [2, 101, 64]);
    let e = format!(
        "{:#}",
        mel.generator_to_input(&Tensor::zeros((2, 1, 64, 100), DType::F32, &dev).unwrap())
            .unwrap_err()
    );
    assert!(e.contains("[N, 1, 64, 101]"), "{e}");
    let e = format!(
        "{:#}",
        mel.waveform_to_input(&Tensor::zeros((2, 8000), DType::F32, &dev).unwrap())
            .unwrap_err()
    );
    assert!(e.contains("8000 samples") && e.contains("16000"), "{e}");

    // A waveform model takes waveforms in its layout and refuses features.
    let w = Adapter::from_toml_str(WAVE, "w.toml").unwrap();
    let y = w
        .generator_to_input(&Tensor::zeros((3, 1, 1, 4000), DType::F32, &dev).unwrap())
        .unwrap();
    assert_eq!(y.dims(), [3, 1, 4000]);
    let e = format!(
        "{:#}",
        w.generator_to_input(&Tensor::zeros((3, 1, 32, 32), DType::F32, &dev).unwrap())
            .unwrap_err()
    );
    assert!(
        e.contains("takes waveforms") && e.contains("[N, 1, 1, 4000]"),
        "{e}"
    );
    // Its [mel] settings still give features (for discriminators and the report).
    let f = w
        .mel_features(&Tensor::zeros((3, 4000), DType::F32, &dev).unwrap())
        .unwrap();
    assert_eq!(f.dims(), [3, 1, 32, 32], "1 + 4000 / 128 = 32 frames");

    // Image adapters have no front end, and audio adapters take no images.
    let img = Adapter::for_generator_space(1, 8, 8, vec!["a".into()]).unwrap();
    assert!(img
        .mel_features(&Tensor::zeros((1, 400), DType::F32, &dev).unwrap())
        .is_err());
    let e = format!(
        "{:#}",
        mel.images_to_input(&["x.png".into()], &dev).unwrap_err()
    );
    assert!(e.contains("takes WAV clips"), "{e}");
}
