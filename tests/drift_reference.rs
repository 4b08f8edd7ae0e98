//! `sightline drift` against SciPy and Evidently 0.7 on the same CSVs.
//!
//! Generates varied data sets (drifted and not, small and large references,
//! ties, categorical, binary, low-cardinality numbers, booleans, missing
//! cells, the exact and the asymptotic KS paths), runs
//! `tests/reference/drift_reference.py` in the pinned venv that
//! `tests/reference/setup-venv.sh` builds, runs the real binary, and asserts:
//! the same column types, methods and per-column and dataset decisions as
//! Evidently's DataDriftPreset, scores within 1e-9 relative; under the `sound`
//! preset, KS and chi-square p-values within 1e-9 of SciPy's.
//! A missing venv fails the test: it never skips.

use serde_json::Value;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;

const BIN: &str = env!("CARGO_BIN_EXE_sightline");
const TOLERANCE: f64 = 1e-9;

fn venv_python() -> PathBuf {
    let python = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/reference-venv/bin/python");
    assert!(
        python.exists(),
        "{} is missing: run tests/reference/setup-venv.sh (tests/run-all.sh does)",
        python.display()
    );
    python
}

fn close(actual: f64, expected: f64) -> bool {
    if expected.abs() < 1e-300 {
        return actual.abs() < 1e-300;
    }
    (actual - expected).abs() <= TOLERANCE * expected.abs()
}

/// Deterministic generators for the columns.
struct Gen(fastrand::Rng);

impl Gen {
    fn normal(&mut self, mean: f64, std: f64) -> f64 {
        let (u1, u2) = (self.0.f64().max(1e-300), self.0.f64());
        mean + std * (-2.0 * u1.ln()).sqrt() * (2.0 * std::f64::consts::PI * u2).cos()
    }

    fn pick<'a>(&mut self, items: &[(&'a str, f64)]) -> &'a str {
        let mut u = self.0.f64() * items.iter().map(|(_, w)| w).sum::<f64>();
        for (item, weight) in items {
            if u < *weight {
                return item;
            }
            u -= weight;
        }
        items[items.len() - 1].0
    }
}

/// A column generator: (name, cell for the reference, cell for the current).
type Column = (&'static str, fn(&mut Gen, bool) -> String);

fn columns() -> Vec<Column> {
    vec![
        ("num_same", |g, _| format!("{:.6}", g.normal(0.0, 1.0))),
        ("num_shift", |g, cur| {
            format!("{:.6}", g.normal(if cur { 0.35 } else { 0.0 }, 1.0))
        }),
        ("num_ties", |g, cur| {
            format!(
                "{:.1}",
                (g.normal(if cur { 0.1 } else { 0.0 }, 1.0) * 2.0).round() / 2.0
            )
        }),
        ("num_missing", |g, cur| {
            if g.0.f64() < 0.1 {
                String::new()
            } else {
                format!("{:.4}", g.normal(10.0, if cur { 2.6 } else { 2.0 }))
            }
        }),
        ("cat_same", |g, _| {
            g.pick(&[("red", 0.5), ("green", 0.3), ("blue", 0.2)]).into()
        }),
        ("cat_shift", |g, cur| {
            if cur {
                g.pick(&[("a", 0.3), ("b", 0.3), ("c", 0.3), ("new", 0.1)]).into()
            } else {
                g.pick(&[("a", 0.5), ("b", 0.3), ("c", 0.2)]).into()
            }
        }),
        ("binary", |g, cur| {
            g.pick(&[("yes", if cur { 0.45 } else { 0.4 }), ("no", 0.6)])
                .into()
        }),
        ("int_few", |g, _| format!("{}", g.0.u32(0..5))),
        ("float_few", |g, cur| {
            g.pick(&[("0.5", 0.4), ("1.5", 0.4), ("2.5", if cur { 0.4 } else { 0.2 })])
                .into()
        }),
        ("float_two", |g, _| g.pick(&[("0.5", 0.5), ("1.5", 0.5)]).into()),
        ("flag", |g, _| g.pick(&[("True", 0.7), ("False", 0.3)]).into()),
        ("int_many", |g, cur| {
            format!("{}", g.0.u32(0..100) + if cur { 3 } else { 0 })
        }),
    ]
}

fn write_csv(path: &Path, rows: usize, current: bool, seed: u64) {
    let mut g = Gen(fastrand::Rng::with_seed(seed));
    let columns = columns();
    let mut text = columns
        .iter()
        .map(|(name, _)| *name)
        .collect::<Vec<_>>()
        .join(",");
    text.push('\n');
    for _ in 0..rows {
        let row: Vec<String> = columns.iter().map(|(_, cell)| cell(&mut g, current)).collect();
        let _ = writeln!(text, "{}", row.join(","));
    }
    std::fs::write(path, text).unwrap();
}

fn run_reference(python: &Path, reference: &Path, current: &Path) -> Value {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/reference/drift_reference.py");
    let out = Command::new(python)
        .arg(script)
        .arg(reference)
        .arg(current)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "reference script failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

fn run_sightline(reference: &Path, current: &Path, preset: &str, dir: &Path) -> (Value, i32) {
    let json = dir.join(format!("report-{preset}.json"));
    let out = Command::new(BIN)
        .args(["drift", "--preset", preset, "--reference"])
        .arg(reference)
        .arg("--current")
        .arg(current)
        .arg("--json")
        .arg(&json)
        .output()
        .unwrap();
    let code = out.status.code().unwrap_or(-1);
    assert!(
        code == 0 || code == 1,
        "sightline drift failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    (
        serde_json::from_slice(&std::fs::read(&json).unwrap()).unwrap(),
        code,
    )
}

fn feature<'a>(report: &'a Value, name: &str) -> &'a Value {
    report["features"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["name"] == name)
        .unwrap_or_else(|| panic!("no feature {name} in {report}"))
}

/// Compares one pair of CSVs; returns the number of values compared.
fn compare_case(label: &str, ref_rows: usize, cur_rows: usize, seed: u64) -> usize {
    let python = venv_python();
    let dir = tempfile::tempdir().unwrap();
    let (reference, current) = (dir.path().join("ref.csv"), dir.path().join("cur.csv"));
    write_csv(&reference, ref_rows, false, seed);
    write_csv(&current, cur_rows, true, seed + 1);
    let expected = run_reference(&python, &reference, &current);
    let (ours, code) = run_sightline(&reference, &current, "evidently", dir.path());
    let mut compared = 0;
    let mut failures = Vec::new();
    for (name, theirs) in expected["evidently"]["columns"].as_object().unwrap() {
        let mine = feature(&ours, name);
        if mine["columnType"] != theirs["type"] {
            failures.push(format!(
                "{name}: type {} vs Evidently {}",
                mine["columnType"], theirs["type"]
            ));
        }
        if mine["method"] != theirs["method"] {
            failures.push(format!(
                "{name}: method {} vs Evidently {}",
                mine["method"], theirs["method"]
            ));
            continue;
        }
        let (a, b) = (mine["score"].as_f64().unwrap(), theirs["score"].as_f64().unwrap());
        if !close(a, b) {
            failures.push(format!(
                "{name} ({}): score {a:e} vs Evidently {b:e}",
                theirs["method"]
            ));
        }
        if mine["driftDetected"] != theirs["drift"] {
            failures.push(format!(
                "{name}: drift {} vs Evidently {}",
                mine["driftDetected"], theirs["drift"]
            ));
        }
        compared += 1;
    }
    let (ours_columns, theirs_columns) = (
        ours["features"].as_array().unwrap().len(),
        expected["evidently"]["columns"].as_object().unwrap().len(),
    );
    if ours_columns != theirs_columns {
        failures.push(format!(
            "{ours_columns} columns evaluated vs Evidently {theirs_columns}"
        ));
    }
    let dataset = &expected["evidently"]["dataset"];
    if ours["dataset"]["driftedColumns"] != dataset["drifted"]
        || ours["dataset"]["datasetDrift"] != dataset["drift"]
    {
        failures.push(format!("dataset {} vs Evidently {dataset}", ours["dataset"]));
    }
    if code != i32::from(dataset["drift"].as_bool().unwrap()) {
        failures.push(format!(
            "exit code {code} with Evidently dataset drift {}",
            dataset["drift"]
        ));
    }
    compared += compare_sound_with_scipy(
        &reference,
        &current,
        dir.path(),
        &expected["scipy"],
        &mut failures,
    );
    assert!(failures.is_empty(), "{label}:\n{}", failures.join("\n"));
    compared
}

/// The `sound` preset's tests are SciPy's KS and chi-square of independence.
fn compare_sound_with_scipy(
    reference: &Path,
    current: &Path,
    dir: &Path,
    scipy: &Value,
    failures: &mut Vec<String>,
) -> usize {
    let (sound, _) = run_sightline(reference, current, "sound", dir);
    let mut compared = 0;
    for f in sound["features"].as_array().unwrap() {
        let name = f["name"].as_str().unwrap();
        let key = match f["method"].as_str().unwrap() {
            "ks" => "ks_p_value",
            "chi2_independence" => "chi2_independence_p_value",
            other => panic!("sound preset used {other}"),
        };
        let Some(expected) = scipy[name][key].as_f64() else {
            failures.push(format!("{name}: SciPy has no {key}"));
            continue;
        };
        let actual = f["pValue"].as_f64().unwrap();
        if !close(actual, expected) {
            failures.push(format!("{name}: sound {key} {actual:e} vs SciPy {expected:e}"));
        }
        compared += 1;
    }
    compared
}

#[test]
fn small_reference_matches_evidently_and_scipy() {
    assert!(compare_case("300 vs 200 rows", 300, 200, 11) > 20);
}

#[test]
fn equal_sizes_use_the_square_exact_path() {
    compare_case("250 vs 250 rows", 250, 250, 23);
}

#[test]
fn tiny_windows_match() {
    compare_case("40 vs 25 rows", 40, 25, 31);
}

#[test]
fn large_reference_uses_distances() {
    compare_case("3000 vs 1500 rows", 3000, 1500, 47);
}

#[test]
fn large_current_uses_asymptotic_ks() {
    compare_case("600 vs 12000 rows", 600, 12_000, 59);
}

#[test]
fn ragged_csv_is_an_error_with_its_line() {
    let dir = tempfile::tempdir().unwrap();
    let reference = dir.path().join("ref.csv");
    std::fs::write(&reference, "a,b\n1,2\n3,4,5\n").unwrap();
    let out = Command::new(BIN)
        .args(["drift", "--reference"])
        .arg(&reference)
        .arg("--current")
        .arg(&reference)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("line 3: expected 2 fields like the header, found 3"),
        "{stderr}"
    );
}
