//! The UI's figures: run with `cargo bench --bench ui_figures`.
//!
//! Seeds a release server through remote_write with 1,000 counter series × 6 h
//! (15 s scrapes), saves a dashboard of 12 time-series panels that together draw
//! all 1,000 series, and measures in Chromium (tests/ui/figures.mjs): the full
//! load of that dashboard until every panel has drawn, and the hover-legend update
//! on an Explore graph of 200 series × 1,000 points. Also sums the gzip size of
//! the built UI. Targets: < 1.5 s, responsive hover, ≤ 300 KB gzip.
//!
//! `UI_FIGURES_HOLD_S=N` keeps the seeded server up for N seconds after the
//! measurement (its URL is printed first), to time single queries with curl.

#[path = "../tests/common/mod.rs"]
mod common;

use common::{client, write_config, Server};
use sightline::ingest::remote_write::encode_write_request;
use sightline::storage::{now_ms, Labels, Sample, SeriesSamples};
use std::path::PathBuf;
use std::process::Command;

const SERIES: usize = 1000;
const PANELS: usize = 12;
const STEP_MS: i64 = 15_000;
const SAMPLES: i64 = 6 * 3600 * 1000 / STEP_MS;

fn main() {
    let repo = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let dir = tempfile::tempdir().expect("temp dir");
    let (config, port) = write_config(dir.path(), "  fsync: interval");
    let server = Server::start(&dir.path().join("data"), &config, port);
    let end = now_ms() - now_ms() % STEP_MS;
    seed(&server, end);
    save_dashboard(&server);
    println!("seeded {}", server.base);
    let explore_end = end / 1000;
    let explore_start = explore_end - 999 * 15;
    let output = Command::new("node")
        .arg(repo.join("tests/ui/figures.mjs"))
        .args([
            server.base.as_str(),
            "figures-12x1000",
            "fig_requests_total{group=\"g0\"}",
            &explore_start.to_string(),
            &explore_end.to_string(),
            "15",
        ])
        .output()
        .expect("run node tests/ui/figures.mjs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&output.stderr)
    );
    println!("ui figures: {stdout}");
    println!(
        "ui assets: {} bytes gzip in total (target ≤ 300 KB)",
        gzip_total(&repo.join("ui/dist"))
    );
    hold(&server);
}

/// Keeps the server up for `UI_FIGURES_HOLD_S` seconds, if set.
fn hold(server: &Server) {
    let Some(seconds) = std::env::var("UI_FIGURES_HOLD_S")
        .ok()
        .and_then(|s| s.parse().ok())
    else {
        return;
    };
    println!("holding {} for {seconds} s", server.base);
    std::thread::sleep(std::time::Duration::from_secs(seconds));
}

/// 1,000 counters in 5 groups of 200 and 12 panels' shards, 6 h at 15 s, in batches.
fn seed(server: &Server, end: i64) {
    let start = end - (SAMPLES - 1) * STEP_MS;
    for chunk in (0..SERIES).collect::<Vec<_>>().chunks(100) {
        let batch: Vec<SeriesSamples> = chunk
            .iter()
            .map(|&i| {
                let (id, group, shard) = (i.to_string(), format!("g{}", i % 5), (i % PANELS).to_string());
                let labels = Labels::from_pairs([
                    ("__name__", "fig_requests_total"),
                    ("series", id.as_str()),
                    ("group", group.as_str()),
                    ("shard", shard.as_str()),
                ]);
                let rate = 1.0 + (i % 17) as f64;
                let samples = (0..SAMPLES)
                    .map(|k| Sample {
                        t: start + k * STEP_MS,
                        v: (k as f64 * rate * 15.0) + ((k * 7 + i as i64) % 13) as f64,
                    })
                    .collect();
                SeriesSamples { labels, samples }
            })
            .collect();
        let r = client()
            .post(server.url("/api/v1/write"))
            .body(encode_write_request(&batch))
            .send()
            .expect("write");
        assert_eq!(r.status().as_u16(), 204);
    }
}

fn save_dashboard(server: &Server) {
    let panels: Vec<serde_json::Value> = (0..PANELS)
        .map(|p| {
            serde_json::json!({"id": p + 1, "type": "timeseries", "title": format!("shard {p}"),
                "gridPos": {"x": (p % 3) * 8, "y": (p / 3) * 8, "w": 8, "h": 8},
                "fieldConfig": {"defaults": {"unit": "reqps"}},
                "targets": [{"refId": "A", "expr": format!("rate(fig_requests_total{{shard=\"{p}\"}}[5m])"),
                    "legendFormat": "{{series}}"}]})
        })
        .collect();
    let dashboard = serde_json::json!({"uid": "figures-12x1000", "title": "Figures", "panels": panels});
    let r = client()
        .post(server.url("/api/v1/dashboards"))
        .header("Content-Type", "application/json")
        .body(dashboard.to_string())
        .send()
        .expect("save dashboard");
    assert!(r.status().is_success(), "{}", r.text().unwrap_or_default());
}

/// Sum of the `.gz` copies the build writes beside each compressible asset, plus
/// the size of any asset without one (already compressed formats).
fn gzip_total(dist: &std::path::Path) -> u64 {
    let mut total = 0;
    let mut stack = vec![dist.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).expect("ui/dist").flatten() {
            let path = entry.path();
            let name = path.to_string_lossy().to_string();
            if path.is_dir() {
                stack.push(path);
            } else if name.ends_with(".gz") {
                total += entry.metadata().map(|m| m.len()).unwrap_or(0);
            } else if !name.ends_with(".br") && !PathBuf::from(format!("{name}.gz")).exists() {
                total += entry.metadata().map(|m| m.len()).unwrap_or(0);
            }
        }
    }
    total
}
