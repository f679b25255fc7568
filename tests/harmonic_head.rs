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

/// Every frame's pitch weight all on candidate `b` of `k`.
fn one_hot(b: usize, k: usize, n: usize, frames: usize) -> Tensor {
    let v: Vec<f64> = (0..n * frames * k)
        .map(|i| if i % k == b { 1.0 } else { 0.0 })
        .collect();
    Tensor::from_vec(v, (n, frames, k), &Device::Cpu).unwrap()
}

/// The candidate nearest `hz`: its index and frequency.
fn nearest(head: &HarmonicHead, hz: f64) -> (usize, f64) {
    head.candidates()
        .iter()
        .copied()
        .enumerate()
        .min_by(|a, b| (a.1 - hz).abs().total_cmp(&(b.1 - hz).abs()))
        .unwrap()
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
    let k = head.candidates().len();
    // Through this front end and Griffin-Lim the tracker hears a steady comb reliably at
    // these pitches (three Griffin-Lim seeds each, 2026-12-07); between about 130 and 180 Hz
    // it hears one in a few percent of frames at most, as it does for some real voices.
    for hz in [110.0, 210.0, 240.0] {
        let (b, f0) = nearest(&head, hz);
        let ripple = head
            .ripple(&Voicing {
                pitch: one_hot(b, k, 1, frames),
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
        eprintln!("head F0 {f0:.1} Hz -> tracker {heard:.1} Hz");
        assert!(
            (heard / f0 - 1.0).abs() < 0.05,
            "{f0:.1} Hz drawn, {heard:.1} Hz heard"
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
    let k = head.candidates().len();
    let r = head
        .ripple(&Voicing {
            pitch: one_hot(nearest(&head, 150.0).0, k, 1, frames),
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
    let k = head.candidates().len();
    // Any positive weights (the ripple does not need them normalised).
    let pitch = (rand_t(&[2, frames, k], 1).affine(0.4, 0.0).unwrap() + 0.5).unwrap();
    let voicing = (rand_t(&[2, frames], 2).affine(0.3, 0.0).unwrap() + 0.5).unwrap();
    let r = rand_t(&[2, 1, 64, frames], 3);
    check_grad(
        "harmonic ripple",
        |ins| {
            let y = head
                .ripple(&Voicing {
                    pitch: ins[0].clone(),
                    voicing: ins[1].clone(),
                })
                .map_err(|e| candle_core::Error::Msg(format!("{e:#}")))?;
            (y * &r)?.sum_all()
        },
        &[pitch, voicing],
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
    let k = HarmonicConfig::default().pitches;
    assert_eq!(v.pitch.dims(), [2, 5, k]);
    assert_eq!(v.voicing.dims(), [2, 5]);
    let sums = to_vec(&v.pitch.sum(2).unwrap());
    assert!(sums.iter().all(|s| (s - 1.0).abs() < 1e-5), "{sums:?}");
    assert!(to_vec(&v.voicing).iter().all(|&p| p > 0.0 && p < 1.0));
    let c = head.candidates();
    assert_eq!((c[0], c[k - 1].round()), (60.0, 400.0));
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
        d_band_detail: false,
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

/// The reason the pitch is a distribution: fitted by gradient descent to the ripple of a
/// 120 Hz comb, from the uniform start, the head's most likely pitch lands on 120 Hz, not on
/// an octave or another candidate whose comb shares some of its stripes.
#[test]
fn gradient_descent_finds_the_pitch_of_a_target_ripple() {
    let store = ParamStore::new(&Device::Cpu, 0);
    let (head, _) = head(&store);
    let k = head.candidates().len();
    let frames = 4;
    let (b, f0) = nearest(&head, 120.0);
    let target = head
        .ripple(&Voicing {
            pitch: one_hot(b, k, 1, frames).to_dtype(DType::F32).unwrap(),
            voicing: constant(1.0, 1, frames).to_dtype(DType::F32).unwrap(),
        })
        .unwrap();
    let h = Tensor::randn(0f32, 1.0, (1, 8, 64, frames), &Device::Cpu)
        .unwrap()
        .relu()
        .unwrap();
    let vars = store.trainable();
    for _ in 0..300 {
        let loss = (head.forward(&h, Mode::TRAIN).unwrap() - &target)
            .unwrap()
            .sqr()
            .unwrap()
            .mean_all()
            .unwrap();
        let grads = loss.backward().unwrap();
        for (_, v) in &vars {
            let g = grads.get(v.as_tensor()).unwrap();
            v.set(&(v.as_tensor() - (g * 0.01).unwrap()).unwrap())
                .unwrap();
        }
    }
    let v = head.voicing(&h, Mode::EVAL).unwrap();
    let best = to_vec(&v.pitch.mean((0, 1)).unwrap());
    let top = (0..k).max_by(|&a, &c| best[a].total_cmp(&best[c])).unwrap();
    let got = head.candidates()[top];
    assert_eq!(top, b, "learned {got:.1} Hz for a {f0:.1} Hz comb");
    assert!(best[top] > 0.5, "top weight only {:.2}", best[top]);
}

/// `straight_through`: the forward pass is each row's one-hot at its largest weight, the
/// backward pass the identity on the weights.
#[test]
fn straight_through_draws_the_top_pitch_alone_and_passes_the_gradient_unchanged() {
    use probegan::nets::harmonic::straight_through;
    let p = candle_core::Var::from_vec(
        vec![0.1f32, 0.5, 0.4, 0.7, 0.2, 0.1],
        (1, 2, 3),
        &Device::Cpu,
    )
    .unwrap();
    let st = straight_through(p.as_tensor()).unwrap();
    assert_eq!(to_vec(&st), [0.0, 1.0, 0.0, 1.0, 0.0, 0.0]);
    let c = Tensor::new(&[[[1f32, -2.0, 3.0], [0.5, 4.0, -1.0]]], &Device::Cpu).unwrap();
    let grads = (st * &c).unwrap().sum_all().unwrap().backward().unwrap();
    assert_eq!(to_vec(grads.get(p.as_tensor()).unwrap()), to_vec(&c));

    // In the head: the ripple is that of the most likely candidate alone.
    let store = ParamStore::new(&Device::Cpu, 0);
    let cfg = HarmonicConfig {
        straight_through: true,
        ..HarmonicConfig::default()
    };
    let features = MelFeatures::voices();
    let head = HarmonicHead::new(&store.root(), &cfg, &features.mel, 8).unwrap();
    let vars = store.trainable();
    let (_, w) = vars.iter().find(|(n, _)| n.ends_with("weight")).unwrap();
    w.set(&rand_t(w.dims(), 3).to_dtype(w.dtype()).unwrap())
        .unwrap();
    let h = rand_t(&[1, 8, 64, 3], 4)
        .to_dtype(DType::F32)
        .unwrap()
        .relu()
        .unwrap();
    let v = head.voicing(&h, Mode::EVAL).unwrap();
    let k = head.candidates().len();
    let top: Vec<usize> = (0..3)
        .map(|f| {
            let row = to_vec(&v.pitch.get(0).unwrap().get(f).unwrap());
            (0..k).max_by(|&a, &b| row[a].total_cmp(&row[b])).unwrap()
        })
        .collect();
    let hard: Vec<f64> = (0..3 * k)
        .map(|i| if i % k == top[i / k] { 1.0 } else { 0.0 })
        .collect();
    let expect = head
        .ripple(&Voicing {
            pitch: Tensor::from_vec(hard, (1, 3, k), &Device::Cpu)
                .unwrap()
                .to_dtype(DType::F32)
                .unwrap(),
            voicing: v.voicing.clone(),
        })
        .unwrap();
    let got = head.forward(&h, Mode::EVAL).unwrap();
    let diff = (got - expect).unwrap().abs().unwrap().max_all().unwrap();
    assert!(diff.to_scalar::<f32>().unwrap() < 1e-5);
}
