//! Notification templates: Go `text/template` (through the `gotmpl` crate,
//! the same engine the rule engine uses) over Alertmanager's data model:
//! `.Receiver`, `.Status`, `.Alerts` (each with `.Status`, `.Labels`,
//! `.Annotations`, `.StartsAt`, `.EndsAt`, `.GeneratorURL`, `.Fingerprint`),
//! `.Alerts.Firing`, `.Alerts.Resolved`, `.GroupLabels`, `.CommonLabels`,
//! `.CommonAnnotations`, `.ExternalURL`, `.GroupKey`, and Alertmanager's
//! functions (`toUpper`, `toLower`, `title`, `join`, `safeHtml`,
//! `reReplaceAll`, `stringSlice`, `trimSpace`).
//!
//! `gotmpl` has no Go methods, so the one method family templates use on the
//! alert list, `.Alerts.Firing` / `.Alerts.Resolved`, is rewritten to the
//! precomputed fields `.AlertsFiring` / `.AlertsResolved` before parsing.
//! Label-set methods (`.SortedPairs`, `.Names`, `.Values`, `.Remove`) are
//! not available; `{{ range $k, $v := .CommonLabels }}` does the same work.

use gotmpl::{Template, TemplateError, ToValue, Value};
use std::collections::BTreeMap;
use std::sync::Arc;

use super::receivers::{AlertData, NotificationData};

/// The `{{ define }}`d templates from the `templates:` files.
#[derive(Clone, Default)]
pub struct TemplateSet {
    definitions: Arc<Vec<String>>,
}

impl TemplateSet {
    /// Reads every file the globs in `patterns` name; each must parse.
    pub fn load(patterns: &[String]) -> Result<TemplateSet, String> {
        let mut definitions = Vec::new();
        for pattern in patterns {
            for file in expand_glob(pattern)? {
                let text = std::fs::read_to_string(&file)
                    .map_err(|err| format!("cannot read template file {file}: {err}"))?;
                base()
                    .parse(&text)
                    .map_err(|err| format!("template file {file}: {err}"))?;
                definitions.push(text);
            }
        }
        Ok(TemplateSet {
            definitions: Arc::new(definitions),
        })
    }

    /// Expands `text` over `data`.
    pub fn render(&self, text: &str, data: &NotificationData) -> Result<String, String> {
        if !text.contains("{{") {
            return Ok(text.to_string());
        }
        let mut template = base();
        for definitions in self.definitions.iter() {
            template = template.parse(definitions).map_err(describe)?;
        }
        let text = text
            .replace(".Alerts.Firing", ".AlertsFiring")
            .replace(".Alerts.Resolved", ".AlertsResolved");
        template
            .parse(&text)
            .and_then(|t| t.execute_to_string(&data_value(data)))
            .map_err(describe)
    }
}

fn describe(err: TemplateError) -> String {
    format!("template: {err}")
}

/// Only `*` and `?` in the file-name part, which is what `templates:` entries use.
fn expand_glob(pattern: &str) -> Result<Vec<String>, String> {
    if !pattern.contains(['*', '?']) {
        return Ok(vec![pattern.to_string()]);
    }
    let path = std::path::Path::new(pattern);
    let dir = path.parent().unwrap_or(std::path::Path::new("."));
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let regex_text = format!(
        "^{}$",
        regex::escape(&name).replace("\\*", ".*").replace("\\?", ".")
    );
    let regex =
        regex::Regex::new(&regex_text).map_err(|err| format!("bad template glob {pattern}: {err}"))?;
    let entries = std::fs::read_dir(dir).map_err(|err| format!("cannot list {}: {err}", dir.display()))?;
    let mut files: Vec<String> = entries
        .flatten()
        .filter(|entry| regex.is_match(&entry.file_name().to_string_lossy()))
        .map(|entry| entry.path().display().to_string())
        .collect();
    files.sort();
    Ok(files)
}

fn base() -> Template {
    Template::new("notification")
        .func("toUpper", |args| {
            text_arg(args, 0).map(|s| s.to_uppercase().to_value())
        })
        .func("toLower", |args| {
            text_arg(args, 0).map(|s| s.to_lowercase().to_value())
        })
        .func("title", |args| {
            text_arg(args, 0).map(|s| title_case(&s).to_value())
        })
        .func("trimSpace", |args| text_arg(args, 0).map(|s| s.trim().to_value()))
        .func("safeHtml", |args| text_arg(args, 0).map(|s| s.to_value()))
        .func("join", |args| {
            let separator = text_arg(args, 0)?;
            let items = list_texts(args.get(1).unwrap_or(&Value::Nil));
            Ok(items.join(&separator).to_value())
        })
        .func("stringSlice", |args| {
            Ok(args
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .to_value())
        })
        .func("reReplaceAll", |args| {
            let pattern = text_arg(args, 0)?;
            let replacement = text_arg(args, 1)?;
            let text = text_arg(args, 2)?;
            let regex = regex::Regex::new(&pattern).map_err(|err| TemplateError::Exec(err.to_string()))?;
            Ok(regex
                .replace_all(&text, replacement.as_str())
                .into_owned()
                .to_value())
        })
}

fn text_arg(args: &[Value], index: usize) -> Result<String, TemplateError> {
    args.get(index)
        .map(|value| match value {
            Value::String(s) => s.to_string(),
            other => other.to_string(),
        })
        .ok_or_else(|| TemplateError::Exec(format!("missing argument {}", index + 1)))
}

fn list_texts(value: &Value) -> Vec<String> {
    match value {
        Value::List(items) => items.iter().map(ToString::to_string).collect(),
        Value::Map(map) => map.values().map(ToString::to_string).collect(),
        Value::Nil => Vec::new(),
        other => vec![other.to_string()],
    }
}

/// Go's `strings.Title`: upper-cases the first letter of each word.
fn title_case(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut at_word_start = true;
    for c in text.chars() {
        if at_word_start {
            out.extend(c.to_uppercase());
        } else {
            out.push(c);
        }
        at_word_start = !c.is_alphanumeric();
    }
    out
}

fn data_value(data: &NotificationData) -> Value {
    let alerts = |list: Vec<&AlertData>| list.into_iter().map(alert_value).collect::<Vec<_>>().to_value();
    let mut map: BTreeMap<String, Value> = BTreeMap::new();
    map.insert("Receiver".into(), data.receiver.to_value());
    map.insert("Status".into(), data.status.to_value());
    map.insert("Alerts".into(), alerts(data.alerts.iter().collect()));
    map.insert("AlertsFiring".into(), alerts(data.firing().collect()));
    map.insert("AlertsResolved".into(), alerts(data.resolved().collect()));
    map.insert("GroupLabels".into(), data.group_labels.to_value());
    map.insert("CommonLabels".into(), data.common_labels.to_value());
    map.insert("CommonAnnotations".into(), data.common_annotations.to_value());
    map.insert("ExternalURL".into(), data.external_url.to_value());
    map.insert("GroupKey".into(), data.group_key.to_value());
    map.to_value()
}

fn alert_value(alert: &AlertData) -> Value {
    let mut map: BTreeMap<String, Value> = BTreeMap::new();
    map.insert("Status".into(), alert.status.to_value());
    map.insert("Labels".into(), alert.labels.to_value());
    map.insert("Annotations".into(), alert.annotations.to_value());
    map.insert("StartsAt".into(), alert.starts_at.to_value());
    map.insert("EndsAt".into(), alert.ends_at.to_value());
    map.insert("GeneratorURL".into(), alert.generator_url.to_value());
    map.insert("Fingerprint".into(), alert.fingerprint.to_value());
    map.to_value()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::alerts::Alert;
    use chrono::DateTime;

    fn data() -> NotificationData {
        let alert = |name: &str, ends: i64| Alert {
            labels: [
                ("alertname".to_string(), "Drift".to_string()),
                ("model".to_string(), name.to_string()),
            ]
            .into(),
            annotations: [("summary".to_string(), format!("{name} drifted"))].into(),
            starts_at: DateTime::from_timestamp(0, 0).unwrap(),
            ends_at: DateTime::from_timestamp(ends, 0).unwrap(),
            generator_url: String::new(),
        };
        let group = [("alertname".to_string(), "Drift".to_string())].into();
        let alerts = [alert("a", 100), alert("b", 5)];
        NotificationData::new(
            "ml",
            "k",
            &group,
            &alerts,
            "http://s",
            DateTime::from_timestamp(10, 0).unwrap(),
        )
    }

    #[test]
    fn alertmanager_data_model() {
        let set = TemplateSet::default();
        let text = r#"{{ .Status | toUpper }} {{ len .Alerts.Firing }}/{{ len .Alerts }} {{ range .Alerts.Resolved }}{{ .Labels.model }}{{ end }} {{ .CommonLabels.alertname }} {{ .ExternalURL }}"#;
        assert_eq!(set.render(text, &data()).unwrap(), "FIRING 1/2 b Drift http://s");
        let text = r#"{{ range .Alerts }}{{ .Annotations.summary | title }};{{ end }}"#;
        assert_eq!(set.render(text, &data()).unwrap(), "A Drifted;B Drifted;");
    }

    #[test]
    fn defined_templates_from_files() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("ml.tmpl");
        std::fs::write(
            &file,
            r#"{{ define "ml.title" }}[{{ .Status }}] {{ .GroupLabels.alertname }}{{ end }}"#,
        )
        .unwrap();
        let pattern = dir.path().join("*.tmpl").display().to_string();
        let set = TemplateSet::load(&[pattern]).unwrap();
        assert_eq!(
            set.render(r#"{{ template "ml.title" . }}"#, &data()).unwrap(),
            "[firing] Drift"
        );
    }

    #[test]
    fn broken_templates_say_so() {
        let set = TemplateSet::default();
        assert!(set
            .render("{{ .Status", &data())
            .unwrap_err()
            .starts_with("template:"));
        assert_eq!(set.render("plain", &data()).unwrap(), "plain");
    }
}
