//! Exponential moving average of the generator's weights (sampling uses the EMA copy).

use super::params::ParamStore;
use anyhow::{bail, Result};

/// `target = decay * target + (1 - decay) * source` for trainable parameters; buffers (SN
/// vectors, BN statistics) are copied, as BigGAN does.
pub fn ema_update(target: &ParamStore, source: &ParamStore, decay: f64) -> Result<()> {
    let src = source.all();
    let tgt = target.all();
    if src.len() != tgt.len() {
        bail!(
            "EMA: generator layouts differ ({} vs {} tensors)",
            src.len(),
            tgt.len()
        );
    }
    let trainable: std::collections::HashSet<String> =
        source.trainable().into_iter().map(|(k, _)| k).collect();
    for ((ks, s), (kt, t)) in src.iter().zip(&tgt) {
        if ks != kt {
            bail!("EMA: tensor names differ (`{ks}` vs `{kt}`)");
        }
        let s = s.as_detached_tensor();
        let new = if trainable.contains(ks) {
            ((t.as_detached_tensor() * decay)? + (s * (1.0 - decay))?)?
        } else {
            s.copy()?
        };
        t.set(&new)?;
    }
    Ok(())
}
