//! The Prometheus text format 0.0.4, as Prometheus's `promlex.l` and
//! `promparse.go` accept it:
//! - blanks (spaces, tabs) may appear between any two tokens and trail a
//!   line, and lead comment lines; blank lines are skipped; blanks before a
//!   metric name fail (Prometheus makes them part of the name);
//! - `#` starts a comment unless it is `# HELP <name> <text>` or
//!   `# TYPE <name> <type>`; the text is everything after one separator;
//! - label values may span lines, and a label list needs no commas;
//! - timestamps are integer milliseconds; a NUL byte at the start of a line
//!   ends the body (a quirk of Prometheus's lexer, kept for agreement);
//! - `\r` is an ordinary byte, so CRLF bodies fail on their first sample.

use super::cursor::{duplicate_label, quote, unescape, Cursor, Escapes, Newlines};
use super::float::parse_go_float;
use super::{Entry, MetricType, ParseError, Sample};
use std::borrow::Cow;

/// The next entry, `None` at the end of the body.
pub(super) fn next_entry<'a>(c: &mut Cursor<'a>) -> Result<Option<Entry<'a>>, ParseError> {
    loop {
        let indented = c.skip_blanks();
        match c.peek() {
            None | Some(0) => return Ok(None),
            Some(b'\n') => {
                c.eat_newline();
            }
            Some(b'#') => {
                if let Some(entry) = comment_or_metadata(c)? {
                    return Ok(Some(entry));
                }
            }
            // Prometheus keeps the blanks as part of the metric name, which
            // then fails validation and the scrape with it.
            Some(_) if indented => {
                return Err(c.error("invalid metric name: blanks before the metric name".to_string()))
            }
            Some(_) => return sample(c).map(|s| Some(Entry::Sample(s))),
        }
    }
}

#[derive(Clone, Copy)]
enum Keyword {
    Help,
    Type,
}

/// A `#` line: HELP or TYPE become entries, anything else is skipped.
fn comment_or_metadata<'a>(c: &mut Cursor<'a>) -> Result<Option<Entry<'a>>, ParseError> {
    c.eat(b'#');
    let keyword = if !c.skip_blanks() {
        None
    } else if c.eat_bytes(b"HELP") {
        Some(Keyword::Help)
    } else if c.eat_bytes(b"TYPE") {
        Some(Keyword::Type)
    } else {
        None
    };
    match keyword {
        Some(keyword) if c.skip_blanks() => metadata(c, keyword).map(Some),
        _ => {
            c.take_line_rest();
            c.eat_newline();
            Ok(None)
        }
    }
}

fn metadata<'a>(c: &mut Cursor<'a>, keyword: Keyword) -> Result<Entry<'a>, ParseError> {
    let keyword_name = match keyword {
        Keyword::Help => "HELP",
        Keyword::Type => "TYPE",
    };
    let family = family_name(c, keyword_name)?;
    let text = metadata_text(c.take_line_rest());
    let entry = match keyword {
        Keyword::Help => {
            let text = std::str::from_utf8(text)
                .map_err(|_| c.error(format!("help text {} is not valid UTF-8", quote(text))))?;
            Entry::Help {
                family,
                text: unescape(text, Escapes::WithoutQuote),
            }
        }
        Keyword::Type => Entry::Type {
            family,
            kind: metric_type(text).ok_or_else(|| c.error(format!("invalid metric type {}", quote(text))))?,
        },
    };
    c.eat_newline();
    Ok(entry)
}

/// The metric name after `# HELP` / `# TYPE`, bare or quoted.
fn family_name<'a>(c: &mut Cursor<'a>, keyword: &str) -> Result<&'a str, ParseError> {
    if c.peek() == Some(b'"') {
        return c.quoted_name(Newlines::Refused);
    }
    c.metric_name().ok_or_else(|| {
        c.error(format!(
            "expected metric name after {keyword}, found {}",
            c.found()
        ))
    })
}

/// Prometheus's lexer takes the rest of the line as the text token and drops
/// its first byte (the separator). A rest made only of blanks is no text.
fn metadata_text(rest: &[u8]) -> &[u8] {
    if rest.iter().all(|b| matches!(b, b' ' | b'\t')) || rest.len() <= 1 {
        return &[];
    }
    &rest[1..]
}

fn metric_type(text: &[u8]) -> Option<MetricType> {
    Some(match text {
        b"counter" => MetricType::Counter,
        b"gauge" => MetricType::Gauge,
        b"histogram" => MetricType::Histogram,
        b"summary" => MetricType::Summary,
        b"untyped" => MetricType::Unknown,
        _ => return None,
    })
}

fn sample<'a>(c: &mut Cursor<'a>) -> Result<Sample<'a>, ParseError> {
    let mut name = None;
    if c.peek() != Some(b'{') {
        name = Some(c.metric_name().ok_or_else(|| {
            c.error(format!(
                "expected a metric name, comment or blank line, found {}",
                c.found()
            ))
        })?);
        c.skip_blanks();
    }
    let mut labels = Vec::new();
    if c.eat(b'{') {
        label_list(c, &mut name, &mut labels)?;
        c.skip_blanks();
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

/// The labels inside `{…}`, the `{` already consumed. A quoted string not
/// followed by `=` is the metric name (Prometheus 3's UTF-8 form).
fn label_list<'a>(
    c: &mut Cursor<'a>,
    name: &mut Option<&'a str>,
    labels: &mut Vec<(&'a str, Cow<'a, str>)>,
) -> Result<(), ParseError> {
    loop {
        c.skip_blanks();
        if c.eat(b'}') {
            return Ok(());
        }
        let quoted = c.peek() == Some(b'"');
        let label = if quoted {
            c.quoted_name(Newlines::Refused)?
        } else {
            c.label_name()
                .ok_or_else(|| c.error(format!("expected label name, found {}", c.found())))?
        };
        c.skip_blanks();
        if quoted && matches!(c.peek(), Some(b',' | b'}')) {
            if name.is_some() {
                return Err(c.error(format!("metric name already set, found \"{label}\"")));
            }
            *name = Some(label);
            c.eat(b',');
            continue;
        }
        if !c.eat(b'=') {
            return Err(c.error(format!(
                "expected '=' after label name {label}, found {}",
                c.found()
            )));
        }
        c.skip_blanks();
        if c.peek() != Some(b'"') {
            return Err(c.error(format!("expected label value for {label}, found {}", c.found())));
        }
        let raw = c.quoted(Newlines::Allowed)?;
        labels.push((label, unescape(raw, Escapes::WithQuote)));
        c.skip_blanks();
        c.eat(b',');
    }
}

/// The rest of a sample line after its series: value, timestamp, line end.
pub(super) fn value_and_timestamp(c: &mut Cursor<'_>, name: &str) -> Result<(f64, Option<i64>), ParseError> {
    c.skip_blanks();
    let value = sample_value(c, name)?;
    Ok((value, timestamp_and_line_end(c)?))
}

fn sample_value(c: &mut Cursor<'_>, name: &str) -> Result<f64, ParseError> {
    let token = c.take_while(|b| !matches!(b, b'{' | b' ' | b'\t' | b'\n'));
    if token.is_empty() {
        return Err(c.error(format!("expected value after metric {name}, found {}", c.found())));
    }
    let value = parse_go_float(token).map_err(|reason| c.error(reason))?;
    c.skip_blanks();
    Ok(value)
}

/// An optional integer millisecond timestamp, then the end of the line.
fn timestamp_and_line_end(c: &mut Cursor<'_>) -> Result<Option<i64>, ParseError> {
    let digits = c.take_while(|b| b.is_ascii_digit());
    let timestamp = if digits.is_empty() {
        None
    } else {
        let text = std::str::from_utf8(digits).unwrap_or_default();
        let ms = text
            .parse::<i64>()
            .map_err(|_| c.error(format!("timestamp {text} is out of range")))?;
        c.skip_blanks();
        Some(ms)
    };
    if c.at_end() || c.eat_newline() {
        return Ok(timestamp);
    }
    let expected = if timestamp.is_some() {
        "end of line after timestamp"
    } else {
        "timestamp or end of line"
    };
    Err(c.error(format!("expected {expected}, found {}", c.found())))
}

#[cfg(test)]
mod tests {
    use super::super::{Entry, Format, MetricType, Parser};

    fn entries(body: &str) -> Vec<Entry<'_>> {
        Parser::new(body.as_bytes(), Format::PrometheusText)
            .collect::<Result<Vec<_>, _>>()
            .unwrap_or_else(|e| panic!("{body:?}: {e}"))
    }

    fn error(body: &str) -> String {
        match Parser::new(body.as_bytes(), Format::PrometheusText).find_map(Result::err) {
            Some(e) => e.to_string(),
            None => panic!("{body:?} should be refused"),
        }
    }

    fn one_sample(body: &str) -> super::Sample<'_> {
        match entries(body).pop() {
            Some(Entry::Sample(s)) => s,
            other => panic!("{body:?}: expected a sample, got {other:?}"),
        }
    }

    #[test]
    fn a_plain_sample_with_labels_and_timestamp() {
        let s = one_sample("http_requests_total{method=\"post\",code=\"200\"} 1027 1395066363000\n");
        assert_eq!(s.name, "http_requests_total");
        assert_eq!(s.labels.len(), 2);
        assert_eq!(s.labels[1].0, "code");
        assert_eq!(s.labels[1].1, "200");
        assert_eq!(s.value, 1027.0);
        assert_eq!(s.timestamp_ms, Some(1395066363000));
    }

    #[test]
    fn blanks_are_allowed_between_tokens_and_around_lines() {
        let s = one_sample("foo { a = \"b\" , c=\"d\" , } \t 1.5 \t 42 \t\n");
        assert_eq!(
            (s.name, s.labels.len(), s.value, s.timestamp_ms),
            ("foo", 2, 1.5, Some(42))
        );
        let s = one_sample("foo{a=\"b\" c=\"d\"} 1");
        assert_eq!(s.labels.len(), 2, "commas are optional, as in Prometheus");
        let s = one_sample("foo{a=\"b\"}1");
        assert_eq!(s.value, 1.0);
        assert_eq!(one_sample("foo{} 3").labels.len(), 0);
    }

    #[test]
    fn blank_lines_and_comments_produce_nothing() {
        let all =
            entries("\n\n# a comment\n#no space\n# HELP\n# HELPER x\n   \n \t# indented\nfoo 1\n# EOF\n");
        assert_eq!(all.len(), 1);
        assert!(error("a 1\n  b 2\n").starts_with("line 2: invalid metric name"));
    }

    #[test]
    fn help_and_type_are_metadata() {
        let all = entries("# HELP foo Some \\\\ help\\n \\\"x\\\"\n# TYPE foo counter\nfoo 1\n");
        assert_eq!(
            all[0],
            Entry::Help {
                family: "foo",
                text: "Some \\ help\n \\\"x\\\"".into()
            }
        );
        assert_eq!(
            all[1],
            Entry::Type {
                family: "foo",
                kind: MetricType::Counter
            }
        );
        assert_eq!(
            entries("# TYPE x untyped\n")[0],
            Entry::Type {
                family: "x",
                kind: MetricType::Unknown
            }
        );
    }

    #[test]
    fn help_text_keeps_prometheus_separator_rules() {
        let help = |body: &'static str| match entries(body).pop() {
            Some(Entry::Help { text, .. }) => text.into_owned(),
            other => panic!("{other:?}"),
        };
        assert_eq!(help("# HELP foo \n"), "");
        assert_eq!(help("# HELP foo"), "");
        assert_eq!(help("# HELP foo   \n"), "");
        assert_eq!(help("# HELP foo  two spaces\n"), " two spaces");
        assert_eq!(help("# HELP\tfoo\ttabbed\n"), "tabbed");
    }

    #[test]
    fn bad_metadata_is_refused() {
        assert!(error("# TYPE foo counter \n").contains("invalid metric type \"counter \""));
        assert!(error("# TYPE foo gaugehistogram\n").contains("invalid metric type"));
        assert!(error("# TYPE foo unknown\n").contains("invalid metric type"));
        assert!(error("# TYPE foo\n").contains("invalid metric type"));
        assert!(error("# HELP 1foo x\n").contains("expected metric name after HELP"));
        let bad_utf8 = b"# HELP foo \xff\n";
        let err = Parser::new(bad_utf8, Format::PrometheusText).find_map(Result::err);
        assert!(err.is_some_and(|e| e.reason.contains("not valid UTF-8")));
    }

    #[test]
    fn label_values_unescape_and_may_span_lines() {
        let s = one_sample("foo{a=\"x\\\"y\\\\z\\nw\\t\"} 1\n");
        assert_eq!(s.labels[0].1, "x\"y\\z\nw\\t");
        let all = entries("foo{a=\"two\nlines\"} 1\nbar 2\n");
        assert_eq!(all.len(), 2);
        assert!(error("foo{a=\"x\\\ny\"} 1").starts_with("line 1:"));
        let err = Parser::new(b"foo{a=\"\xff\"} 1\n", Format::PrometheusText).find_map(Result::err);
        assert!(err.is_some_and(|e| e.reason.contains("invalid UTF-8")));
    }

    #[test]
    fn values_follow_go_float_syntax() {
        assert!(one_sample("a NaN").value.is_nan());
        assert_eq!(one_sample("a +Inf").value, f64::INFINITY);
        assert_eq!(one_sample("a -Inf").value, f64::NEG_INFINITY);
        assert_eq!(one_sample("a 1.5e-3").value, 0.0015);
        assert!(error("a 0x1p3").contains("invalid float"));
        assert!(error("a 1_000").contains("invalid float"));
        assert!(error("a 1e999").contains("out of range"));
        assert!(error("a").contains("expected value after metric a"));
        assert!(error("a{b=\"c\"}").contains("expected value"));
    }

    #[test]
    fn timestamps_are_integer_milliseconds() {
        assert_eq!(one_sample("a 1 0").timestamp_ms, Some(0));
        assert_eq!(one_sample("a 1").timestamp_ms, None);
        assert!(error("a 1 -5").contains("expected timestamp or end of line"));
        assert!(error("a 1 1.5").contains("expected end of line after timestamp"));
        assert!(error("a 1 99999999999999999999").contains("out of range"));
        assert!(error("a 1 2 3").contains("after timestamp"));
        assert!(error("a 1 2 # comment").contains("after timestamp"));
    }

    #[test]
    fn windows_line_endings_fail_like_prometheus() {
        assert!(error("a 1\r\n").contains("invalid float"));
        assert!(error("a 1 5\r\n").contains("after timestamp"));
        let help = entries("# HELP a x\r\n");
        assert_eq!(
            help[0],
            Entry::Help {
                family: "a",
                text: "x\r".into()
            }
        );
    }

    #[test]
    fn names_and_labels_must_be_valid() {
        assert!(error("1a 1").contains("expected a metric name"));
        assert!(error("a{1b=\"c\"} 1").contains("expected label name"));
        assert!(error("a{b:c=\"d\"} 1").contains("expected '='"));
        assert!(error("a{b=c} 1").contains("expected label value"));
        assert!(error("a{,} 1").contains("expected label name"));
        assert!(error("a{b=\"c\"").contains("expected label name, found end of input"));
        assert!(error("a{b=\"1\",b=\"2\"} 1").contains("label name \"b\" is not unique"));
        assert!(error("a{__name__=\"x\"} 1").contains("\"__name__\" is not unique"));
    }

    #[test]
    fn quoted_utf8_names_as_prometheus_3_accepts_them() {
        let s = one_sample("{\"my.metric\", \"label.name\"=\"v\", plain=\"w\"} 1\n");
        assert_eq!(s.name, "my.metric");
        assert_eq!(s.labels[0].0, "label.name");
        assert_eq!(s.labels[1].0, "plain");
        assert_eq!(one_sample("{\"only.name\"} 2").name, "only.name");
        assert_eq!(
            entries("# TYPE \"a.b\" gauge\n")[0],
            Entry::Type {
                family: "a.b",
                kind: MetricType::Gauge
            }
        );
        assert!(error("{a=\"b\"} 1").contains("metric name not set"));
        assert!(error("a{\"b\"} 1").contains("metric name already set"));
        assert!(error("{\"a\\\"b\"} 1").contains("not supported"));
    }

    #[test]
    fn nul_at_line_start_ends_the_body_as_in_prometheus() {
        assert_eq!(entries("a 1\n\0garbage\nb 2\n").len(), 1);
        assert!(error("a\0 1").contains("invalid float"));
    }

    #[test]
    fn errors_name_the_line() {
        assert!(error("a 1\nb 2\n\nc x\n").starts_with("line 4: invalid float \"x\""));
        assert!(error("a{b=\"multi\nline\"} 1\nbad!\n").starts_with("line 3:"));
    }
}
