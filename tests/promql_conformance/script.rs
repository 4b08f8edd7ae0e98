//! Test-only: reads Prometheus's `.test` script language into commands
//! (see `shared/conformance/promql/FORMAT.md` §1–§5).

use regex::Regex;
use sightline::storage::Labels;

use super::series_desc::{parse_duration_ms, parse_go_string, parse_series_line, ExpectedValue, SeriesLine};

#[derive(Debug)]
pub enum Command {
    Clear,
    Load(Load),
    Eval(Box<Eval>),
}

#[derive(Debug)]
pub struct Load {
    pub step_ms: i64,
    pub with_nhcb: bool,
    pub series: Vec<SeriesLine>,
}

#[derive(Debug, Clone)]
pub enum EvalKind {
    Instant {
        at_ms: i64,
    },
    Range {
        start_ms: i64,
        end_ms: i64,
        step_ms: i64,
    },
}

/// An `expect warn|info` line: `None` matches any annotation.
#[derive(Debug, Clone)]
pub enum TextMatch {
    Any,
    Exact(String),
    Regex(String),
}

#[derive(Debug, Clone)]
pub enum Expected {
    /// Series lines (possibly none); `range` is set by `expect range vector`.
    Series {
        series: Vec<(Labels, Vec<ExpectedValue>)>,
        range: Option<(i64, i64, i64)>,
    },
    Scalar(f64),
    String(String),
}

#[derive(Debug, Clone)]
pub struct Eval {
    pub expr: String,
    pub kind: EvalKind,
    pub fail: Option<TextMatch>,
    pub warn: Vec<TextMatch>,
    pub info: Vec<TextMatch>,
    pub no_warn: bool,
    pub no_info: bool,
    pub ordered: bool,
    pub expected: Expected,
    /// The eval line or its block mentions a native histogram (`{{`).
    pub native_in_block: bool,
}

/// Splits a file into commands, each with the line number it starts on.
pub fn parse_script(text: &str) -> Result<Vec<(usize, Command)>, String> {
    let lines: Vec<&str> = text
        .split('\n')
        .map(|l| l.trim())
        .map(|l| if l.starts_with('#') { "" } else { l })
        .collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < lines.len() {
        if lines[i].is_empty() {
            i += 1;
            continue;
        }
        let start = i;
        i += 1;
        while i < lines.len() && !lines[i].is_empty() {
            i += 1;
        }
        let (consumed, cmd) = parse_command(&lines[start..i], start + 1)?;
        out.push((start + 1, cmd));
        // A block that ended early (after a scalar or an expected_fail line) leaves
        // its remaining lines to be read as new commands.
        if start + consumed < i {
            i = start + consumed;
        }
    }
    Ok(out)
}

fn parse_command(block: &[&str], line: usize) -> Result<(usize, Command), String> {
    let first = block[0];
    let word = first.split_whitespace().next().unwrap_or("").to_lowercase();
    if word == "clear" {
        return Ok((1, Command::Clear));
    }
    if word.starts_with("load") {
        return parse_load(block, line).map(|l| (block.len(), Command::Load(l)));
    }
    if word.starts_with("eval") {
        return parse_eval(block, line).map(|(n, e)| (n, Command::Eval(Box::new(e))));
    }
    Err(format!("line {line}: invalid command {first:?}"))
}

fn parse_load(block: &[&str], line: usize) -> Result<Load, String> {
    let re = Regex::new(r"^load(?:_(with_nhcb))?\s+(.+?)$").unwrap();
    let caps = re
        .captures(block[0])
        .ok_or_else(|| format!("line {line}: bad load"))?;
    let step_ms = parse_duration_ms(&caps[2])?;
    let mut series: Vec<SeriesLine> = Vec::new();
    for (k, l) in block.iter().enumerate().skip(1) {
        // Start timestamps (`metric@st …`) are not stored by Sightline.
        if l.split_whitespace().next().is_some_and(|w| w.ends_with("@st")) {
            continue;
        }
        let parsed = parse_series_line(l).map_err(|e| format!("line {}: {e}", line + k))?;
        series.retain(|s| s.labels != parsed.labels);
        series.push(parsed);
    }
    Ok(Load {
        step_ms,
        with_nhcb: caps.get(1).is_some(),
        series,
    })
}

fn parse_eval(block: &[&str], line: usize) -> Result<(usize, Eval), String> {
    let instant =
        Regex::new(r"^eval(?:_(fail|warn|ordered|info))?\s+instant\s+(?:at\s+(.+?))?\s+(.+)$").unwrap();
    let range =
        Regex::new(r"^eval(?:_(fail|warn|info))?\s+range\s+from\s+(.+)\s+to\s+(.+)\s+step\s+(.+?)\s+(.+)$")
            .unwrap();
    let mut ev = Eval {
        expr: String::new(),
        kind: EvalKind::Instant { at_ms: 0 },
        fail: None,
        warn: Vec::new(),
        info: Vec::new(),
        no_warn: false,
        no_info: false,
        ordered: false,
        expected: Expected::Series {
            series: Vec::new(),
            range: None,
        },
        native_in_block: block.iter().any(|l| l.contains("{{")),
    };
    let modifier;
    if let Some(c) = range.captures(block[0]) {
        modifier = c.get(1).map(|m| m.as_str().to_string());
        let start_ms = parse_duration_ms(&c[2])?;
        let end_ms = parse_duration_ms(&c[3])?;
        let step_ms = parse_duration_ms(&c[4])?;
        if end_ms < start_ms {
            return Err(format!("line {line}: end before start"));
        }
        ev.kind = EvalKind::Range {
            start_ms,
            end_ms,
            step_ms,
        };
        ev.expr = c[5].to_string();
    } else if let Some(c) = instant.captures(block[0]) {
        modifier = c.get(1).map(|m| m.as_str().to_string());
        let at = c.get(2).map(|m| m.as_str()).unwrap_or("");
        ev.kind = EvalKind::Instant {
            at_ms: parse_duration_ms(at.split_whitespace().next().unwrap_or(""))?,
        };
        ev.expr = c[3].to_string();
    } else {
        return Err(format!("line {line}: invalid eval command"));
    }
    match modifier.as_deref() {
        Some("fail") => ev.fail = Some(TextMatch::Any),
        Some("warn") => ev.warn.push(TextMatch::Any),
        Some("info") => ev.info.push(TextMatch::Any),
        Some("ordered") => ev.ordered = true,
        _ => {}
    }
    let consumed = parse_eval_block(&mut ev, block, modifier.as_deref() == Some("fail"))?;
    Ok((consumed, ev))
}

/// Reads the block lines after `eval`; returns how many lines the command used.
fn parse_eval_block(ev: &mut Eval, block: &[&str], old_fail: bool) -> Result<usize, String> {
    let mut series = Vec::new();
    let mut range = None;
    for (k, l) in block.iter().enumerate().skip(1) {
        if old_fail {
            if let Some(msg) = l.strip_prefix("expected_fail_message") {
                ev.fail = Some(TextMatch::Exact(msg.trim().to_string()));
                return Ok(k + 1);
            }
            if let Some(re) = l.strip_prefix("expected_fail_regexp") {
                ev.fail = Some(TextMatch::Regex(re.trim().to_string()));
                return Ok(k + 1);
            }
        }
        if l.split(' ').next() == Some("expect") {
            if let Some(r) = parse_expect_line(ev, l)? {
                range = Some(r);
            }
            continue;
        }
        if let Some(v) = parse_go_number(l) {
            ev.expected = Expected::Scalar(v);
            return Ok(k + 1);
        }
        let parsed = parse_series_line(l)?;
        let values = parsed.expected_values()?;
        series.push((parsed.labels, values));
    }
    if !matches!(ev.expected, Expected::String(_)) {
        ev.expected = Expected::Series { series, range };
    }
    Ok(block.len())
}

fn parse_expect_line(ev: &mut Eval, l: &str) -> Result<Option<(i64, i64, i64)>, String> {
    let rest = l["expect".len()..].trim();
    if let Some(r) = rest.strip_prefix("range vector") {
        let re = Regex::new(r"^from\s+(\S+)\s+to\s+(\S+)\s+step\s+(\S+)$").unwrap();
        let c = re
            .captures(r.trim())
            .ok_or_else(|| format!("bad range vector line {l:?}"))?;
        let (s, e, st) = (
            parse_duration_ms(&c[1])?,
            parse_duration_ms(&c[2])?,
            parse_duration_ms(&c[3])?,
        );
        ev.kind = EvalKind::Instant { at_ms: e };
        return Ok(Some((s, e, st)));
    }
    if let Some(s) = rest.strip_prefix("string") {
        ev.expected = Expected::String(parse_go_string(s.trim())?);
        return Ok(None);
    }
    let (kind, text) = rest.split_once(' ').unwrap_or((rest, ""));
    let text = text.trim();
    let matcher = if let Some(m) = text.strip_prefix("msg:") {
        TextMatch::Exact(m.trim().to_string())
    } else if let Some(r) = text.strip_prefix("regex:") {
        TextMatch::Regex(r.trim().to_string())
    } else {
        TextMatch::Any
    };
    match kind {
        "fail" => ev.fail = Some(matcher),
        "warn" => ev.warn.push(matcher),
        "info" => ev.info.push(matcher),
        "no_warn" => ev.no_warn = true,
        "no_info" => ev.no_info = true,
        "ordered" => ev.ordered = true,
        other => return Err(format!("unknown expect kind {other:?}")),
    }
    Ok(None)
}

/// Go's `ParseInt(s, 0, 64)` then `ParseFloat(s, 64)`.
fn parse_go_number(s: &str) -> Option<f64> {
    let (neg, body) = match s.strip_prefix('-') {
        Some(b) => (true, b),
        None => (false, s.strip_prefix('+').unwrap_or(s)),
    };
    let int = if let Some(h) = body.strip_prefix("0x").or_else(|| body.strip_prefix("0X")) {
        i64::from_str_radix(h, 16).ok()
    } else if body.len() > 1 && body.starts_with('0') && body.bytes().all(|b| b.is_ascii_digit()) {
        i64::from_str_radix(&body[1..], 8).ok()
    } else {
        body.parse::<i64>().ok()
    };
    if let Some(i) = int {
        return Some(if neg { -(i as f64) } else { i as f64 });
    }
    let lower = s.to_ascii_lowercase();
    let looks_numeric = lower
        .trim_start_matches(['+', '-'])
        .starts_with(|c: char| c.is_ascii_digit() || c == '.')
        || matches!(lower.trim_start_matches(['+', '-']), "inf" | "infinity" | "nan");
    if !looks_numeric {
        return None;
    }
    s.parse::<f64>().ok()
}
