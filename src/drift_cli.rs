//! `sightline drift`: reads two CSV files, runs the batch comparison of
//! `sightline::drift`, prints a one-line-per-feature summary and writes the
//! JSON / HTML reports asked for. Exit code 0 without dataset drift, 1 with
//! it, 2 on any error, so CI pipelines can gate on it.

use crate::cli::DriftArgs;
use sightline::drift::html::render_html;
use sightline::drift::report::DriftReport;
use sightline::drift::table::compare_csv;
use sightline::drift::Preset;
use std::path::Path;
use std::process::ExitCode;

pub fn run(args: &DriftArgs) -> ExitCode {
    match compare(args) {
        Ok(report) => {
            print!("{}", summary(&report));
            ExitCode::from(u8::from(report.dataset.dataset_drift))
        }
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(2)
        }
    }
}

fn read(path: &Path) -> anyhow::Result<Vec<u8>> {
    std::fs::read(path).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))
}

fn compare(args: &DriftArgs) -> anyhow::Result<DriftReport> {
    let preset: Preset = args.preset.parse().map_err(|e: String| anyhow::anyhow!(e))?;
    let reference = read(&args.reference)?;
    let current = read(&args.current)?;
    let report = compare_csv(&reference, &current, preset, &[]).map_err(|e| {
        // Both files were read; name the one that failed by trying the reference alone.
        let which = match sightline::drift::table::infer_schema(&reference) {
            Err(_) => &args.reference,
            Ok(_) => &args.current,
        };
        anyhow::anyhow!("{}: {e}", which.display())
    })?;
    if let Some(path) = &args.json {
        let json = serde_json::to_vec_pretty(&report)?;
        std::fs::write(path, json).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
    }
    if let Some(path) = &args.html {
        std::fs::write(path, render_html(&report)).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
    }
    Ok(report)
}

fn summary(report: &DriftReport) -> String {
    let mut out = String::new();
    for f in &report.features {
        out.push_str(&format!(
            "{:<24} {:<12} {:<18} score={:<12.6e} threshold={} drift={}\n",
            f.name,
            format!("{:?}", f.column_type).to_lowercase(),
            f.primary.method.as_str(),
            f.primary.score,
            f.primary.threshold,
            f.drift_detected
        ));
    }
    let d = &report.dataset;
    out.push_str(&format!(
        "dataset drift: {} ({} of {} columns, share {:.3} >= {})\n",
        d.dataset_drift, d.drifted_columns, d.columns, d.share_of_drifted_columns, d.drift_share_threshold
    ));
    out
}
