//! The audio judge end to end without a model: synthetic "voices" at male and female pitches
//! through the pitch statistics, written as WAV files, rendered into the report's audio
//! section, and every inlined clip decoded back.

use base64::Engine;
use probegan::data::audio::write_wav_mono;
use probegan::image_io::spectrogram_png;
use probegan::metrics::audio_eval::{
    audio_stats, AudioClassEval, AudioEval, FEMALE_F0_HZ, MALE_F0_HZ,
};
use probegan::report::audio::section;
use std::io::Cursor;

const SR: u32 = 16000;

/// One second of a vowel-like tone: five harmonics of `f0` falling off as 1/h, with a slow
/// vibrato so frames differ.
fn voice(f0: f32) -> Vec<f32> {
    let mut phase = 0.0f32;
    (0..SR)
        .map(|i| {
            let t = i as f32 / SR as f32;
            let f = f0 * (1.0 + 0.01 * (std::f32::consts::TAU * 5.0 * t).sin());
            phase += std::f32::consts::TAU * f / SR as f32;
            (1..=5)
                .map(|h| 0.25 / h as f32 * (h as f32 * phase).sin())
                .sum()
        })
        .collect()
}

fn write_clips(dir: &std::path::Path, prefix: &str, clips: &[Vec<f32>]) -> Vec<String> {
    clips
        .iter()
        .enumerate()
        .map(|(i, c)| {
            let rel = format!("audio/{prefix}_{i}.wav");
            write_wav_mono(&dir.join(&rel), c, SR).unwrap();
            rel
        })
        .collect()
}

#[test]
fn section_inlines_decodable_clips_and_judges_pitch() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("audio")).unwrap();
    let men: Vec<Vec<f32>> = [100.0, 115.0, 130.0].iter().map(|&f| voice(f)).collect();
    let women: Vec<Vec<f32>> = [190.0, 210.0, 230.0].iter().map(|&f| voice(f)).collect();
    let real_women: Vec<Vec<f32>> = [200.0, 220.0].iter().map(|&f| voice(f)).collect();

    let men_stats = audio_stats(&men, SR).unwrap();
    let women_stats = audio_stats(&women, SR).unwrap();
    assert!((men_stats.median_f0_hz.unwrap() - 115.0).abs() < 3.0);
    assert!((women_stats.median_f0_hz.unwrap() - 210.0).abs() < 4.0);

    let spec: Vec<f32> = (0..40 * 50).map(|i| (i % 50) as f32 / 50.0).collect();
    std::fs::write(
        dir.path().join("audio/women_mel.png"),
        spectrogram_png(&spec, 40, 50).unwrap(),
    )
    .unwrap();
    let audio = AudioEval {
        sample_rate: SR,
        per_class: vec![
            AudioClassEval {
                name: "men".into(),
                unseen: false,
                generated: men_stats,
                real: None,
                wavs: write_clips(dir.path(), "men", &men),
                real_wavs: vec![],
                spectrogram_png: None,
            },
            AudioClassEval {
                name: "women".into(),
                unseen: true,
                generated: women_stats,
                real: Some(audio_stats(&real_women, SR).unwrap()),
                wavs: write_clips(dir.path(), "women", &women),
                real_wavs: write_clips(dir.path(), "real_women", &real_women),
                spectrogram_png: Some("audio/women_mel.png".into()),
            },
        ],
    };
    assert_eq!(audio.per_class[0].f0_in(MALE_F0_HZ), Some(1.0));
    assert_eq!(audio.per_class[1].f0_in(FEMALE_F0_HZ), Some(1.0));
    assert_eq!(audio.per_class[1].f0_in(MALE_F0_HZ), Some(0.0));

    // The record survives the eval JSON.
    let json = serde_json::to_string(&audio).unwrap();
    assert_eq!(serde_json::from_str::<AudioEval>(&json).unwrap(), audio);

    let html = section(&audio, dir.path()).unwrap();
    assert!(html.contains("<h2>Audio</h2>"));
    assert!(html.contains("women (unseen class)"));
    let srcs: Vec<&str> = html
        .split("<audio ")
        .skip(1)
        .map(|a| {
            let start = a.find("src=\"").unwrap() + 5;
            let end = start + a[start..].find('"').unwrap();
            &a[start..end]
        })
        .collect();
    assert_eq!(srcs.len(), 3 + 3 + 2);
    for src in srcs {
        let b64 = src
            .strip_prefix("data:audio/wav;base64,")
            .unwrap_or_else(|| panic!("not a WAV data URI: {}", &src[..40.min(src.len())]));
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(b64)
            .unwrap();
        let mut r = hound::WavReader::new(Cursor::new(bytes)).unwrap();
        assert_eq!(r.spec().sample_rate, SR);
        assert_eq!(r.samples::<i16>().count(), SR as usize);
    }
    assert!(html.contains("<img src=\"data:image/png;base64,"));
    // One histogram per class, the bands marked.
    assert_eq!(html.matches("<svg").count(), 2);
    assert!(html.contains("male 85–155 Hz") && html.contains("female 165–255 Hz"));
    // Generated and real rows for the class with real clips.
    assert!(html.contains("<td>real</td>"));

    // A listed clip that is not there is an error naming it.
    let mut broken = audio.clone();
    broken.per_class[0].wavs.push("audio/gone.wav".into());
    let err = format!("{:#}", section(&broken, dir.path()).unwrap_err());
    assert!(
        err.contains("gone.wav") && err.contains("men"),
        "unhelpful error: {err}"
    );
    // So is a file that is not a WAV.
    std::fs::write(dir.path().join("audio/text.wav"), "not audio").unwrap();
    let mut bad = audio.clone();
    bad.per_class[1].real_wavs = vec!["audio/text.wav".into()];
    let err = format!("{:#}", section(&bad, dir.path()).unwrap_err());
    assert!(
        err.contains("text.wav") && err.contains("not a readable WAV"),
        "{err}"
    );
}
