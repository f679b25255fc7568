//! Exponential moving average of the generator's weights (sampling uses the EMA copy).

use super::params::ParamStore;
use anyhow::{bail, Result};
use candle_core::Var;

/// Every tensor of an EMA copy paired with its source, and whether the source trains. The
/// variables are shared with the stores, so the pairs stay valid as the stores change.
pub struct EmaPairs {
    pairs: Vec<(Var, Var, bool)>,
}

impl EmaPairs {
    /// `copy` follows `source`; both stores must have the same layout.
    pub fn new(copy: &ParamStore, source: &ParamStore) -> Result<Self> {
        let src = source.all();
        let tgt = copy.all();
        if src.len() != tgt.len() {
            bail!(
                "EMA: network layouts differ ({} vs {} tensors)",
                src.len(),
                tgt.len()
            );
        }
        let trainable: std::collections::HashSet<String> =
            source.trainable().into_iter().map(|(k, _)| k).collect();
        let mut pairs = Vec::with_capacity(src.len());
        for ((ks, s), (kt, t)) in src.into_iter().zip(tgt) {
            if ks != kt {
                bail!("EMA: tensor names differ (`{ks}` vs `{kt}`)");
            }
            pairs.push((t, s, trainable.contains(&ks)));
        }
        Ok(EmaPairs { pairs })
    }

    /// `copy = decay * copy + (1 - decay) * source` for trainable parameters; buffers (SN
    /// vectors, BN statistics) are copied, as BigGAN does.
    pub fn update(&self, decay: f64) -> Result<()> {
        for (t, s, trainable) in &self.pairs {
            let s = s.as_detached_tensor();
            let new = if *trainable {
                ((t.as_detached_tensor() * decay)? + (s * (1.0 - decay))?)?
            } else {
                s.copy()?
            };
            t.set(&new)?;
        }
        Ok(())
    }
}

/// One EMA update of `target` towards `source`.
pub fn ema_update(target: &ParamStore, source: &ParamStore, decay: f64) -> Result<()> {
    EmaPairs::new(target, source)?.update(decay)
}
