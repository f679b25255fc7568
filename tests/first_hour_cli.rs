//! A user's first commands on their own model, through the binary, on the bundled classifier:
//! `adapter init` writes an adapter that reads back and names what it guessed, `classify`
//! without an adapter says it guessed, `check` passes a correct model, and `bench` reports
//! probegan's and tract's times for one batch (no timing is asserted: speed is measured by
//! benchmarks, not tests).

use std::process::{Command, Output};

fn probegan(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_probegan"))
        .args(args)
        .env_remove("ORT_DYLIB_PATH")
        .output()
        .expect("running the probegan binary")
}

const MODEL: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/models/fmnist_regular.onnx");

#[test]
fn adapter_init_writes_an_adapter_that_reads_back() {
    let out = probegan(&["adapter", "init", MODEL]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let toml = String::from_utf8(out.stdout).unwrap();
    assert!(
        toml.contains("size = [28, 28]") && toml.contains("# GUESS"),
        "{toml}"
    );
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("guess.toml");
    std::fs::write(&path, &toml).unwrap();
    let adapter = probegan::adapter::Adapter::load(&path).unwrap();
    assert_eq!(adapter.class_names().len(), 10);
    assert_eq!(adapter.input().channels, 1);
}

#[test]
fn check_passes_the_bundled_classifier_and_bench_reports_one_batch() {
    let out = probegan(&["check", MODEL, "--coords", "8", "--json"]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{text}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(!text.contains("FAIL"), "{text}");

    let out = probegan(&["bench", MODEL, "--batch", "4", "--reps", "1", "--json"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(
        stderr.contains("adapter guessed from the model"),
        "{stderr}"
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["batch"], 4);
    let rows = v["rows"].as_array().unwrap();
    let engines: Vec<&str> = rows.iter().map(|r| r["engine"].as_str().unwrap()).collect();
    assert!(
        engines.contains(&"probegan") && engines.contains(&"tract"),
        "{engines:?}"
    );
    assert!(rows.iter().all(|r| r["seconds"].as_f64().unwrap() > 0.0));
    // One step of the audit's training at the model's size (28x28 grey: the 32-px generator).
    let step = &v["audit_step"];
    assert_eq!(step["image"], serde_json::json!([1, 32, 32]), "{step}");
    assert_eq!(step["classes"], 10);
    let s = step["seconds_per_step"].as_f64().unwrap();
    let minutes = step["default_minutes"].as_f64().unwrap();
    let steps = step["default_steps"].as_f64().unwrap();
    assert!(
        s > 0.0 && (minutes - s * steps / 60.0).abs() < 1e-9,
        "{step}"
    );
}
