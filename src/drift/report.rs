//! The drift report: one JSON document (camelCase fields) that the `ml` API
//! serves, the UI draws and `sightline drift --json` writes; `html.rs`
//! renders the same struct.
//!
//! ```text
//! { preset, referenceRows, currentRows,
//!   dataset: { columns, driftedColumns, shareOfDriftedColumns, driftShareThreshold, datasetDrift },
//!   features: [ { name, columnType, method, statistic, pValue, score, threshold, driftDetected,
//!                 effect: {method, statistic, score, threshold, detected} | null,
//!                 quality: { missingShare, typeMismatches, outOfRangeShare, newCategories },
//!                 histogram: { labels, reference, current } } ],
//!   skippedColumns: [name], tests: [ { name, passed, value, condition, detail } ] }
//! ```
//! Histogram values are shares of each side's present values; numerical
//! columns use the reference's fixed decile bins, categorical ones the 20 most
//! frequent categories plus `other`.

use super::column::ColumnType;
use super::evaluate::{ColumnDrift, DatasetDrift, MethodScore, Preset};
use super::profile::{CurrentWindow, ReferenceProfile};
use super::state::{ColumnState, ReferenceColumn};
use super::suite::TestResult;
use serde::Serialize;

/// Categories drawn individually in a histogram; the rest are `other`.
const HISTOGRAM_CATEGORIES: usize = 20;

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct DriftReport {
    pub preset: Preset,
    pub reference_rows: u64,
    pub current_rows: u64,
    pub dataset: DatasetSummary,
    pub features: Vec<FeatureReport>,
    pub skipped_columns: Vec<String>,
    pub tests: Vec<TestResult>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct DatasetSummary {
    pub columns: usize,
    pub drifted_columns: usize,
    pub share_of_drifted_columns: f64,
    pub drift_share_threshold: f64,
    pub dataset_drift: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct FeatureReport {
    pub name: String,
    pub column_type: ColumnType,
    #[serde(flatten)]
    pub primary: MethodScore,
    pub effect: Option<MethodScore>,
    pub drift_detected: bool,
    pub quality: Quality,
    pub histogram: Histogram,
}

/// Data quality of the current window of one column.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Quality {
    pub missing_share: f64,
    pub type_mismatches: u64,
    /// Share of present values outside the reference's [min, max]
    /// (numerical only).
    pub out_of_range_share: Option<f64>,
    /// Categories absent from the reference (categorical only).
    pub new_categories: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Histogram {
    pub labels: Vec<String>,
    pub reference: Vec<f64>,
    pub current: Vec<f64>,
}

/// Assembles the report of one evaluation.
pub fn build_report(
    reference: &ReferenceProfile,
    window: &CurrentWindow,
    drift: &DatasetDrift,
    tests: Vec<TestResult>,
) -> DriftReport {
    let features = drift
        .columns
        .iter()
        .filter_map(|column| {
            let index = reference.column_index(&column.name)?;
            Some(feature_report(
                column,
                &reference.columns[index],
                window.columns.get(index)?,
            ))
        })
        .collect();
    DriftReport {
        preset: drift.preset,
        reference_rows: reference.columns.first().map_or(0, |c| c.state.rows),
        current_rows: window.columns.first().map_or(0, |c| c.rows),
        dataset: DatasetSummary {
            columns: drift.columns.len(),
            drifted_columns: drift.drifted_columns,
            share_of_drifted_columns: drift.share_of_drifted_columns,
            drift_share_threshold: drift.drift_share_threshold,
            dataset_drift: drift.dataset_drift,
        },
        features,
        skipped_columns: drift.skipped_columns.clone(),
        tests,
    }
}

fn feature_report(drift: &ColumnDrift, reference: &ReferenceColumn, current: &ColumnState) -> FeatureReport {
    FeatureReport {
        name: drift.name.clone(),
        column_type: drift.column_type,
        primary: drift.primary,
        effect: drift.effect,
        drift_detected: drift.drift_detected,
        quality: quality(reference, current),
        histogram: histogram(reference, current),
    }
}

fn share(part: u64, whole: u64) -> f64 {
    if whole == 0 {
        0.0
    } else {
        part as f64 / whole as f64
    }
}

fn quality(reference: &ReferenceColumn, current: &ColumnState) -> Quality {
    let numerical = reference.state.column_type == ColumnType::Numerical;
    let mut new_categories: Vec<String> = current
        .categories
        .iter()
        .filter(|(k, _)| reference.state.categories.get(k) == 0)
        .map(|(k, _)| k.to_string())
        .collect();
    new_categories.sort_unstable();
    Quality {
        missing_share: share(current.missing, current.rows),
        type_mismatches: current.type_mismatches,
        out_of_range_share: numerical.then(|| share(current.out_of_range, current.present())),
        new_categories,
    }
}

fn histogram(reference: &ReferenceColumn, current: &ColumnState) -> Histogram {
    match reference.state.column_type {
        ColumnType::Numerical => bin_histogram(reference, current),
        ColumnType::Categorical => category_histogram(reference, current),
    }
}

fn shares(counts: &[u64]) -> Vec<f64> {
    let total: u64 = counts.iter().sum();
    counts.iter().map(|&c| share(c, total)).collect()
}

fn bin_histogram(reference: &ReferenceColumn, current: &ColumnState) -> Histogram {
    let edges = &reference.bin_edges;
    let m = reference.state.moments;
    let mut labels = Vec::with_capacity(edges.len() + 1);
    for i in 0..=edges.len() {
        let low = if i == 0 { m.min } else { edges[i - 1] };
        let high = if i == edges.len() { m.max } else { edges[i] };
        labels.push(format!("{} – {}", short(low), short(high)));
    }
    Histogram {
        labels,
        reference: shares(&reference.state.bin_counts),
        current: shares(&current.bin_counts),
    }
}

fn short(x: f64) -> String {
    if x.is_finite() && x.abs() >= 1e-3 && x.abs() < 1e6 {
        format!("{}", (x * 1000.0).round() / 1000.0)
    } else {
        format!("{x:.3e}")
    }
}

fn category_histogram(reference: &ReferenceColumn, current: &ColumnState) -> Histogram {
    let mut names: Vec<(&str, u64)> = reference
        .state
        .categories
        .iter()
        .map(|(k, c)| (k, c + current.categories.get(k)))
        .chain(
            current
                .categories
                .iter()
                .filter(|(k, _)| reference.state.categories.get(k) == 0),
        )
        .collect();
    names.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(b.0)));
    let shown = names.len().min(HISTOGRAM_CATEGORIES);
    let mut labels: Vec<String> = names[..shown].iter().map(|(k, _)| k.to_string()).collect();
    let mut ref_counts: Vec<u64> = names[..shown]
        .iter()
        .map(|(k, _)| reference.state.categories.get(k))
        .collect();
    let mut cur_counts: Vec<u64> = names[..shown]
        .iter()
        .map(|(k, _)| current.categories.get(k))
        .collect();
    let ref_rest = reference.state.categories.total() - ref_counts.iter().sum::<u64>();
    let cur_rest = current.categories.total() - cur_counts.iter().sum::<u64>();
    if ref_rest + cur_rest > 0 {
        labels.push("other".to_string());
        ref_counts.push(ref_rest);
        cur_counts.push(cur_rest);
    }
    Histogram {
        labels,
        reference: shares(&ref_counts),
        current: shares(&cur_counts),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::drift::column::FeatureValue;
    use crate::drift::state::StateLimits;

    #[test]
    fn report_serialises_camel_case_with_histograms() {
        let mut x = ColumnState::new(ColumnType::Numerical, StateLimits::EXACT, Vec::new(), 1);
        let mut c = ColumnState::new(ColumnType::Categorical, StateLimits::EXACT, Vec::new(), 1);
        for i in 0..100 {
            x.observe(FeatureValue::Number(f64::from(i)));
            c.observe(FeatureValue::Text(if i < 70 { "a" } else { "b" }));
        }
        let profile = ReferenceProfile::from_states([("x".into(), x), ("c".into(), c)]);
        let mut window = profile.new_window(StateLimits::EXACT, 1);
        for i in 0..50 {
            window.observe(0, FeatureValue::Number(f64::from(i) + 200.0));
            window.observe(1, FeatureValue::Text(if i < 10 { "z" } else { "a" }));
        }
        let drift = window.evaluate(&profile, Preset::Evidently);
        let report = build_report(&profile, &window, &drift, Vec::new());
        let json = serde_json::to_value(&report).unwrap();
        assert_eq!(json["dataset"]["driftedColumns"], 2);
        let feature = &json["features"][0];
        assert_eq!(feature["method"], "ks");
        assert_eq!(feature["driftDetected"], true);
        assert!(feature["pValue"].as_f64().unwrap() < 1e-10);
        assert_eq!(feature["quality"]["outOfRangeShare"], 1.0);
        assert_eq!(feature["histogram"]["reference"].as_array().unwrap().len(), 10);
        assert_eq!(feature["histogram"]["current"][9], 1.0);
        let categorical = &json["features"][1];
        assert_eq!(categorical["quality"]["newCategories"][0], "z");
        assert_eq!(
            categorical["histogram"]["labels"],
            serde_json::json!(["a", "b", "z"])
        );
    }
}
