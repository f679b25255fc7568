//! Minimal HTML building: escaping and a few table helpers. Plain strings keep the output
//! inspectable and avoid a template engine for one page.

/// Escape text for HTML element content and attribute values.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// A table with a header row; cells are already-escaped HTML.
pub fn table(header: &[String], rows: &[Vec<String>]) -> String {
    let mut s = String::from("<table><thead><tr>");
    for h in header {
        s.push_str(&format!("<th>{h}</th>"));
    }
    s.push_str("</tr></thead><tbody>");
    for r in rows {
        s.push_str("<tr>");
        for c in r {
            s.push_str(&format!("<td>{c}</td>"));
        }
        s.push_str("</tr>");
    }
    s.push_str("</tbody></table>");
    s
}

/// A number for a table: `—` when absent, 3 significant decimals otherwise.
pub fn num(v: Option<f64>) -> String {
    match v {
        None => "—".into(),
        Some(x) if !x.is_finite() => format!("{x}"),
        Some(x) if x != 0.0 && (x.abs() >= 1e4 || x.abs() < 1e-3) => format!("{x:.3e}"),
        Some(x) => format!("{x:.3}"),
    }
}

/// A share as a percentage: `—` when absent.
pub fn pct(v: Option<f64>) -> String {
    v.map(|x| format!("{:.1}%", 100.0 * x))
        .unwrap_or_else(|| "—".into())
}

#[cfg(test)]
mod tests {
    use super::*;
    #[test]
    fn escapes_markup_and_formats_numbers() {
        assert_eq!(
            escape("<a href=\"x\">&'"),
            "&lt;a href=&quot;x&quot;&gt;&amp;&#39;"
        );
        assert_eq!(num(None), "—");
        assert_eq!(num(Some(12.34567)), "12.346");
        assert_eq!(num(Some(0.00001234)), "1.234e-5");
        assert_eq!(pct(Some(0.875)), "87.5%");
        assert!(table(&["a".into()], &[vec!["1".into()]]).contains("<td>1</td>"));
    }
}
