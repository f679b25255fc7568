//! The stratified Fashion-MNIST subset compiled into the binary (`data/fashion-mnist-subset/`,
//! 1000 train + 300 test images per class, ~5.7 MB gzipped IDX): what `--data embedded` loads.
//!
//! It sits with the other loaders so that `data` imports nothing above it; `crate::embedded`
//! re-exports it beside the bundled classifiers.

use super::{dataset_from_idx_bytes, Dataset, Split, FASHION_MNIST_CLASSES};
use anyhow::Result;

const SUBSET_TRAIN_IMAGES: &[u8] =
    include_bytes!("../../data/fashion-mnist-subset/train-images-idx3-ubyte.gz");
const SUBSET_TRAIN_LABELS: &[u8] =
    include_bytes!("../../data/fashion-mnist-subset/train-labels-idx1-ubyte.gz");
const SUBSET_TEST_IMAGES: &[u8] =
    include_bytes!("../../data/fashion-mnist-subset/t10k-images-idx3-ubyte.gz");
const SUBSET_TEST_LABELS: &[u8] =
    include_bytes!("../../data/fashion-mnist-subset/t10k-labels-idx1-ubyte.gz");

/// The bundled subset's training half: 10,000 images, 1,000 per class, `[1, 28, 28]`.
pub fn fashion_mnist_subset() -> Result<Dataset> {
    fashion_mnist_subset_split(Split::Train)
}

/// The bundled subset's train (10,000) or test (3,000) half.
pub fn fashion_mnist_subset_split(split: Split) -> Result<Dataset> {
    let names = FASHION_MNIST_CLASSES
        .iter()
        .map(|s| s.to_string())
        .collect();
    match split {
        Split::Train => dataset_from_idx_bytes(
            SUBSET_TRAIN_IMAGES,
            SUBSET_TRAIN_LABELS,
            names,
            "embedded fashion-mnist-subset train",
        ),
        Split::Test => dataset_from_idx_bytes(
            SUBSET_TEST_IMAGES,
            SUBSET_TEST_LABELS,
            names,
            "embedded fashion-mnist-subset test",
        ),
    }
}
