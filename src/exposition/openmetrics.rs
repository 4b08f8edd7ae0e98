//! OpenMetrics 1.0 text, as Prometheus's `openmetricslex.l` and
//! `openmetricsparse.go` accept it:
//! - tokens are separated by exactly one space; no blank lines, no leading or
//!   trailing blanks, no comments other than `# HELP`, `# TYPE`, `# UNIT`;
//! - label lists are comma separated with no trailing comma;
//! - timestamps are float seconds, truncated to milliseconds;
//! - an exemplar (` # {labels} value [timestamp]`) may follow a `_total` or
//!   `_bucket` sample; it is checked and then dropped;
//! - the body must end with `# EOF` (optionally followed by one `\n`) and
//!   nothing after it;
//! - `_created` samples are ordinary samples (Prometheus 2.42 stores them as
//!   their own series).

use super::cursor::{duplicate_label, quote, unescape, Cursor, Escapes, Newlines};
use super::float::parse_go_float;
use super::{Entry, MetricType, ParseError, Sample};
use std::borrow::Cow;

/// The next entry, `None` after `# EOF`.
pub(super) fn next_entry<'a>(c: &mut Cursor<'a>) -> Result<Option<Entry<'a>>, ParseError> {
    match c.peek() {
        None => Err(c.error("data does not end with # EOF".to_string())),
        Some(b'#') => hash_line(c),
        Some(_) => sample(c).map(|s| Some(Entry::Sample(s))),
    }
}

#[derive(Clone, Copy)]
enum Keyword {
    Help,
    Type,
    Unit,
}

impl Keyword {
    fn name(self) -> &'static str {
        match self {
            Keyword::Help => "HELP",
            Keyword::Type => "TYPE",
            Keyword::Unit => "UNIT",
        }
    }
}

fn hash_line<'a>(c: &mut Cursor<'a>) -> Result<Option<Entry<'a>>, ParseError> {
    if !c.eat_bytes(b"# ") {
        return Err(c.error(format!(
            "expected \"# \" and HELP, TYPE, UNIT or EOF, found {}",
            c.found()
        )));
    }
    if c.eat_bytes(b"EOF") {
        c.eat_newline();
        if !c.at_end() {
            return Err(c.error("unexpected data after # EOF".to_string()));
        }
        return Ok(None);
    }
    let keyword = if c.eat_bytes(b"HELP ") {
        Keyword::Help
    } else if c.eat_bytes(b"TYPE ") {
        Keyword::Type
    } else if c.eat_bytes(b"UNIT ") {
        Keyword::Unit
    } else {
        return Err(c.error(format!(
            "expected HELP, TYPE, UNIT or EOF after \"# \" (OpenMetrics has no other comments), found {}",
            c.found()
        )));
    };
    metadata(c, keyword).map(Some)
}

fn metadata<'a>(c: &mut Cursor<'a>, keyword: Keyword) -> Result<Entry<'a>, ParseError> {
    let family = if c.peek() == Some(b'"') {
        c.quoted_name(Newlines::Refused)?
    } else {
        c.metric_name().ok_or_else(|| {
            c.error(format!(
                "expected metric name after {}, found {}",
                keyword.name(),
                c.found()
            ))
        })?
    };
    let text = metadata_text(c, keyword)?;
    let text = std::str::from_utf8(text).map_err(|_| {
        c.error(format!(
            "{} text {} is not valid UTF-8",
            keyword.name(),
            quote(text)
        ))
    })?;
    let entry = match keyword {
        Keyword::Help => Entry::Help {
            family,
            text: unescape(text, Escapes::WithQuote),
        },
        Keyword::Type => Entry::Type {
            family,
            kind: metric_type(text).ok_or_else(|| c.error(format!("invalid metric type {text:?}")))?,
        },
        Keyword::Unit => {
            if !text.is_empty() && !family.strip_suffix(text).is_some_and(|rest| rest.ends_with('_')) {
                return Err(c.error(format!("unit {text:?} is not a suffix of metric {family:?}")));
            }
            Entry::Unit { family, unit: text }
        }
    };
    c.eat_newline();
    Ok(entry)
}

/// One space, then the rest of the line, which must end with `\n`.
fn metadata_text<'a>(c: &mut Cursor<'a>, keyword: Keyword) -> Result<&'a [u8], ParseError> {
    if !c.eat(b' ') {
        return Err(c.error(format!(
            "expected text in {}, found {}",
            keyword.name(),
            c.found()
        )));
    }
    let text = c.take_line_rest();
    if c.peek() != Some(b'\n') {
        return Err(c.error(format!(
            "expected text in {} to end with a line break",
            keyword.name()
        )));
    }
    Ok(text)
}

fn metric_type(text: &str) -> Option<MetricType> {
    Some(match text {
        "counter" => MetricType::Counter,
        "gauge" => MetricType::Gauge,
        "histogram" => MetricType::Histogram,
        "gaugehistogram" => MetricType::GaugeHistogram,
        "summary" => MetricType::Summary,
        "info" => MetricType::Info,
        "stateset" => MetricType::StateSet,
        "unknown" => MetricType::Unknown,
        _ => return None,
    })
}

fn sample<'a>(c: &mut Cursor<'a>) -> Result<Sample<'a>, ParseError> {
    let mut name = None;
    if c.peek() != Some(b'{') {
        name = Some(
            c.metric_name()
                .ok_or_else(|| c.error(format!("expected a metric name or \"# \", found {}", c.found())))?,
        );
    }
    let mut labels = Vec::new();
    if c.eat(b'{') {
        label_list(c, Some(&mut name), &mut labels)?;
    }
    let name = name.ok_or_else(|| c.error("metric name not set in label list".to_string()))?;
    if let Some(duplicate) = duplicate_label(&labels) {
        return Err(c.error(format!("label name \"{duplicate}\" is not unique")));
    }
    let (value, timestamp_ms) = value_and_timestamp(c, name)?;
    Ok(Sample {
        name,
        labels,
        value,
        timestamp_ms,
    })
}

/// The rest of a sample line after its series: value, timestamp, exemplar, line end.
pub(super) fn value_and_timestamp(c: &mut Cursor<'_>, name: &str) -> Result<(f64, Option<i64>), ParseError> {
    let value = spaced_float(c, || format!("metric {name}"))?;
    Ok((value, timestamp_and_exemplar(c, name)?))
}

/// `{…}` contents, the `{` consumed: `name="value"` pairs separated by single
/// commas. With `metric_name` given, a quoted string not followed by `=` is
/// the metric name (Prometheus 3's UTF-8 form); exemplars pass `None`.
fn label_list<'a>(
    c: &mut Cursor<'a>,
    mut metric_name: Option<&mut Option<&'a str>>,
    labels: &mut Vec<(&'a str, Cow<'a, str>)>,
) -> Result<(), ParseError> {
    if c.eat(b'}') {
        return Ok(());
    }
    loop {
        let quoted = c.peek() == Some(b'"') && metric_name.is_some();
        let label = if quoted {
            c.quoted_name(Newlines::Refused)?
        } else {
            c.label_name()
                .ok_or_else(|| c.error(format!("expected label name, found {}", c.found())))?
        };
        match metric_name.as_deref_mut() {
            Some(slot) if quoted && matches!(c.peek(), Some(b',' | b'}')) => {
                if slot.is_some() {
                    return Err(c.error(format!("metric name already set, found \"{label}\"")));
                }
                *slot = Some(label);
            }
            _ => labels.push((label, label_value(c, label)?)),
        }
        if c.eat(b'}') {
            return Ok(());
        }
        if !c.eat(b',') {
            return Err(c.error(format!(
                "expected ',' or '}}' after label {label}, found {}",
                c.found()
            )));
        }
    }
}

fn label_value<'a>(c: &mut Cursor<'a>, label: &str) -> Result<Cow<'a, str>, ParseError> {
    if !c.eat(b'=') {
        return Err(c.error(format!(
            "expected '=' after label name {label}, found {}",
            c.found()
        )));
    }
    if c.peek() != Some(b'"') {
        return Err(c.error(format!("expected label value for {label}, found {}", c.found())));
    }
    Ok(unescape(c.quoted(Newlines::Refused)?, Escapes::WithQuote))
}

/// One space, then a float up to the next space or line end. `after` names
/// what precedes it, and is only called to build an error (this runs once
/// per sample, so no string is built on success).
fn spaced_float<D: std::fmt::Display>(c: &mut Cursor<'_>, after: impl Fn() -> D) -> Result<f64, ParseError> {
    if !c.eat(b' ') {
        return Err(c.error(format!("expected value after {}, found {}", after(), c.found())));
    }
    let token = c.take_while(|b| b != b' ' && b != b'\n');
    if token.is_empty() {
        return Err(c.error(format!("expected value after {}, found {}", after(), c.found())));
    }
    parse_go_float(token).map_err(|reason| c.error(reason))
}

/// Float seconds, truncated to milliseconds like Prometheus's `int64(ts*1000)`.
fn spaced_timestamp(c: &mut Cursor<'_>, what: &str) -> Result<i64, ParseError> {
    let seconds = spaced_float(c, || what)?;
    if !seconds.is_finite() {
        return Err(c.error(format!("invalid {what} {seconds}")));
    }
    Ok((seconds * 1000.0) as i64)
}

/// After the value: the line end, or an exemplar, or a timestamp followed by
/// the line end or an exemplar.
fn timestamp_and_exemplar(c: &mut Cursor<'_>, name: &str) -> Result<Option<i64>, ParseError> {
    if line_end_or_exemplar(c, name)? {
        return Ok(None);
    }
    if c.peek() != Some(b' ') {
        return Err(c.error(format!("expected timestamp or exemplar, found {}", c.found())));
    }
    let timestamp = spaced_timestamp(c, "timestamp")?;
    if !line_end_or_exemplar(c, name)? {
        return Err(c.error(format!(
            "expected end of line after timestamp, found {}",
            c.found()
        )));
    }
    Ok(Some(timestamp))
}

/// Consumes `\n` or a whole ` # {…} v [ts]\n` exemplar; false if neither.
fn line_end_or_exemplar(c: &mut Cursor<'_>, name: &str) -> Result<bool, ParseError> {
    if c.at_end() {
        return Err(c.error("data does not end with # EOF".to_string()));
    }
    if c.eat_newline() {
        return Ok(true);
    }
    if !c.eat_bytes(b" # {") {
        return Ok(false);
    }
    if !(name.ends_with("_total") || name.ends_with("_bucket")) {
        return Err(c.error(format!("metric name {name} does not support exemplars")));
    }
    exemplar(c)?;
    Ok(true)
}

/// The exemplar after ` # {`: labels, value, optional timestamp, line end.
fn exemplar(c: &mut Cursor<'_>) -> Result<(), ParseError> {
    let mut labels = Vec::new();
    label_list(c, None, &mut labels)?;
    spaced_float(c, || "exemplar labels")?;
    if c.at_end() {
        return Err(c.error("data does not end with # EOF".to_string()));
    }
    if c.eat_newline() {
        return Ok(());
    }
    spaced_timestamp(c, "exemplar timestamp")?;
    if !c.eat_newline() {
        return Err(c.error(format!(
            "expected end of line after exemplar timestamp, found {}",
            c.found()
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::super::{Entry, Format, MetricType, Parser, Sample};

    fn entries(body: &str) -> Vec<Entry<'_>> {
        Parser::new(body.as_bytes(), Format::OpenMetrics)
            .collect::<Result<Vec<_>, _>>()
            .unwrap_or_else(|e| panic!("{body:?}: {e}"))
    }

    fn samples(body: &str) -> Vec<Sample<'_>> {
        entries(body)
            .into_iter()
            .filter_map(|e| match e {
                Entry::Sample(s) => Some(s),
                _ => None,
            })
            .collect()
    }

    fn error(body: &str) -> String {
        match Parser::new(body.as_bytes(), Format::OpenMetrics).find_map(Result::err) {
            Some(e) => e.to_string(),
            None => panic!("{body:?} should be refused"),
        }
    }

    #[test]
    fn metadata_and_samples() {
        let all = entries(
            "# TYPE foo_seconds counter\n# UNIT foo_seconds seconds\n# HELP foo_seconds Help \\\"q\\\"\n\
             foo_seconds_total{a=\"b\",c=\"d\"} 17.0 1520879607.789\nfoo_seconds_created 1520430000.123\n# EOF\n",
        );
        assert_eq!(
            all[0],
            Entry::Type {
                family: "foo_seconds",
                kind: MetricType::Counter
            }
        );
        assert_eq!(
            all[1],
            Entry::Unit {
                family: "foo_seconds",
                unit: "seconds"
            }
        );
        assert_eq!(
            all[2],
            Entry::Help {
                family: "foo_seconds",
                text: "Help \"q\"".into()
            }
        );
        let Entry::Sample(s) = &all[3] else {
            panic!("{:?}", all[3])
        };
        assert_eq!(
            (s.value, s.timestamp_ms, s.labels.len()),
            (17.0, Some(1520879607789), 2)
        );
        let Entry::Sample(created) = &all[4] else {
            panic!("{:?}", all[4])
        };
        assert_eq!(created.name, "foo_seconds_created");
        assert_eq!(created.value, 1520430000.123);
    }

    #[test]
    fn every_openmetrics_type_is_known() {
        for (text, kind) in [
            ("gaugehistogram", MetricType::GaugeHistogram),
            ("info", MetricType::Info),
            ("stateset", MetricType::StateSet),
            ("unknown", MetricType::Unknown),
        ] {
            let body = format!("# TYPE a {text}\n# EOF");
            assert_eq!(entries(&body)[0], Entry::Type { family: "a", kind });
        }
        assert!(error("# TYPE a untyped\n# EOF").contains("invalid metric type"));
    }

    #[test]
    fn eof_is_required_and_final() {
        assert!(error("a 1\n").contains("data does not end with # EOF"));
        assert!(error("a 1").contains("data does not end with # EOF"));
        assert!(error("").contains("data does not end with # EOF"));
        assert!(error("# EOF\n\n").contains("unexpected data after # EOF"));
        assert!(error("# EOF\na 1\n").contains("unexpected data after # EOF"));
        assert!(error("# EOF \n").contains("unexpected data after # EOF"));
        assert_eq!(entries("# EOF").len(), 0);
        assert_eq!(entries("a 1\n# EOF\n").len(), 1);
    }

    #[test]
    fn whitespace_is_strict() {
        assert!(error("\na 1\n# EOF\n").contains("expected a metric name"));
        assert!(error(" a 1\n# EOF\n").contains("expected a metric name"));
        assert!(error("a  1\n# EOF\n").contains("expected value"));
        assert!(error("a 1 \n# EOF\n").contains("expected value after timestamp"));
        assert!(error("a {b=\"c\"} 1\n# EOF\n").contains("invalid float"));
        assert!(error("a{b=\"c\", d=\"e\"} 1\n# EOF\n").contains("expected label name"));
        assert!(error("a{b=\"c\",} 1\n# EOF\n").contains("expected label name"));
        assert!(error("a{,} 1\n# EOF\n").contains("expected label name"));
        assert!(error("a{b=\"c\"d=\"e\"} 1\n# EOF\n").contains("expected ','"));
        assert!(error("a\t1\n# EOF\n").contains("expected value"));
    }

    #[test]
    fn comments_are_not_allowed() {
        assert!(error("# a comment\n# EOF\n").contains("no other comments"));
        assert!(error("#HELP a b\n# EOF\n").contains("expected \"# \""));
        assert!(error("# HELP a\n# EOF\n").contains("expected text in HELP"));
        assert!(error("# HELP a x").contains("end with a line break"));
    }

    #[test]
    fn units_must_be_a_suffix() {
        assert_eq!(
            entries("# UNIT a \n# EOF\n")[0],
            Entry::Unit {
                family: "a",
                unit: ""
            }
        );
        assert!(error("# UNIT a_bytes seconds\n# EOF\n").contains("not a suffix"));
        assert!(error("# UNIT abytes bytes\n# EOF\n").contains("not a suffix"));
        assert!(error("# UNIT bytes bytes\n# EOF\n").contains("not a suffix"));
    }

    #[test]
    fn timestamps_are_float_seconds() {
        let s = samples("a 1 1.5\nb 2 -1.0019\nc 3 1e3\n# EOF\n");
        assert_eq!(s[0].timestamp_ms, Some(1500));
        assert_eq!(s[1].timestamp_ms, Some(-1001));
        assert_eq!(s[2].timestamp_ms, Some(1_000_000));
        assert!(error("a 1 NaN\n# EOF\n").contains("invalid timestamp"));
        assert!(error("a 1 +Inf\n# EOF\n").contains("invalid timestamp"));
        assert!(error("a 1 0x10\n# EOF\n").contains("invalid float"));
        assert!(error("a 1 2 3\n# EOF\n").contains("expected end of line after timestamp"));
    }

    #[test]
    fn exemplars_are_checked_then_dropped() {
        let s = samples(
            "a_total 1 # {id=\"x\"} 2\na_bucket{le=\"1\"} 3 1.5 # {id=\"y\",z=\"q\"} 4 1.25\nb_total 5 # {} 6\n# EOF\n",
        );
        assert_eq!(s.len(), 3);
        assert_eq!(
            (s[1].value, s[1].timestamp_ms, s[1].labels.len()),
            (3.0, Some(1500), 1)
        );
        assert!(error("a 1 # {id=\"x\"} 2\n# EOF\n").contains("does not support exemplars"));
        assert!(error("a_total 1 # {id=\"x\"}\n# EOF\n").contains("expected value after exemplar"));
        assert!(error("a_total 1 # {id=\"x\"} z\n# EOF\n").contains("invalid float"));
        assert!(error("a_total 1 # {id=\"x\"} 1 NaN\n# EOF\n").contains("invalid exemplar timestamp"));
        assert!(error("a_total 1 # {id=\"x\"} 1 2 3\n# EOF\n").contains("after exemplar timestamp"));
        assert!(error("a_total 1 # {\"q\"} 1\n# EOF\n").contains("expected label name"));
        assert!(error("a_total 1 # {id=\"x\"} 1").contains("does not end with # EOF"));
    }

    #[test]
    fn label_values_cannot_span_lines() {
        assert!(error("a{b=\"x\ny\"} 1\n# EOF\n").contains("line break inside a quoted string"));
        assert_eq!(samples("a{b=\"x\\ny\\\\\"} 1\n# EOF\n")[0].labels[0].1, "x\ny\\");
    }

    #[test]
    fn crlf_is_refused() {
        assert!(error("a 1\r\n# EOF\r\n").contains("invalid float"));
        assert!(error("# EOF\r\n").contains("unexpected data after # EOF"));
    }

    #[test]
    fn quoted_names_and_duplicates() {
        let s = samples("{\"a.b\",\"c.d\"=\"e\"} 1\n# EOF\n");
        assert_eq!((s[0].name, s[0].labels[0].0), ("a.b", "c.d"));
        assert!(error("a{b=\"1\",b=\"2\"} 1\n# EOF\n").contains("label name \"b\" is not unique"));
    }

    #[test]
    fn errors_name_the_line() {
        assert!(error("a 1\nb 2\nc{d} 3\n# EOF\n").starts_with("line 3: expected '=' after label name d"));
    }
}
