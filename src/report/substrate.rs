//! The report's section for substrate runs: a verdict line, the grid of substrate → painted
//! images per class, the judge's table (whole image, degraded, crops, control), the
//! all-zero target, the mixes, and how much of each substrate survived (SSIM, L1).

use super::html::{escape, pct};
use crate::image_io::file_data_uri;
use crate::metrics::evaluation::EvalReport;
use anyhow::Result;
use std::path::Path;

/// Empty unless the eval record holds a substrate evaluation.
pub fn section(eval: &EvalReport, dir: &Path) -> Result<String> {
    let Some(s) = &eval.substrate else {
        return Ok(String::new());
    };
    let k = s.classes.len().max(1) as f64;
    let top5 = s.classes.iter().map(|c| c.judge_top5).sum::<f64>() / k;
    let deg5 = s.classes.iter().map(|c| c.degraded_top5).sum::<f64>() / k;
    let ssim = s.classes.iter().map(|c| c.ssim).sum::<f64>() / k;
    let mut out = format!(
        "<div class=\"verdict{}\">A second classifier the painter never saw puts the painted class in its top 5 (of {} labels) for <b>{}</b> of the painted images ({} after a blur and resampling), with SSIM <b>{:.2}</b> to the substrate photographs.</div>",
        if top5 < 0.5 { " warn" } else { "" },
        s.judge_classes,
        pct(Some(top5)),
        pct(Some(deg5)),
        ssim
    );
    out.push_str("<h2>Painted substrates</h2>");
    if let Some(g) = &s.grid {
        let rows: Vec<String> = s.classes.iter().map(|c| escape(&c.name)).collect();
        out.push_str(&format!(
            "<p class=\"muted\">Rows: the held-out substrates as they are, then painted with {}, then the all-zero target (no class anywhere).</p><img src=\"{}\" alt=\"substrate grid\">",
            rows.join(", "),
            file_data_uri(&dir.join(g))?
        ));
    }
    let mut rows = String::new();
    for c in &s.classes {
        rows.push_str(&format!(
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{:.3}</td><td>{:.3}</td><td>{}</td><td>{}</td></tr>",
            escape(&c.name),
            pct(Some(c.judge_top1)),
            pct(Some(c.judge_top5)),
            pct(Some(c.degraded_top1)),
            pct(Some(c.degraded_top5)),
            pct(Some(c.substrate_top5)),
            pct(Some(c.whole_probability)),
            pct(Some(c.crop_probability)),
            pct(c.target_probability),
            c.ssim,
            c.l1,
            cosine(c.paint_shared_with_classes),
            cosine(c.paint_shared_across_substrates)
        ));
    }
    out.push_str(&format!(
        "<p class=\"muted\">Judge: {} over {} labels (chance: top-1 {:.1}%, top-5 {:.1}%). Degraded: {}. Control: the unpainted substrates. Crops: random squares of 45–60% of the side; the method asks for the class at the scale of the whole image. Paint shared: mean cosine between painted changes (painted − substrate) of different classes on one substrate, and of one class on different substrates; 1 is the same change.</p><table><tr><th>class</th><th>top-1</th><th>top-5</th><th>degraded top-1</th><th>degraded top-5</th><th>control top-5</th><th>judge p, whole</th><th>judge p, crops</th><th>target p</th><th>SSIM</th><th>L1</th><th>paint shared with other classes</th><th>paint shared across substrates</th></tr>{rows}</table>",
        escape(&eval.judge),
        s.judge_classes,
        100.0 / s.judge_classes.max(1) as f64,
        500.0 / s.judge_classes.max(1) as f64,
        escape(&s.degradation)
    ));
    out.push_str(&shared_paint_flag(s));
    if let Some(m) = &s.paint_maps {
        out.push_str(&format!(
            "<p class=\"muted\">Where the paint goes: the mean absolute change over the substrates for each class in row order, then for all classes together, on one scale (white: the largest). A bright spot in the same place for every class is a figure painted whatever the class.</p><img src=\"{}\" alt=\"paint maps\">",
            file_data_uri(&dir.join(m))?
        ));
    }
    out.push_str(&format!(
        "<p>All-zero target: taken for one of the target classes by the judge's top-1 in <b>{}</b> of images (top-5: {}); unpainted substrates: {} (top-5: {}). SSIM to the substrate {:.3}.</p>",
        pct(Some(s.none.as_target_top1)),
        pct(Some(s.none.as_target_top5)),
        pct(Some(s.none.substrate_top1)),
        pct(Some(s.none.substrate_top5)),
        s.none.ssim
    ));
    if !s.mixes.is_empty() {
        let mut rows = String::new();
        for m in &s.mixes {
            rows.push_str(&format!(
                "<tr><td>{}</td><td>{}</td><td>{}</td></tr>",
                escape(&m.classes.join(" + ")),
                pct(Some(m.all_top5)),
                pct(Some(m.any_top1))
            ));
        }
        out.push_str(&format!(
            "<h3>Class mixes</h3><table><tr><th>mix</th><th>both in the judge's top-5</th><th>either is top-1</th></tr>{rows}</table>"
        ));
        if let Some(g) = &s.mixes_grid {
            out.push_str(&format!(
                "<p class=\"muted\">Rows: substrates, then the first mixes in table order.</p><img src=\"{}\" alt=\"mixes\">",
                file_data_uri(&dir.join(g))?
            ));
        }
    }
    Ok(out)
}

/// Mean cosine between one class's painted change and the others' above which the report
/// warns: most of what is painted is then common to the classes. Calibrated on the
/// EfficientNet-Lite2 runs of docs/results.md (2026-12-07): 0.14–0.29 in four runs without
/// a shared figure, 0.42–0.50 in the one whose grid shows the same figure for every class.
pub const SHARED_PAINT_WARN: f64 = 0.35;

fn cosine(v: Option<f64>) -> String {
    v.map_or("—".into(), |v| format!("{v:.2}"))
}

/// A warning naming the classes whose painted change is mostly shared with the others.
fn shared_paint_flag(s: &crate::metrics::evaluation::SubstrateEval) -> String {
    let shared: Vec<String> = s
        .classes
        .iter()
        .filter_map(|c| {
            c.paint_shared_with_classes
                .filter(|&v| v >= SHARED_PAINT_WARN)
                .map(|v| format!("{} ({v:.2})", escape(&c.name)))
        })
        .collect();
    if shared.is_empty() {
        return String::new();
    }
    format!(
        "<div class=\"verdict warn\">Shared paint: what is painted for {} is mostly what is painted for the other classes too (mean cosine of the changes ≥ {SHARED_PAINT_WARN}). A figure the target likes for every class is not evidence of any one class: look at the grid before reading the judge's rates.</div>",
        shared.join(", ")
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::evaluation::{SubstrateClassEval, SubstrateEval};

    #[test]
    fn section_shows_the_grid_inline_and_one_row_per_class_and_nothing_for_other_runs() {
        let dir = tempfile::tempdir().unwrap();
        let img = image::ImageBuffer::from_pixel(4, 4, image::Rgb([10u8, 20, 30]));
        crate::image_io::save_png(&img, &dir.path().join("g.png")).unwrap();
        let class = |name: &str, top5| SubstrateClassEval {
            name: name.into(),
            judge_top5: top5,
            ssim: 0.6,
            ..Default::default()
        };
        let mut eval = EvalReport {
            substrate: Some(SubstrateEval {
                substrates: 8,
                judge_classes: 1000,
                classes: vec![class("goldfish", 1.0), class("toilet seat", 0.5)],
                grid: Some("g.png".into()),
                ..Default::default()
            }),
            ..Default::default()
        };
        let html = section(&eval, dir.path()).unwrap();
        assert!(html.contains("data:image/png;base64,"));
        assert!(html.contains("<td>goldfish</td>") && html.contains("<td>toilet seat</td>"));
        // Mean top-5 over the classes: 75%.
        assert!(html.contains("<b>75.0%</b>"), "{html}");
        assert!(!html.contains("Shared paint"));
        // One class whose change is mostly the others' is flagged by name.
        if let Some(s) = eval.substrate.as_mut() {
            s.classes[1].paint_shared_with_classes = Some(SHARED_PAINT_WARN + 0.1);
            s.classes[0].paint_shared_with_classes = Some(SHARED_PAINT_WARN - 0.1);
        }
        let html = section(&eval, dir.path()).unwrap();
        assert!(
            html.contains("Shared paint: what is painted for toilet seat ("),
            "{html}"
        );
        assert!(!html.contains("painted for goldfish"));
        eval.substrate = None;
        assert_eq!(section(&eval, dir.path()).unwrap(), "");
    }
}
