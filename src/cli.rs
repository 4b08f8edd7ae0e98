//! The command line: `serve`, `check config`, `tsdb dump`, `tsdb stats`, `drift`.
//! Parses arguments with clap and dispatches; holds no logic of its own.

use clap::{Args, Parser, Subcommand};
use std::net::SocketAddr;
use std::path::PathBuf;

#[derive(Parser)]
#[command(
    name = "sightline",
    version,
    about = "Metrics, PromQL, alerting and ML model monitoring in one binary"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand)]
pub enum Command {
    /// Run the server (embedded defaults when no --config is given).
    Serve(ServeArgs),
    /// Validate configuration files.
    #[command(subcommand)]
    Check(CheckCommand),
    /// Run a PromQL query against a running server and print the result.
    #[command(subcommand)]
    Query(QueryCommand),
    /// Inspect a stopped server's data directory.
    #[command(subcommand)]
    Tsdb(TsdbCommand),
    /// Compare a current CSV with a reference CSV for data drift; exits 1
    /// when dataset drift is found, 2 on error.
    Drift(DriftArgs),
}

#[derive(Args)]
pub struct DriftArgs {
    /// Reference data set (CSV with a header row).
    #[arg(long)]
    pub reference: PathBuf,
    /// Current data set (CSV with the reference's columns).
    #[arg(long)]
    pub current: PathBuf,
    /// Method rules: `evidently` (Evidently 0.7's defaults) or `sound`.
    #[arg(long, default_value = "evidently", value_parser = ["evidently", "sound"])]
    pub preset: String,
    /// Write the JSON report here.
    #[arg(long)]
    pub json: Option<PathBuf>,
    /// Write the self-contained HTML report here.
    #[arg(long)]
    pub html: Option<PathBuf>,
}

#[derive(Args)]
pub struct ServeArgs {
    /// YAML configuration file.
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// Address to listen on (overrides `server.listen`).
    #[arg(long)]
    pub listen: Option<SocketAddr>,
    /// Data directory.
    #[arg(long, default_value = "data")]
    pub data_dir: PathBuf,
}

#[derive(Subcommand)]
pub enum CheckCommand {
    /// Validate a configuration file; errors are printed as file:line:column.
    Config { file: PathBuf },
}

#[derive(Subcommand)]
pub enum QueryCommand {
    /// Evaluate at one instant.
    Instant {
        expr: String,
        /// Evaluation time (RFC 3339 or Unix seconds; default now).
        #[arg(long)]
        time: Option<String>,
        #[command(flatten)]
        target: QueryTarget,
    },
    /// Evaluate over a time range.
    Range {
        expr: String,
        /// Range start (RFC 3339 or Unix seconds).
        #[arg(long)]
        start: String,
        /// Range end (RFC 3339 or Unix seconds; default now).
        #[arg(long)]
        end: Option<String>,
        /// Resolution step (duration like 15s or seconds).
        #[arg(long, default_value = "60s")]
        step: String,
        #[command(flatten)]
        target: QueryTarget,
    },
}

#[derive(Args)]
pub struct QueryTarget {
    /// Base URL of the server (Sightline or any Prometheus-compatible API).
    #[arg(long, default_value = "http://127.0.0.1:7464")]
    pub server: String,
    /// `table` or `json` (the API's `data` object).
    #[arg(long, default_value = "table", value_parser = ["table", "json"])]
    pub output: String,
}

#[derive(Subcommand)]
pub enum TsdbCommand {
    /// Print every stored sample as `labels value timestamp_ms`.
    Dump {
        #[arg(long, default_value = "data")]
        data_dir: PathBuf,
        /// Series selector, e.g. `up{job="api"}` (repeatable).
        #[arg(long = "match")]
        matchers: Vec<String>,
        /// Earliest timestamp (RFC 3339 or Unix seconds).
        #[arg(long)]
        min_time: Option<String>,
        /// Latest timestamp (RFC 3339 or Unix seconds).
        #[arg(long)]
        max_time: Option<String>,
    },
    /// Print series, samples, chunks, bytes on disk and bytes/sample.
    Stats {
        #[arg(long, default_value = "data")]
        data_dir: PathBuf,
    },
}
