//! `sightline query instant|range`: asks a server's Prometheus API and prints
//! the result as a table or as the API's JSON `data`.

use crate::cli::{QueryCommand, QueryTarget};
use serde_json::Value;
use std::fmt::Write as _;

/// Runs the query and returns what to print.
pub fn run(cmd: QueryCommand) -> anyhow::Result<String> {
    let (target, path, params) = match cmd {
        QueryCommand::Instant { expr, time, target } => {
            let mut params = vec![("query".to_string(), expr)];
            params.extend(time.map(|t| ("time".to_string(), t)));
            (target, "/api/v1/query", params)
        }
        QueryCommand::Range {
            expr,
            start,
            end,
            step,
            target,
        } => {
            let end = end.unwrap_or_else(|| format!("{:.3}", sightline::storage::now_ms() as f64 / 1000.0));
            let params = vec![
                ("query".to_string(), expr),
                ("start".to_string(), start),
                ("end".to_string(), end),
                ("step".to_string(), step),
            ];
            (target, "/api/v1/query_range", params)
        }
    };
    let data = fetch(&target, path, &params)?;
    if target.output == "json" {
        return Ok(format!("{data}\n"));
    }
    Ok(table(&data))
}

fn fetch(target: &QueryTarget, path: &str, params: &[(String, String)]) -> anyhow::Result<Value> {
    let url = format!("{}{}", target.server.trim_end_matches('/'), path);
    let response = reqwest::blocking::Client::new()
        .post(&url)
        .form(params)
        .send()
        .map_err(|e| anyhow::anyhow!("cannot reach {url}: {e}"))?;
    let body: Value = response
        .json()
        .map_err(|e| anyhow::anyhow!("{url} did not answer JSON: {e}"))?;
    if body["status"] != "success" {
        anyhow::bail!(
            "{}: {}",
            body["errorType"].as_str().unwrap_or("error"),
            body["error"].as_str().unwrap_or("")
        );
    }
    for warning in body["warnings"].as_array().into_iter().flatten() {
        eprintln!("warning: {}", warning.as_str().unwrap_or_default());
    }
    Ok(body["data"].clone())
}

fn metric(m: &Value) -> String {
    let Some(map) = m.as_object() else {
        return "{}".into();
    };
    let name = map.get("__name__").and_then(Value::as_str).unwrap_or("");
    let labels: Vec<String> = map
        .iter()
        .filter(|(k, _)| *k != "__name__")
        .map(|(k, v)| format!("{k}={}", v))
        .collect();
    format!("{name}{{{}}}", labels.join(", "))
}

fn point(p: &Value) -> (String, String) {
    let t = p.get(0).map(Value::to_string).unwrap_or_default();
    let v = p.get(1).and_then(Value::as_str).unwrap_or_default().to_string();
    (v, t)
}

/// Renders a query `data` object as aligned text.
fn table(data: &Value) -> String {
    let mut out = String::new();
    let result = &data["result"];
    match data["resultType"].as_str() {
        Some("vector") => {
            for s in result.as_array().into_iter().flatten() {
                let (v, t) = point(&s["value"]);
                let _ = writeln!(out, "{} => {v} @{t}", metric(&s["metric"]));
            }
        }
        Some("matrix") => {
            for s in result.as_array().into_iter().flatten() {
                let _ = writeln!(out, "{} =>", metric(&s["metric"]));
                for p in s["values"].as_array().into_iter().flatten() {
                    let (v, t) = point(p);
                    let _ = writeln!(out, "  {v} @{t}");
                }
            }
        }
        _ => {
            let (v, t) = point(result);
            let _ = writeln!(out, "{v} @{t}");
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn vector_table() {
        let data = json!({"resultType": "vector", "result": [
            {"metric": {"__name__": "up", "job": "a"}, "value": [1.5, "1"]}
        ]});
        assert_eq!(table(&data), "up{job=\"a\"} => 1 @1.5\n");
        let scalar = json!({"resultType": "scalar", "result": [2, "3"]});
        assert_eq!(table(&scalar), "3 @2\n");
    }
}
