//! Audio through the whole command line on a tiny synthetic WAV folder: `train-classifier`
//! fits a mel classifier (men / non-human / women), `train` runs ProbeGAN with "women" unseen
//! and the unseen class's classifier probability rises, `eval` hears the samples (Griffin-Lim
//! WAVs, pitch), and `report` inlines them as `<audio>` players with WAV data URIs.

use base64::Engine;
use probegan::data::audio::write_wav_mono;
use std::path::Path;
use std::process::Command;

const SR: u32 = 16_000;

/// 1.1 s of a voiced tone: six harmonics of `f0` (falling off as 1/h) with a slow vibrato.
fn voice(f0: f32, seed: u32) -> Vec<f32> {
    let mut phase = 0.0f32;
    let rate = 4.0 + seed as f32 * 0.3;
    (0..(SR as usize * 11 / 10))
        .map(|i| {
            let t = i as f32 / SR as f32;
            let f = f0 * (1.0 + 0.02 * (std::f32::consts::TAU * rate * t).sin());
            phase += std::f32::consts::TAU * f / SR as f32;
            (1..=6)
                .map(|h| 0.2 / h as f32 * (h as f32 * phase).sin())
                .sum()
        })
        .collect()
}

/// 1.1 s of unvoiced sound from a seeded generator: steady noise at one of several levels
/// (odd seeds) or noise bursts (even seeds). The steady kind also teaches the classifier
/// that a featureless spectrogram, what an untrained generator draws, is not a voice.
fn noise(seed: u32) -> Vec<f32> {
    let mut state = 0x9E37_79B9u32.wrapping_mul(seed + 1);
    let level = [0.05, 0.2, 0.6][(seed as usize / 2) % 3];
    (0..(SR as usize * 11 / 10))
        .map(|i| {
            state ^= state << 13;
            state ^= state >> 17;
            state ^= state << 5;
            let envelope = if seed % 2 == 1 {
                level
            } else if (i / 2000 + seed as usize) % 3 == 0 {
                0.1
            } else {
                0.6
            };
            envelope * (state as f32 / u32::MAX as f32 - 0.5)
        })
        .collect()
}

fn write_split(root: &Path, split: &str, files: u32, first_seed: u32) {
    for k in 0..files {
        let seed = first_seed + k;
        let step = k as f32 / files as f32;
        let clips = [
            ("men", voice(100.0 + 40.0 * step, seed)),
            ("women", voice(190.0 + 50.0 * step, seed)),
            ("non-human", noise(seed)),
        ];
        for (class, clip) in clips {
            let path = root.join(split).join(class).join(format!("{seed}.wav"));
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            write_wav_mono(&path, &clip, SR).unwrap();
        }
    }
}

fn probegan(args: &[&str]) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_probegan"))
        .args(args)
        .output()
        .unwrap();
    let text = format!(
        "{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "probegan {args:?} failed:\n{text}");
    text
}

const CONFIG: &str = r#"
[run]
out_dir = "RUN"
seed = 1
steps = 40
log_every = 5
sample_every = 1000
checkpoint_every = 40
keep_checkpoints = 1
grid_columns = 4

[method]
name = "probegan"

[data]
source = "DATA"
unseen = ["women"]

[classifier]
adapter = "ADAPTER"

[model]
size = [64, 64]
channels = 1
z_dim = 16
embed_dim = 16
g_widths = [32, 16, 16, 8, 8]
d_widths = [8, 16, 16, 16]

[train]
batch_size = 8
d_steps = 1
lr_g = 2e-3
lr_d = 2e-4
ema_decay = 0.0

[loss]
ce_weight = 3.0
"#;

#[test]
fn a_short_audio_run_learns_the_unseen_voice_and_the_report_plays_it() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("voices");
    write_split(&data, "train", 12, 0);
    write_split(&data, "test", 4, 100);

    // The audited classifier: a mel CNN over all three classes.
    let model = dir.path().join("clf.onnx");
    probegan(&[
        "train-classifier",
        "--data",
        data.to_str().unwrap(),
        "--arch",
        "cnn-tiny",
        "--epochs",
        "12",
        "--batch-size",
        "12",
        "--lr",
        "0.005",
        "--out",
        model.to_str().unwrap(),
    ]);
    let adapter = dir.path().join("clf.adapter.toml");
    let adapter_text = std::fs::read_to_string(&adapter).unwrap();
    assert!(
        adapter_text.contains("modality = \"mel\""),
        "{adapter_text}"
    );
    // The model carries its front end: `adapter init` reads back the same [mel] table.
    let guessed = probegan(&["adapter", "init", model.to_str().unwrap()]);
    let mel_table = |t: &str| -> String {
        let start = t.find("\n[mel]").expect("a [mel] table");
        let end = t[start..].find("[classes]").map_or(t.len(), |e| start + e);
        t[start..end].trim().to_string()
    };
    assert_eq!(mel_table(&guessed), mel_table(&adapter_text), "{guessed}");

    let run = dir.path().join("run");
    let config = dir.path().join("config.toml");
    std::fs::write(
        &config,
        CONFIG
            .replace("RUN", run.to_str().unwrap())
            .replace("DATA", data.to_str().unwrap())
            .replace("ADAPTER", adapter.to_str().unwrap()),
    )
    .unwrap();
    probegan(&["train", "--config", config.to_str().unwrap(), "--quiet"]);

    // The classifier's probability of "women" for generated women, which the generator never
    // saw: at step 0 and at the last logged step.
    let metrics = std::fs::read_to_string(run.join("metrics.jsonl")).unwrap();
    let p_unseen: Vec<f64> = metrics
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter_map(|v| v["p_unseen"].as_f64())
        .collect();
    assert!(p_unseen.len() >= 2, "p_unseen logged: {metrics}");
    let (first, last) = (p_unseen[0], *p_unseen.last().unwrap());
    assert!(
        last > first + 0.2 && last > 0.5,
        "unseen-class probability rose: {first:.3} -> {last:.3} ({p_unseen:?})"
    );

    // Heard: Griffin-Lim clips of every class, and the real test clips beside them.
    probegan(&[
        "eval",
        "--run",
        run.to_str().unwrap(),
        "--real",
        data.to_str().unwrap(),
        "--n",
        "8",
        "--judge",
        "embedded:voices_judge",
    ]);
    let eval: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(run.join("eval/eval.json")).unwrap())
            .unwrap();
    // The bundled judge, named like any other, written beside the record.
    assert!(run.join("eval/judge/voices_judge.onnx").is_file());
    assert!(
        eval["judge"].as_str().unwrap().contains("voices_judge"),
        "{}",
        eval["judge"]
    );
    for c in eval["classes"].as_array().unwrap() {
        assert!(c["judge_recognition"].as_f64().is_some(), "{c}");
    }
    let classes = eval["audio"]["per_class"].as_array().unwrap();
    assert_eq!(classes.len(), 3);
    for c in classes {
        assert!(!c["wavs"].as_array().unwrap().is_empty(), "{c}");
        assert!(c["real"]["clips"].as_u64().unwrap() > 0, "{c}");
    }
    let real_women = classes.iter().find(|c| c["name"] == "women").unwrap();
    let women_f0 = real_women["real"]["median_f0_hz"].as_f64().unwrap();
    assert!(
        (180.0..260.0).contains(&women_f0),
        "real women's clips keep their pitch through the mel front end and Griffin-Lim: {women_f0}"
    );

    let html_path = dir.path().join("report.html");
    probegan(&[
        "report",
        run.to_str().unwrap(),
        "--out",
        html_path.to_str().unwrap(),
    ]);
    let html = std::fs::read_to_string(&html_path).unwrap();
    let prefix = "data:audio/wav;base64,";
    let players = html.matches("<audio").count();
    assert!(
        players >= 3,
        "one player per class at least, found {players}"
    );
    let start = html.find(prefix).expect("a WAV data URI") + prefix.len();
    let end = start + html[start..].find('"').unwrap();
    let wav = base64::engine::general_purpose::STANDARD
        .decode(&html[start..end])
        .unwrap();
    let reader = hound::WavReader::new(std::io::Cursor::new(wav)).unwrap();
    assert_eq!(reader.spec().sample_rate, SR);
    assert!(reader.len() > SR / 2, "about a second of sound");
}
