//! `/api/v1/query`, `/api/v1/query_range`, `/api/v1/format_query` and
//! `/api/v1/parse_query`, answered exactly as Prometheus answers them.
//!
//! Result JSON is written by hand because Prometheus's number formats are not
//! serde's: timestamps are seconds written as `sec.mmm` (trailing zeros kept,
//! never an exponent) and values are strings (`"NaN"`, `"+Inf"`, shortest
//! non-exponent decimal otherwise).

use super::params::{parse_duration_or_seconds, Params};
use super::response::{ApiError, ErrorType};
use super::AppState;
use crate::promql::{Engine, EngineOptions, PromqlError, QueryResult, Value};
use crate::storage::Labels;
use axum::body::Bytes;
use axum::extract::{RawQuery, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use serde_json::json;
use std::fmt::Write as _;
use std::time::Duration;

/// Writes a millisecond timestamp as Prometheus does.
pub fn write_timestamp(out: &mut String, t: i64) {
    if t < 0 {
        out.push('-');
    }
    let abs = t.unsigned_abs();
    out.push_str(itoa::Buffer::new().format(abs / 1000));
    let frac = abs % 1000;
    if frac != 0 {
        out.push('.');
        for digit in [frac / 100, frac / 10 % 10, frac % 10] {
            out.push(char::from(b'0' + digit as u8));
        }
    }
}

/// Writes a sample value as Prometheus does (Go's `FormatFloat(v, 'f', -1, 64)`).
pub use crate::promql::write_go_f as write_value;

/// Writes a JSON string escaped as Go's encoding/json does (Prometheus's
/// JSON is Go's): HTML-sensitive `<`, `>`, `&` and U+2028/U+2029 become
/// `\uXXXX` too, so bodies compare byte for byte.
pub(super) fn write_str(out: &mut String, s: &str) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '<' | '>' | '&' | '\u{2028}' | '\u{2029}' => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c if (c as u32) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

pub(super) fn write_labels(out: &mut String, labels: &Labels) {
    out.push('{');
    for (i, l) in labels.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        write_str(out, &l.name);
        out.push(':');
        write_str(out, &l.value);
    }
    out.push('}');
}

fn write_point(out: &mut String, t: i64, v: &str) {
    out.push('[');
    write_timestamp(out, t);
    out.push(',');
    write_str(out, v);
    out.push(']');
}

/// `[t,"v"]` for a sample: a formatted number never needs JSON escaping.
fn write_sample(out: &mut String, t: i64, v: f64) {
    out.push('[');
    write_timestamp(out, t);
    out.push_str(",\"");
    write_value(out, v);
    out.push_str("\"]");
}

/// Writes `[item,item,...]` with `write_item` for each element.
pub(super) fn write_list<T>(out: &mut String, items: &[T], mut write_item: impl FnMut(&mut String, &T)) {
    out.push('[');
    for (i, item) in items.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        write_item(out, item);
    }
    out.push(']');
}

/// The `data` object: `{"resultType":..,"result":..}`.
pub fn write_data(out: &mut String, value: &Value) {
    let _ = write!(out, "{{\"resultType\":\"{}\",\"result\":", value.type_name());
    match value {
        Value::Scalar { t, v } => write_sample(out, *t, *v),
        Value::String { t, v } => write_point(out, *t, v),
        Value::Vector(samples) => write_list(out, samples, |out, s| {
            out.push_str("{\"metric\":");
            write_labels(out, &s.labels);
            out.push_str(",\"value\":");
            write_sample(out, s.t, s.v);
            out.push('}');
        }),
        Value::Matrix(series) => write_list(out, series, |out, s| {
            out.push_str("{\"metric\":");
            write_labels(out, &s.labels);
            out.push_str(",\"values\":");
            write_list(out, &s.points, |out, p| write_sample(out, p.t, p.v));
            out.push('}');
        }),
    }
    out.push('}');
}

/// About how long the JSON of `value` is, so the body is allocated once: a range
/// query's body runs to megabytes, which growing by doubling copies about twice over.
fn estimated_json_len(value: &Value) -> usize {
    match value {
        Value::Matrix(series) => series
            .iter()
            .map(|s| 64 + s.labels.len() * 32 + s.points.len() * 24)
            .sum(),
        Value::Vector(samples) => samples.iter().map(|s| 96 + s.labels.len() * 32).sum(),
        Value::Scalar { .. } | Value::String { .. } => 64,
    }
}

fn render(result: &QueryResult) -> Response {
    let mut out = String::with_capacity(256 + estimated_json_len(&result.value));
    out.push_str("{\"status\":\"success\",\"data\":");
    write_data(&mut out, &result.value);
    if !result.warnings.is_empty() {
        let _ = write!(out, ",\"warnings\":{}", json!(result.warnings));
    }
    if !result.infos.is_empty() {
        let _ = write!(out, ",\"infos\":{}", json!(result.infos));
    }
    out.push('}');
    ([(header::CONTENT_TYPE, "application/json")], out).into_response()
}

/// Maps evaluator errors onto Prometheus's error types.
pub fn promql_error(e: PromqlError) -> ApiError {
    let kind = match &e {
        PromqlError::Parse(_) | PromqlError::TooManyPoints(_) => ErrorType::BadData,
        PromqlError::Execution(_) | PromqlError::TooManySamples => ErrorType::Execution,
        PromqlError::Timeout | PromqlError::Canceled => ErrorType::Timeout,
        PromqlError::Storage(_) => ErrorType::Internal,
    };
    ApiError {
        kind,
        message: e.to_string(),
    }
}

fn query_text(params: &Params) -> Result<String, ApiError> {
    match params.get("query") {
        Some(q) if !q.trim().is_empty() => Ok(q.to_string()),
        _ => Err(ApiError::bad_data(
            "invalid parameter \"query\": query must not be empty",
        )),
    }
}

/// The per-request `timeout` (never above the server's own).
fn timeout(params: &Params, server: Duration) -> Result<Duration, ApiError> {
    match params.get("timeout") {
        None | Some("") => Ok(server),
        Some(t) => {
            let ms = parse_duration_or_seconds(t)
                .map_err(|e| ApiError::bad_data(format!("invalid parameter \"timeout\": {e}")))?;
            Ok(server.min(Duration::from_millis(ms.max(0) as u64)))
        }
    }
}

async fn run<F>(state: &AppState, job: F) -> Result<Response, ApiError>
where
    F: FnOnce(&crate::storage::Storage) -> Result<QueryResult, PromqlError> + Send + 'static,
{
    let _permit = state
        .query_slots
        .clone()
        .acquire_owned()
        .await
        .map_err(|_| ApiError::unavailable("the query engine is shutting down"))?;
    let storage = state.storage.clone();
    let result = tokio::task::spawn_blocking(move || job(&storage))
        .await
        .map_err(|e| ApiError::internal(e.to_string()))?
        .map_err(promql_error)?;
    Ok(render(&result))
}

pub async fn instant(
    State(state): State<AppState>,
    RawQuery(q): RawQuery,
    body: Bytes,
) -> Result<Response, ApiError> {
    let params = Params::parse(q.as_deref(), &body);
    let expr = query_text(&params)?;
    let t = params
        .time_or("time", crate::storage::now_ms())
        .map_err(ApiError::bad_data)?;
    let engine = engine_for(&state, &params)?;
    run(&state, move |storage| engine.instant_query(storage, &expr, t)).await
}

pub async fn range(
    State(state): State<AppState>,
    RawQuery(q): RawQuery,
    body: Bytes,
) -> Result<Response, ApiError> {
    let params = Params::parse(q.as_deref(), &body);
    let expr = query_text(&params)?;
    let start = required_time(&params, "start")?;
    let end = required_time(&params, "end")?;
    if end < start {
        return Err(ApiError::bad_data(
            "invalid parameter \"end\": end timestamp must not be before start time",
        ));
    }
    let step = match params.get("step") {
        Some(s) if !s.is_empty() => parse_duration_or_seconds(s)
            .map_err(|e| ApiError::bad_data(format!("invalid parameter \"step\": {e}")))?,
        _ => {
            return Err(ApiError::bad_data(
                "invalid parameter \"step\": cannot parse \"\" to a valid duration",
            ))
        }
    };
    if step <= 0 {
        return Err(ApiError::bad_data(
            "invalid parameter \"step\": zero or negative query resolution step widths are not accepted. Try a positive integer",
        ));
    }
    let max_points = state.engine.options().max_points_per_series as i64;
    if (end - start) / step > max_points {
        return Err(ApiError::bad_data(
            "exceeded maximum resolution of 11,000 points per timeseries. Try decreasing the query resolution (?step=XX)",
        ));
    }
    let engine = engine_for(&state, &params)?;
    run(&state, move |storage| {
        engine.range_query(storage, &expr, start, end, step)
    })
    .await
}

/// The server's engine with this request's timeout.
fn engine_for(state: &AppState, params: &Params) -> Result<Engine, ApiError> {
    let opts = state.engine.options();
    Ok(Engine::new(EngineOptions {
        timeout: timeout(params, opts.timeout)?,
        ..opts.clone()
    }))
}

fn required_time(params: &Params, key: &str) -> Result<i64, ApiError> {
    match params.get(key) {
        None | Some("") => Err(ApiError::bad_data(format!(
            "invalid parameter \"{key}\": cannot parse \"\" to a valid timestamp"
        ))),
        Some(_) => params.time_or(key, 0).map_err(ApiError::bad_data),
    }
}

pub async fn format_query(RawQuery(q): RawQuery, body: Bytes) -> Result<Response, ApiError> {
    let params = Params::parse(q.as_deref(), &body);
    let expr = query_text(&params)?;
    let parsed = crate::promql::parse(&expr)
        .map_err(|e| ApiError::bad_data(format!("invalid parameter \"query\": {e}")))?;
    Ok(super::response::success(parsed.prettify(), Vec::new()))
}

pub async fn parse_query(RawQuery(q): RawQuery, body: Bytes) -> Result<Response, ApiError> {
    let params = Params::parse(q.as_deref(), &body);
    let expr = query_text(&params)?;
    let parsed = crate::promql::parse(&expr)
        .map_err(|e| ApiError::bad_data(format!("invalid parameter \"query\": {e}")))?;
    let tree = serde_json::to_value(&parsed).map_err(|e| ApiError::internal(e.to_string()))?;
    Ok(super::response::success(tree, Vec::new()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::promql::Sample;

    #[test]
    fn timestamps_like_prometheus() {
        let cases = [
            (1_435_781_451_781, "1435781451.781"),
            (1000, "1"),
            (1500, "1.500"),
            (1010, "1.010"),
            (-1500, "-1.500"),
            (0, "0"),
        ];
        for (t, want) in cases {
            let mut s = String::new();
            write_timestamp(&mut s, t);
            assert_eq!(s, want);
        }
    }

    fn format_value(v: f64) -> String {
        let mut out = String::new();
        write_value(&mut out, v);
        out
    }

    #[test]
    fn values_like_prometheus() {
        assert_eq!(format_value(1.0), "1");
        assert_eq!(format_value(0.1), "0.1");
        assert_eq!(format_value(1e21), "1000000000000000000000");
        assert_eq!(format_value(f64::NAN), "NaN");
        assert_eq!(format_value(f64::NEG_INFINITY), "-Inf");
        assert_eq!(format_value(f64::INFINITY), "+Inf");
        assert_eq!(format_value(-0.0), "-0");
        assert_eq!(format_value(1.5e-7), "0.00000015");
        assert_eq!(format_value(f64::MAX), f64::MAX.to_string());
        assert_eq!(format_value(5e-324), 5e-324f64.to_string());
    }

    /// Go's digits for `v`: the shortest that read back, an exact tie broken to
    /// the even digit. Python's `repr` and ryu use the same rule.
    fn go_digits(v: f64) -> String {
        let mut buffer = ryu::Buffer::new();
        let text = buffer.format_finite(v);
        let (mantissa, _) = text.split_once('e').unwrap_or((text, ""));
        let mantissa = mantissa.strip_suffix(".0").unwrap_or(mantissa);
        mantissa
            .replace(['-', '.'], "")
            .trim_start_matches('0')
            .to_string()
    }

    fn significant_digits(text: &str) -> String {
        let digits = text.replace(['-', '.'], "");
        let digits = digits.trim_start_matches('0');
        if text.contains('.') {
            digits.to_string()
        } else {
            digits.trim_end_matches('0').to_string()
        }
    }

    proptest::proptest! {
        /// Every finite value reads back exactly, has no exponent, and carries
        /// Go's shortest digits.
        #[test]
        fn values_round_trip_with_go_digits(bits in proptest::num::u64::ANY) {
            let v = f64::from_bits(bits);
            proptest::prop_assume!(v.is_finite() && v != 0.0);
            let text = format_value(v);
            proptest::prop_assert!(!text.contains('e'), "{}", text);
            proptest::prop_assert_eq!(text.parse::<f64>().ok(), Some(v));
            let ours = significant_digits(&text);
            let go = go_digits(v);
            proptest::prop_assert_eq!(ours.trim_end_matches('0'), go.trim_end_matches('0'));
        }

        #[test]
        fn decimal_values_match_display(units in -10_000_000i64..10_000_000, scale in 0u32..9) {
            let v = units as f64 / 10f64.powi(scale as i32);
            proptest::prop_assert_eq!(format_value(v), v.to_string());
        }
    }

    #[test]
    fn strings_escaped_like_go() {
        let mut out = String::new();
        write_str(&mut out, "a\"b\\c\n<&>\u{1}é\u{2028}");
        assert_eq!(out, r#""a\"b\\c\n\u003c\u0026\u003e\u0001é\u2028""#);
    }

    #[test]
    fn vector_json() {
        let v = Value::Vector(vec![Sample {
            labels: Labels::from_pairs([("__name__", "up"), ("job", "a\"b")]),
            t: 1500,
            v: 1.0,
        }]);
        let mut out = String::new();
        write_data(&mut out, &v);
        assert_eq!(
            out,
            r#"{"resultType":"vector","result":[{"metric":{"__name__":"up","job":"a\"b"},"value":[1.500,"1"]}]}"#
        );
    }
}
