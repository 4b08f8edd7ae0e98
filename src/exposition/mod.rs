//! Parsing of scraped metric bodies: the Prometheus text format 0.0.4 and
//! OpenMetrics 1.0 text, with the acceptance rules of Prometheus's
//! `model/textparse` (the 2.42 release that Debian ships and that Sightline is
//! compared against, plus the quoted UTF-8 names that Prometheus 3 accepts).
//!
//! Owns turning bytes into [`Entry`] values; knows nothing of HTTP, targets,
//! relabelling or storage (the scrape loop in `crate::scrape` does those).
//!
//! Hand-written rather than a crate: no maintained crate parses both formats
//! without copying every name and value, and none reproduces Prometheus's
//! exact choices (which comment lines are allowed, where blanks may appear,
//! Go's float syntax, `# EOF` rules, exemplar placement). A scrape body is
//! parsed once per target per interval, so this is a hot path: names and
//! values borrow from the body, and label values are only copied when they
//! hold escapes. [`Parser::next_known`] goes further for a caller that keeps
//! the series it has seen (the scrape cache): a line whose series text it
//! knows costs one lookup and the value's parse.
//!
//! Differences from Prometheus worth knowing:
//! - escapes inside quoted *names* (`{"a\"b"}`) are refused, because names
//!   borrow from the body;
//! - duplicate label names are refused here (Prometheus refuses them later,
//!   when appending), with the same reason text.

mod cursor;
mod float;
mod openmetrics;
mod text;

#[cfg(test)]
mod tests;

use cursor::Cursor;
use std::borrow::Cow;
use std::fmt;

/// Which grammar a body is written in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    PrometheusText,
    OpenMetrics,
}

impl Format {
    /// Chooses the parser from a response's `Content-Type`, as Prometheus
    /// does: `application/openmetrics-text` means OpenMetrics; anything else,
    /// missing or malformed, falls back to the Prometheus text format.
    pub fn from_content_type(content_type: Option<&str>) -> Format {
        let Some(value) = content_type else {
            return Format::PrometheusText;
        };
        let media_type = value.split(';').next().unwrap_or("").trim();
        if media_type.eq_ignore_ascii_case("application/openmetrics-text") {
            Format::OpenMetrics
        } else {
            Format::PrometheusText
        }
    }
}

/// A metric family's `# TYPE`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MetricType {
    Counter,
    Gauge,
    Histogram,
    GaugeHistogram,
    Summary,
    Info,
    StateSet,
    Unknown,
}

impl MetricType {
    /// The name `/api/v1/metadata` uses (Prometheus's `model.MetricType`).
    pub fn as_str(self) -> &'static str {
        match self {
            MetricType::Counter => "counter",
            MetricType::Gauge => "gauge",
            MetricType::Histogram => "histogram",
            MetricType::GaugeHistogram => "gaugehistogram",
            MetricType::Summary => "summary",
            MetricType::Info => "info",
            MetricType::StateSet => "stateset",
            MetricType::Unknown => "unknown",
        }
    }
}

/// One meaningful line of a body. Plain comments and blank lines (text
/// format only) produce no entry.
#[derive(Clone, Debug, PartialEq)]
pub enum Entry<'a> {
    Sample(Sample<'a>),
    Help { family: &'a str, text: Cow<'a, str> },
    Type { family: &'a str, kind: MetricType },
    Unit { family: &'a str, unit: &'a str },
}

/// One sample line. `labels` keeps the body's order and excludes the metric
/// name; `timestamp_ms` is converted to milliseconds for both formats.
#[derive(Clone, Debug, PartialEq)]
pub struct Sample<'a> {
    pub name: &'a str,
    pub labels: Vec<(&'a str, Cow<'a, str>)>,
    pub value: f64,
    pub timestamp_ms: Option<i64>,
}

/// Why a body was refused, and on which line (1-based).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ParseError {
    pub line: usize,
    pub reason: String,
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "line {}: {}", self.line, self.reason)
    }
}

impl std::error::Error for ParseError {}

/// Iterates over a body's entries. After the first error it yields nothing
/// more: like Prometheus, a malformed body fails the whole scrape.
pub struct Parser<'a> {
    cursor: Cursor<'a>,
    format: Format,
    finished: bool,
}

impl<'a> Parser<'a> {
    pub fn new(body: &'a [u8], format: Format) -> Parser<'a> {
        Parser {
            cursor: Cursor::new(body),
            format,
            finished: false,
        }
    }
}

/// What [`Parser::next_known`] read.
#[derive(Clone, Debug, PartialEq)]
pub enum Read<'a, T> {
    /// A sample line whose series text the lookup knew; its labels were not parsed.
    Known {
        series: T,
        value: f64,
        timestamp_ms: Option<i64>,
    },
    Entry(Entry<'a>),
}

/// The start of a line, as [`Parser::next_known`]'s lookup sees it.
pub struct LineStart<'a, 'c> {
    cursor: &'c mut Cursor<'a>,
    /// The metric name of the series text matched, once the cursor is past it.
    matched: Option<&'a str>,
}

impl<'a> LineStart<'a, '_> {
    /// Whether the line's series text is `text`: a cheap check for the series
    /// the caller expects next.
    pub fn is(&mut self, text: &[u8]) -> bool {
        if self.matched.is_none() {
            self.matched = self.cursor.series_text_is(text);
        }
        self.matched.is_some()
    }

    /// The line's series text, when the line starts with one.
    pub fn text(&mut self) -> Option<&'a [u8]> {
        if self.matched.is_some() {
            return None;
        }
        let (name, text) = self.cursor.series_text()?;
        self.matched = Some(name);
        Some(text)
    }
}

impl<'a> Parser<'a> {
    /// Like [`Iterator::next`], but first lets `lookup` look at a sample
    /// line's series text (its bytes from the metric name to the end of its
    /// label list, through [`LineStart`]). When `lookup` knows it, only the
    /// value and timestamp are parsed. This is sound only if `lookup` knows
    /// nothing but texts written by [`write_series_text`] for samples this
    /// parser returned: those texts parse back to the same sample, so an
    /// identical line needs no checks. Like Prometheus's scrape cache, this
    /// makes a known series cost one lookup instead of label parsing.
    pub fn next_known<T>(
        &mut self,
        lookup: impl FnOnce(&mut LineStart<'a, '_>) -> Option<T>,
    ) -> Option<Result<Read<'a, T>, ParseError>> {
        if self.finished {
            return None;
        }
        let mark = self.cursor.mark();
        let mut line = LineStart {
            cursor: &mut self.cursor,
            matched: None,
        };
        let found = lookup(&mut line);
        if let (Some(series), Some(name)) = (found, line.matched) {
            return Some(self.known_sample(series, name));
        }
        self.cursor.rewind(mark);
        self.next().map(|entry| entry.map(Read::Entry))
    }

    fn known_sample<T>(&mut self, series: T, name: &str) -> Result<Read<'a, T>, ParseError> {
        let rest = match self.format {
            Format::PrometheusText => text::value_and_timestamp(&mut self.cursor, name),
            Format::OpenMetrics => openmetrics::value_and_timestamp(&mut self.cursor, name),
        };
        self.finished = rest.is_err();
        let (value, timestamp_ms) = rest?;
        Ok(Read::Known {
            series,
            value,
            timestamp_ms,
        })
    }
}

/// Writes a sample's series as one line of either format would spell it
/// with no blanks, no trailing comma and only the needed escapes:
/// `name{label="value",...}` in the sample's label order, names quoted
/// where they are not legacy names. Texts differ exactly when the name or
/// labels (in order) differ, and a line spelled so gives the same text to
/// [`Parser::next_known`]'s lookup.
pub fn write_series_text(sample: &Sample<'_>, out: &mut Vec<u8>) {
    out.clear();
    let legacy_name = cursor::is_legacy_name(sample.name.as_bytes(), true);
    if legacy_name {
        out.extend_from_slice(sample.name.as_bytes());
        if sample.labels.is_empty() {
            return;
        }
        out.push(b'{');
    } else {
        out.extend_from_slice(b"{\"");
        out.extend_from_slice(sample.name.as_bytes());
        out.push(b'"');
    }
    for (i, (name, value)) in sample.labels.iter().enumerate() {
        if i > 0 || !legacy_name {
            out.push(b',');
        }
        if cursor::is_legacy_name(name.as_bytes(), false) {
            out.extend_from_slice(name.as_bytes());
        } else {
            out.push(b'"');
            out.extend_from_slice(name.as_bytes());
            out.push(b'"');
        }
        out.extend_from_slice(b"=\"");
        write_escaped(value.as_bytes(), out);
        out.push(b'"');
    }
    out.push(b'}');
}

/// A label value between quotes: `\\`, `\"` and line breaks escaped.
fn write_escaped(value: &[u8], out: &mut Vec<u8>) {
    for &byte in value {
        match byte {
            b'\\' => out.extend_from_slice(b"\\\\"),
            b'"' => out.extend_from_slice(b"\\\""),
            b'\n' => out.extend_from_slice(b"\\n"),
            _ => out.push(byte),
        }
    }
}

impl<'a> Iterator for Parser<'a> {
    type Item = Result<Entry<'a>, ParseError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.finished {
            return None;
        }
        let parsed = match self.format {
            Format::PrometheusText => text::next_entry(&mut self.cursor),
            Format::OpenMetrics => openmetrics::next_entry(&mut self.cursor),
        };
        match parsed {
            Ok(Some(entry)) => Some(Ok(entry)),
            Ok(None) => {
                self.finished = true;
                None
            }
            Err(error) => {
                self.finished = true;
                Some(Err(error))
            }
        }
    }
}
