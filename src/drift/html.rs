//! A self-contained HTML rendering of a `DriftReport`: one page, inline CSS,
//! one inline SVG histogram (reference vs current) per feature, no scripts and
//! no external assets, so it can be attached to a CI run or an e-mail.

use super::evaluate::MethodScore;
use super::report::{DriftReport, FeatureReport, Histogram};
use std::fmt::Write;

const STYLE: &str = "body{font:14px system-ui,sans-serif;margin:2em;color:#222}\
table{border-collapse:collapse;margin:1em 0}td,th{border:1px solid #ccc;padding:4px 8px;text-align:left}\
.drift{color:#b00020;font-weight:bold}.ok{color:#1b5e20}.feature{margin:1.5em 0}\
.legend span{display:inline-block;width:12px;height:12px;margin:0 4px 0 12px}";

/// Renders the whole report as one HTML document.
pub fn render_html(report: &DriftReport) -> String {
    let mut page = String::with_capacity(16 * 1024);
    let d = &report.dataset;
    let verdict = if d.dataset_drift {
        "<span class=drift>Dataset drift detected</span>"
    } else {
        "<span class=ok>No dataset drift</span>"
    };
    let _ = write!(
        page,
        "<!DOCTYPE html><html><head><meta charset=utf-8><title>Sightline drift report</title>\
         <style>{STYLE}</style></head><body><h1>Drift report</h1><p>{verdict}: {} of {} columns drifted \
         ({:.1}%, threshold {:.0}%). Preset <b>{}</b>; reference {} rows, current {} rows.</p>",
        d.drifted_columns,
        d.columns,
        d.share_of_drifted_columns * 100.0,
        d.drift_share_threshold * 100.0,
        escape(&format!("{:?}", report.preset).to_lowercase()),
        report.reference_rows,
        report.current_rows,
    );
    summary_table(&mut page, report);
    tests_table(&mut page, report);
    for feature in &report.features {
        feature_section(&mut page, feature);
    }
    page.push_str("</body></html>\n");
    page
}

fn summary_table(page: &mut String, report: &DriftReport) {
    page.push_str(
        "<table><tr><th>feature</th><th>type</th><th>method</th><th>statistic</th><th>p-value / score</th>\
         <th>threshold</th><th>effect</th><th>drift</th></tr>",
    );
    for f in &report.features {
        let effect = f.effect.map_or(String::from("–"), |e| describe(&e));
        let _ = write!(
            page,
            "<tr><td><a href=\"#f-{id}\">{name}</a></td><td>{ty:?}</td><td>{method}</td><td>{stat}</td>\
             <td>{score}</td><td>{threshold}</td><td>{effect}</td><td>{drift}</td></tr>",
            id = escape(&f.name),
            name = escape(&f.name),
            ty = f.column_type,
            method = f.primary.method.as_str(),
            stat = number(f.primary.statistic),
            score = number(f.primary.score),
            threshold = number(f.primary.threshold),
            effect = escape(&effect),
            drift = if f.drift_detected {
                "<span class=drift>yes</span>"
            } else {
                "no"
            },
        );
    }
    page.push_str("</table>");
    if !report.skipped_columns.is_empty() {
        let _ = write!(
            page,
            "<p>Not evaluated (no usable values): {}</p>",
            escape(&report.skipped_columns.join(", "))
        );
    }
}

fn describe(score: &MethodScore) -> String {
    format!(
        "{} {} (≥ {}: {})",
        score.method.as_str(),
        number(score.score),
        number(score.threshold),
        if score.detected { "yes" } else { "no" }
    )
}

fn tests_table(page: &mut String, report: &DriftReport) {
    if report.tests.is_empty() {
        return;
    }
    page.push_str(
        "<h2>Tests</h2><table><tr><th>test</th><th>result</th><th>condition</th><th>detail</th></tr>",
    );
    for t in &report.tests {
        let _ = write!(
            page,
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            escape(&t.name),
            if t.passed {
                "<span class=ok>pass</span>"
            } else {
                "<span class=drift>fail</span>"
            },
            escape(&t.condition),
            escape(&t.detail),
        );
    }
    page.push_str("</table>");
}

fn feature_section(page: &mut String, f: &FeatureReport) {
    let q = &f.quality;
    let _ = write!(
        page,
        "<div class=feature id=\"f-{id}\"><h3>{name}</h3><p>missing {:.2}%, type mismatches {}{}{}</p>",
        q.missing_share * 100.0,
        q.type_mismatches,
        q.out_of_range_share.map_or(String::new(), |s| format!(
            ", outside reference range {:.2}%",
            s * 100.0
        )),
        if q.new_categories.is_empty() {
            String::new()
        } else {
            escape(&format!(", new categories: {}", q.new_categories.join(", ")))
        },
        id = escape(&f.name),
        name = escape(&f.name),
    );
    page.push_str(
        "<div class=legend><span style=\"background:#5c6bc0\"></span>reference\
         <span style=\"background:#ef6c00\"></span>current</div>",
    );
    histogram_svg(page, &f.histogram);
    page.push_str("</div>");
}

/// Grouped bars: per bin, reference then current, heights as shares.
fn histogram_svg(page: &mut String, h: &Histogram) {
    let (width, height, bottom) = (720.0, 200.0, 40.0);
    let bins = h.labels.len().max(1) as f64;
    let slot = width / bins;
    let peak = h
        .reference
        .iter()
        .chain(&h.current)
        .copied()
        .fold(0.0, f64::max)
        .max(1e-12);
    let _ = write!(
        page,
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{width}\" height=\"{}\" role=\"img\">",
        height + bottom
    );
    for (i, label) in h.labels.iter().enumerate() {
        let x = i as f64 * slot;
        for (offset, (values, colour)) in [(&h.reference, "#5c6bc0"), (&h.current, "#ef6c00")]
            .iter()
            .enumerate()
        {
            let v = values.get(i).copied().unwrap_or(0.0);
            let bar = v / peak * height;
            let _ = write!(
                page,
                "<rect x=\"{:.1}\" y=\"{:.1}\" width=\"{:.1}\" height=\"{:.1}\" fill=\"{colour}\">\
                 <title>{}: {:.2}%</title></rect>",
                x + slot * (0.1 + 0.4 * offset as f64),
                height - bar,
                slot * 0.4,
                bar,
                escape(label),
                v * 100.0
            );
        }
        let _ = write!(
            page,
            "<text x=\"{:.1}\" y=\"{:.1}\" font-size=\"10\" text-anchor=\"middle\">{}</text>",
            x + slot / 2.0,
            height + 14.0 + (i % 2) as f64 * 12.0,
            escape(&truncate(label, 24))
        );
    }
    page.push_str("</svg>");
}

fn truncate(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        s.to_string()
    } else {
        s.chars().take(max - 1).chain(std::iter::once('…')).collect()
    }
}

fn number(x: f64) -> String {
    if x == 0.0 || (x.abs() >= 1e-3 && x.abs() < 1e6) {
        format!("{:.4}", x)
    } else {
        format!("{x:.3e}")
    }
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::drift::column::{ColumnType, FeatureValue};
    use crate::drift::evaluate::Preset;
    use crate::drift::profile::ReferenceProfile;
    use crate::drift::report::build_report;
    use crate::drift::state::{ColumnState, StateLimits};

    #[test]
    fn html_is_self_contained_and_escaped() {
        let mut c = ColumnState::new(ColumnType::Categorical, StateLimits::EXACT, Vec::new(), 1);
        for v in ["<a>", "b", "b"] {
            c.observe(FeatureValue::Text(v));
        }
        let profile = ReferenceProfile::from_states([("name&<x>".into(), c)]);
        let mut window = profile.new_window(StateLimits::EXACT, 1);
        window.observe(0, FeatureValue::Text("b"));
        let drift = window.evaluate(&profile, Preset::Evidently);
        let html = render_html(&build_report(&profile, &window, &drift, Vec::new()));
        assert!(html.contains("<svg"));
        assert!(html.contains("name&amp;&lt;x&gt;"));
        assert!(!html.contains("<a>"));
        assert!(!html.contains("src=") && !html.contains("<script") && !html.contains("<link"));
    }
}
