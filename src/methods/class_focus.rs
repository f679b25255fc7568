//! Which class a substrate batch paints (`method.class_focus`, ours; the paper draws uniformly).
//!
//! Under the shared EfficientNet-Lite2 the five classes are learned one after another:
//! goldfish within 2,000 steps, Labrador retriever and horse cart only in a second CPU hour
//! (README, 2026-12-07). A uniform draw keeps spending a fifth of the steps on classes the
//! target already sees. Here each class keeps a running mean of the target's probability of
//! it on its own batches, and class `c` is drawn with weight `1 + focus · (1 − p̄_c)`: equal
//! while nothing is learned, up to `1 + focus` times a learned class's share for one that
//! lags. Learned classes keep weight ≥ 1, so they are still rehearsed.
//!
//! The same running means set how hard the substrate method holds a batch to its tile
//! (`method.substrate_weight_unlearned`, see `learned`), and their highest values so far how
//! hard its positive views are (`method.view_ramp`, see `ever_learned`).

use crate::nets::{Init, ParamStore};
use anyhow::Result;
use candle_core::{Device, Tensor, Var};
use rand::distr::{weighted::WeightedIndex, Distribution};
use rand_chacha::ChaCha8Rng;

/// Weight of one batch's probability in a class's running mean.
const RATE: f64 = 0.05;

pub struct ClassFocus {
    /// Saved with checkpoints (`class_focus.safetensors`), so a resumed run keeps its means.
    store: ParamStore,
    /// [classes]: the running mean of p(target) per class, starting at 0.
    progress: Var,
    /// The highest running mean each class has reached, in a store of its own
    /// (`class_peak.safetensors`) so checkpoints written before it still load.
    peak_store: ParamStore,
    peak: Var,
    focus: f64,
}

impl ClassFocus {
    pub fn new(device: &Device, classes: usize, focus: f64) -> Result<Self> {
        let store = ParamStore::new(device, 0);
        let progress = store.root().buffer("progress", &[classes], Init::Zeros)?;
        let peak_store = ParamStore::new(device, 0);
        let peak = peak_store.root().buffer("peak", &[classes], Init::Zeros)?;
        Ok(ClassFocus {
            store,
            progress,
            peak_store,
            peak,
            focus,
        })
    }

    /// The checkpointed state: (file stem, store).
    pub fn stores(&self) -> Vec<(&'static str, &ParamStore)> {
        vec![
            ("class_focus", &self.store),
            ("class_peak", &self.peak_store),
        ]
    }

    /// The running means, one per class.
    pub fn progress(&self) -> Result<Vec<f64>> {
        let v = self.progress.as_tensor().to_vec1::<f32>()?;
        Ok(v.into_iter().map(f64::from).collect())
    }

    /// One class, drawn with weight `1 + focus · (1 − p̄_c)`.
    pub fn draw(&self, rng: &mut ChaCha8Rng) -> Result<usize> {
        let weights = self
            .progress()?
            .into_iter()
            .map(|p| 1.0 + self.focus * (1.0 - p.clamp(0.0, 1.0)));
        Ok(WeightedIndex::new(weights)?.sample(rng))
    }

    /// How far `class` is learned: its running mean as a fraction of `learned_at`, capped at 1.
    pub fn learned(&self, class: usize, learned_at: f64) -> Result<f64> {
        Ok(fraction(self.progress()?[class], learned_at))
    }

    /// [`Self::learned`] of the highest running mean `class` has reached: once learned, a
    /// class stays learned here when its mean dips.
    pub fn ever_learned(&self, class: usize, learned_at: f64) -> Result<f64> {
        let peak = self.peak.as_tensor().to_vec1::<f32>()?[class];
        Ok(fraction(f64::from(peak), learned_at))
    }

    /// Fold a batch's mean p(target) for `class` into its running mean.
    pub fn record(&self, class: usize, p_target: f64) -> Result<()> {
        let mut v = self.progress.as_tensor().to_vec1::<f32>()?;
        let old = f64::from(v[class]);
        v[class] = (old + RATE * (p_target.clamp(0.0, 1.0) - old)) as f32;
        let mut peak = self.peak.as_tensor().to_vec1::<f32>()?;
        peak[class] = peak[class].max(v[class]);
        set(&self.progress, v)?;
        set(&self.peak, peak)
    }
}

fn fraction(p: f64, learned_at: f64) -> f64 {
    (p / learned_at).clamp(0.0, 1.0)
}

fn set(var: &Var, v: Vec<f32>) -> Result<()> {
    let n = v.len();
    var.set(&Tensor::from_vec(v, n, var.device())?.to_dtype(var.dtype())?)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    fn counts(focus: &ClassFocus, draws: usize) -> Vec<usize> {
        let mut rng = ChaCha8Rng::seed_from_u64(7);
        let mut n = vec![0; 3];
        for _ in 0..draws {
            n[focus.draw(&mut rng).unwrap()] += 1;
        }
        n
    }

    #[test]
    fn draws_are_uniform_until_a_class_is_learned_then_favour_the_laggards() {
        let focus = ClassFocus::new(&Device::Cpu, 3, 4.0).unwrap();
        let even = counts(&focus, 6000);
        for n in &even {
            assert!((*n as f64 - 2000.0).abs() < 150.0, "{even:?}");
        }
        // Class 0 learned (p̄ → 1): weights 1, 5, 5, so class 0 gets about 1/11 of draws.
        for _ in 0..400 {
            focus.record(0, 1.0).unwrap();
        }
        let p = focus.progress().unwrap();
        assert!(p[0] > 0.99 && p[1] == 0.0, "{p:?}");
        let skewed = counts(&focus, 11000);
        assert!((skewed[0] as f64 - 1000.0).abs() < 150.0, "{skewed:?}");
        assert!(skewed[1] > 4500 && skewed[2] > 4500, "{skewed:?}");
    }

    #[test]
    fn ever_learned_keeps_the_highest_mean_when_the_running_mean_falls() {
        let focus = ClassFocus::new(&Device::Cpu, 2, 0.0).unwrap();
        for _ in 0..400 {
            focus.record(0, 1.0).unwrap();
        }
        for _ in 0..400 {
            focus.record(0, 0.0).unwrap();
        }
        assert!(focus.learned(0, 0.5).unwrap() < 0.01);
        assert_eq!(focus.ever_learned(0, 0.5).unwrap(), 1.0);
        assert_eq!(focus.ever_learned(1, 0.5).unwrap(), 0.0);
    }

    #[test]
    fn learned_is_the_running_mean_over_the_threshold_capped_at_one() {
        let focus = ClassFocus::new(&Device::Cpu, 2, 0.0).unwrap();
        assert_eq!(focus.learned(0, 0.5).unwrap(), 0.0);
        focus.record(0, 0.5).unwrap(); // p̄ = 0.05 · 0.5 = 0.025
        let l = focus.learned(0, 0.5).unwrap();
        assert!((l - 0.05).abs() < 1e-6, "{l}");
        for _ in 0..400 {
            focus.record(0, 1.0).unwrap();
        }
        assert_eq!(focus.learned(0, 0.5).unwrap(), 1.0);
        assert_eq!(focus.learned(1, 0.5).unwrap(), 0.0);
    }

    #[test]
    fn zero_focus_is_the_papers_uniform_draw_whatever_is_learned() {
        let focus = ClassFocus::new(&Device::Cpu, 3, 0.0).unwrap();
        for _ in 0..100 {
            focus.record(2, 1.0).unwrap();
        }
        for n in counts(&focus, 6000) {
            assert!((n as f64 - 2000.0).abs() < 150.0);
        }
    }
}
