//! `check`'s gradient rows catch a wrong backward pass. The bundled classifier is made into a
//! function whose value is the model's own but whose gradient is scaled by `k`:
//! `y.detach() + k·y − (k·y).detach()` (the last two terms cancel exactly in value). A 5%
//! error must FAIL at the coordinates the check picks; a 0.05% one is inside the f64 tolerance
//! (1e-3) and the honest model passes.

use candle_core::{DType, Device, Tensor};
use probegan::cli::check::{input_gradient_rows, CheckRow};
use probegan::onnx::OnnxModel;
use std::path::Path;

fn rows_with_gradient_scaled_by(k: f64) -> Vec<CheckRow> {
    probegan::init();
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("models/fmnist_regular.onnx");
    let m32 = OnnxModel::load(&path, &Device::Cpu).unwrap();
    let m64 = OnnxModel::load_with(&path, &Device::Cpu, DType::F64).unwrap();
    let skew = |m: &OnnxModel, x: &Tensor| -> anyhow::Result<Tensor> {
        let y = m.forward(&[x.clone()])?.remove(0);
        if k == 1.0 {
            return Ok(y);
        }
        let ky = (&y * k)?;
        Ok(((y.detach() + &ky)? - ky.detach())?)
    };
    // A fixed, garment-free pattern in 0..1 (seeded inputs keep the picks reproducible).
    let v: Vec<f32> = (0..784).map(|i| ((i * 37) % 101) as f32 / 101.0).collect();
    let x = Tensor::from_vec(v, (1, 1, 28, 28), &Device::Cpu).unwrap();
    input_gradient_rows(&|x| skew(&m32, x), &|x| skew(&m64, x), &x, &Device::Cpu, 6).unwrap()
}

fn count(rows: &[CheckRow], status: &str) -> usize {
    rows.iter().filter(|r| r.status.starts_with(status)).count()
}

#[test]
fn a_wrong_backward_fails_and_the_right_one_passes() {
    let honest = rows_with_gradient_scaled_by(1.0);
    assert_eq!(count(&honest, "FAIL"), 0, "{honest:#?}");
    assert!(count(&honest, "PASS") >= 5, "{honest:#?}");
    let off = rows_with_gradient_scaled_by(1.05);
    println!("5% off: {} of {} rows FAIL", count(&off, "FAIL"), off.len());
    // The three largest-gradient picks at least; random picks may land where it is ~0.
    assert!(count(&off, "FAIL") >= 3, "{off:#?}");
    let close = rows_with_gradient_scaled_by(1.0005);
    assert_eq!(count(&close, "FAIL"), 0, "{close:#?}");
}
