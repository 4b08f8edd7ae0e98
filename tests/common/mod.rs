//! Shared helpers for end-to-end tests: start the real `sightline` binary on
//! a free port with its own data directory and talk HTTP to it.

#![allow(dead_code)] // each test binary uses a different subset

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

pub const BIN: &str = env!("CARGO_BIN_EXE_sightline");

pub struct Server {
    pub child: Child,
    pub base: String,
    pub data_dir: PathBuf,
    pub config: PathBuf,
}

pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("no free port")
}

/// Writes a config with the given `storage:` lines and a free listen port.
pub fn write_config(dir: &Path, storage_yaml: &str) -> (PathBuf, u16) {
    let port = free_port();
    let path = dir.join("sightline.yml");
    let yaml = format!("server:\n  listen: 127.0.0.1:{port}\nstorage:\n{storage_yaml}\n");
    std::fs::write(&path, yaml).expect("write config");
    (path, port)
}

impl Server {
    /// Starts the binary and waits until `/-/ready` answers.
    pub fn start(data_dir: &Path, config: &Path, port: u16) -> Server {
        let child = Command::new(BIN)
            .args(["serve", "--config"])
            .arg(config)
            .arg("--data-dir")
            .arg(data_dir)
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start sightline");
        let server = Server {
            child,
            base: format!("http://127.0.0.1:{port}"),
            data_dir: data_dir.to_path_buf(),
            config: config.to_path_buf(),
        };
        server.wait_ready();
        server
    }

    fn wait_ready(&self) {
        let deadline = Instant::now() + Duration::from_secs(30);
        while Instant::now() < deadline {
            if let Ok(r) = client().get(format!("{}/-/ready", self.base)).send() {
                if r.status().is_success() {
                    return;
                }
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!("sightline did not become ready at {}", self.base);
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.base, path)
    }

    /// SIGTERM and wait for the exit status.
    pub fn terminate(mut self) -> ExitStatus {
        let pid = self.child.id().to_string();
        let _ = Command::new("kill").args(["-TERM", &pid]).status();
        self.child.wait().expect("wait for sightline")
    }

    /// SIGKILL: no chance to flush anything.
    pub fn kill9(mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
    }
}

pub fn client() -> reqwest::blocking::Client {
    reqwest::blocking::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()
        .expect("http client")
}

/// Runs `sightline tsdb dump` on a stopped server's data directory.
pub fn tsdb_dump(data_dir: &Path, extra: &[&str]) -> String {
    let out = Command::new(BIN)
        .args(["tsdb", "dump", "--data-dir"])
        .arg(data_dir)
        .args(extra)
        .output()
        .expect("run tsdb dump");
    assert!(
        out.status.success(),
        "tsdb dump failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("utf-8 dump")
}
