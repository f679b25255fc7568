//! The mel front end (`adapter::mel`): gradients against central finite differences in f64,
//! values against an independent numpy/scipy computation (`tests/mel_reference.py`, skipped
//! with a message where python3 with numpy and scipy is missing), and Griffin-Lim's way back:
//! a sine's pitch survives features → waveform.
//!
//! Needs CANDLE_GRAD_DO_NOT_DETACH=1 (set by .cargo/config.toml for cargo test).

use candle_core::{DType, Device, Tensor};
use probegan::adapter::griffin_lim::{mel_to_waveform, GriffinLim};
use probegan::adapter::mel::{LogScale, MelFrontEnd, MelNorm, MelScale, MelSpec, Padding, Window};

mod python_reference;
use python_reference::{python_has, read_f64, run_script, write_f64};

mod kernel_support;
use kernel_support::{check_grad, rand_t, rand_vec, to_vec};

/// Settings that between them use every option once.
fn variants(sample_rate: u32, n_fft: usize, hop: usize, n_mels: usize) -> Vec<MelSpec> {
    let base = MelSpec::new(sample_rate, n_fft, hop, n_mels);
    let mut htk = base.clone();
    htk.mel_scale = MelScale::Htk;
    htk.mel_norm = MelNorm::None;
    htk.padding = Padding::Reflect;
    htk.log = LogScale::Db;
    htk.power = 1.0;
    htk.mean = -20.0;
    htk.std = 15.0;
    htk.fmin = 50.0;
    let mut plain = base.clone();
    plain.padding = Padding::None;
    plain.window = Window::Hamming;
    plain.log = LogScale::Log10;
    plain.log_offset = 1e-3;
    plain.fmax = sample_rate as f64 * 0.4;
    let mut linear = base.clone();
    linear.log = LogScale::None;
    linear.window = Window::Rectangular;
    vec![base, htk, plain, linear]
}

#[test]
fn gradients_match_finite_differences() {
    for (v, mut spec) in variants(8000, 16, 6, 5).into_iter().enumerate() {
        // A larger offset keeps the log's curvature within what a step of 1e-6 resolves.
        spec.log_offset = spec.log_offset.max(1e-2);
        let fe = MelFrontEnd::new(&spec, &Device::Cpu, DType::F64).unwrap();
        let wave = rand_t(&[2, 40], 11 + v as u64);
        let out = fe.forward(&wave).unwrap();
        let r = rand_t(out.dims(), 5);
        check_grad(
            &format!("mel front end {spec:?}"),
            |ins| {
                let y = fe
                    .forward(&ins[0])
                    .map_err(|e| candle_core::Error::Msg(format!("{e:#}")))?;
                (y * &r)?.sum_all()
            },
            &[wave],
            1e-6,
            1e-6,
        );
    }
}

#[test]
fn shapes_and_errors() {
    let spec = MelSpec::new(16000, 400, 160, 64);
    let fe = MelFrontEnd::new(&spec, &Device::Cpu, DType::F32).unwrap();
    let wave = Tensor::zeros((3, 16000), DType::F32, &Device::Cpu).unwrap();
    let y = fe.forward(&wave).unwrap();
    assert_eq!(y.dims(), [3, 1, 64, 101], "1 + 16000/160 centred frames");
    // Silence is log(offset) everywhere.
    let v = to_vec(&y);
    assert!(v.iter().all(|&x| (x - 1e-6f64.ln()).abs() < 1e-3));
    let err = fe
        .forward(&Tensor::zeros((3, 1, 16000), DType::F32, &Device::Cpu).unwrap())
        .unwrap_err()
        .to_string();
    assert!(err.contains("[N, samples]"), "{err}");
    let mut bad = spec.clone();
    bad.fmax = 9000.0;
    let err = MelFrontEnd::new(&bad, &Device::Cpu, DType::F32)
        .unwrap_err()
        .to_string();
    assert!(err.contains("fmax"), "{err}");
}

fn names(s: &MelSpec) -> serde_json::Value {
    serde_json::json!({
        "sample_rate": s.sample_rate, "n_fft": s.n_fft, "hop": s.hop,
        "window": s.window.name(), "n_mels": s.n_mels, "fmin": s.fmin, "fmax": s.fmax,
        "mel_scale": match s.mel_scale { MelScale::Slaney => "slaney", MelScale::Htk => "htk" },
        "mel_norm": match s.mel_norm { MelNorm::Slaney => "slaney", MelNorm::None => "none" },
        "power": s.power,
        "padding": match s.padding { Padding::Zeros => "zeros", Padding::Reflect => "reflect", Padding::None => "none" },
        "log": match s.log { LogScale::None => "none", LogScale::Ln => "ln", LogScale::Log10 => "log10", LogScale::Db => "db" },
        "log_offset": s.log_offset, "mean": s.mean, "std": s.std,
    })
}

#[test]
fn values_match_numpy_and_scipy() {
    if !python_has("numpy, scipy.signal") {
        eprintln!("skipped: python3 with numpy and scipy not found (pip install numpy scipy)");
        return;
    }
    let (batch, samples, rate) = (2, 4000, 16000u32);
    // Noise plus a chirp: energy in every band, and structure across frames.
    let mut wave = rand_vec(batch * samples, 3);
    for (i, v) in wave.iter_mut().enumerate().skip(samples) {
        let t = (i - samples) as f64 / rate as f64;
        *v = 0.2 * *v + 0.7 * (2.0 * std::f64::consts::PI * (200.0 + 3000.0 * t) * t).sin();
    }
    for spec in variants(rate, 512, 160, 40) {
        let dir = tempfile::tempdir().unwrap();
        write_f64(&dir.path().join("wave.f64"), &wave);
        let mut meta = names(&spec);
        meta["batch"] = batch.into();
        meta["samples"] = samples.into();
        std::fs::write(dir.path().join("meta.json"), meta.to_string()).unwrap();
        run_script("mel_reference.py", dir.path());
        let theirs = read_f64(&dir.path().join("features.f64"));

        let x = Tensor::from_vec(wave.clone(), (batch, samples), &Device::Cpu).unwrap();
        let fe = MelFrontEnd::new(&spec, &Device::Cpu, DType::F64).unwrap();
        let ours = fe.forward(&x).unwrap();
        assert_eq!(ours.dims()[..3], [batch, 1, spec.n_mels]);
        let ours = to_vec(&ours);
        assert_eq!(ours.len(), theirs.len(), "{spec:?}: frame counts differ");
        let scale = theirs.iter().fold(0.0f64, |m, v| m.max(v.abs()));
        let worst = ours
            .iter()
            .zip(&theirs)
            .map(|(a, b)| (a - b).abs())
            .fold(0.0, f64::max);
        eprintln!(
            "{:?}/{:?}/{:?}: max |ours - numpy| = {worst:.2e} (max |value| {scale:.2e})",
            spec.mel_scale, spec.padding, spec.log
        );
        assert!(worst <= 1e-9 * scale.max(1.0), "{spec:?}: off by {worst}");

        // The same front end in f32 stays close (what training runs).
        let fe32 = MelFrontEnd::new(&spec, &Device::Cpu, DType::F32).unwrap();
        let y32 = to_vec(&fe32.forward(&x.to_dtype(DType::F32).unwrap()).unwrap());
        let worst32 = y32
            .iter()
            .zip(&theirs)
            .map(|(a, b)| (a - b).abs())
            .fold(0.0, f64::max);
        assert!(
            worst32 <= 1e-3 * scale.max(1.0),
            "{spec:?}: f32 off by {worst32}"
        );
    }
}

/// The frequency in 50..4000 Hz with the largest correlation amplitude in `x`.
fn dominant_hz(x: &[f32], rate: f64) -> f64 {
    let amp = |hz: f64| {
        let (mut c, mut s) = (0.0, 0.0);
        for (i, &v) in x.iter().enumerate() {
            let p = 2.0 * std::f64::consts::PI * hz * i as f64 / rate;
            c += v as f64 * p.cos();
            s += v as f64 * p.sin();
        }
        c * c + s * s
    };
    let best = |lo: f64, hi: f64, step: f64| {
        let mut f = lo;
        let (mut arg, mut top) = (lo, -1.0);
        while f <= hi {
            let a = amp(f);
            if a > top {
                (arg, top) = (f, a);
            }
            f += step;
        }
        arg
    };
    let coarse = best(50.0, 4000.0, 2.0);
    best(coarse - 2.0, coarse + 2.0, 0.1)
}

#[test]
fn griffin_lim_keeps_a_sines_pitch() {
    let rate = 16000u32;
    let samples = 8000;
    let spec = {
        let mut s = MelSpec::new(rate, 1024, 256, 128);
        s.log = LogScale::Db;
        s.log_offset = 1e-10;
        s.mean = -40.0;
        s.std = 40.0;
        s
    };
    let fe = MelFrontEnd::new(&spec, &Device::Cpu, DType::F32).unwrap();
    let mut results = Vec::new();
    for hz in [220.0, 880.0, 2500.0] {
        let wave: Vec<f32> = (0..samples)
            .map(|i| {
                (0.5 * (2.0 * std::f64::consts::PI * hz * i as f64 / rate as f64).sin()) as f32
            })
            .collect();
        let x = Tensor::from_vec(wave.clone(), (1, samples), &Device::Cpu).unwrap();
        let features = fe
            .forward(&x)
            .unwrap()
            .flatten_all()
            .unwrap()
            .to_vec1::<f32>()
            .unwrap();
        let back = mel_to_waveform(&spec, &features, samples, &GriffinLim::default()).unwrap();
        assert_eq!(back.len(), samples);
        // Away from the ends, where frames overlap fully.
        let mid = &back[1024..samples - 1024];
        let got = dominant_hz(mid, rate as f64);
        let rms = (mid.iter().map(|v| (*v as f64).powi(2)).sum::<f64>() / mid.len() as f64).sqrt();
        eprintln!(
            "{hz} Hz sine -> Griffin-Lim waveform at {got:.1} Hz, RMS {rms:.3} (input 0.354)"
        );
        results.push((hz, got, rms));
    }
    // The filterbank's pseudo-inverse places a tone no more finely than the spacing of the mel
    // bands' centres around it (23.5 Hz below 1 kHz here).
    let m = spec.mel_scale;
    let step = (m.hz_to_mel(spec.fmax) - m.hz_to_mel(spec.fmin)) / (spec.n_mels + 1) as f64;
    for (hz, got, rms) in results {
        let spacing = m.mel_to_hz(m.hz_to_mel(hz) + step) - hz;
        assert!(
            (got - hz).abs() < 0.5 * spacing,
            "{hz} Hz came back at {got} Hz (band spacing {spacing:.1} Hz)"
        );
        assert!(rms > 0.1 && rms < 1.0, "RMS {rms}");
    }
    // Features of the wrong length are refused, not reshaped.
    let err = mel_to_waveform(&spec, &[0.0; 10], samples, &GriffinLim::default())
        .unwrap_err()
        .to_string();
    assert!(err.contains("mel bands"), "{err}");
}
