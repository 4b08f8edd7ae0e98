//! The exposition "bad input" and edge-case fixtures in
//! `tests/fixtures/exposition` (expectations in `expectations.tsv`): our
//! parser gives the expected sample count or refuses at the expected line
//! with the expected reason, and the real Prometheus 2.42, scraping the same
//! bodies, accepts and refuses exactly the same ones with the same counts.

use sightline::exposition::{Entry, Format, ParseError, Parser};
use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const PROMETHEUS: &str = "/usr/bin/prometheus";

#[derive(Debug, Clone, PartialEq)]
enum Expected {
    Samples(usize),
    Refused { line: usize, reason: String },
}

struct Case {
    file: String,
    body: Vec<u8>,
    expected: Expected,
}

fn dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/exposition")
}

fn format_of(file: &str) -> Format {
    if file.ends_with(".om") {
        Format::OpenMetrics
    } else {
        Format::PrometheusText
    }
}

fn cases() -> Vec<Case> {
    let manifest = std::fs::read_to_string(dir().join("expectations.tsv")).expect("expectations.tsv");
    manifest
        .lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
        .map(|line| {
            let (file, expected) = line.split_once('\t').expect("file<TAB>expectation");
            let expected = if let Some(n) = expected.strip_prefix("ok:") {
                Expected::Samples(n.parse().expect("sample count"))
            } else {
                let rest = expected.strip_prefix("error:").expect("ok: or error:");
                let (line, reason) = rest.split_once(':').expect("error:<line>:<reason>");
                Expected::Refused {
                    line: line.parse().expect("line"),
                    reason: reason.to_string(),
                }
            };
            let body = std::fs::read(dir().join(file)).unwrap_or_else(|e| panic!("{file}: {e}"));
            Case {
                file: file.to_string(),
                body,
                expected,
            }
        })
        .collect()
}

fn parse(case: &Case) -> Result<usize, ParseError> {
    let mut samples = 0;
    for entry in Parser::new(&case.body, format_of(&case.file)) {
        if let Entry::Sample(_) = entry? {
            samples += 1;
        }
    }
    Ok(samples)
}

#[test]
fn fixtures_parse_as_expected() {
    let cases = cases();
    assert!(cases.len() >= 25, "fixtures are missing");
    let mut wrong = Vec::new();
    for case in &cases {
        let got = parse(case);
        let right = match (&case.expected, &got) {
            (Expected::Samples(n), Ok(count)) => count == n,
            (Expected::Refused { line, reason }, Err(e)) => {
                e.line == *line && e.reason.contains(reason.as_str())
            }
            _ => false,
        };
        if !right {
            wrong.push(format!(
                "{}: expected {:?}, got {got:?}",
                case.file, case.expected
            ));
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

/// Serves each fixture at `/<file>` with its format's content type.
fn serve_fixtures(cases: &[Case]) -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("addr").port();
    let bodies: BTreeMap<String, Vec<u8>> = cases
        .iter()
        .map(|c| (format!("/{}", c.file), c.body.clone()))
        .collect();
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let _ = answer(stream, &bodies);
        }
    });
    port
}

fn answer(mut stream: TcpStream, bodies: &BTreeMap<String, Vec<u8>>) -> std::io::Result<()> {
    let mut reader = BufReader::new(stream.try_clone()?);
    let mut request_line = String::new();
    reader.read_line(&mut request_line)?;
    let mut header = String::new();
    while reader.read_line(&mut header)? > 2 {
        header.clear();
    }
    let path = request_line.split_whitespace().nth(1).unwrap_or("/");
    let Some(body) = bodies.get(path) else {
        return stream.write_all(b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
    };
    let content_type = match format_of(path) {
        Format::OpenMetrics => "application/openmetrics-text; version=1.0.0; charset=utf-8",
        Format::PrometheusText => "text/plain; version=0.0.4; charset=utf-8",
    };
    let head = format!(
        "HTTP/1.1 200 OK\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    stream.write_all(head.as_bytes())?;
    stream.write_all(body)
}

struct Prometheus(Child, u16);

impl Drop for Prometheus {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn start_prometheus(dir: &Path, cases: &[Case], fixture_port: u16) -> Prometheus {
    assert!(
        Path::new(PROMETHEUS).exists(),
        "{PROMETHEUS} is missing: install Debian's `prometheus` package (tests/run-all.sh does)"
    );
    let mut config = String::from("global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\nscrape_configs:\n");
    for case in cases {
        config.push_str(&format!(
            "  - job_name: '{0}'\n    metrics_path: '/{0}'\n    static_configs: [{{targets: ['127.0.0.1:{fixture_port}']}}]\n",
            case.file
        ));
    }
    std::fs::write(dir.join("prometheus.yml"), config).expect("write prometheus.yml");
    let port = TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("port")
        .port();
    let child = Command::new(PROMETHEUS)
        .arg(format!("--config.file={}", dir.join("prometheus.yml").display()))
        .arg(format!("--storage.tsdb.path={}", dir.join("data").display()))
        .arg(format!("--web.listen-address=127.0.0.1:{port}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start prometheus");
    Prometheus(child, port)
}

/// job → (health, lastError) once every target has been scraped.
fn target_health(prometheus: &Prometheus, jobs: usize) -> BTreeMap<String, (String, String)> {
    let client = reqwest::blocking::Client::new();
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let url = format!("http://127.0.0.1:{}/api/v1/targets", prometheus.1);
        if let Ok(json) = client.get(url).send().and_then(|r| r.json::<serde_json::Value>()) {
            let health: BTreeMap<String, (String, String)> = json["data"]["activeTargets"]
                .as_array()
                .into_iter()
                .flatten()
                .filter(|t| t["health"] != "unknown")
                .map(|t| {
                    let job = t["labels"]["job"].as_str().unwrap_or_default().to_string();
                    let health = t["health"].as_str().unwrap_or_default().to_string();
                    (
                        job,
                        (health, t["lastError"].as_str().unwrap_or_default().to_string()),
                    )
                })
                .collect();
            if health.len() == jobs {
                return health;
            }
        }
        assert!(
            Instant::now() < deadline,
            "prometheus did not scrape every fixture in time"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// job → scrape_samples_scraped
fn samples_scraped(prometheus: &Prometheus) -> BTreeMap<String, f64> {
    let url = format!(
        "http://127.0.0.1:{}/api/v1/query?query=scrape_samples_scraped",
        prometheus.1
    );
    let json: serde_json::Value = reqwest::blocking::get(url)
        .and_then(|r| r.json())
        .expect("query prometheus");
    json["data"]["result"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|s| {
            let job = s["metric"]["job"].as_str().unwrap_or_default().to_string();
            (
                job,
                s["value"][1]
                    .as_str()
                    .and_then(|v| v.parse().ok())
                    .unwrap_or(-1.0),
            )
        })
        .collect()
}

#[test]
fn prometheus_accepts_and_refuses_the_same_fixtures() {
    let cases = cases();
    let dir = tempfile::tempdir().expect("tempdir");
    let prometheus = start_prometheus(dir.path(), &cases, serve_fixtures(&cases));
    let health = target_health(&prometheus, cases.len());
    let scraped = samples_scraped(&prometheus);
    let mut disagreements = Vec::new();
    for case in &cases {
        let (state, last_error) = &health[&case.file];
        let ours = parse(case);
        let agree = match (&case.expected, state.as_str()) {
            (Expected::Samples(n), "up") => scraped.get(&case.file) == Some(&(*n as f64)),
            (Expected::Refused { .. }, "down") => true,
            _ => false,
        };
        if !agree {
            disagreements.push(format!(
                "{}: prometheus {state} ({last_error}), scraped {:?}; ours {ours:?}",
                case.file,
                scraped.get(&case.file)
            ));
        }
    }
    assert!(
        disagreements.is_empty(),
        "disagreements with Prometheus 2.42:\n{}",
        disagreements.join("\n")
    );
}
