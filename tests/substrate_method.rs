//! The substrate method end to end on the shared loop, with a tiny classifier: training
//! raises the classifier's probability of the painted class, the painted image stays near
//! its substrate, and a stored run samples again on held-out substrates.

use candle_core::{Device, Tensor};
use probegan::classifier::Classifier;
use probegan::methods::testing::PooledLinearClassifier;
use probegan::methods::Condition;
use probegan::run::ClassifierInfo;
use probegan::train::{load_sampler, Config, Trainer};
use std::sync::atomic::AtomicBool;
use std::sync::Arc;

const CONFIG: &str = r#"
[run]
out_dir = "OUT"
seed = 1
steps = 400
log_every = 50
sample_every = 200
checkpoint_every = 200
keep_checkpoints = 1
grid_columns = 4

[method]
name = "substrate"
unet_widths = [8, 16]
patch_widths = [8, 16]
crop_min = 0.5
crop_max = 0.7
none_frequency = 0.2
# The tiny linear classifier has ~100x weaker pixel gradients than an ImageNet CNN; the
# paper's substrate weight (150) would pin every pixel.
substrate_weight = 10.0
# The robustness views (shift, rescale, 2x2 means) on the positive term.
view_jitter = 0.1
view_resample = 0.5
# Draw the classes the classifier does not see yet more often, hold them to the substrate
# loosely until they are learned, and keep each class low on a small crop.
class_focus = 2.0
substrate_weight_unlearned = 5.0
object_crop = 0.1

[data]
# Garment photos as substrates for a classifier of three unrelated "classes".
source = "embedded"
unseen = []
max_per_class = 10

[classifier]
adapter = "test"

[model]
resolution = 32
channels = 1

[train]
batch_size = 3
d_steps = 1
lr_g = 2e-3
lr_d = 2e-4
beta1 = 0.5
ema_decay = 0.0
"#;

/// Mean probability (softmax over the classifier's classes) of each class on its own
/// painted samples.
fn painted_probability(t: &Trainer, clf: &dyn Classifier) -> f64 {
    let mut total = 0.0;
    for c in 0..3 {
        let x = t.method().sample(&Condition::Class(c), 16, 5).unwrap();
        let p = clf
            .class_log_probs(&x)
            .unwrap()
            .exp()
            .unwrap()
            .narrow(1, c, 1)
            .unwrap()
            .mean_all()
            .unwrap()
            .to_scalar::<f32>()
            .unwrap();
        total += p as f64;
    }
    total / 3.0
}

#[test]
fn training_paints_the_target_class_onto_substrates_and_a_stored_run_samples_again() {
    probegan::init();
    let dir = tempfile::tempdir().unwrap();
    let text = CONFIG.replace("OUT", &dir.path().join("run").display().to_string());
    let config = Config::from_toml_str(&text, &[]).unwrap();
    let ds = probegan::embedded::fashion_mnist_subset().unwrap();
    let names: Vec<String> = ["red", "green", "blue"].map(String::from).to_vec();
    let clf =
        Arc::new(PooledLinearClassifier::random(names, (1, 32, 32), 9, &Device::Cpu).unwrap());
    let info = ClassifierInfo {
        adapter: "test".into(),
        model: None,
    };
    let mut t = Trainer::new(config, &ds, clf.clone(), info, &Device::Cpu).unwrap();
    t.init_run_dir().unwrap();
    let before = painted_probability(&t, clf.as_ref());
    t.run(&AtomicBool::new(false)).unwrap();
    let after = painted_probability(&t, clf.as_ref());
    eprintln!("p(target) on painted samples: {before:.3} before, {after:.3} after");
    assert!(
        after > before + 0.15,
        "p(target) on painted samples: {before:.3} before, {after:.3} after 400 steps"
    );

    // Each class's running p(target) is logged (class_focus steers the draw by it) and
    // saved with the checkpoints; every class was drawn and gained on the zero it started at.
    let metrics = std::fs::read_to_string(dir.path().join("run/metrics.jsonl")).unwrap();
    let last: serde_json::Value = serde_json::from_str(metrics.lines().last().unwrap()).unwrap();
    for c in 0..3 {
        let p = last[format!("p_class{c}")].as_f64().unwrap();
        assert!(p > 0.0 && p <= 1.0, "p_class{c} = {p}: {last}");
    }
    // The substrate weight in force is logged and lies between the loose and the full hold.
    let held: Vec<f64> = metrics
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter_map(|v| v["substrate_weight"].as_f64())
        .collect();
    assert!(
        !held.is_empty() && held.iter().all(|w| (5.0..=10.0).contains(w)),
        "{held:?}"
    );
    assert!(
        metrics.contains("\"g_object\""),
        "the object-crop term is not logged"
    );
    let saved = dir
        .path()
        .join("run/checkpoints/step_000400/class_focus.safetensors");
    assert!(saved.is_file(), "{} missing", saved.display());

    // Painted, not redrawn: each output stays closer to its substrate than two substrates
    // are to each other.
    let x = t.method().sample(&Condition::Class(0), 8, 0).unwrap();
    let subs: Vec<Tensor> = (0..2)
        .map(|i| {
            let img =
                Tensor::from_vec(ds.image(i * 700).to_vec(), (1, 1, 28, 28), &Device::Cpu).unwrap();
            img.upsample_nearest2d(32, 32).unwrap()
        })
        .collect();
    let mean_abs = |a: &Tensor, b: &Tensor| -> f32 {
        (a - b)
            .unwrap()
            .abs()
            .unwrap()
            .mean_all()
            .unwrap()
            .to_scalar::<f32>()
            .unwrap()
    };
    let painted = t
        .method()
        .sample(
            &Condition::OnImage {
                image: subs[0].clone(),
                target: vec![(2, 1.0)],
            },
            1,
            0,
        )
        .unwrap();
    let (to_own, between) = (mean_abs(&painted, &subs[0]), mean_abs(&subs[0], &subs[1]));
    assert!(
        to_own < between,
        "painted-to-substrate {to_own} vs substrate-to-substrate {between}"
    );
    assert_eq!(x.dims(), &[8, 1, 32, 32]);

    // The stored run rebuilds its painter from run.json and paints on held-out substrates.
    let sampler = load_sampler(&dir.path().join("run"), &Device::Cpu).unwrap();
    let x = sampler.sample(1, 4, 3).unwrap();
    assert_eq!(x.dims(), &[4, 1, 32, 32]);
    let y = sampler.sample(1, 4, 3).unwrap();
    let same = (&x - &y)
        .unwrap()
        .abs()
        .unwrap()
        .max_all()
        .unwrap()
        .to_scalar::<f32>()
        .unwrap();
    assert_eq!(same, 0.0, "same seed, same samples");
    let none = sampler
        .sample_condition(&Condition::Mix(vec![(0, 0.5), (2, 0.5)]), 2, 0)
        .unwrap();
    assert_eq!(none.dims(), &[2, 1, 32, 32]);
    assert!(sampler
        .sample_condition(&Condition::Group { class: 0, group: 0 }, 1, 0)
        .is_err());
}
