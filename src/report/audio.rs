//! The report's section for audio runs: per class, players for the generated and the real
//! clips, the generated clips' mel spectrograms, the pitch judge's statistics side by side,
//! and a histogram of the clips' median F0 with the male and female speech bands marked.
//!
//! Like the rest of the report it is self-contained: clips are WAV `data:` URIs, the
//! spectrogram a PNG `data:` URI, the histogram inline SVG.

use super::html::{escape, num, pct, table};
use crate::image_io::file_data_uri;
use crate::metrics::audio_eval::{AudioClassEval, AudioEval, AudioStats, FEMALE_F0_HZ, MALE_F0_HZ};
use anyhow::{bail, Context, Result};
use base64::Engine;
use std::io::Cursor;
use std::path::Path;

fn base64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

/// Mono samples in `[-1, 1]` as a 16-bit PCM WAV `data:` URI (louder samples are clipped).
pub fn wav_data_uri(samples: &[f32], sample_rate: u32) -> Result<String> {
    if sample_rate == 0 {
        bail!("WAV data URI: sample rate 0");
    }
    if let Some(i) = samples.iter().position(|v| !v.is_finite()) {
        bail!("WAV data URI: sample {i} is not a finite number");
    }
    let spec = hound::WavSpec {
        channels: 1,
        sample_rate,
        bits_per_sample: 16,
        sample_format: hound::SampleFormat::Int,
    };
    let mut bytes = Vec::with_capacity(44 + 2 * samples.len());
    {
        let mut w = hound::WavWriter::new(Cursor::new(&mut bytes), spec)
            .context("WAV data URI: cannot start the WAV header")?;
        for &s in samples {
            w.write_sample((s.clamp(-1.0, 1.0) * 32767.0).round() as i16)
                .context("WAV data URI: cannot write samples")?;
        }
        w.finalize()
            .context("WAV data URI: cannot finish the WAV file")?;
    }
    Ok(format!("data:audio/wav;base64,{}", base64(&bytes)))
}

/// A WAV file inlined as a `data:` URI as it is on disk, after checking that it decodes.
fn wav_file_data_uri(path: &Path) -> Result<String> {
    let bytes = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
    hound::WavReader::new(Cursor::new(&bytes))
        .with_context(|| format!("{}: not a readable WAV file", path.display()))?;
    Ok(format!("data:audio/wav;base64,{}", base64(&bytes)))
}

/// An audio player with a caption. `data_uri` is put in the page as given (escaped).
pub fn player(label: &str, data_uri: &str) -> String {
    format!(
        "<figure style=\"margin:0;font-size:11px;text-align:center\"><audio controls preload=\"none\" src=\"{}\"></audio><figcaption>{}</figcaption></figure>",
        escape(data_uri),
        escape(label)
    )
}

/// Histograms of median F0 per clip, one outlined bar series per entry (shares of that
/// series' values, so sets of different sizes compare), over `range_hz`, with the male and
/// female speech bands shaded and labelled. Values outside the range are counted in the
/// legend, not drawn.
pub fn f0_histogram_svg(series: &[(String, Vec<f32>)], range_hz: (f32, f32)) -> String {
    const COLOURS: [&str; 4] = ["#1f77b4", "#d62728", "#2ca02c", "#ff7f0e"];
    let (w, h) = (520.0f32, 220.0f32);
    let (ml, mr, mt, mb) = (44.0f32, 12.0f32, 26.0f32, 36.0f32);
    let (lo, hi) = if range_hz.0.is_finite() && range_hz.1.is_finite() && range_hz.0 < range_hz.1 {
        range_hz
    } else {
        (50.0, 400.0)
    };
    let bins = 35usize;
    let bw = (hi - lo) / bins as f32;
    let hists: Vec<(Vec<f32>, usize, usize)> = series
        .iter()
        .map(|(_, v)| {
            let mut counts = vec![0usize; bins];
            let mut outside = 0;
            for &f in v.iter().filter(|f| f.is_finite()) {
                if f < lo || f > hi {
                    outside += 1;
                } else {
                    counts[(((f - lo) / bw) as usize).min(bins - 1)] += 1;
                }
            }
            let n = v.len().max(1) as f32;
            (
                counts.iter().map(|&c| c as f32 / n).collect(),
                v.len(),
                outside,
            )
        })
        .collect();
    let top = hists
        .iter()
        .flat_map(|h| h.0.iter().copied())
        .fold(0.0f32, f32::max)
        .max(0.1);
    let px = |f: f32| ml + (f - lo) / (hi - lo) * (w - ml - mr);
    let py = |s: f32| h - mb - s / top * (h - mt - mb);
    let mut svg = format!(
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="{h}" viewBox="0 0 {w} {h}" class="plot"><rect width="{w}" height="{h}" fill="white"/><text x="{}" y="16" text-anchor="middle" font-size="13" font-weight="bold">Median F0 per clip</text>"#,
        w / 2.0
    );
    for (band, name, fill) in [
        (MALE_F0_HZ, "male", "#dbe9f6"),
        (FEMALE_F0_HZ, "female", "#f8dde6"),
    ] {
        let (a, b) = (band.0.max(lo), band.1.min(hi));
        if a < b {
            svg.push_str(&format!(
                r##"<rect x="{:.1}" y="{mt}" width="{:.1}" height="{}" fill="{fill}"/><text x="{:.1}" y="{}" text-anchor="middle" font-size="10" fill="#555">{name} {:.0}–{:.0} Hz</text>"##,
                px(a),
                px(b) - px(a),
                h - mt - mb,
                (px(a) + px(b)) / 2.0,
                mt + 11.0,
                band.0,
                band.1
            ));
        }
    }
    svg.push_str(r##"<g font-size="10" fill="#333">"##);
    for t in super::svg::ticks(lo as f64, hi as f64, 6) {
        let x = px(t as f32);
        svg.push_str(&format!(
            r##"<line x1="{x:.1}" y1="{}" x2="{x:.1}" y2="{}" stroke="#999"/><text x="{x:.1}" y="{}" text-anchor="middle">{t}</text>"##,
            h - mb,
            h - mb + 4.0,
            h - mb + 14.0
        ));
    }
    for t in super::svg::ticks(0.0, top as f64, 4) {
        let y = py(t as f32);
        svg.push_str(&format!(
            r##"<line x1="{}" y1="{y:.1}" x2="{ml}" y2="{y:.1}" stroke="#999"/><text x="{}" y="{:.1}" text-anchor="end">{:.0}%</text>"##,
            ml - 4.0,
            ml - 6.0,
            y + 3.0,
            100.0 * t
        ));
    }
    svg.push_str(&format!(
        r##"<rect x="{ml}" y="{mt}" width="{}" height="{}" fill="none" stroke="#999"/><text x="{}" y="{}" text-anchor="middle">Hz</text></g>"##,
        w - ml - mr,
        h - mt - mb,
        (ml + w - mr) / 2.0,
        h - 4.0
    ));
    for (i, ((name, _), (shares, n, outside))) in series.iter().zip(&hists).enumerate() {
        let colour = COLOURS[i % COLOURS.len()];
        // A step outline, so overlaid series stay readable.
        let mut pts = vec![format!("{:.1},{:.1}", px(lo), py(0.0))];
        for (b, &s) in shares.iter().enumerate() {
            let (x0, x1) = (px(lo + b as f32 * bw), px(lo + (b + 1) as f32 * bw));
            pts.push(format!("{x0:.1},{:.1} {x1:.1},{:.1}", py(s), py(s)));
        }
        pts.push(format!("{:.1},{:.1}", px(hi), py(0.0)));
        svg.push_str(&format!(
            r#"<polyline fill="{colour}" fill-opacity="0.18" stroke="{colour}" stroke-width="1.5" points="{}"/>"#,
            pts.join(" ")
        ));
        let ly = mt + 26.0 + 13.0 * i as f32;
        let note = if *outside > 0 {
            format!(", {outside} outside")
        } else {
            String::new()
        };
        svg.push_str(&format!(
            r#"<rect x="{}" y="{}" width="12" height="8" fill="{colour}" fill-opacity="0.5" stroke="{colour}"/><text x="{}" y="{}" font-size="10">{} (n={n}{note})</text>"#,
            w - mr - 150.0,
            ly - 7.0,
            w - mr - 134.0,
            ly,
            escape(name)
        ));
    }
    if series.iter().all(|(_, v)| v.is_empty()) {
        svg.push_str(&format!(
            r##"<text x="{}" y="{}" text-anchor="middle" font-size="12" fill="#888">no voiced clips</text>"##,
            w / 2.0,
            h / 2.0
        ));
    }
    svg.push_str("</svg>");
    svg
}

/// One row of the statistics table.
fn stats_row(label: &str, s: &AudioStats) -> Vec<String> {
    vec![
        label.into(),
        s.clips.to_string(),
        s.f0_per_clip.len().to_string(),
        s.median_f0_hz
            .map(|f| format!("{f:.0} Hz"))
            .unwrap_or_else(|| "—".into()),
        pct(Some(s.voiced_fraction as f64)),
        num(Some(s.harmonicity as f64)),
        pct(s.f0_in(MALE_F0_HZ).map(f64::from)),
        pct(s.f0_in(FEMALE_F0_HZ).map(f64::from)),
    ]
}

/// Players for clips listed relative to `eval_dir`; a missing or unreadable file is an error
/// naming it.
fn players(class: &str, what: &str, paths: &[String], eval_dir: &Path) -> Result<String> {
    let mut s = String::from("<div class=\"row\" style=\"flex-wrap:wrap\">");
    for (i, rel) in paths.iter().enumerate() {
        let uri = wav_file_data_uri(&eval_dir.join(rel))
            .with_context(|| format!("audio report: {what} clip {i} of class {class}"))?;
        s.push_str(&player(&format!("{what} {}", i + 1), &uri));
    }
    s.push_str("</div>");
    Ok(s)
}

fn class_section(c: &AudioClassEval, eval_dir: &Path) -> Result<String> {
    let mut s = format!(
        "<h3{}>{}{}</h3>",
        if c.unseen { " class=\"unseen\"" } else { "" },
        escape(&c.name),
        if c.unseen { " (unseen class)" } else { "" }
    );
    if !c.wavs.is_empty() {
        s.push_str("<p class=\"muted\">Generated:</p>");
        s.push_str(&players(&c.name, "generated", &c.wavs, eval_dir)?);
    }
    if !c.real_wavs.is_empty() {
        s.push_str("<p class=\"muted\">Real:</p>");
        s.push_str(&players(&c.name, "real", &c.real_wavs, eval_dir)?);
    }
    if let Some(png) = &c.spectrogram_png {
        let uri = file_data_uri(&eval_dir.join(png))
            .with_context(|| format!("audio report: spectrogram of class {}", c.name))?;
        s.push_str(&format!(
            "<p class=\"muted\">Mel spectrograms of the generated clips (low frequencies at the bottom).</p><img src=\"{uri}\" alt=\"mel spectrograms of {}\" style=\"max-width:100%\">",
            escape(&c.name)
        ));
    }
    let header: Vec<String> = [
        "",
        "clips",
        "voiced clips",
        "median F0",
        "voiced frames",
        "harmonicity",
        "in male band",
        "in female band",
    ]
    .iter()
    .map(|h| h.to_string())
    .collect();
    let mut rows = vec![stats_row("generated", &c.generated)];
    let mut series = vec![("generated".to_string(), c.generated.f0_per_clip.clone())];
    if let Some(r) = &c.real {
        rows.push(stats_row("real", r));
        series.push(("real".to_string(), r.f0_per_clip.clone()));
    }
    s.push_str(&table(&header, &rows));
    s.push_str(&f0_histogram_svg(&series, (50.0, 400.0)));
    Ok(s)
}

/// The "Audio" section of the report; clip and spectrogram paths are read from `eval_dir`.
pub fn section(audio: &AudioEval, eval_dir: &Path) -> Result<String> {
    let mut s = format!(
        "<h2>Audio</h2><p class=\"muted\">Clips at {} Hz. Pitch by YIN over 40 ms frames: a clip's F0 is the median over its voiced frames; harmonicity is 1 for a periodic sound, about 0.2 for noise, 0 for silence. Bands: male {:.0}–{:.0} Hz, female {:.0}–{:.0} Hz (unvoiced clips count as outside).</p>",
        audio.sample_rate, MALE_F0_HZ.0, MALE_F0_HZ.1, FEMALE_F0_HZ.0, FEMALE_F0_HZ.1
    );
    for c in &audio.per_class {
        s.push_str(&class_section(c, eval_dir)?);
    }
    Ok(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wav_uri_round_trips_and_rejects_bad_input() {
        let x: Vec<f32> = (0..800).map(|i| (i as f32 * 0.05).sin() * 0.5).collect();
        let uri = wav_data_uri(&x, 8000).unwrap();
        let b64 = uri.strip_prefix("data:audio/wav;base64,").unwrap();
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(b64)
            .unwrap();
        let mut r = hound::WavReader::new(Cursor::new(bytes)).unwrap();
        assert_eq!((r.spec().sample_rate, r.spec().channels), (8000, 1));
        let back: Vec<i16> = r.samples::<i16>().map(|s| s.unwrap()).collect();
        assert_eq!(back.len(), 800);
        assert!((back[100] as f32 / 32767.0 - x[100]).abs() < 1e-4);
        assert!(wav_data_uri(&x, 0).is_err());
        assert!(wav_data_uri(&[0.0, f32::NAN], 8000).is_err());
        let p = player("a <clip>", &uri);
        assert!(p.contains("<audio controls") && p.contains("a &lt;clip&gt;"));
    }

    #[test]
    fn histogram_marks_the_bands_and_counts_outliers() {
        let svg = f0_histogram_svg(
            &[
                ("generated <g>".into(), vec![100.0, 110.0, 120.0, 900.0]),
                ("real".into(), vec![200.0, 210.0]),
            ],
            (50.0, 400.0),
        );
        assert!(svg.starts_with("<svg") && svg.ends_with("</svg>"));
        assert_eq!(svg.matches("<polyline").count(), 2);
        assert!(svg.contains("male 85–155 Hz") && svg.contains("female 165–255 Hz"));
        assert!(svg.contains("generated &lt;g&gt; (n=4, 1 outside)"));
        assert!(f0_histogram_svg(&[("g".into(), vec![])], (50.0, 400.0)).contains("no voiced"));
        // A bad range falls back instead of producing NaN coordinates.
        assert!(!f0_histogram_svg(&[("g".into(), vec![100.0])], (f32::NAN, 1.0)).contains("NaN"));
    }
}
