//! Test-only: the series-description language of `.test` files (labels,
//! expanding value notations, Go string literals and durations).

use sightline::storage::{stale_nan, Labels, METRIC_NAME};

/// One loaded value position.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum LoadValue {
    Omitted,
    Float(f64),
    Stale,
    /// A native histogram, which Sightline does not store.
    Histogram,
}

/// One expected value position in a result.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum ExpectedValue {
    Missing,
    Float(f64),
    Histogram,
}

#[derive(Debug, Clone)]
pub struct SeriesLine {
    pub labels: Labels,
    pub values: Vec<LoadValue>,
}

impl SeriesLine {
    pub fn has_histograms(&self) -> bool {
        self.values.contains(&LoadValue::Histogram)
    }

    pub fn expected_values(&self) -> Result<Vec<ExpectedValue>, String> {
        Ok(self
            .values
            .iter()
            .map(|v| match v {
                LoadValue::Omitted => ExpectedValue::Missing,
                LoadValue::Float(f) => ExpectedValue::Float(*f),
                LoadValue::Stale => ExpectedValue::Float(stale_nan()),
                LoadValue::Histogram => ExpectedValue::Histogram,
            })
            .collect())
    }
}

/// Prometheus durations: `1h30m`, `10s53ms`, `0`.
pub fn parse_duration_ms(s: &str) -> Result<i64, String> {
    let s = s.trim();
    if s == "0" {
        return Ok(0);
    }
    let mut total: i64 = 0;
    let mut rest = s;
    if rest.is_empty() {
        return Err("empty duration".into());
    }
    while !rest.is_empty() {
        let digits = rest.bytes().take_while(|b| b.is_ascii_digit()).count();
        if digits == 0 {
            return Err(format!("bad duration {s:?}"));
        }
        let n: i64 = rest[..digits]
            .parse()
            .map_err(|_| format!("bad duration {s:?}"))?;
        rest = &rest[digits..];
        let unit_len = rest.bytes().take_while(|b| b.is_ascii_alphabetic()).count();
        let unit = &rest[..unit_len];
        rest = &rest[unit_len..];
        let ms = match unit {
            "ms" => 1,
            "s" => 1000,
            "m" => 60_000,
            "h" => 3_600_000,
            "d" => 86_400_000,
            "w" => 7 * 86_400_000,
            "y" => 365 * 86_400_000,
            _ => return Err(format!("bad duration unit in {s:?}")),
        };
        total += n * ms;
    }
    Ok(total)
}

/// A Go string literal: double-quoted with escapes, back-quoted raw, or single-quoted.
pub fn parse_go_string(s: &str) -> Result<String, String> {
    let (body, rest) = split_go_string(s)?;
    if !rest.trim().is_empty() {
        return Err(format!("trailing text after string {s:?}"));
    }
    Ok(body)
}

/// Reads one quoted string at the start of `s`; returns it and the text after it.
fn split_go_string(s: &str) -> Result<(String, &str), String> {
    let mut chars = s.char_indices();
    let quote = match chars.next() {
        Some((_, q @ ('"' | '\'' | '`'))) => q,
        _ => return Err(format!("not a string literal: {s:?}")),
    };
    let mut out = String::new();
    while let Some((i, c)) = chars.next() {
        if c == quote {
            return Ok((out, &s[i + c.len_utf8()..]));
        }
        if c != '\\' || quote == '`' {
            out.push(c);
            continue;
        }
        let (_, e) = chars.next().ok_or("unterminated escape")?;
        match e {
            'n' => out.push('\n'),
            't' => out.push('\t'),
            'r' => out.push('\r'),
            'a' => out.push('\x07'),
            'b' => out.push('\x08'),
            'f' => out.push('\x0c'),
            'v' => out.push('\x0b'),
            'x' | 'u' | 'U' => {
                let n = match e {
                    'x' => 2,
                    'u' => 4,
                    _ => 8,
                };
                let hex: String = (0..n).filter_map(|_| chars.next().map(|(_, h)| h)).collect();
                let code = u32::from_str_radix(&hex, 16).map_err(|_| format!("bad escape in {s:?}"))?;
                out.push(char::from_u32(code).ok_or("bad code point")?);
            }
            other => out.push(other),
        }
    }
    Err(format!("unterminated string {s:?}"))
}

/// `metric{a="b"} values…` (values may be empty for expected `{}` lines without values).
pub fn parse_series_line(line: &str) -> Result<SeriesLine, String> {
    let name_len = line
        .find(|c: char| c == '{' || c.is_whitespace())
        .unwrap_or(line.len());
    let mut pairs: Vec<(String, String)> = Vec::new();
    if name_len > 0 {
        pairs.push((METRIC_NAME.to_string(), line[..name_len].to_string()));
    }
    let mut rest = &line[name_len..];
    if rest.starts_with('{') {
        rest = parse_label_block(&rest[1..], &mut pairs)?;
    }
    let labels = Labels::from_pairs(pairs);
    Ok(SeriesLine {
        labels,
        values: parse_values(rest.trim())?,
    })
}

/// Parses `a="b", "c"="d", "name"}`; returns the text after the closing brace.
fn parse_label_block<'a>(mut s: &'a str, pairs: &mut Vec<(String, String)>) -> Result<&'a str, String> {
    loop {
        s = s.trim_start();
        if let Some(after) = s.strip_prefix('}') {
            return Ok(after);
        }
        let name;
        if s.starts_with('"') || s.starts_with('`') || s.starts_with('\'') {
            let (n, after) = split_go_string(s)?;
            name = n;
            s = after.trim_start();
        } else {
            let len = s
                .find(|c: char| !(c.is_alphanumeric() || c == '_' || c == ':' || c == '.'))
                .unwrap_or(s.len());
            name = s[..len].to_string();
            s = s[len..].trim_start();
        }
        if let Some(after) = s.strip_prefix('=') {
            let (value, after) = split_go_string(after.trim_start())?;
            pairs.push((name, value));
            s = after.trim_start();
        } else {
            pairs.push((METRIC_NAME.to_string(), name));
        }
        s = s.strip_prefix(',').unwrap_or(s);
    }
}

/// Splits on whitespace, keeping `{{ … }}` histograms (and their suffixes) whole.
fn tokens(s: &str) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    let mut depth = 0usize;
    for word in s.split_whitespace() {
        if depth > 0 {
            if let Some(last) = out.last_mut() {
                last.push(' ');
                last.push_str(word);
            }
        } else {
            out.push(word.to_string());
        }
        depth += word.matches("{{").count();
        depth = depth.saturating_sub(word.matches("}}").count());
    }
    out
}

fn parse_values(s: &str) -> Result<Vec<LoadValue>, String> {
    let mut out = Vec::new();
    for tok in tokens(s) {
        expand_item(&tok, &mut out)?;
    }
    Ok(out)
}

fn parse_float(s: &str) -> Result<f64, String> {
    s.parse::<f64>().map_err(|_| format!("bad number {s:?}"))
}

/// The `N` of a trailing `xN`, and the text before it.
fn split_times(tok: &str) -> Option<(&str, u64)> {
    let pos = tok.rfind('x')?;
    let n = tok[pos + 1..].parse().ok()?;
    Some((&tok[..pos], n))
}

fn expand_item(tok: &str, out: &mut Vec<LoadValue>) -> Result<(), String> {
    if tok.starts_with("{{") {
        let copies = match tok.rfind("}}") {
            Some(end) => {
                tok[end + 2..]
                    .strip_prefix('x')
                    .and_then(|n| n.parse::<u64>().ok())
                    .unwrap_or(0)
                    + 1
            }
            None => 1,
        };
        out.extend((0..copies).map(|_| LoadValue::Histogram));
        return Ok(());
    }
    if tok == "_" {
        out.push(LoadValue::Omitted);
        return Ok(());
    }
    if tok == "stale" {
        out.push(LoadValue::Stale);
        return Ok(());
    }
    let Some((body, n)) = split_times(tok) else {
        out.push(LoadValue::Float(parse_float(tok)?));
        return Ok(());
    };
    if body == "_" {
        out.extend((0..n).map(|_| LoadValue::Omitted));
        return Ok(());
    }
    if body == "stale" {
        out.extend((0..=n).map(|_| LoadValue::Stale));
        return Ok(());
    }
    let (start, delta) = split_sum(body)?;
    let mut v = start;
    for _ in 0..=n {
        out.push(LoadValue::Float(v));
        v += delta;
    }
    Ok(())
}

/// `a+b`, `a-b` or plain `a` (delta 0).
fn split_sum(body: &str) -> Result<(f64, f64), String> {
    let bytes = body.as_bytes();
    for i in 1..bytes.len() {
        let c = bytes[i];
        let prev = bytes[i - 1];
        if (c == b'+' || c == b'-') && prev != b'e' && prev != b'E' {
            let a = parse_float(&body[..i])?;
            let b = parse_float(&body[i + 1..])?;
            return Ok((a, if c == b'-' { -b } else { b }));
        }
    }
    Ok((parse_float(body)?, 0.0))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expands_values() {
        let l = parse_series_line(r#"m{a="x y", b="\"q\""} 1+2x2 _x2 stale -2-1x1 {{schema:0 sum:1}}x1"#)
            .unwrap();
        assert_eq!(l.labels.get("a"), "x y");
        assert_eq!(l.labels.get("b"), "\"q\"");
        assert_eq!(l.values.len(), 3 + 2 + 1 + 2 + 2);
        assert_eq!(parse_duration_ms("1m30s").unwrap(), 90_000);
        assert_eq!(parse_duration_ms("10s53ms").unwrap(), 10_053);
    }
}
