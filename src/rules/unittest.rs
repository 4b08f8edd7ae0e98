//! `sightline test rules TEST.yml...`: rule unit tests in `promtool test rules` format.
//!
//! Owns the test-file shape (strict: unknown keys are errors), the expanding
//! input-series notation (`a+bxN`, `a-bxN`, `axN`, `_`, `_xN`, `stale`), the
//! evaluation loop (every group at every `evaluation_interval` tick, in
//! `group_eval_order`, input samples visible up to the tick, alerts restored
//! from the start), firing-alert checks and PromQL checks (exact or one-ULP
//! `fuzzy_compare`). Data lives in an in-memory store, not in sled: a test
//! group needs seconds of data, never durability. Native-histogram inputs are
//! refused (the storage holds floats only).

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde::Deserialize;

use super::eval::EvalContext;
use super::file::{self, GroupSpec, LoadOptions};
use super::group::{Group, GroupOutput, Rule, RESEND_DELAY_MS};
use super::memory::{Input, MemoryStore};
use crate::config::PromDuration;
use crate::promql::{Engine, EngineOptions};
use crate::storage::{stale_nan, Labels, Sample};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TestFile {
    #[serde(default)]
    rule_files: Vec<String>,
    #[serde(default)]
    evaluation_interval: Option<PromDuration>,
    #[serde(default)]
    group_eval_order: Vec<String>,
    #[serde(default)]
    fuzzy_compare: bool,
    #[serde(default)]
    tests: Vec<TestGroup>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct TestGroup {
    #[serde(default)]
    name: String,
    #[serde(default)]
    interval: Option<PromDuration>,
    #[serde(default)]
    start_timestamp: Option<StartTime>,
    #[serde(default)]
    external_labels: BTreeMap<String, String>,
    #[serde(default)]
    external_url: String,
    #[serde(default)]
    input_series: Vec<InputSeries>,
    #[serde(default)]
    alert_rule_test: Vec<AlertTest>,
    #[serde(default)]
    promql_expr_test: Vec<ExprTest>,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum StartTime {
    Seconds(f64),
    Text(String),
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct InputSeries {
    series: String,
    #[serde(default)]
    values: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct AlertTest {
    #[serde(default)]
    eval_time: PromDuration,
    alertname: String,
    #[serde(default)]
    exp_alerts: Vec<ExpectedAlert>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ExpectedAlert {
    #[serde(default)]
    exp_labels: BTreeMap<String, String>,
    #[serde(default)]
    exp_annotations: BTreeMap<String, String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ExprTest {
    expr: String,
    #[serde(default)]
    eval_time: PromDuration,
    #[serde(default)]
    exp_samples: Vec<ExpectedSample>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ExpectedSample {
    #[serde(default)]
    labels: String,
    #[serde(default)]
    value: f64,
    #[serde(default)]
    histogram: String,
}

/// Options of one `test rules` run.
#[derive(Debug, Clone, Default)]
pub struct TestOptions {
    /// `--run`: only test groups whose name matches one of these regexes.
    pub run: Vec<String>,
    pub ignore_unknown_fields: bool,
}

/// The report and whether every test passed.
pub struct TestReport {
    pub text: String,
    pub passed: bool,
}

/// Runs every test file; the report mirrors promtool's.
pub fn run_files(files: &[PathBuf], opts: &TestOptions) -> TestReport {
    let mut text = String::new();
    let mut passed = true;
    let run_filter = match build_run_filter(&opts.run) {
        Ok(f) => f,
        Err(e) => {
            return TestReport {
                text: format!("invalid --run regex: {e}\n"),
                passed: false,
            }
        }
    };
    for path in files {
        let _ = writeln!(text, "Unit Testing:  {}", path.display());
        match run_file(path, opts, run_filter.as_ref()) {
            Ok(()) => text.push_str("  SUCCESS\n\n"),
            Err(errors) => {
                passed = false;
                text.push_str("  FAILED:\n");
                for e in errors {
                    let _ = writeln!(text, "{}", indent(&e));
                }
                text.push('\n');
            }
        }
    }
    TestReport { text, passed }
}

fn build_run_filter(run: &[String]) -> Result<Option<regex::Regex>, regex::Error> {
    if run.is_empty() {
        return Ok(None);
    }
    regex::Regex::new(&run.join("|")).map(Some)
}

fn indent(text: &str) -> String {
    text.lines()
        .map(|l| format!("    {l}"))
        .collect::<Vec<_>>()
        .join("\n")
}

fn run_file(path: &Path, opts: &TestOptions, run: Option<&regex::Regex>) -> Result<(), Vec<String>> {
    let text =
        std::fs::read_to_string(path).map_err(|e| vec![format!("cannot read {}: {e}", path.display())])?;
    let options = serde_saphyr::options! { with_snippet: false };
    let file: TestFile = serde_saphyr::from_str_with_options::<Option<TestFile>>(&text, options)
        .map_err(|e| {
            vec![format!(
                "{}: {}",
                path.display(),
                crate::config::ConfigError::from_yaml("", &e)
            )]
        })?
        .unwrap_or(TestFile {
            rule_files: Vec::new(),
            evaluation_interval: None,
            group_eval_order: Vec::new(),
            fuzzy_compare: false,
            tests: Vec::new(),
        });
    let base = path.parent().unwrap_or(Path::new(""));
    let rule_paths = file::expand_globs(&file.rule_files, base).map_err(|e| vec![e])?;
    let load = LoadOptions {
        ignore_unknown_fields: opts.ignore_unknown_fields,
        ..LoadOptions::default()
    };
    let specs = file::load_files(&rule_paths, load).map_err(|e| vec![e.to_string()])?;
    let interval_ms = file.evaluation_interval.map_or(60_000, |d| millis(d).max(1));
    let mut errors = Vec::new();
    for group in &file.tests {
        if run.is_some_and(|re| !re.is_match(&group.name)) {
            continue;
        }
        let suite = Suite {
            specs: &specs,
            eval_order: &file.group_eval_order,
            interval_ms,
            fuzzy: file.fuzzy_compare,
        };
        if let Err(e) = suite.run(group) {
            errors.extend(e);
        }
    }
    if errors.is_empty() {
        Ok(())
    } else {
        Err(errors)
    }
}

fn millis(d: PromDuration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

struct Suite<'a> {
    specs: &'a [GroupSpec],
    eval_order: &'a [String],
    interval_ms: i64,
    fuzzy: bool,
}

impl Suite<'_> {
    fn run(&self, tg: &TestGroup) -> Result<(), Vec<String>> {
        let start = start_ms(tg).map_err(|e| vec![e])?;
        let step = tg.interval.map_or(self.interval_ms, |d| millis(d).max(1));
        let mut pending_input = load_input(&tg.input_series, start, step).map_err(|e| vec![e])?;
        let store = Arc::new(MemoryStore::default());
        let engine = Engine::new(EngineOptions {
            default_subquery_step_ms: self.interval_ms,
            timeout: std::time::Duration::from_secs(100),
            ..EngineOptions::default()
        });
        let context = EvalContext {
            engine: engine.clone(),
            queryable: store.clone(),
            external_labels: tg.external_labels.clone(),
            external_url: tg.external_url.clone(),
        };
        let mut groups = self.groups().map_err(|e| vec![e])?;
        let max_eval = tg
            .alert_rule_test
            .iter()
            .map(|t| millis(t.eval_time))
            .chain(tg.promql_expr_test.iter().map(|t| millis(t.eval_time)))
            .max()
            .unwrap_or(0);
        let mut errors = Vec::new();
        let mut ts = start;
        while ts <= start.saturating_add(max_eval) {
            store.load_until(&mut pending_input, ts);
            let output = GroupOutput {
                appender: store.as_ref(),
                sink: None,
                resend_delay_ms: RESEND_DELAY_MS,
            };
            for g in &mut groups {
                if let Some(e) = g.eval(&context, &output, ts) {
                    return Err(vec![format!("    group {:?}: {e}", g.name)]);
                }
            }
            for test in &tg.alert_rule_test {
                let t = start + millis(test.eval_time);
                if ts <= t && t < ts + self.interval_ms {
                    errors.extend(check_alerts(test, &groups));
                }
            }
            ts = match ts.checked_add(self.interval_ms) {
                Some(next) => next,
                None => break,
            };
        }
        store.load_until(&mut pending_input, i64::MAX);
        for test in &tg.promql_expr_test {
            if let Err(e) = self.check_expr(test, &engine, store.as_ref(), start) {
                errors.push(e);
            }
        }
        if errors.is_empty() {
            Ok(())
        } else {
            Err(errors)
        }
    }

    /// Fresh groups, ordered by `group_eval_order` (unlisted groups count as 0).
    fn groups(&self) -> Result<Vec<Group>, String> {
        let mut groups = Vec::new();
        for spec in self.specs {
            let mut g = Group::new(spec, self.interval_ms)?;
            g.mark_restored();
            groups.push(g);
        }
        for name in self.eval_order {
            if !groups.iter().any(|g| &g.name == name) {
                return Err(format!(
                    "group name {name:?} listed in group_eval_order not found"
                ));
            }
        }
        let position = |g: &Group| self.eval_order.iter().position(|n| n == &g.name).unwrap_or(0);
        groups.sort_by_key(position);
        Ok(groups)
    }

    fn check_expr(
        &self,
        test: &ExprTest,
        engine: &Engine,
        store: &MemoryStore,
        start: i64,
    ) -> Result<(), String> {
        let t = start + millis(test.eval_time);
        let at = format_duration(test.eval_time);
        let fail = |what: String| format!("    expr: {:?}, time: {at},\n        err: {what}", test.expr);
        let result = engine
            .instant_query(store, &test.expr, t)
            .map_err(|e| fail(e.to_string()))?;
        let mut got: Vec<(Labels, f64)> = match result.value {
            crate::promql::Value::Vector(v) => v.into_iter().map(|s| (s.labels, s.v)).collect(),
            crate::promql::Value::Scalar { v, .. } => vec![(Labels::default(), v)],
            other => {
                return Err(fail(format!(
                    "expression produced a {} result",
                    other.type_name()
                )))
            }
        };
        let mut expected = Vec::new();
        for s in &test.exp_samples {
            if !s.histogram.is_empty() {
                return Err(fail("native histograms are not supported".into()));
            }
            let labels = if s.labels.is_empty() {
                Labels::default()
            } else {
                parse_series(&s.labels).map_err(|e| fail(format!("labels {:?}: {e}", s.labels)))?
            };
            expected.push((labels, s.value));
        }
        got.sort_by(|a, b| a.0.cmp(&b.0));
        expected.sort_by(|a, b| a.0.cmp(&b.0));
        let same = got.len() == expected.len()
            && got
                .iter()
                .zip(&expected)
                .all(|(g, e)| g.0 == e.0 && floats_match(g.1, e.1, self.fuzzy));
        if same {
            return Ok(());
        }
        Err(format!(
            "    expr: {:?}, time: {at},\n        exp: {}\n        got: {}",
            test.expr,
            samples_text(&expected),
            samples_text(&got)
        ))
    }
}

fn floats_match(got: f64, exp: f64, fuzzy: bool) -> bool {
    if got == exp {
        return true;
    }
    fuzzy && got.is_finite() && exp.is_finite() && ulp_distance(got, exp) <= 1
}

/// How many representable doubles lie between `a` and `b`.
fn ulp_distance(a: f64, b: f64) -> u64 {
    let ordered = |x: f64| {
        let bits = x.to_bits() as i64;
        if bits < 0 {
            i64::MIN - bits
        } else {
            bits
        }
    };
    ordered(a).abs_diff(ordered(b))
}

fn samples_text(samples: &[(Labels, f64)]) -> String {
    let items: Vec<String> = samples
        .iter()
        .map(|(l, v)| format!("{{Labels:{l} Value:{}}}", super::template::go_g(*v, 17)))
        .collect();
    format!("[{}]", items.join(" "))
}

type AlertKey = (BTreeMap<String, String>, BTreeMap<String, String>);

fn check_alerts(test: &AlertTest, groups: &[Group]) -> Option<String> {
    let mut got: Vec<AlertKey> = Vec::new();
    for g in groups {
        for r in &g.rules {
            let Rule::Alerting(a) = r else { continue };
            if a.name != test.alertname {
                continue;
            }
            for alert in a.active.values() {
                if alert.state == super::alerting::AlertState::Firing {
                    let labels = alert
                        .labels
                        .iter()
                        .map(|l| (l.name.clone(), l.value.clone()))
                        .collect();
                    got.push((labels, alert.annotations.clone()));
                }
            }
        }
    }
    let mut expected: Vec<AlertKey> = test
        .exp_alerts
        .iter()
        .map(|e| {
            let mut labels = e.exp_labels.clone();
            labels.insert("alertname".into(), test.alertname.clone());
            (labels, e.exp_annotations.clone())
        })
        .collect();
    got.sort();
    expected.sort();
    if got == expected {
        return None;
    }
    Some(format!(
        "    alertname: {}, time: {}, \n        exp:{},\n        got:{}",
        test.alertname,
        format_duration(test.eval_time),
        alerts_text(&expected),
        alerts_text(&got)
    ))
}

fn alerts_text(alerts: &[AlertKey]) -> String {
    let items: Vec<String> = alerts
        .iter()
        .enumerate()
        .map(|(i, (l, a))| {
            format!("\n            {i}:\n              Labels:{l:?}\n              Annotations:{a:?}")
        })
        .collect();
    if items.is_empty() {
        "[]".into()
    } else {
        items.concat()
    }
}

fn format_duration(d: PromDuration) -> String {
    d.to_string()
}

fn start_ms(tg: &TestGroup) -> Result<i64, String> {
    match &tg.start_timestamp {
        None => Ok(0),
        Some(StartTime::Seconds(s)) => Ok((s * 1000.0).round() as i64),
        Some(StartTime::Text(text)) => match text.parse::<f64>() {
            Ok(s) => Ok((s * 1000.0).round() as i64),
            Err(_) => chrono::DateTime::parse_from_rfc3339(text)
                .map(|t| t.timestamp_millis())
                .map_err(|e| format!("start_timestamp {text:?}: {e}")),
        },
    }
}

/// Parses `metric{a="b"}` (equality matchers only) into labels.
fn parse_series(text: &str) -> Result<Labels, String> {
    let sets = crate::api::parse_selector(text).map_err(|e| e.to_string())?;
    let set = sets.into_iter().next().unwrap_or_default();
    let mut pairs = Vec::with_capacity(set.len());
    for m in set {
        if m.op != crate::storage::MatchOp::Equal {
            return Err(format!("{text}: only = matchers describe a series"));
        }
        pairs.push((m.name, m.value));
    }
    Ok(Labels::from_pairs(pairs))
}

fn load_input(series: &[InputSeries], start: i64, step: i64) -> Result<Input, String> {
    let mut out = Vec::with_capacity(series.len());
    for s in series {
        let labels = parse_series(&s.series).map_err(|e| format!("    series {:?}: {e}", s.series))?;
        let values = expand_values(&s.values).map_err(|e| format!("    series {:?}: {e}", s.series))?;
        let samples = values
            .into_iter()
            .enumerate()
            .filter_map(|(i, v)| {
                v.map(|v| Sample {
                    t: start + i as i64 * step,
                    v,
                })
            })
            .collect();
        out.push((labels, samples));
    }
    Ok(out)
}

/// The expanding notation: `None` for `_` (no sample).
pub fn expand_values(text: &str) -> Result<Vec<Option<f64>>, String> {
    let mut out = Vec::new();
    for token in text.split_whitespace() {
        if token.starts_with("{{") {
            return Err("native histograms are not supported".into());
        }
        expand_token(token, &mut out)?;
    }
    Ok(out)
}

fn expand_token(token: &str, out: &mut Vec<Option<f64>>) -> Result<(), String> {
    let single = |t: &str| -> Result<Option<f64>, String> {
        match t {
            "_" => Ok(None),
            "stale" => Ok(Some(stale_nan())),
            _ => parse_float(t).map(Some),
        }
    };
    let Some((body, times)) = token
        .rsplit_once('x')
        .and_then(|(b, n)| Some((b, n.parse::<usize>().ok()?)))
    else {
        out.push(single(token)?);
        return Ok(());
    };
    if body == "_" {
        out.extend(std::iter::repeat_n(None, times));
        return Ok(());
    }
    if body == "stale" {
        out.extend(std::iter::repeat_n(Some(stale_nan()), times + 1));
        return Ok(());
    }
    let (first, delta) = split_sum(body)?;
    let mut v = first;
    for _ in 0..=times {
        out.push(Some(v));
        v += delta;
    }
    Ok(())
}

fn parse_float(t: &str) -> Result<f64, String> {
    t.parse::<f64>().map_err(|_| format!("invalid value {t:?}"))
}

/// `a+b`, `a-b` or `a` (step 0); a sign after `e` belongs to an exponent.
fn split_sum(body: &str) -> Result<(f64, f64), String> {
    let bytes = body.as_bytes();
    for i in 1..bytes.len() {
        let (c, prev) = (bytes[i], bytes[i - 1]);
        if (c == b'+' || c == b'-') && prev != b'e' && prev != b'E' {
            let step = parse_float(&body[i + 1..])?;
            return Ok((parse_float(&body[..i])?, if c == b'-' { -step } else { step }));
        }
    }
    Ok((parse_float(body)?, 0.0))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::storage::is_stale_nan;

    #[test]
    fn expands_the_notation() {
        let v = expand_values("1+2x2 _x2 stale 5-1x1 3x1").unwrap();
        let shown: Vec<String> = v
            .iter()
            .map(|x| match x {
                None => "_".into(),
                Some(f) if is_stale_nan(*f) => "stale".into(),
                Some(f) => f.to_string(),
            })
            .collect();
        assert_eq!(shown, ["1", "3", "5", "_", "_", "stale", "5", "4", "3", "3"]);
    }

    #[test]
    fn fuzzy_accepts_one_ulp_only() {
        let three = 3.0f64;
        let next = f64::from_bits(three.to_bits() + 1);
        let third = f64::from_bits(three.to_bits() + 3);
        assert!(floats_match(next, three, true));
        assert!(!floats_match(next, three, false));
        assert!(!floats_match(third, three, true));
    }
}
