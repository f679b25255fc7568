//! `probegan demo` end to end through the binary, started from a directory that holds none of
//! the repository's files: the config, data, classifier and both judges must come from the
//! binary itself. A few steps only: this checks the plumbing and the verdict, not quality
//! (docs/results.md has the quality runs).

use std::path::Path;
use std::process::{Command, Output};

fn demo(cwd: &Path, extra: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_probegan"))
        .current_dir(cwd)
        .args([
            "demo",
            "--out",
            "my-demo",
            "--steps",
            "3",
            "--judge-samples",
            "40",
        ])
        .args(extra)
        .env_remove("CARGO_MANIFEST_DIR")
        .output()
        .expect("running the probegan binary")
}

fn verdict(cwd: &Path) -> serde_json::Value {
    let text = std::fs::read_to_string(cwd.join("my-demo/verdict.json")).unwrap();
    serde_json::from_str(&text).unwrap()
}

#[test]
fn demo_runs_from_an_empty_directory_and_judges_twice_alike() {
    let dir = tempfile::tempdir().unwrap();
    let first = demo(dir.path(), &["--unseen", "Sneaker"]);
    let stdout = String::from_utf8_lossy(&first.stdout);
    assert!(
        first.status.success(),
        "demo failed:\n{}\n{}",
        stdout,
        String::from_utf8_lossy(&first.stderr)
    );
    assert!(stdout.contains("verdict:") && stdout.contains("`Sneaker`"));

    let v = verdict(dir.path());
    assert_eq!(v["unseen"], "Sneaker");
    assert_eq!(v["second_judge"], "robust");
    assert_eq!(v["judge"], "judge_open");
    for key in [
        "unseen_recognition",
        "seen_recognition",
        "second_judge_unseen_recognition",
        "closed_judge_unseen_recognition",
    ] {
        let rate = v[key].as_f64().unwrap_or(-1.0);
        assert!((0.0..=1.0).contains(&rate), "{key} = {rate}");
    }
    // The collapse guard's reading joins the verdict.
    for key in ["unseen_diversity", "seen_diversity"] {
        let d = v[key].as_f64().unwrap_or(-1.0);
        assert!(d > 0.0, "{key} = {d}");
    }
    assert!(stdout.contains("Pixel diversity"), "{stdout}");
    // The grid is a real PNG: 10 classes x 10 samples of 32x32.
    let grid = image::open(dir.path().join("my-demo/demo_grid.png")).unwrap();
    assert!(grid.width() >= 320 && grid.height() >= 320);
    assert!(dir.path().join("my-demo/checkpoints/step_000003").is_dir());

    // A finished demo is judged again, not retrained, and the verdict is reproducible.
    let again = demo(dir.path(), &["--unseen", "Sneaker"]);
    assert!(again.status.success());
    assert!(String::from_utf8_lossy(&again.stderr).contains("already holds a finished demo"));
    let w = verdict(dir.path());
    assert_eq!(v["unseen_recognition"], w["unseen_recognition"]);
    assert_eq!(v["unseen_diversity"], w["unseen_diversity"]);
    assert_eq!(
        v["second_judge_unseen_recognition"],
        w["second_judge_unseen_recognition"]
    );
}

#[test]
fn demo_rejects_an_unknown_class_by_name() {
    let dir = tempfile::tempdir().unwrap();
    let out = demo(dir.path(), &["--unseen", "Hat"]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("Hat"), "error should name the class: {err}");
    assert!(!err.contains("panicked"), "{err}");
}

#[test]
fn audio_demo_runs_from_an_empty_directory_and_writes_sound() {
    let dir = tempfile::tempdir().unwrap();
    // Narrow nets: the plumbing, not quality (scripts/voices_table.sh has the quality runs).
    let out = demo(
        dir.path(),
        &[
            "--audio",
            "--unseen",
            "men",
            "--set",
            "model.g_widths=[32, 16, 16, 8, 8]",
            "--set",
            "model.d_widths=[8, 16, 16, 16]",
        ],
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "demo --audio failed:\n{}\n{}",
        stdout,
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.contains("verdict:") && stdout.contains("`men`"),
        "{stdout}"
    );
    let v = verdict(dir.path());
    assert_eq!(v["unseen"], "men");
    assert_eq!(v["judge"], "voices_judge");
    for key in [
        "unseen_recognition",
        "real_unseen_recognition",
        "seen_recognition",
    ] {
        let rate = v[key].as_f64().unwrap_or(-1.0);
        assert!((0.0..=1.0).contains(&rate), "{key} = {rate}");
    }
    // The judge knows the bundled real clips: its ceiling for the unseen class.
    assert!(v["real_unseen_recognition"].as_f64().unwrap() >= 0.7, "{v}");
    let classes = v["audio"]["per_class"].as_array().unwrap();
    assert_eq!(classes.len(), 3);
    for c in classes {
        for wav in c["wavs"].as_array().unwrap() {
            let path = dir.path().join("my-demo").join(wav.as_str().unwrap());
            let reader = hound::WavReader::open(&path).unwrap();
            assert_eq!(reader.spec().sample_rate, 16_000, "{}", path.display());
        }
        // The bundled real clips of each class were heard beside the generated ones.
        assert!(c["real"]["clips"].as_u64().unwrap() >= 8, "{c}");
    }
    assert!(dir.path().join("my-demo/demo_grid.png").is_file());

    // An image class name is refused by name.
    let bad = demo(dir.path(), &["--audio", "--unseen", "Trouser"]);
    assert!(!bad.status.success());
    assert!(String::from_utf8_lossy(&bad.stderr).contains("men, non-human, women"));
}
