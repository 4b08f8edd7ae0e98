//! Drift-job figure: 50 features (35 numerical, 15 categorical), reference
//! 100,000 rows vs current 10,000, Sightline vs Evidently 0.7's
//! DataDriftPreset on the same CSVs in the pinned reference venv
//! (`tests/reference/setup-venv.sh`), with the per-column decisions compared.
//!
//! Prints: Sightline's job from accumulated state (what the `ml` drift job
//! runs), Sightline's whole batch from CSV bytes (parse + state + job), and
//! Evidently's `Report.run` alone (its CSVs already in pandas), each the
//! median of several runs, and the speed-up.
//!
//! Run: `cargo bench --bench drift_compare`.

use sightline::drift::table::{compare_csv, current_window, reference_profile};
use sightline::drift::{Preset, StateLimits};
use std::fmt::Write as _;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

const NUMERICAL: usize = 35;
const CATEGORICAL: usize = 15;
const REFERENCE_ROWS: usize = 100_000;
const CURRENT_ROWS: usize = 10_000;
const RUNS: usize = 5;

fn normal(rng: &mut fastrand::Rng) -> f64 {
    let (u1, u2) = (rng.f64().max(1e-300), rng.f64());
    (-2.0 * u1.ln()).sqrt() * (2.0 * std::f64::consts::PI * u2).cos()
}

/// Every fifth numerical column shifts by 0.3 std in the current set, every
/// third categorical one moves weight between its categories.
fn csv(rows: usize, current: bool, seed: u64) -> String {
    let mut rng = fastrand::Rng::with_seed(seed);
    let mut text = String::with_capacity(rows * 400);
    let header: Vec<String> = (0..NUMERICAL)
        .map(|i| format!("num_{i}"))
        .chain((0..CATEGORICAL).map(|i| format!("cat_{i}")))
        .collect();
    text.push_str(&header.join(","));
    text.push('\n');
    for _ in 0..rows {
        for i in 0..NUMERICAL {
            let shift = if current && i % 5 == 0 { 0.3 } else { 0.0 };
            let _ = write!(text, "{:.5},", 10.0 * i as f64 + normal(&mut rng) + shift);
        }
        for i in 0..CATEGORICAL {
            let skew = if current && i % 3 == 0 { 0.5 } else { 0.0 };
            let u = rng.f64();
            let category = if u < 0.4 + skew * 0.4 {
                "alpha"
            } else if u < 0.7 {
                "beta"
            } else if u < 0.9 {
                "gamma"
            } else {
                "delta"
            };
            text.push_str(category);
            text.push(if i + 1 == CATEGORICAL { '\n' } else { ',' });
        }
    }
    text
}

fn median(mut times: Vec<Duration>) -> Duration {
    times.sort();
    times[times.len() / 2]
}

fn main() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let python = root.join("target/reference-venv/bin/python");
    assert!(
        python.exists(),
        "run tests/reference/setup-venv.sh first ({} missing)",
        python.display()
    );
    let dir = tempfile::tempdir().expect("temp dir");
    let (reference, current) = (csv(REFERENCE_ROWS, false, 1), csv(CURRENT_ROWS, true, 2));
    let (ref_path, cur_path) = (dir.path().join("ref.csv"), dir.path().join("cur.csv"));
    std::fs::write(&ref_path, &reference).expect("write reference");
    std::fs::write(&cur_path, &current).expect("write current");

    let (schema, profile) =
        reference_profile(reference.as_bytes(), StateLimits::STREAMING).expect("reference");
    let window =
        current_window(current.as_bytes(), &schema, &profile, StateLimits::STREAMING).expect("current");
    let job = median(
        (0..RUNS)
            .map(|_| {
                let started = Instant::now();
                std::hint::black_box(window.evaluate(&profile, Preset::Evidently));
                started.elapsed()
            })
            .collect(),
    );
    let mut report = None;
    let batch = median(
        (0..RUNS)
            .map(|_| {
                let started = Instant::now();
                report = Some(compare_csv(
                    reference.as_bytes(),
                    current.as_bytes(),
                    Preset::Evidently,
                    &[],
                ));
                started.elapsed()
            })
            .collect(),
    );
    let report = report.expect("ran").expect("batch comparison");

    let mut evidently_times = Vec::new();
    let mut evidently = serde_json::Value::Null;
    for _ in 0..3 {
        let out = Command::new(&python)
            .arg(root.join("tests/reference/drift_reference.py"))
            .arg(&ref_path)
            .arg(&cur_path)
            .arg("--timing")
            .output()
            .expect("run reference script");
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        evidently = serde_json::from_slice(&out.stdout).expect("reference JSON");
        evidently_times.push(Duration::from_secs_f64(
            evidently["seconds"].as_f64().expect("seconds"),
        ));
    }
    let evidently_time = median(evidently_times);

    let mut same = 0;
    let mut differ = Vec::new();
    for f in &report.features {
        let theirs = &evidently["evidently"]["columns"][&f.name];
        if theirs["drift"].as_bool() == Some(f.drift_detected)
            && theirs["method"] == f.primary.method.as_str()
        {
            same += 1;
        } else {
            differ.push(format!(
                "{} ({} {})",
                f.name,
                f.primary.method.as_str(),
                f.drift_detected
            ));
        }
    }
    println!("drift job, {NUMERICAL} numerical + {CATEGORICAL} categorical features, {REFERENCE_ROWS} vs {CURRENT_ROWS} rows");
    println!(
        "  sightline job from state (ml drift job): {:>9.1} ms",
        job.as_secs_f64() * 1e3
    );
    println!(
        "  sightline batch from CSV bytes:          {:>9.1} ms",
        batch.as_secs_f64() * 1e3
    );
    println!(
        "  evidently DataDriftPreset Report.run:    {:>9.1} ms",
        evidently_time.as_secs_f64() * 1e3
    );
    println!(
        "  speed-up: job {:.0}x, batch {:.1}x",
        evidently_time.as_secs_f64() / job.as_secs_f64(),
        evidently_time.as_secs_f64() / batch.as_secs_f64()
    );
    println!(
        "  decisions: {same}/{} columns identical; dataset drift sightline {} evidently {}",
        report.features.len(),
        report.dataset.dataset_drift,
        evidently["evidently"]["dataset"]["drift"]
    );
    if !differ.is_empty() {
        println!("  differing: {}", differ.join(", "));
    }
}
