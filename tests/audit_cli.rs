//! `probegan audit` through the binary with tiny nets and a few steps: the whole pipeline on
//! the bundled data (judged by the bundled open judge), `--resume` to a larger budget, the
//! judge-free path on a folder of images with a guessed adapter and a `--minutes` budget, an
//! audio audit inferred from a mel classifier (judged by the bundled audio judge and by pitch,
//! with sound in the report), and bad input refused with messages that name the problem.
//! Plumbing, not quality.

use std::path::Path;
use std::process::{Command, Output};

/// Nets and batches small enough for a debug build on 2 cores.
const TINY: [&str; 14] = [
    "--set",
    "model.g_widths=[16, 8, 8, 8]",
    "--set",
    "model.d_widths=[8, 8, 8]",
    "--set",
    "model.z_dim=8",
    "--set",
    "model.embed_dim=8",
    "--set",
    "train.batch_size=8",
    "--set",
    "run.sample_every=2",
    "--set",
    "run.log_every=1",
];

fn probegan(cwd: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_probegan"))
        .current_dir(cwd)
        .args(args)
        .env_remove("ORT_DYLIB_PATH")
        .env("PROBEGAN_OFFLINE", "1")
        .output()
        .expect("running the probegan binary")
}

fn text(out: &Output) -> String {
    format!(
        "status {:?}\nstdout:\n{}\nstderr:\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// The command fails without a panic, and its message holds every `wanted` piece.
fn refused(cwd: &Path, args: &[&str], wanted: &[&str]) {
    let out = probegan(cwd, args);
    let t = text(&out);
    assert!(!out.status.success(), "{t}");
    assert!(!t.contains("panicked"), "{t}");
    for w in wanted {
        assert!(t.contains(w), "expected `{w}` in:\n{t}");
    }
}

fn summary(out: &Output) -> serde_json::Value {
    assert!(out.status.success(), "{}", text(out));
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{e}: {}", text(out)))
}

#[test]
fn audit_on_the_bundled_data_judges_reports_and_resumes() {
    let dir = tempfile::tempdir().unwrap();
    let base = [
        "audit",
        "embedded:regular",
        "--data",
        "embedded",
        "--unseen",
        "Trouser",
        "--out",
        "run",
        "--eval-samples",
        "12",
        "--json",
    ];
    let first = probegan(
        dir.path(),
        &[&base[..], &["--steps", "2"], &TINY[..]].concat(),
    );
    let v = summary(&first);
    let run = dir.path().join("run");
    assert_eq!(
        (v["steps"].as_u64(), v["steps_trained"].as_u64()),
        (Some(2), Some(2))
    );
    assert_eq!(v["unseen"], serde_json::json!(["Trouser"]));
    assert_eq!(v["adapter_origin"], "bundled");
    // The bundled open judge was written into the run and used.
    assert!(
        v["judge"].as_str().unwrap().contains("fmnist_judge_open"),
        "{v}"
    );
    assert!(run.join("judge/fmnist_judge_open.onnx").is_file());
    let rate = v["unseen_recognition"].as_f64().unwrap();
    assert!((0.0..=1.0).contains(&rate), "{v}");
    let stderr = String::from_utf8_lossy(&first.stderr);
    assert!(
        stderr.contains("pre-flight:") && stderr.contains("checks pass"),
        "{stderr}"
    );
    // Everything lands in the run directory, and the paths printed are those files.
    let report = run.join("report.html");
    assert_eq!(
        Path::new(v["report"].as_str().unwrap()),
        Path::new("run/report.html")
    );
    let html = std::fs::read_to_string(&report).unwrap();
    assert!(html.contains("<html") && html.contains("Trouser"));
    let eval: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(run.join("eval/eval.json")).unwrap())
            .unwrap();
    assert_eq!(eval["samples_per_class"], 12);
    let kept: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(run.join("audit.json")).unwrap()).unwrap();
    assert_eq!(kept["steps"], 2);

    // The same command again refuses to overwrite; --resume continues to a larger budget.
    let again = probegan(dir.path(), &[&base[..], &["--steps", "4"]].concat());
    assert!(!again.status.success());
    assert!(
        text(&again).contains("already holds an audit"),
        "{}",
        text(&again)
    );
    let resumed = probegan(
        dir.path(),
        &[&base[..], &["--steps", "4", "--resume"]].concat(),
    );
    let w = summary(&resumed);
    assert_eq!(
        (w["steps"].as_u64(), w["steps_trained"].as_u64()),
        (Some(4), Some(2))
    );
    assert!(String::from_utf8_lossy(&resumed.stderr).contains("resuming"));
    assert!(run.join("checkpoints/step_000004").is_dir());
    // The stored config (tiny nets) was used, not the template's.
    let config = std::fs::read_to_string(run.join("config.toml")).unwrap();
    assert!(
        config.contains("steps = 4") && config.contains("z_dim = 8"),
        "{config}"
    );

    // Resuming with another class is another audit: refused, naming the difference.
    let other = probegan(
        dir.path(),
        &[
            "audit",
            "embedded:regular",
            "--data",
            "embedded",
            "--unseen",
            "Bag",
            "--out",
            "run",
            "--resume",
        ],
    );
    assert!(!other.status.success());
    let t = text(&other);
    assert!(
        t.contains("--unseen") && t.contains("Trouser") && t.contains("Bag"),
        "{t}"
    );
}

/// The bundled mel classifier's file and clips, no adapter and no --mode: the model's
/// metadata make its adapter a mel one, so this is an audio audit; the bundled audio judge is
/// chosen, the verdict speaks of clips and pitch, and the report carries players.
#[test]
fn audit_of_a_mel_classifier_is_an_audio_audit() {
    let dir = tempfile::tempdir().unwrap();
    let model = format!("{}/models/voices_regular.onnx", env!("CARGO_MANIFEST_DIR"));
    let out = probegan(
        dir.path(),
        &[
            "audit",
            &model,
            "--data",
            "embedded:voices",
            "--unseen",
            "women",
            "--out",
            "run",
            "--steps",
            "2",
            "--eval-samples",
            "8",
            "--set",
            "model.g_widths=[32, 16, 16, 8, 8]",
            "--set",
            "model.d_widths=[8, 16, 16, 16]",
            "--set",
            "train.batch_size=4",
        ],
    );
    let t = text(&out);
    assert!(out.status.success(), "{t}");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("generated `women` clips") && stdout.contains("Pitch"),
        "{stdout}"
    );
    let run = dir.path().join("run");
    let v: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(run.join("audit.json")).unwrap()).unwrap();
    assert!(v["judge"].as_str().unwrap().contains("voices_judge"), "{v}");
    assert_eq!(v["adapter_origin"], "guessed", "{v}");
    assert_eq!(v["unseen"], serde_json::json!(["women"]));
    let config = std::fs::read_to_string(run.join("config.toml")).unwrap();
    assert!(
        config.contains("size = [\n    64,\n    64,\n]") || config.contains("size = [64, 64]"),
        "{config}"
    );
    let eval: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(run.join("eval/eval.json")).unwrap())
            .unwrap();
    let women = &eval["classes"][2];
    assert_eq!(women["name"], "women");
    // The judge heard the bundled real women's clips too: the ceiling is in the report.
    assert!(
        women["real_judge_recognition"].as_f64().unwrap() > 0.5,
        "{women}"
    );
    assert!(eval["audio"]["per_class"].as_array().unwrap().len() == 3);
    let html = std::fs::read_to_string(run.join("report.html")).unwrap();
    assert!(html.contains("<audio") && html.contains("data:audio/wav;base64,"));

    // Clips with an image classifier, images with a mel one: refused before training.
    let fails = |args: &[&str], wanted: &str| refused(dir.path(), args, &[wanted]);
    fails(
        &[
            "audit",
            "embedded:voices_regular",
            "--data",
            "embedded",
            "--out",
            "b",
        ],
        "an audio audit reads clips",
    );
    fails(
        &[
            "audit",
            "embedded:regular",
            "--data",
            "embedded:voices",
            "--out",
            "c",
        ],
        "WAV clips need a classifier with a mel adapter",
    );
}

/// Photographs with no labels as `substrates:DIR`: a substrate audit of every class of the
/// bundled classifier, judged by the bundled Fashion-MNIST judge over the same labels; the
/// flags it cannot honour are refused before training.
#[test]
fn audit_of_a_substrate_folder_paints_every_class_and_is_judged() {
    let dir = tempfile::tempdir().unwrap();
    let subs = dir.path().join("photos");
    std::fs::create_dir_all(&subs).unwrap();
    for i in 0..10u32 {
        let img = image::RgbImage::from_fn(40, 36, |x, y| {
            image::Rgb([(x * 6 + i * 20) as u8, (y * 7) as u8, ((x ^ y) * 5) as u8])
        });
        img.save(subs.join(format!("p{i}.png"))).unwrap();
    }
    let root = env!("CARGO_MANIFEST_DIR");
    let judge = format!("{root}/models/fmnist_judge.onnx");
    let judge_adapter = format!("{root}/adapters/fmnist_judge.toml");
    let base = ["audit", "embedded:regular", "--data", "substrates:photos"];
    let out = probegan(
        dir.path(),
        &[
            &base[..],
            &[
                "--judge",
                &judge,
                "--judge-adapter",
                &judge_adapter,
                "--out",
                "run",
                "--steps",
                "2",
                "--json",
                "--set",
                "method.unet_widths=[8, 16]",
                "--set",
                "method.patch_widths=[8, 16]",
                "--set",
                "run.sample_every=2",
            ],
        ]
        .concat(),
    );
    let v = summary(&out);
    assert_eq!(v["steps"], 2, "{v}");
    for key in ["painted_top1", "painted_top5"] {
        let r = v[key].as_f64().unwrap_or(-1.0);
        assert!((0.0..=1.0).contains(&r), "{key}: {v}");
    }
    let run = dir.path().join("run");
    let config = std::fs::read_to_string(run.join("config.toml")).unwrap();
    assert!(
        config.contains("name = \"substrate\"") && config.contains("resolution = 32"),
        "{config}"
    );
    let eval: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(run.join("eval/eval.json")).unwrap())
            .unwrap();
    assert_eq!(eval["substrate"]["classes"].as_array().unwrap().len(), 10);
    assert!(run.join("report.html").is_file());

    let fails = |args: &[&str], wanted: &str| refused(dir.path(), args, &[wanted]);
    fails(&[&base[..], &["--out", "b"]].concat(), "pass --judge");
    fails(
        &[
            &base[..],
            &["--judge", &judge, "--unseen", "Bag", "--out", "c"],
        ]
        .concat(),
        "drop --unseen",
    );
    assert!(!dir.path().join("b/checkpoints").exists());
}

/// A folder of PNGs named by class index and the bundled model given as a file with no
/// adapter: the adapter is guessed (and said), no judge exists for this data (and that is
/// said), and `--minutes` picks the step budget from timed steps.
#[test]
fn audit_of_a_folder_is_judge_free_and_sized_by_minutes() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("images");
    for c in 0..10u8 {
        let class_dir = data.join(c.to_string());
        std::fs::create_dir_all(&class_dir).unwrap();
        for i in 0..6u8 {
            let img = image::GrayImage::from_fn(28, 28, |x, y| {
                image::Luma([((x as u8) * 9)
                    .wrapping_add(c * 25)
                    .wrapping_add(i * 7 + y as u8)])
            });
            img.save(class_dir.join(format!("{i}.png"))).unwrap();
        }
    }
    let model = concat!(env!("CARGO_MANIFEST_DIR"), "/models/fmnist_regular.onnx");
    let out = probegan(
        dir.path(),
        &[
            &[
                "audit",
                model,
                "--data",
                "images",
                "--unseen",
                "1",
                "--out",
                "run",
                "--minutes",
                "0.02",
                "--eval-samples",
                "8",
            ][..],
            &TINY[..],
        ]
        .concat(),
    );
    assert!(out.status.success(), "{}", text(&out));
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("adapter guessed from the model"),
        "{stderr}"
    );
    assert!(
        stderr.contains("minutes ≈") && stderr.contains("s/step"),
        "{stderr}"
    );
    assert!(
        stdout.contains("no independent judge was available"),
        "{stdout}"
    );
    assert!(stdout.contains("report: run/report.html"), "{stdout}");
    let run = dir.path().join("run");
    assert!(run.join("adapter.toml").is_file() && run.join("report.html").is_file());
    let v: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(run.join("audit.json")).unwrap()).unwrap();
    assert!(
        v["judge"].is_null() && v["unseen_recognition"].is_null(),
        "{v}"
    );
    assert!(v["steps"].as_u64().unwrap() >= 1 && v["seconds_per_step"].as_f64().unwrap() > 0.0);
    let conf = v["unseen_target_confidence"].as_f64().unwrap();
    assert!((0.0..=1.0).contains(&conf), "{v}");
}

#[test]
fn bad_input_is_refused_with_a_message_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    let fails = |args: &[&str], wanted: &[&str]| refused(dir.path(), args, wanted);
    let audit = ["audit", "embedded:regular", "--data", "embedded"];
    fails(
        &[&audit[..], &["--unseen", "Hat"]].concat(),
        &["--unseen: unknown class `Hat`", "Trouser"],
    );
    fails(
        &["audit", "embedded:regular", "--data", "no/such/dir"],
        &["no/such/dir", "no such file or folder"],
    );
    fails(
        &[&audit[..], &["--minutes", "2", "--steps", "10"]].concat(),
        &["--minutes", "--steps", "cannot be used with"],
    );
    fails(
        &[&audit[..], &["--minutes", "0"]].concat(),
        &["--minutes 0", "positive"],
    );
    fails(
        &[&audit[..], &["--mode", "audio"]].concat(),
        &["--mode audio"],
    );
    fails(
        &[&audit[..], &["--mode", "substrate"]].concat(),
        &["--mode substrate", "substrates:DIR"],
    );
    fails(
        &["audit", "no_such_model.onnx", "--data", "embedded"],
        &["no_such_model.onnx", "neither an existing file"],
    );
    fails(
        &[
            "audit",
            "embedded:regular",
            "--data",
            "embedded",
            "--adapter",
            "x.toml",
        ],
        &["drop --adapter"],
    );
    // Nothing was trained for any of them.
    assert!(!dir.path().join("probegan-audit/checkpoints").exists());
}
