//! The built-in collectors, through the real binary: `/metrics/node` against
//! a real `prometheus-node-exporter` on the same host (same names, types and
//! help for the families Sightline implements, values within tolerance),
//! process metrics on `/metrics`, and `/metrics/gpu` without a driver.

mod common;

use common::{client, free_port, write_config, Server};
use sightline::exposition::{Entry, Format, Parser};
use std::collections::BTreeMap;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Everything a scrape body says, keyed for comparison.
#[derive(Default)]
struct Scrape {
    help: BTreeMap<String, String>,
    types: BTreeMap<String, String>,
    /// (name, sorted labels) → value
    samples: BTreeMap<(String, Vec<(String, String)>), f64>,
}

impl Scrape {
    fn parse(body: &str) -> Scrape {
        let mut scrape = Scrape::default();
        for entry in Parser::new(body.as_bytes(), Format::PrometheusText) {
            match entry.unwrap_or_else(|e| panic!("unparseable body: {e}")) {
                Entry::Sample(s) => {
                    let mut labels: Vec<_> = s
                        .labels
                        .iter()
                        .map(|(k, v)| (k.to_string(), v.to_string()))
                        .collect();
                    labels.sort();
                    scrape.samples.insert((s.name.to_string(), labels), s.value);
                }
                Entry::Help { family, text } => {
                    scrape.help.insert(family.to_string(), text.into_owned());
                }
                Entry::Type { family, kind } => {
                    scrape.types.insert(family.to_string(), kind.as_str().to_string());
                }
                Entry::Unit { .. } => {}
            }
        }
        scrape
    }

    fn value(&self, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
        let mut key: Vec<(String, String)> = labels
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        key.sort();
        self.samples.get(&(name.to_string(), key)).copied()
    }

    fn series_of<'a>(&'a self, name: &'a str) -> impl Iterator<Item = (&'a Vec<(String, String)>, f64)> + 'a {
        self.samples
            .iter()
            .filter(move |((n, _), _)| n == name)
            .map(|((_, labels), v)| (labels, *v))
    }
}

struct NodeExporter(Child, u16);

impl NodeExporter {
    fn start() -> NodeExporter {
        let port = free_port();
        let child = Command::new("prometheus-node-exporter")
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            .args([
                "--collector.disable-defaults",
                "--collector.cpu",
                "--collector.meminfo",
            ])
            .args([
                "--collector.loadavg",
                "--collector.filesystem",
                "--collector.diskstats",
            ])
            .args([
                "--collector.netdev",
                "--collector.stat",
                "--collector.time",
                "--collector.uname",
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("prometheus-node-exporter must be installed (tests/run-all.sh installs it)");
        NodeExporter(child, port)
    }

    fn scrape(&self) -> String {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Ok(r) = client()
                .get(format!("http://127.0.0.1:{}/metrics", self.1))
                .send()
            {
                if r.status().is_success() {
                    return r.text().expect("node_exporter body");
                }
            }
            assert!(
                Instant::now() < deadline,
                "prometheus-node-exporter did not answer"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for NodeExporter {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn get(server: &Server, path: &str) -> String {
    let r = client().get(server.url(path)).send().expect("GET");
    assert!(r.status().is_success(), "{path}: {}", r.status());
    r.text().expect("body")
}

fn close(ours: f64, theirs: f64, absolute: f64, relative: f64) -> bool {
    (ours - theirs).abs() <= absolute + relative * theirs.abs()
}

#[test]
fn node_collector_matches_node_exporter() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (config, port) = write_config(dir.path(), "  fsync: interval");
    let server = Server::start(&dir.path().join("data"), &config, port);
    let exporter = NodeExporter::start();
    let theirs = Scrape::parse(&exporter.scrape());
    let ours = Scrape::parse(&get(&server, "/metrics/node"));

    for (family, kind) in &ours.types {
        assert_eq!(
            theirs.types.get(family),
            Some(kind),
            "TYPE of {family} differs or node_exporter lacks it"
        );
        assert_eq!(
            theirs.help.get(family),
            ours.help.get(family),
            "HELP of {family} differs"
        );
    }
    for family in [
        "node_cpu_seconds_total",
        "node_memory_MemTotal_bytes",
        "node_memory_MemAvailable_bytes",
        "node_memory_Cached_bytes",
        "node_load1",
        "node_filesystem_avail_bytes",
        "node_network_receive_bytes_total",
        "node_procs_running",
        "node_boot_time_seconds",
        "node_uname_info",
    ] {
        assert!(
            ours.types.contains_key(family),
            "{family} missing from /metrics/node"
        );
    }

    for field in ["MemTotal", "SwapTotal"] {
        let name = format!("node_memory_{field}_bytes");
        assert_eq!(ours.value(&name, &[]), theirs.value(&name, &[]), "{name}");
    }
    let mem_available = "node_memory_MemAvailable_bytes";
    let (a, b) = (ours.value(mem_available, &[]), theirs.value(mem_available, &[]));
    assert!(
        a.zip(b).is_some_and(|(a, b)| close(a, b, 64e6, 0.1)),
        "{mem_available}: {a:?} vs {b:?}"
    );
    let boot = "node_boot_time_seconds";
    let (a, b) = (ours.value(boot, &[]), theirs.value(boot, &[]));
    assert!(
        a.zip(b).is_some_and(|(a, b)| close(a, b, 1.0, 0.0)),
        "{boot}: {a:?} vs {b:?}"
    );
    let now = "node_time_seconds";
    let (a, b) = (ours.value(now, &[]), theirs.value(now, &[]));
    assert!(
        a.zip(b).is_some_and(|(a, b)| close(a, b, 30.0, 0.0)),
        "{now}: {a:?} vs {b:?}"
    );

    compare_series(&ours, &theirs, "node_cpu_seconds_total", 5.0, 0.02);
    compare_series(&ours, &theirs, "node_filesystem_size_bytes", 0.0, 0.001);
    compare_series(&ours, &theirs, "node_filesystem_avail_bytes", 1e9, 0.05);
    compare_series(&ours, &theirs, "node_filesystem_free_bytes", 1e9, 0.05);
    compare_series(&ours, &theirs, "node_filesystem_files", 0.0, 0.0);
    compare_series(&ours, &theirs, "node_filesystem_files_free", 1e5, 0.05);
    compare_series(&ours, &theirs, "node_network_receive_packets_total", 1e6, 0.1);
    compare_series(&ours, &theirs, "node_network_transmit_errs_total", 1e3, 0.1);
    compare_series(&ours, &theirs, "node_disk_read_bytes_total", 1e8, 0.05);
    compare_series(&ours, &theirs, "node_disk_written_bytes_total", 1e9, 0.1);
    compare_series(&ours, &theirs, "node_network_receive_bytes_total", 1e8, 0.1);
    compare_series(&ours, &theirs, "node_network_transmit_bytes_total", 1e8, 0.1);
    compare_series(&ours, &theirs, "node_uname_info", 0.0, 0.0);
}

/// Every series of `name` that both report agrees within tolerance, and
/// they share at least one series.
fn compare_series(ours: &Scrape, theirs: &Scrape, name: &str, absolute: f64, relative: f64) {
    let mut shared = 0;
    for (labels, value) in ours.series_of(name) {
        let key = (name.to_string(), labels.clone());
        let Some(&reference) = theirs.samples.get(&key) else {
            continue;
        };
        shared += 1;
        assert!(
            close(value, reference, absolute, relative),
            "{name}{labels:?}: ours {value}, node_exporter {reference}"
        );
    }
    let theirs_count = theirs.series_of(name).count();
    assert!(
        shared > 0 || theirs_count == 0,
        "{name}: no series in common (ours {:?}, theirs {:?})",
        ours.series_of(name).map(|(l, _)| l).collect::<Vec<_>>(),
        theirs.series_of(name).map(|(l, _)| l).collect::<Vec<_>>()
    );
}

#[test]
fn self_metrics_include_process_metrics_and_gpu_reports_down_without_a_driver() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (config, port) = write_config(dir.path(), "  fsync: interval");
    let server = Server::start(&dir.path().join("data"), &config, port);

    let own = Scrape::parse(&get(&server, "/metrics"));
    let rss = own
        .value("process_resident_memory_bytes", &[])
        .expect("process_resident_memory_bytes");
    assert!(rss > 1e6 && rss < 1e9, "resident memory {rss}");
    for name in [
        "process_cpu_seconds_total",
        "process_open_fds",
        "process_max_fds",
        "process_start_time_seconds",
    ] {
        assert!(own.value(name, &[]).is_some(), "{name} missing from /metrics");
    }
    assert!(
        own.types.contains_key("sightline_tsdb_head_series"),
        "server metrics are still there"
    );

    let gpu = Scrape::parse(&get(&server, "/metrics/gpu"));
    let up = gpu
        .value("sightline_gpu_collector_up", &[])
        .expect("sightline_gpu_collector_up");
    if std::path::Path::new("/proc/driver/nvidia").exists() {
        assert_eq!(up, 1.0, "an NVIDIA driver is present");
    } else {
        assert_eq!(up, 0.0);
        assert_eq!(gpu.samples.len(), 1, "without a driver only the up series");
    }
}

#[test]
fn a_host_collection_is_cheap() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (config, port) = write_config(dir.path(), "  fsync: interval");
    let server = Server::start(&dir.path().join("data"), &config, port);
    get(&server, "/metrics/node");
    let cpu = |server: &Server| {
        Scrape::parse(&get(server, "/metrics"))
            .value("process_cpu_seconds_total", &[])
            .expect("cpu seconds")
    };
    let before = cpu(&server);
    const SCRAPES: u32 = 50;
    for _ in 0..SCRAPES {
        get(&server, "/metrics/node");
    }
    let per_scrape_ms = (cpu(&server) - before) * 1000.0 / f64::from(SCRAPES);
    println!("host collection: {per_scrape_ms:.2} ms CPU per /metrics/node scrape (server side)");
    assert!(
        per_scrape_ms < 20.0,
        "a host collection costs {per_scrape_ms} ms of CPU"
    );
}
