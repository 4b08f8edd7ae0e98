//! The `sightline` binary: parses the command line and runs the chosen command.

mod cli;
mod drift_cli;
mod query_cli;

/// jemalloc, with the options in [`malloc_conf`]. glibc's allocator spent a
/// large share of ingest time consolidating the many small label strings of a
/// write batch. mimalloc (used before) was as fast, but kept more memory
/// resident: peak RSS in `benches/scrape_compare` (100k scraped series, 30 s)
/// 82.6-85 MiB against 69.6-72.9 MiB here, and 59 against 47-49 MiB in
/// `ingest_compare`, at the same CPU per sample.
#[global_allocator]
static GLOBAL: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

/// jemalloc's options, read when it starts; the `MALLOC_CONF` environment
/// variable overrides them. Two arenas instead of jemalloc's default of four
/// per CPU: the long-lived allocations of new series then share pages instead
/// of being spread over eight arenas (scrape peak RSS 82 → 71-72 MiB); one
/// arena measured the same (69.6-71.5 MiB) and leaves threads that allocate at
/// once nothing to spread over; ML ingest per event was within its run-to-run
/// noise with one, two, four or eight. Freed pages go
/// back to the OS within a second instead of ten, so the request buffers of a
/// remote-write burst do not linger.
#[allow(non_upper_case_globals)]
#[export_name = "malloc_conf"]
pub static malloc_conf: &[u8; 30] = b"narenas:2,dirty_decay_ms:1000\0";

use clap::Parser;
use cli::{CheckCommand, Cli, Command, ServeArgs, TestCommand, TsdbCommand};
use sightline::api::{parse_selector, parse_time};
use sightline::config::{self, Config};
use sightline::storage::{Matcher, Storage, StorageOptions};
use std::io::Write;
use std::path::Path;
use std::process::ExitCode;

fn main() -> ExitCode {
    let cli = Cli::parse();
    if let Command::Drift(args) = &cli.command {
        // Its own exit codes: 0 no drift, 1 dataset drift, 2 error.
        return drift_cli::run(args);
    }
    tracing_subscriber::fmt()
        .with_env_filter(
            // fjall and its LSM tree report every keyspace open, flush and compaction at info.
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| "info,fjall=warn,lsm_tree=warn".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    let result = match cli.command {
        Command::Check(CheckCommand::Rules {
            files,
            lint,
            lint_fatal,
            ignore_unknown_fields,
        }) => return check_rules(&files, &lint, lint_fatal, ignore_unknown_fields),
        Command::Test(TestCommand::Rules {
            files,
            run,
            ignore_unknown_fields,
        }) => return test_rules(&files, run, ignore_unknown_fields),
        Command::Serve(args) => serve(args),
        Command::Check(CheckCommand::Config { file }) => check_config(&file),
        Command::Query(cmd) => query_cli::run(cmd).map(|text| print!("{text}")),
        Command::Tsdb(TsdbCommand::Stats { data_dir }) => tsdb_stats(&data_dir),
        Command::Tsdb(TsdbCommand::Dump {
            data_dir,
            matchers,
            min_time,
            max_time,
        }) => tsdb_dump(&data_dir, &matchers, min_time.as_deref(), max_time.as_deref()),
        Command::Drift(_) => Ok(()),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn serve(args: ServeArgs) -> anyhow::Result<()> {
    let (mut config, config_yaml) = match &args.config {
        Some(path) => config::load_file_with_text(path).map_err(|e| anyhow::anyhow!("{e}"))?,
        None => {
            let listen = args.listen.unwrap_or(Config::default().server.listen);
            let embedded = config::embedded(listen).map_err(|e| anyhow::anyhow!("{e}"))?;
            (embedded, config::embedded_yaml(listen))
        }
    };
    if let Some(listen) = args.listen {
        config.server.listen = listen;
    }
    let flags = vec![
        (
            "config.file".to_string(),
            args.config
                .as_ref()
                .map(|p| p.display().to_string())
                .unwrap_or_default(),
        ),
        ("web.listen-address".to_string(), config.server.listen.to_string()),
        (
            "storage.tsdb.path".to_string(),
            args.data_dir.display().to_string(),
        ),
        (
            "storage.tsdb.retention.time".to_string(),
            config.storage.retention_time.to_string(),
        ),
        (
            "storage.tsdb.retention.size".to_string(),
            config.storage.retention_size.to_string(),
        ),
    ];
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    runtime.block_on(sightline::server::serve(sightline::server::ServeOptions {
        config,
        config_yaml,
        data_dir: args.data_dir,
        flags,
        config_file: args.config,
        listen_override: args.listen,
    }))
}

fn check_rules(files: &[std::path::PathBuf], lint: &str, lint_fatal: bool, ignore_unknown: bool) -> ExitCode {
    use sightline::rules::check::{self, Lint};
    let lint = match lint {
        "none" => Lint::None,
        "duplicate-rules" => Lint::DuplicateRules,
        _ => Lint::All,
    };
    let opts = sightline::rules::file::LoadOptions {
        ignore_unknown_fields: ignore_unknown,
        ..Default::default()
    };
    let report = check::check_rules(files, opts, lint, lint_fatal);
    print!("{}", report.text);
    ExitCode::from(report.exit_code)
}

fn test_rules(files: &[std::path::PathBuf], run: Vec<String>, ignore_unknown_fields: bool) -> ExitCode {
    let opts = sightline::rules::unittest::TestOptions {
        run,
        ignore_unknown_fields,
    };
    let report = sightline::rules::unittest::run_files(files, &opts);
    print!("{}", report.text);
    if report.passed {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

fn check_config(file: &Path) -> anyhow::Result<()> {
    match config::load_file(file) {
        Ok(_) => {
            println!("SUCCESS: {} is valid", file.display());
            Ok(())
        }
        Err(e) => {
            println!("FAILED:\n{e}");
            Err(anyhow::anyhow!("{} is invalid", file.display()))
        }
    }
}

fn open_read_only(data_dir: &Path) -> anyhow::Result<Storage> {
    if !data_dir.join("sled").exists() {
        anyhow::bail!("{} holds no Sightline data", data_dir.display());
    }
    let opts = StorageOptions {
        read_only: true,
        ..StorageOptions::default()
    };
    Storage::open(data_dir, opts).map_err(|e| {
        anyhow::anyhow!(
            "opening {}: {e} (is a server still running on it?)",
            data_dir.display()
        )
    })
}

fn tsdb_stats(data_dir: &Path) -> anyhow::Result<()> {
    let s = open_read_only(data_dir)?.tsdb_status(10)?;
    println!("series: {}", s.num_series);
    println!("samples: {}", s.samples);
    println!("chunks: {}", s.chunks);
    println!("partitions: {}", s.partitions);
    println!("bytes on disk: {}", s.bytes_on_disk);
    println!("bytes/sample: {:.3}", s.bytes_per_sample());
    Ok(())
}

fn tsdb_dump(
    data_dir: &Path,
    selectors: &[String],
    min: Option<&str>,
    max: Option<&str>,
) -> anyhow::Result<()> {
    let to_ms = |t: Option<&str>, default: i64| -> anyhow::Result<i64> {
        t.map_or(Ok(default), |s| parse_time(s).map_err(|e| anyhow::anyhow!("{e}")))
    };
    let (mint, maxt) = (to_ms(min, i64::MIN)?, to_ms(max, i64::MAX)?);
    let mut sets: Vec<Vec<Matcher>> = Vec::new();
    for s in selectors {
        sets.extend(parse_selector(s).map_err(|e| anyhow::anyhow!("--match {s}: {e}"))?);
    }
    if sets.is_empty() {
        sets.push(Vec::new());
    }
    let storage = open_read_only(data_dir)?;
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    let mut seen = std::collections::BTreeSet::new();
    for set in &sets {
        for series in storage.dump(set, mint, maxt)? {
            if !seen.insert(series.labels.clone()) {
                continue;
            }
            for s in &series.samples {
                writeln!(out, "{} {} {}", series.labels, format_value(s.v), s.t)?;
            }
        }
    }
    out.flush()?;
    Ok(())
}

/// Formats a value as Prometheus does in text (`NaN`, `+Inf`, `-Inf`).
fn format_value(v: f64) -> String {
    if v.is_nan() {
        "NaN".into()
    } else if v.is_infinite() {
        if v > 0.0 {
            "+Inf".into()
        } else {
            "-Inf".into()
        }
    } else {
        v.to_string()
    }
}
