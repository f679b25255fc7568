//! The generator's harmonic head (`nets::harmonic`): the log-mel ripple it draws carries the
//! pitch it was given to the pitch tracker (through Griffin-Lim, as `eval` hears samples),
//! vanishes when unvoiced, and has gradients in F0 and voicing that match finite differences.
//!
//! Needs CANDLE_GRAD_DO_NOT_DETACH=1 (set by .cargo/config.toml for cargo test).

use candle_core::{DType, Device, Tensor};
use probegan::data::MelFeatures;
use probegan::metrics::pitch::{median_f0, PitchConfig};
use probegan::nets::harmonic::{HarmonicConfig, HarmonicHead, Voicing};
use probegan::nets::{Generator, Mode, NetConfig, ParamStore};
use probegan::train::config::Config;
use probegan::train::setup::method_settings;

mod kernel_support;
use kernel_support::{check_grad, rand_t, to_vec};

fn head(store: &ParamStore) -> (HarmonicHead, MelFeatures) {
    let features = MelFeatures::voices();
    let h = HarmonicHead::new(&store.root(), &HarmonicConfig::default(), &features.mel, 8).unwrap();
    (h, features)
}

fn constant(value: f64, n: usize, frames: usize) -> Tensor {
    Tensor::full(value, (n, frames), &Device::Cpu).unwrap()
}

#[test]
fn the_pitch_tracker_hears_the_pitch_the_head_draws() {
    let store = ParamStore::new(&Device::Cpu, 0);
    let (head, features) = head(&store);
    let (bands, frames) = features.shape().unwrap();
    // A voice-like envelope: loud low bands falling to quiet high ones.
    let tilt: Vec<f64> = (0..bands * frames)
        .map(|i| 0.5 - 1.4 * (i / frames) as f64 / (bands - 1) as f64)
        .collect();
    let tilt = Tensor::from_vec(tilt, (1, 1, bands, frames), &Device::Cpu).unwrap();
    for f0 in [110.0, 130.0, 210.0] {
        let ripple = head
            .ripple(&Voicing {
                f0: constant(f0, 1, frames),
                voicing: constant(1.0, 1, frames),
            })
            .unwrap();
        assert_eq!(ripple.dims(), [1, 1, bands, frames]);
        let x = (ripple + &tilt).unwrap().clamp(-1.0, 1.0).unwrap();
        let v: Vec<f32> = to_vec(&x).into_iter().map(|v| v as f32).collect();
        // As `eval` hears samples: Griffin-Lim, then the pitch tracker.
        let wave = features.to_waveform(&v, 0).unwrap();
        let heard = median_f0(&wave, features.mel.sample_rate, &PitchConfig::default())
            .unwrap()
            .expect("a voiced comb has a pitch") as f64;
        eprintln!("head F0 {f0} Hz -> tracker {heard:.1} Hz");
        assert!(
            (heard / f0 - 1.0).abs() < 0.05,
            "{f0} Hz drawn, {heard:.1} Hz heard"
        );
    }
    // Unvoiced, the same envelope has no pitch.
    let flat: Vec<f32> = to_vec(&tilt).into_iter().map(|v| v as f32).collect();
    let wave = features.to_waveform(&flat, 0).unwrap();
    assert_eq!(
        median_f0(&wave, features.mel.sample_rate, &PitchConfig::default()).unwrap(),
        None
    );
}

#[test]
fn unvoiced_frames_draw_nothing_and_voiced_ones_are_centred_over_the_bands() {
    let store = ParamStore::new(&Device::Cpu, 0);
    let (head, features) = head(&store);
    let (bands, frames) = features.shape().unwrap();
    let voicing: Vec<f64> = (0..frames).map(|t| (t % 2) as f64).collect();
    let r = head
        .ripple(&Voicing {
            f0: constant(150.0, 1, frames),
            voicing: Tensor::from_vec(voicing, (1, frames), &Device::Cpu).unwrap(),
        })
        .unwrap();
    let v = to_vec(&r);
    for t in 0..frames {
        let column: Vec<f64> = (0..bands).map(|m| v[m * frames + t]).collect();
        let mean = column.iter().sum::<f64>() / bands as f64;
        let spread = column.iter().fold(0f64, |a, &x| a.max(x.abs()));
        assert!(mean.abs() < 1e-9, "frame {t}: band mean {mean}");
        if t % 2 == 0 {
            assert_eq!(spread, 0.0, "unvoiced frame {t}");
        } else {
            assert!(spread > 0.05, "voiced frame {t}: ripple only {spread}");
        }
    }
}

#[test]
fn gradients_in_pitch_and_voicing_match_finite_differences() {
    let store = ParamStore::new(&Device::Cpu, 0);
    let (head, _) = head(&store);
    let frames = 3;
    let f0 = (rand_t(&[2, frames], 1).affine(40.0, 0.0).unwrap() + 150.0).unwrap();
    let voicing = (rand_t(&[2, frames], 2).affine(0.3, 0.0).unwrap() + 0.5).unwrap();
    let r = rand_t(&[2, 1, 64, frames], 3);
    check_grad(
        "harmonic ripple",
        |ins| {
            let y = head
                .ripple(&Voicing {
                    f0: ins[0].clone(),
                    voicing: ins[1].clone(),
                })
                .map_err(|e| candle_core::Error::Msg(format!("{e:#}")))?;
            (y * &r)?.sum_all()
        },
        &[f0, voicing],
        1e-5,
        1e-5,
    );
}

#[test]
fn the_head_reads_pitch_from_generator_features_and_refuses_a_mismatched_height() {
    let store = ParamStore::new(&Device::Cpu, 0);
    let (head, _) = head(&store);
    let h = Tensor::randn(0f32, 1.0, (2, 8, 64, 5), &Device::Cpu).unwrap();
    let v = head.voicing(&h, Mode::EVAL).unwrap();
    assert_eq!(v.f0.dims(), [2, 5]);
    let f0 = to_vec(&v.f0);
    let config = HarmonicConfig::default();
    assert!(
        f0.iter().all(|&f| f > config.f0_min && f < config.f0_max),
        "{f0:?}"
    );
    assert_eq!(head.forward(&h, Mode::EVAL).unwrap().dims(), [2, 1, 64, 5]);
    assert_eq!(head.forward(&h, Mode::EVAL).unwrap().dtype(), DType::F32);
    let short = Tensor::zeros((2, 8, 32, 5), DType::F32, &Device::Cpu).unwrap();
    let err = head.voicing(&short, Mode::EVAL).err().unwrap().to_string();
    assert!(err.contains("64 mel bands"), "{err}");
}

#[test]
fn a_generator_with_the_head_needs_the_mel_front_end_and_draws_in_range() {
    let features = MelFeatures::voices();
    let cfg = NetConfig {
        resolution: 0,
        size: Some([64, 64]),
        channels: 1,
        z_dim: 20,
        embed_dim: 8,
        g_widths: vec![16, 8, 8, 8, 8],
        d_widths: vec![8, 8, 8],
        hierarchical_z: false,
        separate_du_trunk: false,
        sn_projection: false,
        harmonic: Some(HarmonicConfig::default()),
    };
    let store = ParamStore::new(&Device::Cpu, 0);
    let err = Generator::new(&store.root(), &cfg, 3)
        .err()
        .unwrap()
        .to_string();
    assert!(err.contains("no mel front end"), "{err}");
    let store = ParamStore::new(&Device::Cpu, 0);
    let g = Generator::with_mel(&store.root(), &cfg, 3, Some(&features.mel)).unwrap();
    // The head's weights are the generator's: trained, averaged and checkpointed with it.
    assert!(store
        .trainable()
        .iter()
        .any(|(n, _)| n.starts_with("harmonic.")));
    let z = Tensor::randn(0f32, 1.0, (4, 20), &Device::Cpu).unwrap();
    let y = Tensor::new(&[0u32, 1, 2, 0], &Device::Cpu).unwrap();
    let x = g.forward(&z, &y, Mode::TRAIN).unwrap();
    assert_eq!(x.dims(), [4, 1, 64, 64]);
    assert!(to_vec(&x).iter().all(|v| v.abs() <= 1.0));
}

#[test]
fn a_harmonic_head_against_an_image_classifier_is_refused_with_the_adapter_named() {
    let text = std::fs::read_to_string("configs/demo.toml").unwrap();
    let config = Config::from_toml_str(&text, &["model.harmonic={}".to_string()]).unwrap();
    let err = method_settings(&config).err().unwrap().to_string();
    assert!(
        err.contains("not an audio adapter") && err.contains(&config.classifier.adapter),
        "{err}"
    );
}
