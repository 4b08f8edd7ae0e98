//! Our dashboard JSON: a subset of Grafana's dashboard schema, field for field, so a
//! dashboard exported from Sightline opens in Grafana and most modern Grafana
//! dashboards load here unchanged.
//!
//! Only the fields Sightline interprets are typed; everything else a dashboard carries
//! is kept verbatim in `extra` so nothing is lost on a round trip.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// Panel types the UI draws.
pub const PANEL_TYPES: &[&str] = &["timeseries", "stat", "gauge", "bargauge", "table", "text"];

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Dashboard {
    #[serde(default)]
    pub uid: String,
    #[serde(default)]
    pub title: String,
    #[serde(default)]
    pub tags: Vec<String>,
    #[serde(default)]
    pub time: TimeRange,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refresh: Option<Value>,
    #[serde(default)]
    pub templating: Templating,
    #[serde(default)]
    pub panels: Vec<Panel>,
    #[serde(default)]
    pub version: u64,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TimeRange {
    pub from: String,
    pub to: String,
}

impl Default for TimeRange {
    fn default() -> Self {
        TimeRange {
            from: "now-6h".into(),
            to: "now".into(),
        }
    }
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Templating {
    #[serde(default)]
    pub list: Vec<Variable>,
}

/// A dashboard variable: `query` (`label_values(...)`, `label_names()`, `metrics(...)`,
/// `query_result(...)`), `custom` (comma-separated values), `constant` or `interval`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Variable {
    pub name: String,
    #[serde(rename = "type", default = "query_type")]
    pub kind: String,
    #[serde(default)]
    pub query: Value,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub label: Option<String>,
    #[serde(default)]
    pub multi: bool,
    #[serde(rename = "includeAll", default)]
    pub include_all: bool,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

fn query_type() -> String {
    "query".into()
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Panel {
    #[serde(default)]
    pub id: u64,
    #[serde(rename = "type")]
    pub kind: String,
    #[serde(default)]
    pub title: String,
    #[serde(rename = "gridPos", default)]
    pub grid_pos: GridPos,
    #[serde(default)]
    pub targets: Vec<Target>,
    #[serde(rename = "fieldConfig", default, skip_serializing_if = "Value::is_null")]
    pub field_config: Value,
    #[serde(default, skip_serializing_if = "Value::is_null")]
    pub options: Value,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// Grafana's 24-column grid.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct GridPos {
    pub x: u32,
    pub y: u32,
    pub w: u32,
    pub h: u32,
}

impl Default for GridPos {
    fn default() -> Self {
        GridPos {
            x: 0,
            y: 0,
            w: 12,
            h: 8,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Target {
    #[serde(rename = "refId", default)]
    pub ref_id: String,
    #[serde(default)]
    pub expr: String,
    #[serde(rename = "legendFormat", default, skip_serializing_if = "String::is_empty")]
    pub legend_format: String,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub instant: bool,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub hide: bool,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// One thing wrong with a dashboard, named by its JSON path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Violation {
    pub field: String,
    pub message: String,
}

impl std::fmt::Display for Violation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.field, self.message)
    }
}

impl Dashboard {
    /// Everything wrong with the dashboard, or nothing.
    pub fn violations(&self) -> Vec<Violation> {
        let mut found = Vec::new();
        let mut add = |field: String, message: String| found.push(Violation { field, message });
        if self.title.trim().is_empty() {
            add("title".into(), "a dashboard needs a title".into());
        }
        if !valid_uid(&self.uid) {
            add(
                "uid".into(),
                format!(
                    "{:?} is not a uid: use 1-40 letters, digits, '-' or '_'",
                    self.uid
                ),
            );
        }
        for (i, variable) in self.templating.list.iter().enumerate() {
            if !valid_variable_name(&variable.name) {
                add(
                    format!("templating.list[{i}].name"),
                    format!("{:?} is not a variable name", variable.name),
                );
            }
        }
        for (i, panel) in self.panels.iter().enumerate() {
            if !PANEL_TYPES.contains(&panel.kind.as_str()) {
                add(
                    format!("panels[{i}].type"),
                    format!(
                        "unknown panel type {:?}; supported: {}",
                        panel.kind,
                        PANEL_TYPES.join(", ")
                    ),
                );
            }
            let g = panel.grid_pos;
            if g.w == 0 || g.h == 0 || g.x + g.w > 24 {
                add(
                    format!("panels[{i}].gridPos"),
                    "width and height must be positive and x + w at most 24".into(),
                );
            }
        }
        found
    }

    /// Gives panels without an id (0) distinct ids after the largest one in use.
    pub fn number_panels(&mut self) {
        let first_free = self.panels.iter().map(|p| p.id).max().unwrap_or(0) + 1;
        let unnumbered = self.panels.iter_mut().filter(|p| p.id == 0);
        for (id, panel) in (first_free..).zip(unnumbered) {
            panel.id = id;
        }
    }
}

pub fn valid_uid(uid: &str) -> bool {
    (1..=40).contains(&uid.len())
        && uid
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

fn valid_variable_name(name: &str) -> bool {
    let mut bytes = name.bytes();
    matches!(bytes.next(), Some(b) if b.is_ascii_alphabetic() || b == b'_')
        && bytes.all(|b| b.is_ascii_alphanumeric() || b == b'_')
}

/// A uid made from the title: lower-case words joined by '-', at most 40 bytes.
pub fn uid_from_title(title: &str) -> String {
    let mut uid = String::new();
    for word in title
        .split(|c: char| !c.is_ascii_alphanumeric())
        .filter(|w| !w.is_empty())
    {
        if uid.len() + word.len() + 1 > 40 {
            break;
        }
        if !uid.is_empty() {
            uid.push('-');
        }
        uid.push_str(&word.to_ascii_lowercase());
    }
    if uid.is_empty() {
        uid.push_str("dashboard");
    }
    uid
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn parse(v: Value) -> Dashboard {
        serde_json::from_value(v).unwrap()
    }

    #[test]
    fn unknown_fields_survive_a_round_trip() {
        let v = json!({"uid":"a","title":"A","schemaVersion":39,"panels":[
            {"id":1,"type":"stat","title":"s","gridPos":{"x":0,"y":0,"w":6,"h":4},
             "targets":[{"refId":"A","expr":"up","datasource":{"type":"prometheus"}}],
             "pluginVersion":"10.0.0"}]});
        let d = parse(v.clone());
        let back = serde_json::to_value(&d).unwrap();
        assert_eq!(back["schemaVersion"], 39);
        assert_eq!(back["panels"][0]["pluginVersion"], "10.0.0");
        assert_eq!(
            back["panels"][0]["targets"][0]["datasource"]["type"],
            "prometheus"
        );
        assert!(d.violations().is_empty());
    }

    #[test]
    fn violations_name_the_field() {
        let d = parse(
            json!({"uid":"bad uid","title":"","templating":{"list":[{"name":"1x"}]},
            "panels":[{"type":"heatmap","gridPos":{"x":20,"y":0,"w":6,"h":4}}]}),
        );
        let fields: Vec<String> = d.violations().into_iter().map(|v| v.field).collect();
        assert_eq!(
            fields,
            [
                "title",
                "uid",
                "templating.list[0].name",
                "panels[0].type",
                "panels[0].gridPos"
            ]
        );
    }

    #[test]
    fn uids_from_titles() {
        assert_eq!(uid_from_title("ML Model Performance"), "ml-model-performance");
        assert_eq!(uid_from_title("  !!  "), "dashboard");
        assert!(uid_from_title(&"word ".repeat(30)).len() <= 40);
    }

    #[test]
    fn panels_get_distinct_ids() {
        let mut d =
            parse(json!({"title":"t","panels":[{"type":"stat","id":3},{"type":"stat"},{"type":"stat"}]}));
        d.number_panels();
        let ids: Vec<u64> = d.panels.iter().map(|p| p.id).collect();
        assert_eq!(ids, [3, 4, 5]);
    }
}
