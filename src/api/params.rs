//! Request parameters as Prometheus's HTTP API reads them: repeated keys
//! (`match[]`), GET query strings and POST form bodies alike, times as RFC 3339
//! or Unix seconds, and series selectors.

use crate::storage::{MatchOp, Matcher, METRIC_NAME};
use promql_parser::label::MatchOp as ParsedOp;
use promql_parser::parser::Expr;

/// Decoded `key=value` pairs of a query string and/or form body, in order.
#[derive(Debug, Default)]
pub struct Params(Vec<(String, String)>);

impl Params {
    /// Reads the query string and, for POST forms, the body.
    pub fn parse(query: Option<&str>, form_body: &[u8]) -> Params {
        let mut pairs: Vec<(String, String)> = form_urlencoded::parse(query.unwrap_or("").as_bytes())
            .into_owned()
            .collect();
        pairs.extend(form_urlencoded::parse(form_body).into_owned());
        Params(pairs)
    }

    pub fn get(&self, key: &str) -> Option<&str> {
        self.0.iter().find(|(k, _)| k == key).map(|(_, v)| v.as_str())
    }

    pub fn all<'a>(&'a self, key: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.0
            .iter()
            .filter(move |(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    /// A time parameter in milliseconds, or `default` when absent.
    pub fn time_or(&self, key: &str, default: i64) -> Result<i64, String> {
        match self.get(key) {
            None | Some("") => Ok(default),
            Some(v) => parse_time(v).map_err(|e| format!("invalid parameter \"{key}\": {e}")),
        }
    }

    /// An optional non-negative integer `limit`.
    pub fn limit(&self) -> Result<Option<usize>, String> {
        match self.get("limit") {
            None | Some("") | Some("0") => Ok(None),
            Some(v) => v
                .parse::<usize>()
                .map(Some)
                .map_err(|_| format!("invalid parameter \"limit\": cannot parse {v:?} to a valid limit")),
        }
    }
}

/// Parses a duration as Prometheus's API does: float seconds (`15`, `0.5`)
/// or a duration string (`1m30s`). Returns milliseconds.
pub fn parse_duration_or_seconds(s: &str) -> Result<i64, String> {
    if let Ok(secs) = s.parse::<f64>() {
        let ms = secs * 1000.0;
        if ms.is_finite() && ms.abs() < 9.2e18 {
            return Ok(ms.round() as i64);
        }
        return Err(format!(
            "cannot parse {s:?} to a valid duration. It overflows int64"
        ));
    }
    s.parse::<crate::config::PromDuration>()
        .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
        .map_err(|_| format!("cannot parse {s:?} to a valid duration"))
}

/// Parses Unix seconds (with fraction) or RFC 3339 into milliseconds.
pub fn parse_time(s: &str) -> Result<i64, String> {
    if let Ok(secs) = s.parse::<f64>() {
        if secs.is_finite() && secs.abs() < 9.2e15 {
            return Ok((secs * 1000.0).round() as i64);
        }
    }
    chrono::DateTime::parse_from_rfc3339(s)
        .map(|t| t.timestamp_millis())
        .map_err(|_| format!("cannot parse {s:?} to a valid timestamp"))
}

/// Parses a series selector (`up{job="x"}`, `{__name__=~"a|b"}`) into one
/// matcher set per alternative (`or` inside braces gives several).
pub fn parse_selector(s: &str) -> Result<Vec<Vec<Matcher>>, String> {
    let expr = crate::promql::parse(s).map_err(|e| format!("1:1: parse error: {e}"))?;
    let Expr::VectorSelector(vs) = expr else {
        return Err(format!(
            "invalid parameter \"match[]\": {s:?} is not a series selector"
        ));
    };
    let name = vs.name.as_deref().map(|n| Matcher::equal(METRIC_NAME, n));
    let mut sets = vec![vs.matchers.matchers];
    sets.extend(vs.matchers.or_matchers);
    sets.into_iter()
        .map(|set| {
            let mut out: Vec<Matcher> = name.iter().cloned().collect();
            for m in set {
                out.push(convert_matcher(&m)?);
            }
            Ok(out)
        })
        .collect()
}

fn convert_matcher(m: &promql_parser::label::Matcher) -> Result<Matcher, String> {
    let op = match m.op {
        ParsedOp::Equal => MatchOp::Equal,
        ParsedOp::NotEqual => MatchOp::NotEqual,
        ParsedOp::Re(_) => MatchOp::Regex,
        ParsedOp::NotRe(_) => MatchOp::NotRegex,
    };
    Matcher::new(op, m.name.clone(), m.value.clone()).map_err(|e| format!("invalid regular expression: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times() {
        assert_eq!(parse_time("1.5"), Ok(1500));
        assert_eq!(parse_time("2015-07-01T20:10:51.781Z"), Ok(1_435_781_451_781));
        assert!(parse_time("yesterday").is_err());
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration_or_seconds("15"), Ok(15_000));
        assert_eq!(parse_duration_or_seconds("0.5"), Ok(500));
        assert_eq!(parse_duration_or_seconds("1m30s"), Ok(90_000));
        assert!(parse_duration_or_seconds("fast").is_err());
    }

    #[test]
    fn repeated_keys_from_query_and_form() {
        let p = Params::parse(Some("match%5B%5D=up&start=1"), b"match[]=down&end=2");
        assert_eq!(p.all("match[]").collect::<Vec<_>>(), vec!["up", "down"]);
        assert_eq!(p.time_or("start", 0), Ok(1000));
        assert_eq!(p.time_or("missing", 7), Ok(7));
    }

    #[test]
    fn selectors() {
        let sets = parse_selector(r#"up{job=~"a.*",env!="x"}"#).unwrap();
        assert_eq!(sets.len(), 1);
        assert_eq!(sets[0].len(), 3);
        assert!(sets[0][1].matches("abc") && !sets[0][1].matches("xabc"));
        assert!(parse_selector("rate(up[5m])").is_err());
        assert!(parse_selector("up{").is_err());
    }
}
