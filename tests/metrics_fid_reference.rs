//! FID and KID against an independent numpy/scipy computation (`tests/fid_reference.py`,
//! pytorch-fid's and torch-fidelity's formulas) on the same exported features: must agree to
//! 1e-3 relative. Skipped, with a message, where python3 with numpy and scipy is missing.

use candle_core::{Device, Tensor};
use probegan::metrics::{fid, kid};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

mod python_reference;
use python_reference::{python_has, run_script, write_f64};

/// Correlated, non-Gaussian features: a random linear mix of uniform and squared normals, so
/// covariances are full and far from diagonal.
fn features(rng: &mut ChaCha8Rng, n: usize, d: usize, mix: &[f64], shift: f64) -> Vec<f64> {
    let raw: Vec<f64> = (0..n * d)
        .map(|i| {
            let u: f64 = rng.random();
            if i % 3 == 0 {
                (u - 0.5) * 3.0
            } else {
                (u * 2.0).powi(2)
            }
        })
        .collect();
    let mut out = vec![0.0; n * d];
    for r in 0..n {
        for c in 0..d {
            out[r * d + c] = (0..d).map(|k| raw[r * d + k] * mix[k * d + c]).sum::<f64>()
                + shift * (c % 4) as f64;
        }
    }
    out
}

fn check_case(name: &str, n_real: usize, n_fake: usize, d: usize, shift: f64) {
    let mut rng = ChaCha8Rng::seed_from_u64(42 + d as u64);
    let mix: Vec<f64> = (0..d * d).map(|_| rng.random::<f64>() - 0.5).collect();
    let real = features(&mut rng, n_real, d, &mix, 0.0);
    let fake = features(&mut rng, n_fake, d, &mix, shift);
    let rt = Tensor::from_vec(real.clone(), (n_real, d), &Device::Cpu).unwrap();
    let ft = Tensor::from_vec(fake.clone(), (n_fake, d), &Device::Cpu).unwrap();

    let ours_fid = fid::fid(&rt, &ft).unwrap();
    let opts = kid::KidOptions {
        subsets: 20,
        subset_size: 300,
        seed: 3,
    };
    let subsets = kid::draw_subsets(n_real, n_fake, &opts).unwrap();
    let ours_kid = kid::kid_on_subsets(&rt, &ft, &subsets).unwrap();

    let dir = tempfile::tempdir().unwrap();
    write_f64(&dir.path().join("real.f64"), &real);
    write_f64(&dir.path().join("fake.f64"), &fake);
    let meta =
        serde_json::json!({"real": [n_real, d], "fake": [n_fake, d], "kid_subsets": subsets});
    std::fs::write(dir.path().join("meta.json"), meta.to_string()).unwrap();
    let out = run_script("fid_reference.py", dir.path());
    let theirs: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let (tf, tk, ts) = (
        theirs["fid"].as_f64().unwrap(),
        theirs["kid_mean"].as_f64().unwrap(),
        theirs["kid_std"].as_f64().unwrap(),
    );
    let rel = |a: f64, b: f64| (a - b).abs() / b.abs().max(1e-12);
    eprintln!(
        "{name}: FID ours {ours_fid:.9} scipy {tf:.9} (rel {:.2e}); KID ours {:.9}±{:.9} numpy {tk:.9}±{ts:.9} (rel {:.2e})",
        rel(ours_fid, tf),
        ours_kid.mean,
        ours_kid.std,
        rel(ours_kid.mean, tk)
    );
    assert!(
        rel(ours_fid, tf) < 1e-3,
        "{name}: FID {ours_fid} vs scipy {tf}"
    );
    assert!(
        rel(ours_kid.mean, tk) < 1e-3,
        "{name}: KID {} vs numpy {tk}",
        ours_kid.mean
    );
    assert!(
        rel(ours_kid.std, ts) < 1e-3,
        "{name}: KID std {} vs numpy {ts}",
        ours_kid.std
    );
}

#[test]
fn fid_and_kid_match_numpy_scipy() {
    if !python_has("numpy, scipy.linalg") {
        eprintln!("SKIPPED fid_and_kid_match_numpy_scipy: python3 with numpy and scipy not found (pip install numpy scipy)");
        return;
    }
    check_case("shifted, 32-d", 2000, 1500, 32, 0.3);
    check_case("close, 64-d", 1200, 1200, 64, 0.02);
    // Fewer samples than dimensions: singular covariances, where methods differ most.
    check_case("singular, 96-d", 80, 70, 96, 0.5);
}
