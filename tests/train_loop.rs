//! The training loop on tiny nets and data: losses move, the unseen class's classifier
//! probability rises, checkpoints resume bit-identically, the NaN guard stops cleanly, and
//! every method runs.

use candle_core::{Device, Tensor};
use probegan::data::Dataset;
use probegan::methods::testing::PooledLinearClassifier;
use probegan::run::{list_checkpoints, ClassifierInfo};
use probegan::train::{load_sampler, Config, StopReason, Trainer};
use std::sync::atomic::AtomicBool;
use std::sync::Arc;

const TINY: &str = r#"
[run]
out_dir = "OUT"
seed = 3
steps = 6
log_every = 2
sample_every = 100
checkpoint_every = 3
keep_checkpoints = 2
grid_columns = 4

[data]
source = "embedded"
unseen = ["Trouser"]
max_per_class = 40

[classifier]
adapter = "test"

[model]
resolution = 32
channels = 1
z_dim = 16
embed_dim = 16
g_widths = [32, 16, 16, 16]
d_widths = [16, 16, 16]

[train]
batch_size = 16
d_steps = 1
lr_g = 2e-3
lr_d = 2e-4
ema_decay = 0.0

[loss]
ce_weight = 3.0

[method]
name = "probegan"
gp_weight = 10.0
drift = 1e-4
d_u_weight = 1.0
tilemix = 0
"#;

fn dataset() -> Dataset {
    probegan::embedded::fashion_mnist_subset()
        .unwrap()
        .stratified_subset(40, 1)
}

/// A softmax-regression classifier fitted to the (padded) data: a real, differentiable
/// black box that knows all ten classes.
fn classifier(ds: &Dataset) -> Arc<PooledLinearClassifier> {
    // Fitted on the data as the trainer sees it (resized to 32x32).
    let td = probegan::data::TrainData::from_dataset(
        ds,
        &(0..10).collect::<Vec<_>>(),
        (32, 32),
        1,
        &Device::Cpu,
    )
    .unwrap();
    let y = Tensor::from_vec(td.labels.clone(), td.len, &Device::Cpu).unwrap();
    Arc::new(PooledLinearClassifier::fit(ds.class_names.clone(), &td.images, &y, 150, 0.5).unwrap())
}

fn config(dir: &std::path::Path, overrides: &[&str]) -> Config {
    let text = TINY.replace("OUT", &dir.join("run").display().to_string());
    let o: Vec<String> = overrides.iter().map(|s| s.to_string()).collect();
    Config::from_toml_str(&text, &o).unwrap()
}

fn trainer(cfg: Config, ds: &Dataset, clf: Arc<PooledLinearClassifier>) -> Trainer {
    probegan::init();
    let info = ClassifierInfo {
        adapter: "test".into(),
        model: None,
    };
    let t = Trainer::new(cfg, ds, clf, info, &Device::Cpu).unwrap();
    t.init_run_dir().unwrap();
    t
}

fn params(t: &Trainer) -> Vec<(String, Vec<f32>)> {
    let mut out = vec![];
    for (tag, store) in t.method().stores() {
        for (k, v) in store.all() {
            out.push((
                format!("{tag}.{k}"),
                v.as_tensor()
                    .flatten_all()
                    .unwrap()
                    .to_vec1::<f32>()
                    .unwrap(),
            ));
        }
    }
    out
}

#[test]
fn probegan_losses_move_and_unseen_probability_rises() {
    let dir = tempfile::tempdir().unwrap();
    let ds = dataset();
    let clf = classifier(&ds);
    let mut t = trainer(
        config(dir.path(), &["run.steps=12", "run.checkpoint_every=100"]),
        &ds,
        clf,
    );
    let p0 = t.unseen_probability(32).unwrap().unwrap();
    let first = t.train_step().unwrap();
    for _ in 0..10 {
        t.train_step().unwrap();
    }
    let last = t.train_step().unwrap();
    let p1 = t.unseen_probability(32).unwrap().unwrap();
    for key in [
        "d_c_real",
        "d_c_fake",
        "d_u_wgan",
        "d_u_gp",
        "g_c_hinge",
        "g_u_wgan",
        "g_cls_ce",
    ] {
        assert!(
            first.contains_key(key) && last.contains_key(key),
            "missing {key}"
        );
        assert_ne!(first[key], last[key], "{key} did not move");
    }
    assert!(
        last["g_cls_ce"] < first["g_cls_ce"],
        "classifier loss fell: {} -> {}",
        first["g_cls_ce"],
        last["g_cls_ce"]
    );
    assert!(
        p1 > p0 + 0.1,
        "unseen-class probability rose: {p0:.3} -> {p1:.3}"
    );
}

#[test]
fn resume_is_bit_identical() {
    let ds = dataset();
    let clf = classifier(&ds);
    let a_dir = tempfile::tempdir().unwrap();
    let mut a = trainer(config(a_dir.path(), &[]), &ds, clf.clone());
    assert_eq!(
        a.run(&AtomicBool::new(false)).unwrap(),
        StopReason::Finished
    );

    let b_dir = tempfile::tempdir().unwrap();
    let mut b = trainer(config(b_dir.path(), &["run.steps=3"]), &ds, clf.clone());
    b.run(&AtomicBool::new(false)).unwrap();
    drop(b);
    let mut c = trainer(config(b_dir.path(), &[]), &ds, clf);
    assert_eq!(c.resume().unwrap(), 3);
    c.run(&AtomicBool::new(false)).unwrap();
    let (pa, pc) = (params(&a), params(&c));
    assert_eq!(pa.len(), pc.len());
    for ((ka, va), (kc, vc)) in pa.iter().zip(&pc) {
        assert_eq!(ka, kc);
        assert!(
            va.iter().zip(vc).all(|(x, y)| x.to_bits() == y.to_bits()),
            "{ka} differs after resume"
        );
    }
    // keep_checkpoints = 2: steps 3 and 6 remain.
    let steps: Vec<usize> = list_checkpoints(&c.run_dir)
        .unwrap()
        .into_iter()
        .map(|(s, _)| s)
        .collect();
    assert_eq!(steps, vec![3, 6]);
    // The metrics log has one line per logged step, none duplicated by the resume.
    let lines = std::fs::read_to_string(c.run_dir.join("metrics.jsonl")).unwrap();
    let logged: Vec<u64> = lines
        .lines()
        .map(|l| {
            serde_json::from_str::<serde_json::Value>(l).unwrap()["step"]
                .as_u64()
                .unwrap()
        })
        .collect();
    assert_eq!(logged, vec![0, 2, 3, 4, 6]);
}

#[test]
fn nan_stops_with_message_and_keeps_last_checkpoint() {
    let dir = tempfile::tempdir().unwrap();
    let ds = dataset();
    let clf = classifier(&ds);
    let mut t = trainer(config(dir.path(), &["run.steps=3"]), &ds, clf);
    t.run(&AtomicBool::new(false)).unwrap();
    let before = list_checkpoints(&t.run_dir).unwrap();
    // Poison one generator weight: the next loss is NaN.
    let (_, generator) = t
        .method()
        .stores()
        .into_iter()
        .find(|(name, _)| *name == "generator")
        .unwrap();
    let (_, var) = generator
        .trainable()
        .into_iter()
        .find(|(k, _)| k.ends_with("out_conv.weight"))
        .unwrap();
    let poisoned = (var.as_tensor().ones_like().unwrap() * f64::NAN).unwrap();
    var.set(&poisoned).unwrap();
    let mut t2 = t;
    t2.config.run.steps = 6;
    let err = t2.run(&AtomicBool::new(false)).unwrap_err().to_string();
    assert!(
        err.contains("diverged at step 3") && err.contains("step_000003"),
        "{err}"
    );
    assert_eq!(
        list_checkpoints(&t2.run_dir).unwrap(),
        before,
        "last good checkpoint untouched"
    );
    // And a checkpoint of poisoned weights is refused.
    assert!(t2.save_checkpoint().is_err());
}

#[test]
fn stop_flag_saves_and_sampler_loads() {
    let dir = tempfile::tempdir().unwrap();
    let ds = dataset();
    let clf = classifier(&ds);
    let mut t = trainer(config(dir.path(), &[]), &ds, clf);
    t.train_step().unwrap();
    assert_eq!(
        t.run(&AtomicBool::new(true)).unwrap(),
        StopReason::Interrupted
    );
    let ckpts = list_checkpoints(&t.run_dir).unwrap();
    assert_eq!(ckpts.last().unwrap().0, 1);
    let s = load_sampler(&t.run_dir, &Device::Cpu).unwrap();
    assert_eq!(s.class_names().len(), 10);
    assert_eq!(s.unseen(), &[1]);
    let x = s.sample(1, 5, 9).unwrap();
    assert_eq!(x.dims(), &[5, 1, 32, 32]);
    // Samples carry no autodiff graph: callers keep thousands of them.
    assert!(!x.track_op(), "a loaded run's samples must be detached");
    let direct = t
        .method()
        .sample(&probegan::methods::Condition::Class(1), 5, 9)
        .unwrap();
    assert!(!direct.track_op(), "the method's samples must be detached");
    let again = s.sample(1, 5, 9).unwrap();
    assert_eq!(
        x.flatten_all().unwrap().to_vec1::<f32>().unwrap(),
        again.flatten_all().unwrap().to_vec1::<f32>().unwrap()
    );
    let mx = x
        .abs()
        .unwrap()
        .max_all()
        .unwrap()
        .to_scalar::<f32>()
        .unwrap();
    assert!(mx <= 1.0);
    assert!(s.sample(10, 1, 0).is_err());
    // Samples equal the trainer's EMA generator in evaluation mode.
    let run = probegan::run::RunInfo::load(&t.run_dir).unwrap();
    assert_eq!(run.unseen, vec!["Trouser".to_string()]);
}

#[test]
fn every_method_trains() {
    let ds = dataset();
    let clf = classifier(&ds);
    for method in ["naive", "oracle", "am", "soft-label", "probegan+tilemix"] {
        let dir = tempfile::tempdir().unwrap();
        let name = method.trim_end_matches("+tilemix");
        let set = format!("method.name=\"{name}\"");
        let mut sets = vec![set.as_str(), "run.steps=4"];
        if method.ends_with("+tilemix") {
            sets.push("method.tilemix=2");
        }
        if name == "am" {
            sets.extend(["method.steps=3", "method.lr=0.05", "method.batch_size=16"]);
        }
        let mut t = trainer(config(dir.path(), &sets), &ds, clf.clone());
        t.run(&AtomicBool::new(false))
            .unwrap_or_else(|e| panic!("{method}: {e:#}"));
        let m = std::fs::read_to_string(t.run_dir.join("metrics.jsonl")).unwrap();
        assert!(m.lines().count() >= 2, "{method}: metrics logged");
        assert!(
            t.run_dir.join("samples/step_000004.png").is_file(),
            "{method}: grid written"
        );
        if method == "am" {
            // Last 3 of 4 steps optimise only the EMA embedding's unseen row.
            assert!(m.contains("am_cls_ce"), "{method}: embedding phase ran");
        }
    }
}

/// `loss.ce_balance = "adaptive"` (the classifier gradient rescaled to `ce_weight` times the
/// adversarial gradient's norm at the image, every step): both methods that use it train,
/// log the balance, and still raise the unseen class's probability.
#[test]
fn adaptive_balance_trains_probegan_and_naive() {
    let ds = dataset();
    let clf = classifier(&ds);
    for method in ["probegan", "naive"] {
        let dir = tempfile::tempdir().unwrap();
        let set = format!("method.name=\"{method}\"");
        let mut t = trainer(
            config(
                dir.path(),
                &[
                    &set,
                    "loss.ce_balance=\"adaptive\"",
                    "loss.ce_weight=2.0",
                    "run.checkpoint_every=100",
                ],
            ),
            &ds,
            clf.clone(),
        );
        let p0 = t.unseen_probability(32).unwrap().unwrap();
        let mut logs = vec![];
        for _ in 0..12 {
            logs.push(t.train_step().unwrap());
        }
        let p1 = t.unseen_probability(32).unwrap().unwrap();
        for l in &logs {
            let (w, a, c) = (l["g_cls_weight"], l["g_grad_adv"], l["g_grad_cls"]);
            assert!(w > 0.0 && a > 0.0 && c > 0.0, "{method}: {l:?}");
            assert!(
                (w * c / a - 2.0).abs() < 1e-6,
                "{method}: ratio {}",
                w * c / a
            );
        }
        assert!(
            p1 > p0 + 0.1,
            "{method}: unseen-class probability rose: {p0:.3} -> {p1:.3}"
        );
    }
}

/// Every stabiliser composes onto ProbeGAN and NAIVE: the run trains, each logs its own
/// terms, and the architecture options (hierarchical z, D_u's own trunk, SN projection) and
/// the extra D heads survive a checkpoint and resume.
#[test]
fn stabilisers_and_architecture_options_train_and_resume() {
    let ds = dataset();
    let clf = classifier(&ds);
    let all_on = [
        "loss.neighbour_embedding=1.0",
        "loss.mode_seeking=1.0",
        "loss.mode_seeking_classes=\"all\"",
        "loss.rotation_d=1.0",
        "loss.rotation_g=0.2",
        "loss.rotation_minimax=true",
        "loss.dag=0.5",
        "loss.infomax=0.2",
        "loss.ce_margin=0.5",
        "loss.ce_view_jitter=0.1",
        "loss.ce_view_resample=0.5",
        "loss.ce_view_blur=1.0",
        "model.hierarchical_z=true",
        "model.separate_du_trunk=true",
        "model.sn_projection=true",
        "run.steps=3",
    ];
    for method in ["probegan", "naive"] {
        let dir = tempfile::tempdir().unwrap();
        let set = format!("method.name=\"{method}\"");
        let mut sets = all_on.to_vec();
        sets.push(&set);
        let mut t = trainer(config(dir.path(), &sets), &ds, clf.clone());
        let logs = t.train_step().unwrap();
        for key in [
            "g_neighbour_embedding",
            "g_mode_seeking",
            "g_rotation",
            "g_dag",
            "d_rotation_real",
            "d_rotation_fake",
            "d_dag",
            "g_infomax",
            "d_infomax",
        ] {
            let v = logs
                .get(key)
                .unwrap_or_else(|| panic!("{method}: {key} not logged"));
            assert!(v.is_finite(), "{method}: {key} = {v}");
        }
        t.run(&AtomicBool::new(false)).unwrap();
        let mut resumed = trainer(config(dir.path(), &sets), &ds, clf.clone());
        assert_eq!(resumed.resume().unwrap(), 3, "{method}");
        assert_eq!(
            params(&resumed),
            params(&t),
            "{method}: resumed weights differ"
        );
    }
}

/// The class-blind D_u: a probe reads the class from D_u's features, the trunk hides it
/// through the frozen probe; both targets train, log the terms, and resume exactly.
#[test]
fn class_blind_du_trains_and_resumes() {
    let ds = dataset();
    let clf = classifier(&ds);
    for target in ["all", "unseen"] {
        let dir = tempfile::tempdir().unwrap();
        let target_set = format!("method.class_blind_classes=\"{target}\"");
        let sets = [
            "method.class_blind=1.0",
            target_set.as_str(),
            "model.separate_du_trunk=true",
            "run.steps=3",
        ];
        let mut t = trainer(config(dir.path(), &sets), &ds, clf.clone());
        let logs = t.train_step().unwrap();
        let loss = logs["d_u_class_probe"];
        let accuracy = logs["d_u_probe_accuracy"];
        let confusion = logs["d_u_confusion"];
        assert!(loss.is_finite() && loss > 0.0, "{target}: {loss}");
        // Cross-entropy against the base rates is at least their entropy: ln 10 for ten
        // equally likely classes; for the unseen share, more than 0.
        let floor = if target == "all" { 10f64.ln() } else { 0.0 };
        assert!(
            confusion >= floor - 1e-4 && confusion.is_finite(),
            "{target}: {confusion}"
        );
        assert!((0.0..=1.0).contains(&accuracy), "{target}: {accuracy}");
        t.run(&AtomicBool::new(false)).unwrap();
        let mut resumed = trainer(config(dir.path(), &sets), &ds, clf.clone());
        assert_eq!(resumed.resume().unwrap(), 3, "{target}");
        assert_eq!(
            params(&resumed),
            params(&t),
            "{target}: resumed weights differ"
        );
    }
}

/// The anchor's saved pool and flag in a checkpoint directory.
fn anchor_in(ckpt: &std::path::Path) -> (f32, Vec<f32>) {
    let t = candle_core::safetensors::load(ckpt.join("unseen_anchor.safetensors"), &Device::Cpu)
        .unwrap();
    let flat = |k: &str| t[k].flatten_all().unwrap().to_vec1::<f32>().unwrap();
    (flat("filled")[0], flat("pool"))
}

/// The unseen anchor: from its step D_u's reals hold a frozen pool of the EMA generator's
/// unseen samples, saved with checkpoints. A run resumes bit-identically across the fill, and
/// from a checkpoint written before the pool existed (the pool then fills at its step).
#[test]
fn unseen_anchor_fills_at_its_step_and_resumes() {
    let ds = dataset();
    let clf = classifier(&ds);
    for (anchor_step, drop_pool_file) in [(2, false), (4, true)] {
        let step_set = format!("method.unseen_anchor_step={anchor_step}");
        let sets = [step_set.as_str(), "method.unseen_anchor_size=8"];
        let a_dir = tempfile::tempdir().unwrap();
        let mut a = trainer(config(a_dir.path(), &sets), &ds, clf.clone());
        a.run(&AtomicBool::new(false)).unwrap();
        let b_dir = tempfile::tempdir().unwrap();
        let mut with_steps = sets.to_vec();
        with_steps.push("run.steps=3");
        let mut b = trainer(config(b_dir.path(), &with_steps), &ds, clf.clone());
        b.run(&AtomicBool::new(false)).unwrap();
        let b3 = b.run_dir.join("checkpoints/step_000003");
        let (filled, pool) = anchor_in(&b3);
        assert_eq!(
            filled,
            f32::from(anchor_step <= 3),
            "anchor step {anchor_step}"
        );
        if anchor_step <= 3 {
            assert_eq!(pool.len(), 8 * 32 * 32);
            assert!(pool.iter().all(|v| v.is_finite() && v.abs() <= 1.0));
            assert!(pool.iter().any(|&v| v != 0.0), "the pool was never filled");
        }
        if drop_pool_file {
            std::fs::remove_file(b3.join("unseen_anchor.safetensors")).unwrap();
        }
        drop(b);
        let mut c = trainer(config(b_dir.path(), &sets), &ds, clf.clone());
        assert_eq!(c.resume().unwrap(), 3);
        c.run(&AtomicBool::new(false)).unwrap();
        assert_eq!(
            params(&a),
            params(&c),
            "anchor step {anchor_step}: resumed weights differ"
        );
        let a6 = anchor_in(&a.run_dir.join("checkpoints/step_000006"));
        let c6 = anchor_in(&c.run_dir.join("checkpoints/step_000006"));
        assert_eq!(a6.0, 1.0);
        assert_eq!(a6, c6, "anchor step {anchor_step}: resumed pool differs");
    }
}

/// The collapse guard writes per-class diversity (relative to real) and the collapsed list
/// at every preview; a threshold above any reading flags every class.
#[test]
fn collapse_guard_logs_diversity_at_previews() {
    let ds = dataset();
    let clf = classifier(&ds);
    let dir = tempfile::tempdir().unwrap();
    let mut t = trainer(
        config(
            dir.path(),
            &[
                "run.sample_every=2",
                "run.steps=2",
                "run.collapse_fraction=1.0",
            ],
        ),
        &ds,
        clf,
    );
    t.run(&AtomicBool::new(false)).unwrap();
    let m = std::fs::read_to_string(t.run_dir.join("metrics.jsonl")).unwrap();
    let row: serde_json::Value = m
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .find(|r| r.get("diversity").is_some())
        .expect("a preview row with diversity");
    let d = row["diversity"].as_object().unwrap();
    assert_eq!(d.len(), 10);
    assert!(d.values().all(|v| v.as_f64().unwrap() > 0.0));
    // Flagged: exactly the classes below the threshold (1.0 here).
    let below: Vec<&str> = d
        .iter()
        .filter(|(_, v)| v.as_f64().unwrap() < 1.0)
        .map(|(k, _)| k.as_str())
        .collect();
    let mut flagged: Vec<&str> = row["collapsed"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    flagged.sort();
    let mut below = below;
    below.sort();
    assert_eq!(flagged, below, "{row}");
    assert!(
        !flagged.is_empty(),
        "2 steps of training cannot match real diversity: {row}"
    );
}

/// A generator of non-square images (`model.size`) trains through the loop, writes grids and
/// checkpoints, resumes and samples: real images are resampled to that size, the classifier
/// takes it as it is.
#[test]
fn non_square_images_train_resume_and_sample() {
    let ds = dataset();
    let clf = Arc::new(
        PooledLinearClassifier::random(ds.class_names.clone(), (1, 16, 24), 5, &Device::Cpu)
            .unwrap(),
    );
    let dir = tempfile::tempdir().unwrap();
    let sets = [
        "model.resolution=0",
        "model.size=[16, 24]",
        "model.g_widths=[16, 16, 16]",
        "model.d_widths=[8, 8]",
        "run.steps=3",
    ];
    let mut t = trainer(config(dir.path(), &sets), &ds, clf.clone());
    t.run(&AtomicBool::new(false)).unwrap();
    assert!(t.run_dir.join("checkpoints/step_000003").is_dir());
    let mut sets6 = sets.to_vec();
    sets6[4] = "run.steps=5";
    let mut resumed = trainer(config(dir.path(), &sets6), &ds, clf);
    assert_eq!(resumed.resume().unwrap(), 3);
    resumed.run(&AtomicBool::new(false)).unwrap();
    let s = load_sampler(&resumed.run_dir, &Device::Cpu).unwrap();
    assert_eq!(s.sample(1, 3, 0).unwrap().dims(), &[3, 1, 16, 24]);
}

/// A run written before parameter groups had names and before the `[method]` table (optimiser
/// moments under `g.`/`d.`/`am.`, step counts as `opt_g_step`/…, `run.method` and D_u's
/// options in `[loss]` in run.json) still samples and resumes — to the same bits as a run
/// that never stopped.
#[test]
fn checkpoints_of_the_format_before_named_groups_resume_bit_identically() {
    let ds = dataset();
    let clf = classifier(&ds);
    let a_dir = tempfile::tempdir().unwrap();
    let mut a = trainer(config(a_dir.path(), &[]), &ds, clf.clone());
    a.run(&AtomicBool::new(false)).unwrap();

    let b_dir = tempfile::tempdir().unwrap();
    let mut b = trainer(config(b_dir.path(), &["run.steps=3"]), &ds, clf.clone());
    b.run(&AtomicBool::new(false)).unwrap();
    let run_dir = b.run_dir.clone();
    drop(b);
    // Rewrite the step-3 checkpoint and run.json into the old format.
    let ckpt = run_dir.join("checkpoints/step_000003");
    let opt_path = ckpt.join("optimizers.safetensors");
    let opt = candle_core::safetensors::load(&opt_path, &Device::Cpu).unwrap();
    let old: std::collections::HashMap<String, Tensor> = opt
        .into_iter()
        .map(|(k, v)| {
            let k = k
                .replacen("generator.", "g.", 1)
                .replacen("discriminator.", "d.", 1);
            (k, v)
        })
        .collect();
    candle_core::safetensors::save(&old, &opt_path).unwrap();
    let state_path = ckpt.join("state.json");
    let mut state: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&state_path).unwrap()).unwrap();
    let steps = state
        .as_object_mut()
        .unwrap()
        .remove("optimizer_steps")
        .unwrap();
    state["opt_g_step"] = steps["generator"].clone();
    state["opt_d_step"] = steps["discriminator"].clone();
    state["opt_am_step"] = serde_json::json!(0);
    std::fs::write(&state_path, state.to_string()).unwrap();
    let run_json = run_dir.join("run.json");
    let mut run: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&run_json).unwrap()).unwrap();
    let stored = &mut run["config"];
    let method = stored.as_object_mut().unwrap().remove("method").unwrap();
    stored["run"]["method"] = method["name"].clone();
    for key in ["gp_weight", "drift", "d_u_weight", "tilemix"] {
        stored["loss"][key] = method[key].clone();
    }
    stored["am"] = serde_json::json!({ "steps": 3, "lr": 0.05, "batch_size": 16 });
    run["stats_classes"] = serde_json::json!([0, 1]);
    std::fs::write(&run_json, run.to_string()).unwrap();

    // The old run samples...
    let s = load_sampler(&run_dir, &Device::Cpu).unwrap();
    assert_eq!(s.sample(1, 2, 0).unwrap().dims(), &[2, 1, 32, 32]);
    // ...and resumes to the same bits as the run that never stopped.
    let mut c = trainer(config(b_dir.path(), &[]), &ds, clf);
    assert_eq!(c.resume().unwrap(), 3);
    c.run(&AtomicBool::new(false)).unwrap();
    assert_eq!(
        params(&c),
        params(&a),
        "resumed from the old format, weights differ"
    );
}

/// `method.gp_every = 3`: D_u's gradient penalty is measured on one step in three.
#[test]
fn lazy_gradient_penalty_runs_on_one_step_in_gp_every() {
    let dir = tempfile::tempdir().unwrap();
    let ds = dataset();
    let clf = classifier(&ds);
    let mut t = trainer(
        config(
            dir.path(),
            &[
                "run.steps=6",
                "run.checkpoint_every=100",
                "method.gp_every=3",
            ],
        ),
        &ds,
        clf,
    );
    let with_gp: Vec<usize> = (0..6)
        .filter(|_| t.train_step().unwrap().contains_key("d_u_gp"))
        .collect();
    assert_eq!(with_gp.len(), 2, "steps with a penalty: {with_gp:?}");
    assert_eq!(with_gp[1] - with_gp[0], 3, "{with_gp:?}");
    let err = Config::from_toml_str(
        &TINY.replace("OUT", &dir.path().join("r2").display().to_string()),
        &["method.gp_every=0".to_string()],
    )
    .and_then(|c| {
        Trainer::new(
            c,
            &ds,
            classifier(&ds),
            ClassifierInfo {
                adapter: "test".into(),
                model: None,
            },
            &Device::Cpu,
        )
        .map(|_| ())
    })
    .err()
    .unwrap()
    .to_string();
    assert!(err.contains("gp_every"), "{err}");
}
