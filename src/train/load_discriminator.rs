//! The discriminator of a checkpoint, for evaluation: D_u's realism score of images, in
//! evaluation mode (weights frozen, spectral norm uses the saved estimate, no state changes).
//! `metrics` uses it as a label-free checkpoint-selection signal.

use crate::methods::MethodConfig;
use crate::nets::{Discriminator, Mode, ParamStore};
use crate::run::{latest_checkpoint, run_dir_of, RunInfo};
use anyhow::{bail, Context, Result};
use candle_core::{Device, Tensor};
use std::path::Path;

/// Images per D forward pass (keeps memory flat for thousands of images).
const CHUNK: usize = 256;

pub struct CheckpointDiscriminator {
    discriminator: Discriminator,
    _store: ParamStore,
    info: RunInfo,
}

/// Whether the run's method trained D_u at all. Every class-conditional run saves the
/// two-headed D, but only methods whose `[method]` says so train the unconditional head;
/// elsewhere it keeps its random initialisation and means nothing.
pub fn run_trains_du(info: &RunInfo) -> bool {
    MethodConfig::of_run(&info.config).is_ok_and(|m| m.trains_unconditional_critic())
}

/// `checkpoint`: a checkpoint folder, or a run folder (its newest checkpoint is used).
pub fn load_discriminator(checkpoint: &Path, device: &Device) -> Result<CheckpointDiscriminator> {
    let ckpt = latest_checkpoint(checkpoint)?;
    let info = RunInfo::load(&run_dir_of(&ckpt)?)?;
    let file = ckpt.join("discriminator.safetensors");
    if !file.is_file() {
        bail!(
            "{}: the checkpoint has no discriminator.safetensors",
            ckpt.display()
        );
    }
    let store = ParamStore::new(device, 0);
    let discriminator = Discriminator::new(&store.root(), &info.net, info.class_names.len())?;
    // The extra heads of stabilisers and of a class-blind D_u (`head_NAME.`) play no part in
    // D_u's score; the bare discriminator built here has none of them.
    store.load_except(&file, |name| name.starts_with("head_"))?;
    Ok(CheckpointDiscriminator {
        discriminator,
        _store: store,
        info,
    })
}

impl CheckpointDiscriminator {
    /// D_u(x) for images `[N, C, H, W]` in generator space ([-1, 1]): `[N]` f32 scores,
    /// higher = judged more real.
    pub fn du_scores(&self, x: &Tensor) -> Result<Tensor> {
        let net = &self.info.net;
        let (h, w) = net.dims();
        let dims = x.dims();
        if dims.len() != 4 || dims[1] != net.channels || dims[2] != h || dims[3] != w {
            bail!(
                "D_u: expected images [N, {c}, {h}, {w}] (the run's generator space), got {dims:?}",
                c = net.channels
            );
        }
        let n = dims[0];
        let mut parts = vec![];
        for start in (0..n).step_by(CHUNK) {
            let len = CHUNK.min(n - start);
            let h = self
                .discriminator
                .features_u(&x.narrow(0, start, len)?, None, Mode::EVAL)?;
            parts.push(self.discriminator.head_unconditional(&h, Mode::EVAL)?);
        }
        if parts.is_empty() {
            bail!("D_u: no images to score");
        }
        Tensor::cat(&parts, 0).context("D_u: joining score chunks")
    }

    pub fn info(&self) -> &RunInfo {
        &self.info
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::nets::NetConfig;
    use crate::run::ClassifierInfo;

    fn info(method: MethodConfig) -> RunInfo {
        RunInfo {
            method: method.name().into(),
            seed: 0,
            class_names: vec!["a".into(), "b".into()],
            unseen: vec!["b".into()],
            unseen_indices: vec![1],
            classifier: ClassifierInfo {
                adapter: "x.toml".into(),
                model: None,
            },
            net: NetConfig {
                resolution: 8,
                size: None,
                channels: 1,
                z_dim: 4,
                embed_dim: 4,
                g_widths: vec![8, 8],
                d_widths: vec![8, 8],
                hierarchical_z: false,
                separate_du_trunk: false,
                sn_projection: false,
                harmonic: None,
                d_band_detail: false,
            },
            config: serde_json::json!({ "method": method }),
        }
    }

    #[test]
    fn loads_the_saved_critic_and_reproduces_its_scores() {
        let dev = Device::Cpu;
        let dir = tempfile::tempdir().unwrap();
        let run = info(MethodConfig::default());
        run.save(dir.path()).unwrap();
        let ckpt = dir.path().join("checkpoints/step_000010");
        std::fs::create_dir_all(&ckpt).unwrap();
        std::fs::write(ckpt.join("state.json"), "{}").unwrap();
        let store = ParamStore::new(&dev, 42);
        let mut d = Discriminator::new(&store.root(), &run.net, 2).unwrap();
        // An extra head (a stabiliser's, or the class-blind probe) is saved but not needed.
        d.add_head(&store.root(), "class_probe", 8, 2).unwrap();
        store.save(&ckpt.join("discriminator.safetensors")).unwrap();
        let x = Tensor::rand(-1f32, 1.0, (300, 1, 8, 8), &dev).unwrap();
        let want = d
            .head_unconditional(&d.features_u(&x, None, Mode::EVAL).unwrap(), Mode::EVAL)
            .unwrap();
        // From the run folder (newest checkpoint) — a fresh store with another seed.
        let loaded = load_discriminator(dir.path(), &dev).unwrap();
        let got = loaded.du_scores(&x).unwrap();
        let diff = (got - &want)
            .unwrap()
            .abs()
            .unwrap()
            .max_all()
            .unwrap()
            .to_scalar::<f32>()
            .unwrap();
        assert!(diff < 1e-5, "{diff}");
        let e = loaded
            .du_scores(&Tensor::zeros((2, 3, 8, 8), candle_core::DType::F32, &dev).unwrap())
            .unwrap_err();
        assert!(e.to_string().contains("generator space"), "{e}");
        std::fs::remove_file(ckpt.join("discriminator.safetensors")).unwrap();
        let e = load_discriminator(&ckpt, &dev).err().unwrap();
        assert!(e.to_string().contains("no discriminator"), "{e}");
    }

    #[test]
    fn only_methods_that_train_du_have_it() {
        assert!(run_trains_du(&info(MethodConfig::default())));
        let mut no_du = crate::methods::probegan::ProbeGanConfig::default();
        no_du.d_u_weight = 0.0;
        assert!(!run_trains_du(&info(MethodConfig::Probegan(no_du))));
        assert!(!run_trains_du(&info(MethodConfig::Naive {})));
    }
}
