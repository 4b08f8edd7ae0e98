//! Runs Prometheus's PromQL conformance scripts (`../shared/conformance/promql/*.test`)
//! through Sightline's storage and evaluator, prints a table per file and
//! fails when the total pass count drops below the committed floor in
//! `tests/promql_conformance_floor.txt` (a number that only ever rises).
//!
//! Run with `cargo test --test promql_conformance -- --nocapture` to see the table.

#[path = "promql_conformance/check.rs"]
mod check;
#[path = "promql_conformance/script.rs"]
mod script;
#[path = "promql_conformance/series_desc.rs"]
mod series_desc;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use promql_parser::parser::{Expr, VectorSelector};
use script::{Command, Eval, Load};
use series_desc::LoadValue;
use sightline::promql::{Engine, EngineOptions};
use sightline::storage::{
    stale_nan, Appender, Labels, Sample, SeriesSamples, Storage, StorageOptions, METRIC_NAME,
};

#[derive(Default, Debug, Clone)]
struct Tally {
    evals: usize,
    passed: usize,
    failed: usize,
    skipped: BTreeMap<&'static str, usize>,
    failures: Vec<String>,
}

impl Tally {
    fn add(&mut self, other: &Tally) {
        self.evals += other.evals;
        self.passed += other.passed;
        self.failed += other.failed;
        for (k, v) in &other.skipped {
            *self.skipped.entry(k).or_default() += v;
        }
    }
}

/// One file's storage, reopened empty on `clear`.
struct FileState {
    _dir: tempfile::TempDir,
    storage: Storage,
    /// Series whose data is native histograms, which Sightline does not store.
    native_series: Vec<Labels>,
}

fn fresh_state() -> FileState {
    let dir = tempfile::tempdir().unwrap();
    let opts = StorageOptions {
        out_of_order_time_window_ms: i64::MAX / 2,
        retention_ms: 0,
        ..Default::default()
    };
    let storage = Storage::open(dir.path(), opts).unwrap();
    FileState {
        _dir: dir,
        storage,
        native_series: Vec::new(),
    }
}

fn load(state: &mut FileState, l: &Load) -> Result<(), String> {
    for s in &l.series {
        if s.has_histograms() {
            state.native_series.push(s.labels.clone());
            continue;
        }
        if let (true, Some(base)) = (l.with_nhcb, s.labels.get(METRIC_NAME).strip_suffix("_bucket")) {
            state
                .native_series
                .push(s.labels.without(&["le"]).with(METRIC_NAME, base));
        }
        let samples: Vec<Sample> = s
            .values
            .iter()
            .enumerate()
            .filter_map(|(i, v)| {
                let t = i as i64 * l.step_ms;
                match v {
                    LoadValue::Float(f) => Some(Sample { t, v: *f }),
                    LoadValue::Stale => Some(Sample { t, v: stale_nan() }),
                    _ => None,
                }
            })
            .collect();
        if samples.is_empty() {
            continue;
        }
        let batch = vec![SeriesSamples {
            labels: s.labels.clone(),
            samples,
        }];
        state.storage.append(batch).map_err(|e| e.to_string())?;
    }
    Ok(())
}

/// Every vector selector in `expr`, those inside range selectors included.
fn selectors(expr: &Expr, out: &mut Vec<VectorSelector>) {
    match expr {
        Expr::VectorSelector(vs) => out.push(vs.clone()),
        Expr::MatrixSelector(ms) => out.push(ms.vs.clone()),
        Expr::Subquery(sq) => selectors(&sq.expr, out),
        Expr::Paren(p) => selectors(&p.expr, out),
        Expr::Unary(u) => selectors(&u.expr, out),
        Expr::Binary(b) => {
            selectors(&b.lhs, out);
            selectors(&b.rhs, out);
        }
        Expr::Aggregate(a) => {
            selectors(&a.expr, out);
            if let Some(p) = &a.param {
                selectors(p, out);
            }
        }
        Expr::Call(c) => c.args.args.iter().for_each(|a| selectors(a, out)),
        _ => {}
    }
}

fn selects(vs: &VectorSelector, labels: &Labels) -> bool {
    vs.name.as_deref().is_none_or(|n| labels.get(METRIC_NAME) == n)
        && vs
            .matchers
            .matchers
            .iter()
            .all(|m| m.is_match(labels.get(&m.name)))
}

fn skip_reason(state: &FileState, ev: &Eval) -> Option<&'static str> {
    let Ok(expr) = promql_parser::parser::parse(&ev.expr) else {
        return Some("parser");
    };
    let mut found = Vec::new();
    selectors(&expr, &mut found);
    let touches_native = found
        .iter()
        .any(|vs| state.native_series.iter().any(|l| selects(vs, l)));
    if ev.native_in_block || touches_native {
        return Some("native-histogram");
    }
    None
}

fn run_file(engine: &Engine, path: &Path) -> Tally {
    let text = std::fs::read_to_string(path).unwrap();
    let mut tally = Tally::default();
    let commands = match script::parse_script(&text) {
        Ok(c) => c,
        Err(e) => {
            tally.failures.push(format!("script error: {e}"));
            return tally;
        }
    };
    let mut state = fresh_state();
    for (line, cmd) in commands {
        match cmd {
            Command::Clear => state = fresh_state(),
            Command::Load(l) => {
                if let Err(e) = load(&mut state, &l) {
                    tally.failures.push(format!("line {line}: load failed: {e}"));
                }
            }
            Command::Eval(ev) => {
                tally.evals += 1;
                if let Some(reason) = skip_reason(&state, &ev) {
                    *tally.skipped.entry(reason).or_default() += 1;
                    continue;
                }
                match check::run_eval(engine, &state.storage, &ev) {
                    Ok(()) => tally.passed += 1,
                    Err(e) => {
                        tally.failed += 1;
                        tally.failures.push(format!("line {line}: {}: {e}", ev.expr));
                    }
                }
            }
        }
    }
    tally
}

fn print_row(name: &str, t: &Tally) {
    let skipped: Vec<String> = t.skipped.iter().map(|(k, v)| format!("{k}={v}")).collect();
    println!(
        "{name:<28} {:>6} {:>6} {:>6}  {}",
        t.evals,
        t.passed,
        t.failed,
        skipped.join(" ")
    );
}

#[test]
fn promql_conformance() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let dir = root.join("../shared/conformance/promql");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("conformance scripts not found at {}: {e}", dir.display()))
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "test"))
        .collect();
    files.sort();
    let only = std::env::var("PROMQL_TEST_FILE").ok();
    let engine = Engine::new(EngineOptions {
        timeout: std::time::Duration::from_secs(100),
        ..EngineOptions::default()
    });
    let mut total = Tally::default();
    println!(
        "{:<28} {:>6} {:>6} {:>6}  skipped",
        "file", "evals", "passed", "failed"
    );
    for path in &files {
        let name = path.file_name().unwrap().to_string_lossy().to_string();
        if only.as_deref().is_some_and(|o| !name.contains(o)) {
            continue;
        }
        let tally = run_file(&engine, path);
        print_row(&name, &tally);
        if std::env::var("PROMQL_TEST_VERBOSE").is_ok() {
            for f in &tally.failures {
                println!("    {f}");
            }
        }
        total.add(&tally);
    }
    print_row("TOTAL", &total);
    let floor_path = root.join("tests/promql_conformance_floor.txt");
    let floor: usize = std::fs::read_to_string(&floor_path)
        .ok()
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(0);
    if only.is_none() {
        assert!(
            total.passed >= floor,
            "conformance regressed: {} evals passed, floor is {floor}",
            total.passed
        );
    }
}
