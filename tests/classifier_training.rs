//! Classifier training: ONNX export agrees with tract, onnxruntime and our engine; PGD
//! stays in its ball and raises the loss; group DRO up-weights the worst group; resume.

use candle_core::{DType, Device, Tensor};
use probegan::data::Dataset;
use probegan::train_classifier::arch::{Mode, Net};
use probegan::train_classifier::attack::{pgd, Norm, PgdConfig};
use probegan::train_classifier::group_dro::GroupDro;
use probegan::train_classifier::{adapter_toml, checkpoint_dir, train, TrainConfig};
use rand::SeedableRng;
use tract_onnx::prelude::*;

fn small_data() -> (Dataset, Dataset) {
    let d = probegan::embedded::fashion_mnist_subset()
        .unwrap()
        .stratified_subset(30, 0);
    let t = probegan::embedded::fashion_mnist_subset_split(probegan::data::Split::Test)
        .unwrap()
        .stratified_subset(10, 0);
    (d, t)
}

fn quick_cfg() -> TrainConfig {
    TrainConfig {
        arch: "cnn-tiny".into(),
        epochs: 1,
        batch_size: 32,
        ..Default::default()
    }
}

fn input_batch() -> (Tensor, Vec<f32>) {
    let x = Tensor::rand(-1f32, 1f32, (4, 1, 28, 28), &Device::Cpu).unwrap();
    let v = x.flatten_all().unwrap().to_vec1().unwrap();
    (x, v)
}

fn max_abs_diff(a: &[f32], b: &[f32]) -> f32 {
    assert_eq!(a.len(), b.len());
    a.iter()
        .zip(b)
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, f32::max)
}

#[test]
fn exported_onnx_agrees_with_tract_and_onnxruntime() {
    let (tr, te) = small_data();
    let out = train(&quick_cfg(), &tr, &te, &Device::Cpu, None, false, false).unwrap();
    let bytes = probegan::onnx::export::encode_model(&out.net.to_onnx("test").unwrap());
    let (x, xv) = input_batch();
    let ours: Vec<f32> = out
        .net
        .forward(&x, Mode::Eval)
        .unwrap()
        .flatten_all()
        .unwrap()
        .to_vec1()
        .unwrap();

    let model = tract_onnx::onnx()
        .model_for_read(&mut std::io::Cursor::new(bytes.clone()))
        .unwrap()
        .with_input_fact(0, f32::fact([4, 1, 28, 28]).into())
        .unwrap()
        .into_optimized()
        .unwrap()
        .into_runnable()
        .unwrap();
    let input = tract_ndarray::Array4::from_shape_vec((4, 1, 28, 28), xv.clone())
        .unwrap()
        .into_tensor();
    let res = model.run(tvec!(input.into())).unwrap();
    let tract_out: Vec<f32> = res[0]
        .clone()
        .into_tensor()
        .to_plain_array_view::<f32>()
        .unwrap()
        .iter()
        .copied()
        .collect();
    let d = max_abs_diff(&ours, &tract_out);
    assert!(d < 1e-4, "candle vs tract: max |diff| {d}");

    // onnxruntime through Python, when available (the CI image installs it).
    let dir = tempfile::tempdir().unwrap();
    let model_path = dir.path().join("m.onnx");
    std::fs::write(&model_path, &bytes).unwrap();
    std::fs::write(
        dir.path().join("x.bin"),
        xv.iter().flat_map(|v| v.to_le_bytes()).collect::<Vec<u8>>(),
    )
    .unwrap();
    let script = "import sys,numpy as np,onnxruntime as ort\n\
        d=sys.argv[1]\nx=np.fromfile(d+'/x.bin',dtype=np.float32).reshape(4,1,28,28)\n\
        s=ort.InferenceSession(d+'/m.onnx',providers=['CPUExecutionProvider'])\n\
        s.run(None,{'input':x})[0].astype(np.float32).tofile(d+'/y.bin')\n";
    match std::process::Command::new("python3")
        .arg("-c")
        .arg(script)
        .arg(dir.path())
        .output()
    {
        Ok(o) if o.status.success() => {
            let raw = std::fs::read(dir.path().join("y.bin")).unwrap();
            let ort: Vec<f32> = raw
                .chunks_exact(4)
                .map(|c| f32::from_le_bytes(c.try_into().unwrap()))
                .collect();
            let d = max_abs_diff(&ours, &ort);
            assert!(d < 1e-4, "candle vs onnxruntime: max |diff| {d}");
        }
        Ok(o) => eprintln!(
            "skipped onnxruntime cross-check: {}",
            String::from_utf8_lossy(&o.stderr)
        ),
        Err(e) => eprintln!("skipped onnxruntime cross-check: no python3 ({e})"),
    }
}

#[test]
fn exported_model_runs_on_our_engine_through_its_adapter() {
    use probegan::classifier::{Classifier, OnnxClassifier};
    let (tr, te) = small_data();
    let out = train(&quick_cfg(), &tr, &te, &Device::Cpu, None, false, false).unwrap();
    let dir = tempfile::tempdir().unwrap();
    probegan::onnx::export::write_model(
        &out.net.to_onnx("test").unwrap(),
        &dir.path().join("m.onnx"),
    )
    .unwrap();
    std::fs::write(
        dir.path().join("m.adapter.toml"),
        adapter_toml(&out.net, &tr.class_names, "m.onnx"),
    )
    .unwrap();
    let clf = OnnxClassifier::from_adapter_file(&dir.path().join("m.adapter.toml"), &Device::Cpu)
        .unwrap();
    assert_eq!(clf.class_names(), tr.class_names.as_slice());
    let (x, _) = input_batch();
    let flat = |t: Tensor| -> Vec<f32> { t.flatten_all().unwrap().to_vec1().unwrap() };
    let a = flat(clf.logits(&x).unwrap());
    let b = flat(out.net.forward(&x, Mode::Eval).unwrap());
    let d = max_abs_diff(&a, &b);
    assert!(d < 1e-4, "our engine vs training net: max |diff| {d}");

    // With its metadata the model explains itself: the adapter `adapter init` guesses from it
    // names the classes and scales the input as the written adapter does.
    let mut described = out.net.to_onnx("test").unwrap();
    probegan::train_classifier::describe_in_metadata(
        &mut described,
        &out.net,
        &tr.class_names,
        None,
    )
    .unwrap();
    let path = dir.path().join("described.onnx");
    probegan::onnx::export::write_model(&described, &path).unwrap();
    let model = probegan::onnx::OnnxModel::load(&path, &Device::Cpu).unwrap();
    let guess = probegan::cli::adapter_guess::guess_adapter(&model, &path).unwrap();
    assert!(
        guess.toml.contains("read: metadata_props `preprocessing`"),
        "{}",
        guess.toml
    );
    let guessed = OnnxClassifier::new(model, guess.adapter).unwrap();
    assert_eq!(guessed.class_names(), tr.class_names.as_slice());
    let c = flat(guessed.logits(&x).unwrap());
    let d = max_abs_diff(&a, &c);
    assert!(d < 1e-4, "guessed vs written adapter: max |diff| {d}");
}

#[test]
fn pgd_stays_in_its_ball_and_raises_the_loss() {
    let (tr, te) = small_data();
    let out = train(&quick_cfg(), &tr, &te, &Device::Cpu, None, false, false).unwrap();
    let b = te
        .batch(&(0..32).collect::<Vec<_>>(), &Device::Cpu)
        .unwrap();
    let loss = |x: &Tensor| -> f32 {
        candle_nn::loss::cross_entropy(&out.net.forward(x, Mode::Eval).unwrap(), &b.labels)
            .unwrap()
            .to_scalar::<f32>()
            .unwrap()
    };
    let clean = loss(&b.images);
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(0);
    for (norm, eps) in [(Norm::Linf, 0.05), (Norm::L2, 1.0)] {
        let cfg = PgdConfig::new(norm, eps, 5).unwrap();
        let adv = pgd(&out.net, &b.images, &b.labels, &cfg, Mode::Eval, &mut rng).unwrap();
        let delta = (&adv - &b.images).unwrap();
        let size = match norm {
            Norm::Linf => delta
                .abs()
                .unwrap()
                .max_keepdim(1)
                .unwrap()
                .flatten_all()
                .unwrap()
                .max(0)
                .unwrap(),
            Norm::L2 => delta
                .sqr()
                .unwrap()
                .flatten_from(1)
                .unwrap()
                .sum(1)
                .unwrap()
                .sqrt()
                .unwrap()
                .max(0)
                .unwrap(),
        };
        let size = size
            .to_dtype(DType::F64)
            .unwrap()
            .flatten_all()
            .unwrap()
            .max(0)
            .unwrap()
            .to_scalar::<f64>()
            .unwrap();
        // Generator space spans 2 units per pixel unit.
        assert!(
            size <= 2.0 * eps + 1e-5,
            "{norm:?}: perturbation {size} exceeds {}",
            2.0 * eps
        );
        let (lo, hi) = (
            adv.min_all().unwrap().to_scalar::<f32>().unwrap(),
            adv.max_all().unwrap().to_scalar::<f32>().unwrap(),
        );
        assert!(lo >= -1.0 && hi <= 1.0);
        let attacked = loss(&adv);
        assert!(
            attacked > clean * 1.2,
            "{norm:?}: loss {clean} -> {attacked}"
        );
    }
}

#[test]
fn group_dro_upweights_the_group_with_the_highest_loss() {
    let mut dro = GroupDro::new(3, 0.5);
    let per = Tensor::new(&[0.1f32, 0.1, 2.0, 2.0, 0.5], &Device::Cpu).unwrap();
    let groups = Tensor::new(&[0u32, 0, 1, 1, 2], &Device::Cpu).unwrap();
    let l = dro.loss(&per, &groups).unwrap().to_scalar::<f32>().unwrap();
    assert!(dro.q[1] > dro.q[2] && dro.q[2] > dro.q[0], "{:?}", dro.q);
    assert!((dro.q.iter().sum::<f64>() - 1.0).abs() < 1e-12);
    let want = (dro.q[0] * 0.1 + dro.q[1] * 2.0 + dro.q[2] * 0.5) as f32;
    assert!((l - want).abs() < 1e-5, "{l} vs {want}");
}

#[test]
fn resume_continues_from_the_last_epoch() {
    let (tr, te) = small_data();
    let dir = tempfile::tempdir().unwrap();
    let ck = checkpoint_dir(&dir.path().join("m.onnx"));
    let one = train(
        &quick_cfg(),
        &tr,
        &te,
        &Device::Cpu,
        Some(&ck),
        false,
        false,
    )
    .unwrap();
    assert!(ck.join("weights.safetensors").is_file() && ck.join("state.json").is_file());
    let cfg = TrainConfig {
        epochs: 2,
        ..quick_cfg()
    };
    let two = train(&cfg, &tr, &te, &Device::Cpu, Some(&ck), true, false).unwrap();
    assert_eq!((two.resumed_from_epoch, two.epochs_run), (1, 1));
    // A resumed run with nothing left to do returns the checkpoint's network unchanged.
    let again = train(
        &TrainConfig {
            epochs: 1,
            ..quick_cfg()
        },
        &tr,
        &te,
        &Device::Cpu,
        Some(&dir.path().join("none")),
        true,
        false,
    )
    .unwrap();
    assert_eq!(again.resumed_from_epoch, 0);
    let (x, _) = input_batch();
    let a: Vec<f32> = one
        .net
        .forward(&x, Mode::Eval)
        .unwrap()
        .flatten_all()
        .unwrap()
        .to_vec1()
        .unwrap();
    let b: Vec<f32> = two
        .net
        .forward(&x, Mode::Eval)
        .unwrap()
        .flatten_all()
        .unwrap()
        .to_vec1()
        .unwrap();
    assert!(
        max_abs_diff(&a, &b) > 1e-4,
        "the second epoch changed nothing"
    );
    let bad = TrainConfig {
        arch: "mlp".into(),
        ..cfg
    };
    let e = train(&bad, &tr, &te, &Device::Cpu, Some(&ck), true, false)
        .err()
        .expect("arch mismatch must fail")
        .to_string();
    assert!(e.contains("checkpoint is for"), "{e}");
}

#[test]
fn unknown_arch_lists_the_known_ones() {
    let e = Net::new("resnet9000", (1, 28, 28), 10, 0, &Device::Cpu)
        .err()
        .unwrap()
        .to_string();
    assert!(e.contains("resnet9000") && e.contains("cnn-small"), "{e}");
}

#[test]
fn outlier_exposure_learns_to_reject_non_images_but_not_real_ones() {
    use probegan::train_classifier::outliers::OutlierExposure;
    let d = probegan::embedded::fashion_mnist_subset()
        .unwrap()
        .stratified_subset(100, 0);
    let (_, te) = small_data();
    let cfg = TrainConfig {
        epochs: 2,
        outliers: Some(OutlierExposure::new("(none)", 0.25).unwrap()),
        ..quick_cfg()
    };
    let out = train(&cfg, &d, &te, &Device::Cpu, None, false, false).unwrap();
    assert_eq!(
        out.net.num_classes, 11,
        "one extra output for the reject class"
    );
    let r = out.outlier_report.expect("a report when outliers are on");
    assert!(r.real_rejected < 0.1, "rejects real images: {r:?}");
    for f in r.families.iter().filter(|f| !f.held_out) {
        assert!(f.rejected > 0.8, "trained family not rejected: {f:?}");
    }
    // The plain classifier has no reject output and no report.
    let plain = train(&quick_cfg(), &d, &te, &Device::Cpu, None, false, false).unwrap();
    assert_eq!(plain.net.num_classes, 10);
    assert!(plain.outlier_report.is_none());
    // Group DRO and outlier exposure cannot be mixed (outliers belong to no group).
    let e = train(
        &TrainConfig {
            dro_eta: Some(0.01),
            ..cfg
        },
        &d,
        &te,
        &Device::Cpu,
        None,
        false,
        false,
    )
    .err()
    .unwrap()
    .to_string();
    assert!(e.contains("--outlier-class"), "{e}");
}
