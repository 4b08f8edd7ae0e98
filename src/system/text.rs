//! A small writer for the Prometheus text format, for collectors whose label
//! sets change between scrapes (disks, interfaces, GPUs), where a fixed
//! `prometheus-client` registry does not fit.

use std::fmt::Write;

#[derive(Default)]
pub struct MetricText {
    out: String,
}

impl MetricText {
    /// Starts a family with its `# HELP` and `# TYPE` lines.
    pub fn family(&mut self, name: &str, help: &str, kind: &str) {
        let help = help.replace('\\', "\\\\").replace('\n', "\\n");
        let _ = writeln!(self.out, "# HELP {name} {help}\n# TYPE {name} {kind}");
    }

    pub fn sample(&mut self, name: &str, labels: &[(&str, &str)], value: f64) {
        self.out.push_str(name);
        if !labels.is_empty() {
            self.out.push('{');
            for (i, (label, text)) in labels.iter().enumerate() {
                if i > 0 {
                    self.out.push(',');
                }
                let _ = write!(self.out, "{label}=\"");
                escape_label_value(&mut self.out, text);
                self.out.push('"');
            }
            self.out.push('}');
        }
        self.out.push(' ');
        write_value(&mut self.out, value);
        self.out.push('\n');
    }

    /// A family with a single unlabelled sample.
    pub fn single(&mut self, name: &str, help: &str, kind: &str, value: f64) {
        self.family(name, help, kind);
        self.sample(name, &[], value);
    }

    pub fn finish(self) -> String {
        self.out
    }
}

fn escape_label_value(out: &mut String, text: &str) {
    for c in text.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            _ => out.push(c),
        }
    }
}

fn write_value(out: &mut String, value: f64) {
    if value.is_nan() {
        out.push_str("NaN");
    } else if value.is_infinite() {
        out.push_str(if value > 0.0 { "+Inf" } else { "-Inf" });
    } else {
        let _ = write!(out, "{value}");
    }
}

#[cfg(test)]
mod tests {
    use super::MetricText;
    use crate::exposition::{Entry, Format, Parser};

    #[test]
    fn output_parses_back_with_escapes_intact() {
        let mut text = MetricText::default();
        text.family("a_total", "Help with \\ and\nnewline.", "counter");
        text.sample("a_total", &[("path", "C:\\dir \"x\"\n")], 1.5);
        text.single("b", "B.", "gauge", f64::NEG_INFINITY);
        let body = text.finish();
        let entries: Vec<Entry> = Parser::new(body.as_bytes(), Format::PrometheusText)
            .collect::<Result<_, _>>()
            .unwrap_or_else(|e| panic!("{e}\n{body}"));
        assert_eq!(entries.len(), 6);
        let Entry::Sample(s) = &entries[2] else {
            panic!("{body}")
        };
        assert_eq!(s.labels[0].1, "C:\\dir \"x\"\n");
        assert_eq!(s.value, 1.5);
        let Entry::Help { text, .. } = &entries[0] else {
            panic!("{body}")
        };
        assert_eq!(text, "Help with \\ and\nnewline.");
    }
}
