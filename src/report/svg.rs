//! Inline SVG line plots (training curves, power spectra): axes with round-number ticks, one
//! polyline per series, a legend. No script, no fonts beyond the page's.

use super::html::escape;

pub struct Series {
    pub name: String,
    pub points: Vec<(f64, f64)>,
}

pub struct Plot<'a> {
    pub title: &'a str,
    pub x_label: &'a str,
    pub y_label: &'a str,
    /// Plot log10(y) (non-positive values dropped).
    pub log_y: bool,
    pub width: f64,
    pub height: f64,
}

const COLOURS: [&str; 8] = [
    "#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#17becf",
];

/// Round-number ticks covering [lo, hi].
pub fn ticks(lo: f64, hi: f64, target: usize) -> Vec<f64> {
    if !(lo.is_finite() && hi.is_finite()) || hi <= lo {
        return vec![lo];
    }
    let raw = (hi - lo) / target.max(1) as f64;
    let mag = 10f64.powf(raw.log10().floor());
    let step = [1.0, 2.0, 5.0, 10.0]
        .iter()
        .map(|m| m * mag)
        .find(|s| *s >= raw)
        .unwrap_or(10.0 * mag);
    let mut t = (lo / step).ceil() * step;
    let mut out = vec![];
    while t <= hi + step * 1e-9 {
        out.push(if t.abs() < step * 1e-9 { 0.0 } else { t });
        t += step;
    }
    out
}

fn fmt_tick(v: f64) -> String {
    if v != 0.0 && (v.abs() >= 1e5 || v.abs() < 1e-3) {
        format!("{v:.0e}")
    } else {
        let s = format!("{v:.4}");
        s.trim_end_matches('0').trim_end_matches('.').to_string()
    }
}

pub fn line_plot(plot: &Plot, series: &[Series]) -> String {
    let (w, h) = (plot.width, plot.height);
    let (ml, mr, mt, mb) = (58.0, 12.0, 26.0, 40.0);
    let tf = |y: f64| {
        if plot.log_y {
            if y > 0.0 {
                Some(y.log10())
            } else {
                None
            }
        } else {
            Some(y)
        }
    };
    let pts: Vec<Vec<(f64, f64)>> = series
        .iter()
        .map(|s| {
            s.points
                .iter()
                .filter(|p| p.0.is_finite() && p.1.is_finite())
                .filter_map(|&(x, y)| tf(y).map(|y| (x, y)))
                .collect()
        })
        .collect();
    let all: Vec<&(f64, f64)> = pts.iter().flatten().collect();
    let mut svg = format!(
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="{h}" viewBox="0 0 {w} {h}" class="plot"><rect width="{w}" height="{h}" fill="white"/><text x="{}" y="16" text-anchor="middle" font-size="13" font-weight="bold">{}</text>"#,
        w / 2.0,
        escape(plot.title)
    );
    if all.is_empty() {
        svg.push_str(&format!(r##"<text x="{}" y="{}" text-anchor="middle" font-size="12" fill="#888">no data</text></svg>"##, w / 2.0, h / 2.0));
        return svg;
    }
    let (mut x0, mut x1) = all
        .iter()
        .fold((f64::MAX, f64::MIN), |a, p| (a.0.min(p.0), a.1.max(p.0)));
    let (mut y0, mut y1) = all
        .iter()
        .fold((f64::MAX, f64::MIN), |a, p| (a.0.min(p.1), a.1.max(p.1)));
    if x1 - x0 < 1e-12 {
        x0 -= 0.5;
        x1 += 0.5;
    }
    if y1 - y0 < 1e-12 {
        y0 -= 0.5;
        y1 += 0.5;
    }
    let pad = 0.05 * (y1 - y0);
    let (y0, y1) = (y0 - pad, y1 + pad);
    let px = |x: f64| ml + (x - x0) / (x1 - x0) * (w - ml - mr);
    let py = |y: f64| h - mb - (y - y0) / (y1 - y0) * (h - mt - mb);
    // axes and grid
    svg.push_str(&format!(
        r##"<g font-size="10" fill="#333" stroke-width="1">"##
    ));
    for t in ticks(x0, x1, 5) {
        let x = px(t);
        svg.push_str(&format!(r##"<line x1="{x:.1}" y1="{}" x2="{x:.1}" y2="{}" stroke="#eee"/><text x="{x:.1}" y="{}" text-anchor="middle">{}</text>"##, mt, h - mb, h - mb + 13.0, fmt_tick(t)));
    }
    for t in ticks(y0, y1, 4) {
        let y = py(t);
        let label = if plot.log_y {
            format!("1e{}", fmt_tick(t))
        } else {
            fmt_tick(t)
        };
        svg.push_str(&format!(r##"<line x1="{ml}" y1="{y:.1}" x2="{}" y2="{y:.1}" stroke="#eee"/><text x="{}" y="{:.1}" text-anchor="end">{label}</text>"##, w - mr, ml - 4.0, y + 3.0));
    }
    svg.push_str(&format!(
        r##"<rect x="{ml}" y="{mt}" width="{}" height="{}" fill="none" stroke="#999"/><text x="{}" y="{}" text-anchor="middle">{}</text><text transform="translate(12,{}) rotate(-90)" text-anchor="middle">{}</text></g>"##,
        w - ml - mr,
        h - mt - mb,
        (ml + w - mr) / 2.0,
        h - 6.0,
        escape(plot.x_label),
        (mt + h - mb) / 2.0,
        escape(&format!("{}{}", plot.y_label, if plot.log_y { " (log)" } else { "" }))
    ));
    for (i, (s, p)) in series.iter().zip(&pts).enumerate() {
        let colour = COLOURS[i % COLOURS.len()];
        if p.len() == 1 {
            svg.push_str(&format!(
                r#"<circle cx="{:.1}" cy="{:.1}" r="3" fill="{colour}"/>"#,
                px(p[0].0),
                py(p[0].1)
            ));
        } else if !p.is_empty() {
            let d: Vec<String> = p
                .iter()
                .map(|&(x, y)| format!("{:.1},{:.1}", px(x), py(y)))
                .collect();
            svg.push_str(&format!(
                r#"<polyline fill="none" stroke="{colour}" stroke-width="1.6" points="{}"/>"#,
                d.join(" ")
            ));
        }
        if series.len() > 1 {
            let ly = mt + 12.0 + 13.0 * i as f64;
            svg.push_str(&format!(
                r#"<line x1="{}" y1="{ly}" x2="{}" y2="{ly}" stroke="{colour}" stroke-width="2"/><text x="{}" y="{}" font-size="10">{}</text>"#,
                w - mr - 110.0,
                w - mr - 94.0,
                w - mr - 90.0,
                ly + 3.0,
                escape(&s.name)
            ));
        }
    }
    svg.push_str("</svg>");
    svg
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ticks_are_round_and_cover_the_range() {
        let t = ticks(0.0, 1.0, 5);
        assert_eq!(t.len(), 6);
        assert!((t[3] - 0.6).abs() < 1e-12 && t[5] <= 1.0 + 1e-12, "{t:?}");
        assert_eq!(ticks(0.0, 1000.0, 4), vec![0.0, 500.0, 1000.0]);
    }

    #[test]
    fn plot_has_one_polyline_per_series_and_escapes_names() {
        let p = Plot {
            title: "loss <G>",
            x_label: "step",
            y_label: "v",
            log_y: true,
            width: 300.0,
            height: 200.0,
        };
        let s = vec![
            Series {
                name: "a".into(),
                points: vec![(0.0, 1.0), (1.0, 10.0), (2.0, -1.0)],
            },
            Series {
                name: "b&c".into(),
                points: vec![(0.0, 2.0), (2.0, 3.0)],
            },
        ];
        let svg = line_plot(&p, &s);
        assert_eq!(svg.matches("<polyline").count(), 2);
        assert!(svg.contains("loss &lt;G&gt;") && svg.contains("b&amp;c"));
        assert!(line_plot(&p, &[]).contains("no data"));
    }
}
