//! The three bundled classifiers load from the binary through our engine and their adapters,
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
    // README: 0.9069 / 0.7787 / 0.9056 on the full test set; a 1k subset is within a few points.
    for (name, floor) in [("regular", 0.87), ("robust", 0.72), ("judge", 0.87)] {
        let clf = probegan::embedded::bundled_classifier(name, &Device::Cpu).unwrap();
        assert_eq!(clf.class_names(), test.class_names.as_slice());
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
    for name in ["regular", "robust", "judge"] {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join(format!("adapters/fmnist_{name}.toml"));
        let clf =
            probegan::classifier::OnnxClassifier::from_adapter_file(&path, &Device::Cpu).unwrap();
        assert_eq!(clf.num_classes(), 10);
    }
}
