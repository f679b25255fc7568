//! The four bundled classifiers load from the binary through our engine and their adapters,
//! and classify the embedded test subset about as well as models/README.md says.

use candle_core::{Device, D};
use probegan::classifier::Classifier;
use probegan::data::Split;

#[test]
fn bundled_models_classify_the_embedded_test_subset() {
    // 100 per class keeps the test to seconds.
    let test = probegan::embedded::fashion_mnist_subset_split(Split::Test)
        .unwrap()
        .stratified_subset(100, 0);
    // README: 0.9069 / 0.7787 / 0.9056 / 0.9076 on the full test set; a 1k subset is within a
    // few points. The open judge's 11th output is its reject class; a rejected real image
    // counts as an error here.
    for (name, floor) in [
        ("regular", 0.87),
        ("robust", 0.72),
        ("judge", 0.87),
        ("judge_open", 0.87),
    ] {
        let clf = probegan::embedded::bundled_classifier(name, &Device::Cpu).unwrap();
        assert_eq!(&clf.class_names()[..10], test.class_names.as_slice());
        let mut correct = 0usize;
        for b in test.sequential_batches(500, &Device::Cpu) {
            let b = b.unwrap();
            let pred: Vec<u32> = clf
                .logits(&b.images)
                .unwrap()
                .argmax(D::Minus1)
                .unwrap()
                .to_vec1()
                .unwrap();
            let labels: Vec<u32> = b.labels.to_vec1().unwrap();
            correct += pred.iter().zip(&labels).filter(|(p, l)| p == l).count();
        }
        let acc = correct as f64 / test.len() as f64;
        assert!(acc >= floor, "{name}: accuracy {acc} below {floor}");
    }
    assert!(probegan::embedded::bundled_model("nope")
        .unwrap_err()
        .to_string()
        .contains("regular"));
}

#[test]
fn bundled_adapter_files_validate_against_their_models() {
    for (name, classes) in [
        ("regular", 10),
        ("robust", 10),
        ("judge", 10),
        ("judge_open", 11),
    ] {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join(format!("adapters/fmnist_{name}.toml"));
        let clf =
            probegan::classifier::OnnxClassifier::from_adapter_file(&path, &Device::Cpu).unwrap();
        assert_eq!(clf.num_classes(), classes);
    }
}

/// What the open judge is for: blank and noise images go to its reject output instead of a
/// garment class (the closed judge calls an all-black image "Sneaker"), while real images do
/// not.
#[test]
fn open_judge_rejects_blank_and_noise_images_but_accepts_real_ones() {
    let open = probegan::embedded::bundled_classifier("judge_open", &Device::Cpu).unwrap();
    let reject = open.num_classes() as u32 - 1;
    assert_eq!(open.class_names()[reject as usize], "(not a garment)");
    let predict = |x: &candle_core::Tensor| -> Vec<u32> {
        open.logits(x)
            .unwrap()
            .argmax(D::Minus1)
            .unwrap()
            .to_vec1()
            .unwrap()
    };
    let levels: Vec<f32> = (0..9).map(|i| -1.0 + 0.25 * i as f32).collect();
    let blank: Vec<f32> = levels.iter().flat_map(|&v| vec![v; 28 * 28]).collect();
    let blank = candle_core::Tensor::from_vec(blank, (9, 1, 28, 28), &Device::Cpu).unwrap();
    assert!(
        predict(&blank).iter().all(|&p| p == reject),
        "{:?}",
        predict(&blank)
    );
    let noise = candle_core::Tensor::rand(-1f32, 1f32, (50, 1, 28, 28), &Device::Cpu).unwrap();
    assert!(predict(&noise).iter().all(|&p| p == reject));
    let closed = probegan::embedded::bundled_classifier("judge", &Device::Cpu).unwrap();
    let black = blank.narrow(0, 0, 1).unwrap();
    let c: Vec<u32> = closed
        .logits(&black)
        .unwrap()
        .argmax(D::Minus1)
        .unwrap()
        .to_vec1()
        .unwrap();
    assert_eq!(
        closed.class_names()[c[0] as usize],
        "Sneaker",
        "the closed judge's blind spot"
    );
    let test = probegan::embedded::fashion_mnist_subset_split(Split::Test)
        .unwrap()
        .stratified_subset(50, 1);
    let mut rejected = 0;
    for b in test.sequential_batches(500, &Device::Cpu) {
        rejected += predict(&b.unwrap().images)
            .iter()
            .filter(|&&p| p == reject)
            .count();
    }
    assert!(rejected <= 2, "{rejected} of 500 real images rejected");
}
