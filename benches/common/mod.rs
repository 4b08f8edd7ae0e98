//! Helpers shared by the comparison benches (`ingest_compare`,
//! `query_compare`): which binaries to start and how, free ports and temp
//! directories, remote-write sending, and reading a server's CPU time and
//! peak RSS from `/proc`.

#![allow(dead_code)] // each bench uses a different subset

use std::fs;
use std::io::Read;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::thread::sleep;
use std::time::{Duration, Instant};

use bytes::Bytes;
use reqwest::blocking::Client;
use sightline::ingest::remote_write::encode_write_request;
use sightline::storage::SeriesSamples;
use tempfile::TempDir;

pub const READY_TIMEOUT: Duration = Duration::from_secs(60);

pub type Result<T> = std::result::Result<T, String>;

/// Whether the bench binary was started by `cargo bench` (which passes
/// `--bench`) rather than `cargo test`.
pub fn under_cargo_bench() -> bool {
    std::env::args().any(|a| a == "--bench")
}

pub fn env_usize(name: &str, default: usize) -> usize {
    match std::env::var(name) {
        Ok(v) => v
            .parse()
            .unwrap_or_else(|_| panic!("{name}={v:?} is not a number")),
        Err(_) => default,
    }
}

/// xorshift64*: deterministic, so every run sends the same values.
pub struct Rng(pub u64);

impl Rng {
    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    pub fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }

    /// Uniform in [-1, 1).
    pub fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 52) as f64 - 1.0
    }
}

// ---- servers -----------------------------------------------------------

/// Which server kind a [`Spec`] starts.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Kind {
    Sightline,
    Prometheus,
    VictoriaMetrics,
}

/// How to start and probe one kind of server.
pub struct Spec {
    pub kind: Kind,
    pub name: &'static str,
    pub binary: PathBuf,
    pub ready_path: &'static str,
    /// Extra command-line arguments after the ones [`start`] builds.
    pub extra_args: Vec<String>,
}

/// Sightline (`target/release/sightline`), Prometheus and VictoriaMetrics,
/// each overridable by `SIGHTLINE_BIN`, `PROMETHEUS_BIN`,
/// `VICTORIA_METRICS_BIN`.
pub fn servers() -> Vec<Spec> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    vec![
        Spec {
            kind: Kind::Sightline,
            name: "sightline",
            binary: bin_path("SIGHTLINE_BIN", &root.join("target/release/sightline")),
            ready_path: "/-/ready",
            extra_args: Vec::new(),
        },
        Spec {
            kind: Kind::Prometheus,
            name: "prometheus",
            binary: bin_path("PROMETHEUS_BIN", Path::new("/usr/bin/prometheus")),
            ready_path: "/-/ready",
            extra_args: Vec::new(),
        },
        Spec {
            kind: Kind::VictoriaMetrics,
            name: "victoria-metrics",
            binary: bin_path("VICTORIA_METRICS_BIN", Path::new("/usr/bin/victoria-metrics")),
            ready_path: "/health",
            extra_args: Vec::new(),
        },
    ]
}

fn bin_path(var: &str, default: &Path) -> PathBuf {
    std::env::var_os(var).map_or_else(|| default.to_path_buf(), PathBuf::from)
}

fn server_args(kind: Kind, port: u16, dir: &Path) -> Result<Vec<String>> {
    let data = dir.join("data").display().to_string();
    match kind {
        Kind::Sightline => {
            let config = dir.join("sightline.yml");
            // SIGHTLINE_EXTRA_YAML appends to the config, to measure a setting.
            let extra = std::env::var("SIGHTLINE_EXTRA_YAML").unwrap_or_default();
            fs::write(&config, format!("server:\n  listen: 127.0.0.1:{port}\n{extra}"))
                .map_err(|e| format!("writing {config:?}: {e}"))?;
            Ok(vec![
                "serve".into(),
                "--config".into(),
                config.display().to_string(),
                "--data-dir".into(),
                data,
            ])
        }
        Kind::Prometheus => {
            let config = dir.join("prometheus.yml");
            fs::write(&config, "global: {}\nscrape_configs: []\n")
                .map_err(|e| format!("writing {config:?}: {e}"))?;
            Ok(vec![
                format!("--config.file={}", config.display()),
                format!("--storage.tsdb.path={data}"),
                format!("--web.listen-address=127.0.0.1:{port}"),
                "--web.enable-remote-write-receiver".into(),
                "--web.enable-admin-api".into(),
            ])
        }
        Kind::VictoriaMetrics => Ok(vec![
            format!("-storageDataPath={data}"),
            format!("-httpListenAddr=127.0.0.1:{port}"),
            "-retentionPeriod=100y".into(),
        ]),
    }
}

/// A started server; killed (and its temp directory removed) when dropped.
pub struct Server {
    child: Child,
    pub base: String,
    dir: TempDir,
}

impl Server {
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    pub fn data_dir(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    /// Sends SIGTERM and waits (up to a minute) for a clean exit.
    pub fn terminate(&mut self) -> Result<()> {
        let pid = libc::pid_t::try_from(self.child.id()).map_err(|e| format!("pid: {e}"))?;
        // SAFETY: kill(2) on our own child's pid; no memory is shared.
        if unsafe { libc::kill(pid, libc::SIGTERM) } != 0 {
            return Err(format!("SIGTERM: {}", std::io::Error::last_os_error()));
        }
        let deadline = Instant::now() + Duration::from_secs(60);
        while Instant::now() < deadline {
            match self.child.try_wait() {
                Ok(Some(status)) if status.success() => return Ok(()),
                Ok(Some(status)) => return Err(format!("exited with {status}")),
                Ok(None) => sleep(Duration::from_millis(100)),
                Err(e) => return Err(format!("waiting: {e}")),
            }
        }
        Err("did not exit within a minute of SIGTERM".into())
    }

    pub fn log_tail(&self) -> String {
        let log = fs::read_to_string(self.dir.path().join("server.log")).unwrap_or_default();
        let lines: Vec<&str> = log.lines().collect();
        lines[lines.len().saturating_sub(15)..].join("\n")
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub fn free_port() -> Result<u16> {
    let listener = TcpListener::bind("127.0.0.1:0").map_err(|e| format!("no free port: {e}"))?;
    listener
        .local_addr()
        .map(|a| a.port())
        .map_err(|e| format!("no free port: {e}"))
}

/// Starts `spec` on a free port in a fresh temp directory and waits until
/// its ready endpoint answers.
pub fn start(spec: &Spec, client: &Client) -> Result<Server> {
    let dir = TempDir::new().map_err(|e| format!("temp dir: {e}"))?;
    let port = free_port()?;
    let mut args = server_args(spec.kind, port, dir.path())?;
    args.extend(spec.extra_args.iter().cloned());
    let log = fs::File::create(dir.path().join("server.log")).map_err(|e| format!("log file: {e}"))?;
    let log2 = log.try_clone().map_err(|e| format!("log file: {e}"))?;
    let child = Command::new(&spec.binary)
        .args(&args)
        .current_dir(dir.path())
        .stdin(Stdio::null())
        .stdout(log)
        .stderr(log2)
        .spawn()
        .map_err(|e| format!("cannot start {}: {e}", spec.binary.display()))?;
    let mut server = Server {
        child,
        base: format!("http://127.0.0.1:{port}"),
        dir,
    };
    wait_ready(spec, &mut server, client)?;
    Ok(server)
}

fn wait_ready(spec: &Spec, server: &mut Server, client: &Client) -> Result<()> {
    let deadline = Instant::now() + READY_TIMEOUT;
    let url = format!("{}{}", server.base, spec.ready_path);
    loop {
        if let Ok(Some(status)) = server.child.try_wait() {
            return Err(format!(
                "{} exited with {status}:\n{}",
                spec.name,
                server.log_tail()
            ));
        }
        if client.get(&url).send().is_ok_and(|r| r.status().is_success()) {
            return Ok(());
        }
        if Instant::now() > deadline {
            return Err(format!(
                "{} not ready after {READY_TIMEOUT:?}:\n{}",
                spec.name,
                server.log_tail()
            ));
        }
        sleep(Duration::from_millis(100));
    }
}

/// Whether `target/release/sightline` has a `serve` command taking our flags.
fn sightline_serves(binary: &Path) -> bool {
    let Ok(out) = Command::new(binary).args(["serve", "--help"]).output() else {
        return false;
    };
    let help = String::from_utf8_lossy(&out.stdout) + String::from_utf8_lossy(&out.stderr);
    out.status.success() && help.contains("--config") && help.contains("--data-dir")
}

/// Errors (loudly) when the binary is missing or is not the server we expect.
pub fn check_binary(spec: &Spec) -> Result<()> {
    if !spec.binary.is_file() {
        return Err(format!("{} not found at {}", spec.name, spec.binary.display()));
    }
    if spec.kind == Kind::Sightline && !sightline_serves(&spec.binary) {
        return Err(format!(
            "{} has no `serve --config --data-dir` command (build the server with `cargo build --release`)",
            spec.binary.display()
        ));
    }
    Ok(())
}

pub fn client() -> Result<Client> {
    Client::builder()
        .timeout(Duration::from_secs(120))
        .build()
        .map_err(|e| format!("http client: {e}"))
}

// ---- remote write ------------------------------------------------------

/// One pre-encoded remote-write request.
pub struct Payload {
    pub body: Bytes,
    pub samples: usize,
}

/// Encodes `batch` as one request and empties it.
pub fn encode(batch: &mut Vec<SeriesSamples>) -> Payload {
    let payload = Payload {
        body: Bytes::from(encode_write_request(batch)),
        samples: batch.iter().map(|s| s.samples.len()).sum(),
    };
    batch.clear();
    payload
}

/// Sends every sender's payloads from its own thread; returns accepted and
/// refused sample counts and prints the first few refusals.
pub fn send_all(base: &str, payloads: &[Vec<Payload>]) -> Result<(usize, usize)> {
    let url = format!("{base}/api/v1/write");
    let results: Vec<Result<(usize, usize)>> = std::thread::scope(|scope| {
        let handles: Vec<_> = payloads
            .iter()
            .map(|mine| scope.spawn(|| send_some(&url, mine)))
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().unwrap_or_else(|_| Err("sender thread panicked".into())))
            .collect()
    });
    results
        .into_iter()
        .try_fold((0, 0), |(a, r), res| res.map(|(a2, r2)| (a + a2, r + r2)))
}

fn send_some(url: &str, payloads: &[Payload]) -> Result<(usize, usize)> {
    let client = client()?;
    let (mut accepted, mut refused, mut shown) = (0, 0, 0);
    for p in payloads {
        let resp = client
            .post(url)
            .header("Content-Type", "application/x-protobuf")
            .header("Content-Encoding", "snappy")
            .header("X-Prometheus-Remote-Write-Version", "0.1.0")
            .body(p.body.clone())
            .send()
            .map_err(|e| format!("POST {url}: {e}"))?;
        if resp.status().is_success() {
            accepted += p.samples;
            continue;
        }
        refused += p.samples;
        if shown < 3 {
            shown += 1;
            let status = resp.status();
            println!("  refused: {status} {}", resp.text().unwrap_or_default().trim());
        }
    }
    Ok((accepted, refused))
}

// ---- measuring ---------------------------------------------------------

/// utime + stime of process `pid`.
pub fn cpu_time(pid: u32) -> Result<Duration> {
    let stat =
        fs::read_to_string(format!("/proc/{pid}/stat")).map_err(|e| format!("/proc/{pid}/stat: {e}"))?;
    let after_name = stat.rsplit_once(')').map_or("", |(_, rest)| rest);
    let fields: Vec<&str> = after_name.split_whitespace().collect();
    // Fields 14 and 15 of stat(5); `after_name` starts at field 3.
    let ticks = |i: usize| fields.get(i).and_then(|f| f.parse::<u64>().ok());
    let (Some(utime), Some(stime)) = (ticks(11), ticks(12)) else {
        return Err(format!("cannot parse /proc/{pid}/stat: {stat}"));
    };
    // SAFETY: sysconf has no preconditions.
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) }.max(1) as u64;
    Ok(Duration::from_nanos((utime + stime) * 1_000_000_000 / hz))
}

/// VmHWM of process `pid`, in bytes.
pub fn peak_rss(pid: u32) -> Result<u64> {
    status_bytes(pid, "VmHWM:")
}

/// VmRSS (resident memory now) of process `pid`, in bytes.
pub fn rss(pid: u32) -> Result<u64> {
    status_bytes(pid, "VmRSS:")
}

/// A `kB` field of `/proc/PID/status`, in bytes.
fn status_bytes(pid: u32, field: &str) -> Result<u64> {
    let status =
        fs::read_to_string(format!("/proc/{pid}/status")).map_err(|e| format!("/proc/{pid}/status: {e}"))?;
    status
        .lines()
        .find_map(|l| l.strip_prefix(field))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        .map(|kb| kb * 1024)
        .ok_or_else(|| format!("no {field} in /proc/{pid}/status"))
}

/// Total size of the regular files under `path` (0 when absent).
pub fn dir_size(path: &Path) -> u64 {
    let Ok(entries) = fs::read_dir(path) else {
        return fs::metadata(path).map(|m| m.len()).unwrap_or(0);
    };
    entries
        .flatten()
        .map(|e| match e.file_type() {
            Ok(t) if t.is_dir() => dir_size(&e.path()),
            Ok(t) if t.is_file() => e.metadata().map(|m| m.len()).unwrap_or(0),
            _ => 0,
        })
        .sum()
}

// ---- HTTP --------------------------------------------------------------

pub fn post_ok(client: &Client, url: &str) -> Result<String> {
    check(client.post(url).send(), url)
}

pub fn get_ok(client: &Client, url: &str) -> Result<String> {
    check(client.get(url).send(), url)
}

/// The body of a successful answer, or an error naming `url`, the status and
/// the body.
pub fn check(resp: reqwest::Result<reqwest::blocking::Response>, url: &str) -> Result<String> {
    let mut resp = resp.map_err(|e| format!("{url}: {e}"))?;
    let mut body = String::new();
    let _ = resp.read_to_string(&mut body);
    if resp.status().is_success() {
        Ok(body)
    } else {
        Err(format!("{url}: {} {}", resp.status(), body.trim()))
    }
}
