//! The confusion loss (Tzeng et al., 2015): cross-entropy of a probe's prediction against the
//! base rates of what it predicts. A network trained to minimise it through a frozen probe
//! hides from that probe what it reads: at the minimum the probe can say no more than the base
//! rates. Unlike a reversed gradient it is bounded below, so hiding cannot turn into
//! confidently wrong, ever larger features (a reversed probe loss blew D_u's outputs up within
//! 150 steps: docs/results.md, 2026-12-07).

use super::log_softmax;
use anyhow::{bail, Result};
use candle_core::Tensor;

/// mean over samples of −Σ_k rates_k · log softmax(logits)_k, for logits [N, K] and base
/// rates [K] (summing to 1; uniform when every class is equally frequent).
pub fn confusion(logits: &Tensor, rates: &[f32]) -> Result<Tensor> {
    let k = logits.dim(1)?;
    if rates.len() != k {
        bail!("{} base rates for {k} probe outputs", rates.len());
    }
    let rates = Tensor::from_vec(rates.to_vec(), (1, k), logits.device())?;
    Ok(log_softmax(logits)?
        .broadcast_mul(&rates)?
        .sum(1)?
        .neg()?
        .mean_all()?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::{Device, Var};

    fn gradient(logits: &[f32], rates: &[f32]) -> (f32, Vec<f32>) {
        let row = Tensor::from_vec(logits.to_vec(), (1, logits.len()), &Device::Cpu).unwrap();
        let l = Var::from_tensor(&row).unwrap();
        let loss = confusion(l.as_tensor(), rates).unwrap();
        let g = loss.backward().unwrap();
        let g = g.get(l.as_tensor()).unwrap().flatten_all().unwrap();
        (loss.to_scalar().unwrap(), g.to_vec1().unwrap())
    }

    /// Equal logits against uniform rates give ln K; logits (0, ln 3), i.e. softmax (¼, ¾),
    /// give −(r₀ ln ¼ + r₁ ln ¾) with gradient softmax − rates.
    #[test]
    fn value_and_gradient_by_hand() {
        let (v, g) = gradient(&[2.0, 2.0, 2.0, 2.0], &[0.25; 4]);
        assert!((v - 4f32.ln()).abs() < 1e-6, "{v}");
        assert!(g.iter().all(|x| x.abs() < 1e-7), "{g:?}");
        let (v, g) = gradient(&[0.0, 3f32.ln()], &[0.5, 0.5]);
        assert!((v + (0.25f32.ln() + 0.75f32.ln()) / 2.0).abs() < 1e-6);
        assert!(
            (g[0] + 0.25).abs() < 1e-6 && (g[1] - 0.25).abs() < 1e-6,
            "{g:?}"
        );
        // Rates (¾, ¼): the same softmax is pushed the other way, towards (¾, ¼).
        let (v, g) = gradient(&[0.0, 3f32.ln()], &[0.75, 0.25]);
        assert!((v + (0.75 * 0.25f32.ln() + 0.25 * 0.75f32.ln())).abs() < 1e-6);
        assert!(
            (g[0] + 0.5).abs() < 1e-6 && (g[1] - 0.5).abs() < 1e-6,
            "{g:?}"
        );
        // At the base rates the gradient vanishes.
        let (_, g) = gradient(&[3f32.ln(), 0.0], &[0.75, 0.25]);
        assert!(g.iter().all(|x| x.abs() < 1e-6), "{g:?}");
        assert!(confusion(
            &Tensor::zeros((1, 3), candle_core::DType::F32, &Device::Cpu).unwrap(),
            &[0.5, 0.5]
        )
        .is_err());
    }
}
