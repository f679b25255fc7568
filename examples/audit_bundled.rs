//! The library in a few lines: load a bundled classifier through the differentiable ONNX
//! engine, score the embedded Fashion-MNIST test subset, and push a gradient back to the
//! pixels — the signal every probegan generator trains on.
//!
//! Run: `cargo run --release --example audit_bundled`

use anyhow::Result;
use candle_core::{Device, D};
use probegan::classifier::Classifier;
use probegan::data::Split;

fn main() -> Result<()> {
    probegan::init();
    let device = Device::Cpu;
    let classifier = probegan::embedded::bundled_classifier("regular", &device)?;
    let test = probegan::embedded::fashion_mnist_subset_split(Split::Test)?;

    // Accuracy on the first 500 embedded test images (generator space, values in [-1, 1]).
    let n = test.len().min(500);
    let subset = test.select(&(0..n).collect::<Vec<_>>());
    let x = subset.images_tensor(&device)?;
    let labels = subset.labels_tensor(&device)?;
    let logits = classifier.logits(&x)?;
    let correct = logits
        .argmax(D::Minus1)?
        .eq(&labels)?
        .to_dtype(candle_core::DType::F32)?;
    println!(
        "accuracy on {n} embedded test images: {:.3}",
        correct.mean_all()?.to_scalar::<f32>()?
    );

    // Gradient of one class's log-probability w.r.t. the input pixels.
    let x = candle_core::Var::from_tensor(&x.narrow(0, 0, 8)?)?;
    let log_p = candle_nn::ops::log_softmax(&classifier.logits(x.as_tensor())?, D::Minus1)?;
    let trouser = classifier
        .class_names()
        .iter()
        .position(|c| c == "Trouser")
        .unwrap_or(1);
    let objective = log_p.narrow(1, trouser, 1)?.sum_all()?;
    let grads = objective.backward()?;
    let g = grads.get(&x).expect("the input is a variable");
    println!(
        "d log p(Trouser) / d pixels: mean |g| = {:.2e} over {} pixels",
        g.abs()?.mean_all()?.to_scalar::<f32>()?,
        g.elem_count()
    );
    Ok(())
}
