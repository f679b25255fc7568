//! The HTML audit report on a fabricated run directory (the trainer's layout plus an eval
//! record and a sibling baseline run): every section present, nothing fetched from the network,
//! and Chromium renders a non-blank page. The Chromium part is skipped, with a message, where
//! `/usr/bin/chromium` (Debian package `chromium`) is absent.

use candle_core::{Device, Tensor};
use probegan::image_io::{grid, save_png, to_rgb_images};
use probegan::metrics::diversity::Diversity;
use probegan::metrics::evaluation::*;
use probegan::metrics::kid::Kid;
use probegan::metrics::leakage::{LeakageScore, StudentAccuracy};
use probegan::metrics::prdc::Prdc;
use probegan::metrics::selection::{agreement, select_checkpoint, CheckpointSignals};
use probegan::nets::NetConfig;
use probegan::run::{ClassifierInfo, RunInfo};
use probegan::train_classifier::evaluate::NamedAccuracy;
use std::path::{Path, PathBuf};
use std::process::Command;

const CLASSES: [&str; 3] = ["T-shirt", "Trouser", "Bag"];

/// The run description the trainer writes: Bag unseen, seed 7.
fn run_info(method: &str) -> RunInfo {
    RunInfo {
        method: method.into(),
        seed: 7,
        class_names: CLASSES.iter().map(|c| c.to_string()).collect(),
        unseen: vec!["Bag".into()],
        unseen_indices: vec![2],
        classifier: ClassifierInfo {
            adapter: "adapters/fmnist_regular.toml".into(),
            model: Some("models/fmnist_regular.onnx".into()),
        },
        net: NetConfig {
            resolution: 32,
            size: None,
            channels: 1,
            z_dim: 8,
            embed_dim: 8,
            g_widths: vec![8, 8, 8, 8],
            d_widths: vec![8, 8, 8],
            hierarchical_z: false,
            separate_du_trunk: false,
            sn_projection: false,
            harmonic: None,
            d_band_detail: false,
        },
        config: serde_json::json!({}),
    }
}

/// Images with a class-dependent bright bar, so the page has visible content.
fn images(n: usize, class: usize, seed: f32) -> Tensor {
    let mut v = vec![-1f32; n * 28 * 28];
    for i in 0..n {
        for y in 0..28 {
            for x in 0..28 {
                let on = match class {
                    0 => {
                        (6..22).contains(&x) && (4..10).contains(&y)
                            || (10..18).contains(&x) && y >= 4
                    }
                    1 => ((8..13).contains(&x) || (15..20).contains(&x)) && y >= 3,
                    _ => (4..24).contains(&x) && (9..25).contains(&y),
                };
                if on {
                    v[(i * 28 + y) * 28 + x] = 0.6 + 0.4 * ((x + y + i) as f32 * seed).sin();
                }
            }
        }
    }
    Tensor::from_vec(v, (n, 1, 28, 28), &Device::Cpu).unwrap()
}

fn make_run(dir: &Path, method: &str, unseen_recognition: f64) {
    std::fs::create_dir_all(dir.join("samples")).unwrap();
    std::fs::create_dir_all(dir.join("checkpoints/step_000200")).unwrap();
    std::fs::create_dir_all(dir.join("eval/tiles")).unwrap();
    run_info(method).save(dir).unwrap();
    std::fs::write(
        dir.join("config.toml"),
        "method = \"probegan\"\n[train]\nsteps = 200 # <b>not markup</b>\n",
    )
    .unwrap();
    let mut jsonl = String::new();
    for step in (0..=200).step_by(20) {
        let s = step as f64;
        jsonl.push_str(&format!(
            "{{\"step\":{step},\"loss_g\":{},\"loss_d\":{},\"unseen_prob\":{},\"it_per_s\":12.5}}\n",
            2.0 - s / 200.0,
            0.5 + 0.1 * (s / 30.0).sin(),
            s / 250.0
        ));
    }
    // The collapse guard's previews: Bag collapses by step 200.
    jsonl.push_str("{\"step\":100,\"diversity\":{\"T-shirt\":0.9,\"Trouser\":0.8,\"Bag\":0.6},\"collapsed\":[]}\n");
    jsonl.push_str("{\"step\":200,\"diversity\":{\"T-shirt\":0.85,\"Trouser\":0.7,\"Bag\":0.2},\"collapsed\":[\"Bag\"]}\n");
    jsonl.push_str("{\"step\": 220, \"loss_g\""); // a run killed mid-write
    std::fs::write(dir.join("metrics.jsonl"), jsonl).unwrap();
    let rows: Vec<Tensor> = (0..3).map(|c| images(8, c, 0.3)).collect();
    let tiles = to_rgb_images(&Tensor::cat(&rows, 0).unwrap()).unwrap();
    save_png(
        &grid(&tiles, 8, 2).unwrap(),
        &dir.join("samples/step_000200.png"),
    )
    .unwrap();

    let mut classes = vec![];
    for (c, name) in CLASSES.iter().enumerate() {
        let file = format!("class_{c}.png");
        save_png(
            &grid(&to_rgb_images(&images(16, c, 0.7)).unwrap(), 4, 1).unwrap(),
            &dir.join("eval").join(&file),
        )
        .unwrap();
        classes.push(ClassEval {
            name: name.to_string(),
            unseen: *name == "Bag",
            judge_recognition: Some(if *name == "Bag" {
                unseen_recognition
            } else {
                0.95
            }),
            real_judge_recognition: Some(0.93),
            target_confidence: Some(0.9),
            intra_fid: Some(10.0 + c as f64),
            diversity: Some(Diversity {
                mean_pairwise_distance: 3.2,
                near_duplicates: 1,
                samples: 64,
                duplicate_threshold: 0.4,
            }),
            grid: Some(file),
        });
    }
    let gallery_tiles = to_rgb_images(&images(12, 2, 1.1)).unwrap();
    let mut tile_files = vec![];
    for (i, t) in gallery_tiles.iter().enumerate() {
        let f = format!("tiles/g{i}.png");
        save_png(
            &grid(std::slice::from_ref(t), 1, 0).unwrap(),
            &dir.join("eval").join(&f),
        )
        .unwrap();
        tile_files.push(f);
    }
    let judge_labels: Vec<String> = (0..12)
        .map(|i| {
            if i % 4 == 3 {
                "T-shirt".into()
            } else {
                "Bag".into()
            }
        })
        .collect();
    let signals: Vec<CheckpointSignals> = (1..=4)
        .map(|i| CheckpointSignals {
            step: i * 50,
            unseen_confidence: 0.2 * i as f64,
            // Only ProbeGAN trains D_u.
            du_realism: (method == "probegan").then_some(0.1 * i as f64),
            diversity: 1.0 + i as f64,
        })
        .collect();
    let sel = select_checkpoint(&signals).unwrap();
    let intra = vec![90.0, 60.0, 45.0, 40.0];
    let agree = agreement(&sel, &intra).unwrap();
    let feature_panel = NeighbourPanel {
        space: "features".into(),
        median_real_nn: Some(2.5),
        rows: vec![NeighbourRow {
            class: "Bag".into(),
            generated: tile_files[0].clone(),
            neighbours: vec![(tile_files[1].clone(), 1.5), (tile_files[2].clone(), 1.9)],
        }],
    };
    let eval = EvalReport {
        source: dir.display().to_string(),
        step: Some(200),
        judge: "models/fmnist_judge.onnx".into(),
        feature_extractor: "models/fmnist_judge.onnx : flatten_out".into(),
        class_names: CLASSES.iter().map(|s| s.to_string()).collect(),
        unseen: vec!["Bag".into()],
        samples_per_class: 64,
        classes,
        overall: OverallEval {
            fid: Some(12.5),
            kid: Some(Kid {
                mean: 0.004,
                std: 0.001,
            }),
            prdc: Some(Prdc {
                precision: 0.8,
                recall: 0.6,
                density: 0.9,
                coverage: 0.7,
            }),
            judge_accuracy: Some(0.9),
            seen_recognition: Some(0.95),
            unseen_recognition: Some(unseen_recognition),
            spectral_discrepancy: Some(0.12),
        },
        spectrum: Some(SpectrumEval {
            real: (0..15).map(|r| 100.0 / (1.0 + r as f64).powi(2)).collect(),
            generated: (0..15)
                .map(|r| 100.0 / (1.0 + r as f64).powf(1.7))
                .collect(),
        }),
        gallery: Some(Gallery {
            class: "Bag".into(),
            tiles: tile_files.clone(),
            judge_labels,
            judge_confidences: vec![0.9; 12],
        }),
        neighbours: Some(feature_panel.clone()),
        neighbour_panels: vec![
            feature_panel,
            // A memorised training image: distance 0 in pixel space.
            NeighbourPanel {
                space: "pixels".into(),
                median_real_nn: Some(8.0),
                rows: vec![NeighbourRow {
                    class: "Bag".into(),
                    generated: tile_files[3].clone(),
                    neighbours: vec![
                        (tile_files[3].clone(), 0.0),
                        (tile_files[4].clone(), 6.5),
                        (tile_files[5].clone(), 7.0),
                    ],
                }],
            },
        ],
        selection: Some(SelectionEval {
            checkpoints: signals,
            selection: Some(sel),
            unseen_intra_fid: Some(intra),
            agreement: Some(agree),
            du_realism_note: Some(
                "D_u realism = P(D_u(unseen sample) > D_u(real seen image))".into(),
            ),
        }),
        leakage: None,
        substrate: None,
        audio: None,
    };
    let accuracies = |bag: f64| StudentAccuracy {
        accuracy: 0.7,
        per_class: CLASSES
            .iter()
            .map(|name| NamedAccuracy {
                name: name.to_string(),
                accuracy: if *name == "Bag" { bag } else { 0.8 },
                count: 100,
            })
            .collect(),
        // Real Bags: 45 right, 40 taken for T-shirts, 15 for Trousers.
        confusion: vec![vec![100, 0, 0], vec![0, 100, 0], vec![40, 15, 45]],
    };
    let eval = EvalReport {
        leakage: Some(LeakageScore {
            arch: "cnn-small".into(),
            per_class: 500,
            epochs: 4,
            test_images: 300,
            generated: accuracies(0.45),
            real: accuracies(0.9),
            unseen: vec!["Bag".into()],
        }),
        ..eval
    };
    eval.save(&dir.join("eval").join(EVAL_FILE)).unwrap();
}

fn fabricate() -> (tempfile::TempDir, PathBuf) {
    let root = tempfile::tempdir().unwrap();
    let run = root.path().join("probegan_bag");
    make_run(&run, "probegan", 0.875);
    make_run(&root.path().join("naive_bag"), "naive", 0.31);
    (root, run)
}

#[test]
fn report_has_every_section_and_no_network_references() {
    let (_root, run) = fabricate();
    let html = probegan::report::render_report(&run).unwrap();
    for needle in [
        "Setup",
        "fmnist_regular.onnx",
        "<b>Bag</b> (unseen)",
        "Samples per class",
        "Unseen class “Bag”",
        "Nearest real neighbours",
        "Metrics per class",
        "judge on real",
        "93.0%",
        "this run and its baselines",
        "naive",
        "87.5%",
        "31.0%",
        "Training curves",
        "loss_g",
        "Power spectrum",
        "Label-free checkpoint selection",
        "Spearman",
        "&lt;b&gt;not markup&lt;/b&gt;",
        "Leakage score",
        "real Bag taken for T-shirt 40.0%, Trouser 15.0%",
        "<b>0.500</b> of the real-trained student",
        "Diversity during training",
        "Collapse: at step 200 the samples of <b>Bag</b>",
    ] {
        assert!(html.contains(needle), "report lacks `{needle}`");
    }
    // 3 class grids + 1 training grid + 12 gallery tiles + 3 neighbour tiles, all inline.
    assert_eq!(html.matches("src=\"data:image/png;base64,").count(), 19);
    for banned in [
        "src=\"http",
        "href=\"http",
        "<script",
        "<link",
        "url(http",
        "@import",
    ] {
        assert!(
            !html.contains(banned),
            "report references the network: `{banned}`"
        );
    }
    assert!(
        html.matches("<svg").count() >= 5,
        "training curves and spectrum plots"
    );
}

#[test]
fn neighbour_space_is_chosen_and_shown() {
    use probegan::metrics::neighbours::NeighbourSpace;
    use probegan::report::{render_report_with, ReportOptions};
    let (_root, run) = fabricate();
    let html = probegan::report::render_report(&run).unwrap();
    assert!(html.contains("Nearest real neighbours (feature space)"));
    assert!(html.contains("also recorded: pixel space"));
    assert!(!html.contains("near-copy</div>"));
    let pixel = ReportOptions {
        neighbours: Some(NeighbourSpace::Pixel),
    };
    let html = render_report_with(&run, &pixel).unwrap();
    assert!(html.contains("Nearest real neighbours (pixel space)"));
    assert!(html.contains("a literal copy has distance 0"));
    // d = 0 against a median real-to-real distance of 8: flagged as a near-copy; 6.5 is not.
    assert_eq!(html.matches("near-copy</div>").count(), 1);
    assert!(html.contains("d=0.000 near-copy"));
    // D_u realism shown where the method has it, with how it was computed.
    assert!(html.contains("du_realism") && html.contains("P(D_u(unseen sample)"));

    // An older record without a pixel panel: a clear error naming the fix.
    let eval_path = run.join("eval").join(EVAL_FILE);
    let mut eval = EvalReport::load(&eval_path).unwrap();
    eval.neighbour_panels.retain(|p| p.space == "features");
    eval.save(&eval_path).unwrap();
    let e = render_report_with(&run, &pixel).unwrap_err();
    assert!(format!("{e:#}").contains("--neighbours pixel"), "{e:#}");
}

#[test]
fn missing_or_broken_run_dirs_are_clear_errors() {
    let dir = tempfile::tempdir().unwrap();
    let e = probegan::report::render_report(&dir.path().join("nope")).unwrap_err();
    assert!(format!("{e:#}").contains("not a run directory"), "{e:#}");
    let e = probegan::report::render_report(dir.path()).unwrap_err();
    assert!(format!("{e:#}").contains("run.json"), "{e:#}");
    run_info("x").save(dir.path()).unwrap();
    std::fs::write(
        dir.path().join("metrics.jsonl"),
        "{\"step\":1}\nnot json\n{\"step\":3}\n",
    )
    .unwrap();
    let e = probegan::report::render_report(dir.path()).unwrap_err();
    assert!(format!("{e:#}").contains("metrics.jsonl:2"), "{e:#}");
    // A bare run (no eval, no samples) still renders.
    std::fs::write(
        dir.path().join("metrics.jsonl"),
        "{\"step\":1,\"loss\":2}\n",
    )
    .unwrap();
    let html = probegan::report::render_report(dir.path()).unwrap();
    assert!(html.contains("No evaluation yet"));
}

#[test]
fn chromium_renders_a_non_blank_report() {
    let chromium = Path::new("/usr/bin/chromium");
    if !chromium.exists() {
        eprintln!("SKIPPED chromium_renders_a_non_blank_report: /usr/bin/chromium not found (apt-get install -y chromium)");
        return;
    }
    let (root, run) = fabricate();
    let html_path = root.path().join("report.html");
    probegan::report::write_report(&run, &html_path).unwrap();
    let shot = root.path().join("shot.png");
    let profile = root.path().join("chromium-profile");
    let out = Command::new(chromium)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--hide-scrollbars",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .arg(format!("--screenshot={}", shot.display()))
        .arg("--window-size=1200,2400")
        .arg(format!("file://{}", html_path.display()))
        .output()
        .unwrap();
    assert!(
        shot.exists(),
        "chromium wrote no screenshot: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    if let Ok(keep) = std::env::var("PROBEGAN_KEEP_SCREENSHOT") {
        std::fs::copy(&shot, &keep).unwrap();
        std::fs::copy(&html_path, format!("{keep}.html")).unwrap();
    }
    let img = image::open(&shot).unwrap().to_rgb8();
    assert_eq!(img.dimensions(), (1200, 2400));
    let total = img.pixels().count();
    let non_white = img
        .pixels()
        .filter(|p| p.0.iter().any(|&c| c < 235))
        .count();
    let mut colours: Vec<[u8; 3]> = img
        .pixels()
        .map(|p| [p.0[0] & 0xf0, p.0[1] & 0xf0, p.0[2] & 0xf0])
        .collect();
    colours.sort();
    colours.dedup();
    let share = non_white as f64 / total as f64;
    eprintln!(
        "chromium screenshot: {:.1}% non-white pixels, {} colour buckets",
        100.0 * share,
        colours.len()
    );
    assert!(
        share > 0.03,
        "screenshot nearly blank ({:.2}% non-white)",
        100.0 * share
    );
    assert!(
        colours.len() > 20,
        "screenshot has only {} colours",
        colours.len()
    );
}
