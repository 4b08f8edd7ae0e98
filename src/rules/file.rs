//! Rule files in Prometheus's format: reading, decoding and validating them.
//!
//! Owns the shape of a rule file (`groups:` → rules) and every check Prometheus's
//! `rulefmt` makes, with its wording, each pinned to `file:line:column`. Unknown
//! keys are refused as `field X not found in type rulefmt.RuleNode` unless the
//! caller asks to ignore them (`--ignore-unknown-fields`). Must not evaluate
//! anything: templates are parsed, never run.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Deserialize;
use serde_saphyr::Spanned;

use super::keys::unknown_keys;
use super::template;
use crate::config::{ConfigError, Position, Problem, PromDuration};

/// How label and annotation names are checked (Prometheus 3 defaults to UTF-8).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum NameValidation {
    /// Any non-empty UTF-8 name.
    #[default]
    Utf8,
    /// `[a-zA-Z_][a-zA-Z0-9_]*`, as before Prometheus 3.
    Legacy,
}

/// Options for reading rule files.
#[derive(Debug, Clone, Copy, Default)]
pub struct LoadOptions {
    pub names: NameValidation,
    /// Accept keys Sightline does not know (`--ignore-unknown-fields`).
    pub ignore_unknown_fields: bool,
}

/// Whether a rule records a series or raises an alert, with its name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RuleKind {
    Record(String),
    Alert(String),
}

/// One validated rule, as written in its file (group labels already merged in).
#[derive(Debug, Clone, PartialEq)]
pub struct RuleSpec {
    pub kind: RuleKind,
    pub expr: String,
    pub for_ms: i64,
    pub keep_firing_for_ms: i64,
    pub labels: BTreeMap<String, String>,
    pub annotations: BTreeMap<String, String>,
}

impl RuleSpec {
    /// The record or alert name.
    pub fn name(&self) -> &str {
        match &self.kind {
            RuleKind::Record(n) | RuleKind::Alert(n) => n,
        }
    }
}

/// One validated rule group.
#[derive(Debug, Clone, PartialEq)]
pub struct GroupSpec {
    pub name: String,
    pub file: String,
    /// `None`: the global `evaluation_interval`.
    pub interval_ms: Option<i64>,
    pub query_offset_ms: i64,
    /// Most alerts or series per rule; 0 = no limit.
    pub limit: usize,
    pub rules: Vec<RuleSpec>,
}

#[derive(Deserialize, Default)]
struct RawFile {
    #[serde(default)]
    groups: Option<Vec<Spanned<RawGroup>>>,
}

#[derive(Deserialize)]
struct RawGroup {
    #[serde(default)]
    name: String,
    #[serde(default)]
    interval: Option<PromDuration>,
    #[serde(default)]
    query_offset: Option<PromDuration>,
    #[serde(default)]
    limit: Option<u64>,
    #[serde(default)]
    labels: Option<BTreeMap<String, String>>,
    #[serde(default)]
    rules: Option<Vec<Spanned<RawRule>>>,
}

#[derive(Deserialize)]
struct RawRule {
    #[serde(default)]
    record: Option<Spanned<String>>,
    #[serde(default)]
    alert: Option<Spanned<String>>,
    #[serde(default)]
    expr: Option<Spanned<String>>,
    #[serde(default, rename = "for")]
    for_: Option<PromDuration>,
    #[serde(default)]
    keep_firing_for: Option<PromDuration>,
    #[serde(default)]
    labels: Option<BTreeMap<String, String>>,
    #[serde(default)]
    annotations: Option<BTreeMap<String, String>>,
}

/// Expands `patterns` (globs; relative ones against `base`) into sorted, de-duplicated files.
/// A pattern that matches nothing is not an error, as in Prometheus.
pub fn expand_globs(patterns: &[String], base: &Path) -> Result<Vec<PathBuf>, String> {
    let mut files = Vec::new();
    for pattern in patterns {
        let full = if Path::new(pattern).is_absolute() {
            PathBuf::from(pattern)
        } else {
            base.join(pattern)
        };
        let text = full.to_string_lossy().into_owned();
        let paths = glob::glob(&text).map_err(|e| format!("invalid rule file pattern {pattern:?}: {e}"))?;
        for path in paths {
            files.push(path.map_err(|e| format!("rule file pattern {pattern:?}: {e}"))?);
        }
    }
    files.sort();
    files.dedup();
    Ok(files)
}

/// Reads and validates every file; all problems of all files are reported together.
pub fn load_files(files: &[PathBuf], opts: LoadOptions) -> Result<Vec<GroupSpec>, ConfigError> {
    let mut groups = Vec::new();
    let mut problems = Vec::new();
    for path in files {
        let name = path.display().to_string();
        let parsed = std::fs::read_to_string(path)
            .map_err(|e| ConfigError::whole_file(&name, format!("cannot read rule file: {e}")))
            .and_then(|text| parse_str(&text, &name, opts));
        match parsed {
            Ok(g) => groups.extend(g),
            Err(e) => problems.extend(e.problems),
        }
    }
    if problems.is_empty() {
        Ok(groups)
    } else {
        Err(ConfigError { problems })
    }
}

/// Parses and validates one rule file's text; `file` names it in errors and in the groups.
pub fn parse_str(yaml: &str, file: &str, opts: LoadOptions) -> Result<Vec<GroupSpec>, ConfigError> {
    let options = serde_saphyr::options! { with_snippet: false };
    let raw: Option<RawFile> = serde_saphyr::from_str_with_options(first_document(yaml), options)
        .map_err(|err| ConfigError::from_yaml(file, &err))?;
    let mut problems = Vec::new();
    if !opts.ignore_unknown_fields {
        for (position, message) in unknown_keys(first_document(yaml)) {
            problems.push(problem(file, position, message));
        }
    }
    let raw = raw.unwrap_or_default();
    let mut seen = std::collections::HashSet::new();
    let mut groups = Vec::new();
    for group in raw.groups.unwrap_or_default() {
        let at = Position::from_location(group.referenced);
        let g = group.value;
        let mut prefix_problem = |message: String| problems.push(problem(file, at, message));
        if g.name.is_empty() {
            prefix_problem("Groupname must not be empty".into());
        }
        if !seen.insert(g.name.clone()) {
            prefix_problem(format!("groupname: {:?} is repeated in the same file", g.name));
        }
        let group_labels = g.labels.unwrap_or_default();
        for name in group_labels.keys() {
            if !valid_label_name(name, opts.names) || name == "__name__" {
                prefix_problem(format!("invalid label name: {name}"));
            }
        }
        let mut rules = Vec::new();
        for (index, rule) in g.rules.unwrap_or_default().into_iter().enumerate() {
            let at = Position::from_location(rule.referenced);
            match check_rule(rule.value, opts.names) {
                Ok(mut spec) => {
                    for (k, v) in &group_labels {
                        spec.labels.entry(k.clone()).or_insert_with(|| v.clone());
                    }
                    rules.push(spec);
                }
                Err(errs) => {
                    for (pos, rule_name, message) in errs {
                        let message =
                            format!("group {:?}, rule {}, {rule_name:?}: {message}", g.name, index + 1);
                        problems.push(problem(file, pos.or(at), message));
                    }
                }
            }
        }
        groups.push(GroupSpec {
            name: g.name,
            file: file.to_string(),
            interval_ms: g.interval.map(millis),
            query_offset_ms: g.query_offset.map(millis).unwrap_or(0),
            limit: usize::try_from(g.limit.unwrap_or(0)).unwrap_or(usize::MAX),
            rules,
        });
    }
    if problems.is_empty() {
        Ok(groups)
    } else {
        Err(ConfigError { problems })
    }
}

/// Only the first YAML document counts, as in Prometheus.
fn first_document(yaml: &str) -> &str {
    let mut offset = 0;
    for (i, line) in yaml.split_inclusive('\n').enumerate() {
        let is_separator = line.trim_end() == "---" || line.starts_with("--- ");
        if is_separator && i > 0 && !yaml[..offset].trim().is_empty() {
            return &yaml[..offset];
        }
        offset += line.len();
    }
    yaml
}

fn millis(d: PromDuration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

fn problem(file: &str, position: Option<Position>, message: String) -> Problem {
    Problem {
        file: file.to_string(),
        position,
        message,
    }
}

type RuleProblems = Vec<(Option<Position>, String, String)>;

/// Prometheus's `Rule.Validate`, message for message.
fn check_rule(r: RawRule, names: NameValidation) -> Result<RuleSpec, RuleProblems> {
    let pos = |s: &Option<Spanned<String>>| s.as_ref().and_then(|s| Position::from_location(s.referenced));
    let text = |s: &Option<Spanned<String>>| s.as_ref().map(|s| s.value.clone()).unwrap_or_default();
    let (record, alert, expr) = (text(&r.record), text(&r.alert), text(&r.expr));
    let rule_name = if alert.is_empty() {
        record.clone()
    } else {
        alert.clone()
    };
    let mut errs: Vec<(Option<Position>, String)> = Vec::new();
    let record_at = pos(&r.record).or(pos(&r.alert));
    if !record.is_empty() && !alert.is_empty() {
        errs.push((record_at, "only one of 'record' and 'alert' must be set".into()));
    }
    if record.is_empty() && alert.is_empty() {
        errs.push((record_at, "one of 'record' or 'alert' must be set".into()));
    }
    if expr.is_empty() {
        errs.push((pos(&r.expr), "field 'expr' must be set in rule".into()));
    } else if let Err(e) = crate::promql::parse(&expr) {
        errs.push((
            pos(&r.expr),
            format!("could not parse expression: {}", parse_error_text(&e)),
        ));
    }
    let labels = r.labels.unwrap_or_default();
    let annotations = r.annotations.unwrap_or_default();
    let for_ms = r.for_.map(millis).unwrap_or(0);
    let keep_firing_for_ms = r.keep_firing_for.map(millis).unwrap_or(0);
    if !record.is_empty() {
        if !annotations.is_empty() {
            errs.push((record_at, "invalid field 'annotations' in recording rule".into()));
        }
        if for_ms != 0 {
            errs.push((record_at, "invalid field 'for' in recording rule".into()));
        }
        if keep_firing_for_ms != 0 {
            errs.push((
                record_at,
                "invalid field 'keep_firing_for' in recording rule".into(),
            ));
        }
        if !valid_metric_name(&record, names) {
            errs.push((record_at, format!("invalid recording rule name: {record}")));
        }
        if record.contains('{') || record.contains('}') {
            let message =
                format!("braces present in the recording rule name; should it be in expr?: {record}");
            errs.push((record_at, message));
        }
    }
    for name in labels.keys() {
        if !valid_label_name(name, names) || name == "__name__" {
            errs.push((None, format!("invalid label name: {name}")));
        }
    }
    for name in annotations.keys() {
        if !valid_label_name(name, names) {
            errs.push((None, format!("invalid annotation name: {name}")));
        }
    }
    if !alert.is_empty() {
        errs.extend(
            template_problems(&alert, &labels, &annotations)
                .into_iter()
                .map(|e| (None, e)),
        );
    }
    if !errs.is_empty() {
        return Err(errs.into_iter().map(|(p, m)| (p, rule_name.clone(), m)).collect());
    }
    let kind = if alert.is_empty() {
        RuleKind::Record(record)
    } else {
        RuleKind::Alert(alert)
    };
    Ok(RuleSpec {
        kind,
        expr,
        for_ms,
        keep_firing_for_ms,
        labels,
        annotations,
    })
}

/// Every label and annotation value of an alerting rule must parse as a template.
fn template_problems(
    alert: &str,
    labels: &BTreeMap<String, String>,
    annotations: &BTreeMap<String, String>,
) -> Vec<String> {
    let mut errs = Vec::new();
    for (kind, map) in [("label", labels), ("annotation", annotations)] {
        for (k, v) in map {
            if let Err(e) = template::check(alert, v) {
                errs.push(format!("{kind} {k:?}: {e}"));
            }
        }
    }
    errs
}

/// promql-parser's messages lack Prometheus's `parse error:` lead-in; add it so
/// users (and scripts grepping promtool output) see the same words.
fn parse_error_text(e: &str) -> String {
    if e.starts_with("parse error") {
        e.to_string()
    } else {
        format!("parse error: {e}")
    }
}

fn valid_label_name(name: &str, names: NameValidation) -> bool {
    match names {
        NameValidation::Utf8 => !name.is_empty(),
        NameValidation::Legacy => crate::storage::labels::is_valid_label_name(name),
    }
}

fn valid_metric_name(name: &str, names: NameValidation) -> bool {
    match names {
        NameValidation::Utf8 => !name.is_empty(),
        NameValidation::Legacy => crate::storage::labels::is_valid_metric_name(name),
    }
}

#[cfg(test)]
mod tests;
