//! Import of Grafana dashboard JSON into our model.
//!
//! Modern panels (`timeseries`, `stat`, `gauge`, `bargauge`, `table`, `text`) already
//! are our model and pass through. Older ones are translated: `graph` → `timeseries`
//! (unit, min/max and stacking from its y-axis), `singlestat` → `stat` or `gauge`
//! (unit, thresholds, value reducer), `table-old` → `table`. Rows, both the pre-v16
//! `rows[].panels[]` with `span`s and the later `row` panels with collapsed children,
//! become one flat grid. Datasource variables are dropped (there is one data source);
//! object-shaped variable queries become their query string. Panels of other types
//! become text panels saying so, and each such loss is reported as a warning.

use super::model::{uid_from_title, valid_uid, Dashboard, GridPos};
use serde_json::{json, Map, Value};

/// Grafana's grid height unit in pixels, for pre-v16 row heights.
const GRID_CELL_PX: f64 = 30.0;
const DEFAULT_ROW_HEIGHT_PX: f64 = 250.0;

/// A converted dashboard and what could not be carried over.
pub struct Imported {
    pub dashboard: Dashboard,
    pub warnings: Vec<String>,
}

/// Converts a Grafana dashboard, bare or wrapped as the Grafana API returns it
/// (`{"dashboard": {...}, "meta": {...}}`).
pub fn import(input: Value) -> Result<Imported, String> {
    let mut root = match input {
        Value::Object(mut outer) if outer.get("dashboard").is_some_and(Value::is_object) => {
            match outer.remove("dashboard") {
                Some(Value::Object(inner)) => inner,
                _ => Map::new(),
            }
        }
        Value::Object(map) => map,
        _ => return Err("a Grafana dashboard is a JSON object".into()),
    };
    for list in ["panels", "rows"] {
        if root.get(list).is_some_and(|v| !v.is_array() && !v.is_null()) {
            return Err(format!("{list:?} must be a list"));
        }
    }
    let mut warnings = Vec::new();
    let panels = flatten_panels(&mut root, &mut warnings);
    root.insert("panels".into(), Value::Array(panels));
    root.remove("rows");
    root.remove("id");
    root.remove("__inputs");
    root.remove("__requires");
    convert_templating(&mut root);
    let mut dashboard: Dashboard =
        serde_json::from_value(Value::Object(root)).map_err(|e| format!("not a dashboard: {e}"))?;
    if !valid_uid(&dashboard.uid) {
        dashboard.uid = uid_from_title(&dashboard.title);
    }
    dashboard.version = 0;
    dashboard.number_panels();
    Ok(Imported { dashboard, warnings })
}

/// All panels in one grid, rows expanded into a title line and their panels,
/// each converted to a type we draw, then packed upwards as Grafana's grid does.
fn flatten_panels(root: &mut Map<String, Value>, warnings: &mut Vec<String>) -> Vec<Value> {
    let mut sections: Vec<Vec<Value>> = vec![Vec::new()];
    if let Some(Value::Array(rows)) = root.get("rows") {
        sections.extend(layout_legacy_rows(rows));
    }
    if let Some(Value::Array(panels)) = root.get("panels") {
        for panel in panels {
            if panel["type"] == "row" {
                let mut section = row_title(panel, panel["gridPos"]["y"].as_u64().unwrap_or(0) as u32);
                if let Some(Value::Array(children)) = panel.get("panels") {
                    section.extend(children.iter().cloned());
                }
                sections.push(section);
            } else if let Some(last) = sections.last_mut() {
                last.push(panel.clone());
            }
        }
    }
    let converted = sections
        .into_iter()
        .map(|section| section.into_iter().map(|p| convert_panel(p, warnings)).collect())
        .collect();
    pack(converted)
}

/// A row's title as a one-cell-high text panel, or nothing for an untitled row.
fn row_title(row: &Value, y: u32) -> Vec<Value> {
    let title = row["title"].as_str().unwrap_or("").trim();
    if title.is_empty() || row["showTitle"] == false {
        return Vec::new();
    }
    vec![
        json!({"type": "text", "title": title, "gridPos": {"x": 0, "y": y, "w": 24, "h": 1},
        "options": {"content": ""}}),
    ]
}

/// Places sections one after another, each panel as high as its columns allow
/// (react-grid-layout's vertical compaction, which Grafana uses), so removed row
/// panels and collapsed rows leave no gaps or overlaps.
fn pack(sections: Vec<Vec<Value>>) -> Vec<Value> {
    let mut column_bottom = [0u32; 24];
    let mut placed = Vec::new();
    for mut section in sections {
        let floor = column_bottom.iter().copied().max().unwrap_or(0);
        section.sort_by_key(|p| {
            (
                p["gridPos"]["y"].as_u64().unwrap_or(0),
                p["gridPos"]["x"].as_u64().unwrap_or(0),
            )
        });
        for mut panel in section {
            let x = (panel["gridPos"]["x"].as_u64().unwrap_or(0) as usize).min(23);
            let w = (panel["gridPos"]["w"].as_u64().unwrap_or(12) as usize).clamp(1, 24 - x);
            let h = panel["gridPos"]["h"].as_u64().unwrap_or(8).max(1) as u32;
            let columns = x..x + w;
            let y = column_bottom[columns.clone()]
                .iter()
                .copied()
                .max()
                .unwrap_or(0)
                .max(floor);
            column_bottom[columns]
                .iter_mut()
                .for_each(|bottom| *bottom = y + h);
            panel["gridPos"] = json!({"x": x, "y": y, "w": w, "h": h});
            placed.push(panel);
        }
    }
    placed
}

/// Pre-v16 rows: panels sized by `span` (of 12) placed left to right, wrapping,
/// one section per row.
fn layout_legacy_rows(rows: &[Value]) -> Vec<Vec<Value>> {
    let mut sections = Vec::new();
    let mut y = 0u32;
    for row in rows {
        let height = row_height_cells(&row["height"]);
        let mut section = row_title(row, y);
        y += section.len() as u32;
        let mut x = 0u32;
        for panel in row["panels"].as_array().map(Vec::as_slice).unwrap_or_default() {
            let w = (panel["span"].as_f64().unwrap_or(12.0) * 2.0)
                .round()
                .clamp(1.0, 24.0) as u32;
            if x + w > 24 {
                x = 0;
                y += height;
            }
            let mut panel = panel.clone();
            panel["gridPos"] = json!({"x": x, "y": y, "w": w, "h": height});
            if let Some(map) = panel.as_object_mut() {
                map.remove("span");
            }
            section.push(panel);
            x += w;
        }
        y += height;
        sections.push(section);
    }
    sections
}

fn row_height_cells(height: &Value) -> u32 {
    let px = match height {
        Value::Number(n) => n.as_f64().unwrap_or(DEFAULT_ROW_HEIGHT_PX),
        Value::String(s) => s
            .trim_end_matches("px")
            .trim()
            .parse()
            .unwrap_or(DEFAULT_ROW_HEIGHT_PX),
        _ => DEFAULT_ROW_HEIGHT_PX,
    };
    ((px / GRID_CELL_PX).round() as u32).max(2)
}

fn convert_panel(mut panel: Value, warnings: &mut Vec<String>) -> Value {
    if panel.get("gridPos").is_none_or(|g| !g.is_object()) {
        panel["gridPos"] = serde_json::to_value(GridPos::default()).unwrap_or(Value::Null);
    }
    let kind = panel["type"].as_str().unwrap_or("").to_string();
    match kind.as_str() {
        "timeseries" | "stat" | "gauge" | "bargauge" | "table" | "text" => panel,
        "graph" => graph_to_timeseries(panel),
        "singlestat" => singlestat_to_stat(panel),
        "table-old" => {
            panel["type"] = json!("table");
            panel
        }
        other => {
            let title = panel["title"].as_str().unwrap_or("").to_string();
            warnings.push(format!(
                "panel {title:?}: type {other:?} is not supported; it became a text panel"
            ));
            panel["type"] = json!("text");
            panel["options"] =
                json!({"content": format!("Panel type \"{other}\" is not supported by Sightline.")});
            panel
        }
    }
}

fn graph_to_timeseries(mut panel: Value) -> Value {
    let axis = panel["yaxes"].get(0).cloned().unwrap_or(Value::Null);
    let mut defaults = Map::new();
    if let Some(unit) = axis["format"].as_str() {
        defaults.insert("unit".into(), json!(unit));
    }
    for bound in ["min", "max"] {
        if let Some(v) = number_like(&axis[bound]) {
            defaults.insert(bound.into(), json!(v));
        }
    }
    if let Some(d) = panel["decimals"].as_u64() {
        defaults.insert("decimals".into(), json!(d));
    }
    let stacked = panel["stack"].as_bool().unwrap_or(false);
    let mut custom = json!({"stacking": {"mode": if stacked { "normal" } else { "none" }}});
    if let Some(width) = number_like(&panel["linewidth"]) {
        custom["lineWidth"] = json!(width);
    }
    defaults.insert("custom".into(), custom);
    if let Some(steps) = graph_threshold_steps(&panel["thresholds"]) {
        defaults.insert("thresholds".into(), json!({"mode": "absolute", "steps": steps}));
    }
    panel["type"] = json!("timeseries");
    panel["fieldConfig"] = json!({"defaults": defaults, "overrides": []});
    if let Some(map) = panel.as_object_mut() {
        for legacy in [
            "yaxes",
            "xaxis",
            "stack",
            "thresholds",
            "lines",
            "bars",
            "points",
            "fill",
            "linewidth",
        ] {
            map.remove(legacy);
        }
    }
    panel
}

/// The graph panel's `[{value, op: "gt", colorMode}]` thresholds as steps.
fn graph_threshold_steps(thresholds: &Value) -> Option<Vec<Value>> {
    let list = thresholds.as_array().filter(|l| !l.is_empty())?;
    let mut steps = vec![json!({"color": "green", "value": null})];
    for t in list {
        let color = match t["colorMode"].as_str() {
            Some("warning") => "orange",
            Some("ok") => "green",
            _ => "red",
        };
        if let Some(v) = number_like(&t["value"]) {
            steps.push(json!({"color": color, "value": v}));
        }
    }
    Some(steps)
}

fn singlestat_to_stat(mut panel: Value) -> Value {
    let mut defaults = Map::new();
    if let Some(unit) = panel["format"].as_str() {
        defaults.insert("unit".into(), json!(unit));
    }
    if let Some(d) = panel["decimals"].as_u64() {
        defaults.insert("decimals".into(), json!(d));
    }
    if let Some(steps) = singlestat_threshold_steps(&panel["thresholds"], &panel["colors"]) {
        defaults.insert("thresholds".into(), json!({"mode": "absolute", "steps": steps}));
    }
    let is_gauge = panel["gauge"]["show"].as_bool().unwrap_or(false);
    if is_gauge {
        for (from, to) in [("minValue", "min"), ("maxValue", "max")] {
            if let Some(v) = number_like(&panel["gauge"][from]) {
                defaults.insert(to.into(), json!(v));
            }
        }
    }
    let calc = reducer_for(panel["valueName"].as_str().unwrap_or("avg"));
    panel["type"] = json!(if is_gauge { "gauge" } else { "stat" });
    panel["fieldConfig"] = json!({"defaults": defaults, "overrides": []});
    panel["options"] = json!({"reduceOptions": {"calcs": [calc]}});
    if let Some(map) = panel.as_object_mut() {
        for legacy in [
            "format",
            "thresholds",
            "colors",
            "valueName",
            "gauge",
            "sparkline",
            "colorValue",
        ] {
            map.remove(legacy);
        }
    }
    panel
}

/// Singlestat's `"50,80"` with three colors: base, above 50, above 80.
fn singlestat_threshold_steps(thresholds: &Value, colors: &Value) -> Option<Vec<Value>> {
    let text = thresholds.as_str().filter(|t| !t.trim().is_empty())?;
    let colors: Vec<&str> = colors
        .as_array()
        .map(|c| c.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    let color = |i: usize| {
        colors
            .get(i)
            .copied()
            .unwrap_or(["green", "orange", "red"][i.min(2)])
            .to_string()
    };
    let mut steps = vec![json!({"color": color(0), "value": null})];
    for (i, value) in text
        .split(',')
        .filter_map(|v| v.trim().parse::<f64>().ok())
        .enumerate()
    {
        steps.push(json!({"color": color(i + 1), "value": value}));
    }
    Some(steps)
}

/// Singlestat's `valueName` as the modern reducer.
fn reducer_for(value_name: &str) -> &'static str {
    match value_name {
        "current" => "lastNotNull",
        "max" => "max",
        "min" => "min",
        "total" => "sum",
        "first" => "firstNotNull",
        _ => "mean",
    }
}

/// Grafana writes numbers as numbers or as strings (`"0"`, `""`).
fn number_like(v: &Value) -> Option<f64> {
    match v {
        Value::Number(n) => n.as_f64(),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

/// Drops datasource variables and turns `{"query": "..."}` queries into strings.
fn convert_templating(root: &mut Map<String, Value>) {
    let Some(list) = root
        .get_mut("templating")
        .and_then(|t| t.get_mut("list"))
        .and_then(Value::as_array_mut)
    else {
        return;
    };
    list.retain(|v| v["type"] != "datasource");
    for variable in list.iter_mut() {
        if let Some(query) = variable["query"].get("query").cloned() {
            variable["query"] = query;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn legacy_rows_with_graph_and_singlestat() {
        let grafana = json!({"dashboard": {"id": 7, "title": "ML Model Performance", "schemaVersion": 14,
            "rows": [
                {"height": "300px", "panels": [
                    {"type": "singlestat", "title": "Accuracy", "span": 4, "format": "percentunit",
                     "thresholds": "0.8,0.9", "colors": ["red", "orange", "green"], "valueName": "current",
                     "targets": [{"expr": "model_accuracy", "refId": "A"}]},
                    {"type": "graph", "title": "Latency", "span": 8, "stack": true, "linewidth": 2,
                     "yaxes": [{"format": "s", "min": "0"}, {"format": "short"}],
                     "targets": [{"expr": "rate(x[5m])", "legendFormat": "{{model}}", "refId": "A"}]}]},
                {"title": "More", "panels": [{"type": "heatmap", "title": "Heat", "span": 12}]}],
            "templating": {"list": [
                {"type": "datasource", "name": "ds"},
                {"type": "query", "name": "model", "query": {"query": "label_values(model)", "refId": "x"}}]}}});
        let Imported { dashboard, warnings } = import(grafana).unwrap();
        assert_eq!(dashboard.uid, "ml-model-performance");
        assert!(!dashboard.extra.contains_key("id"));
        let kinds: Vec<&str> = dashboard.panels.iter().map(|p| p.kind.as_str()).collect();
        assert_eq!(kinds, ["stat", "timeseries", "text", "text"]);
        let stat = &dashboard.panels[0];
        assert_eq!(
            stat.grid_pos,
            GridPos {
                x: 0,
                y: 0,
                w: 8,
                h: 10
            }
        );
        assert_eq!(stat.field_config["defaults"]["unit"], "percentunit");
        assert_eq!(
            stat.field_config["defaults"]["thresholds"]["steps"][2],
            json!({"color": "green", "value": 0.9})
        );
        assert_eq!(stat.options["reduceOptions"]["calcs"][0], "lastNotNull");
        let graph = &dashboard.panels[1];
        assert_eq!(
            graph.grid_pos,
            GridPos {
                x: 8,
                y: 0,
                w: 16,
                h: 10
            }
        );
        assert_eq!(
            graph.field_config["defaults"]["custom"]["stacking"]["mode"],
            "normal"
        );
        assert_eq!(graph.field_config["defaults"]["min"], 0.0);
        assert_eq!(graph.field_config["defaults"]["custom"]["lineWidth"], 2.0);
        assert_eq!(graph.targets[0].legend_format, "{{model}}");
        assert_eq!(dashboard.panels[2].title, "More");
        assert_eq!(
            dashboard.panels[2].grid_pos,
            GridPos {
                x: 0,
                y: 10,
                w: 24,
                h: 1
            }
        );
        assert_eq!(dashboard.panels[3].grid_pos.y, 11);
        assert_eq!(warnings.len(), 1, "{warnings:?}");
        assert_eq!(dashboard.templating.list.len(), 1);
        assert_eq!(dashboard.templating.list[0].query, "label_values(model)");
        assert!(dashboard.violations().is_empty(), "{:?}", dashboard.violations());
        let ids: Vec<u64> = dashboard.panels.iter().map(|p| p.id).collect();
        assert_eq!(ids, [1, 2, 3, 4]);
    }

    #[test]
    fn collapsed_row_children_are_lifted_and_gauges_kept() {
        let grafana = json!({"title": "Node", "uid": "node-x", "panels": [
            {"type": "row", "title": "CPU", "collapsed": true, "gridPos": {"x":0,"y":0,"w":24,"h":1},
             "panels": [{"type": "gauge", "title": "Busy", "id": 4, "gridPos": {"x":0,"y":1,"w":6,"h":6}}]},
            {"type": "singlestat", "title": "Mem", "id": 2, "gauge": {"show": true, "maxValue": 100},
             "gridPos": {"x":6,"y":1,"w":6,"h":6}}]});
        let Imported { dashboard, warnings } = import(grafana).unwrap();
        assert!(warnings.is_empty());
        assert_eq!(dashboard.uid, "node-x");
        let kinds: Vec<&str> = dashboard.panels.iter().map(|p| p.kind.as_str()).collect();
        assert_eq!(kinds, ["text", "gauge", "gauge"]);
        assert_eq!(dashboard.panels[0].title, "CPU");
        assert_eq!(dashboard.panels[2].field_config["defaults"]["max"], 100.0);
        assert_eq!(
            dashboard.panels[2].grid_pos,
            GridPos {
                x: 6,
                y: 1,
                w: 6,
                h: 6
            }
        );
    }

    #[test]
    fn non_objects_are_refused() {
        assert!(import(json!([1, 2])).is_err());
        assert!(import(json!({"title": "t", "panels": "nope"})).is_err());
    }

    #[test]
    fn gaps_close_and_collapsed_rows_do_not_overlap() {
        let grafana = json!({"title": "t", "panels": [
            {"type": "stat", "gridPos": {"x": 0, "y": 4, "w": 12, "h": 4}},
            {"type": "row", "title": "A", "collapsed": true, "gridPos": {"x": 0, "y": 8, "w": 24, "h": 1},
             "panels": [{"type": "stat", "gridPos": {"x": 0, "y": 9, "w": 24, "h": 5}}]},
            {"type": "row", "title": "B", "gridPos": {"x": 0, "y": 9, "w": 24, "h": 1}},
            {"type": "stat", "gridPos": {"x": 12, "y": 10, "w": 12, "h": 3}}]});
        let d = import(grafana).unwrap().dashboard;
        let ys: Vec<(u32, u32)> = d.panels.iter().map(|p| (p.grid_pos.y, p.grid_pos.h)).collect();
        assert_eq!(ys, [(0, 4), (4, 1), (5, 5), (10, 1), (11, 3)]);
    }
}
