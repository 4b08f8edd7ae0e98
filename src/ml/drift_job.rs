//! A model's drift job: its reference, the current window (tumbling or
//! sliding, kept as one state per step) fed by every prediction (sampled or
//! not), the runs at each window end or step, their series and stored reports.
//!
//! Owns turning uploads (CSV as `drift::table` reads it, NDJSON or JSON rows)
//! and logged predictions into a `drift::ReferenceProfile`, the window's
//! streaming state (`drift::CurrentWindow`: exact bin counts, bounded
//! reservoirs), and the `feature_drift_*` and `dataset_drift_*` series. The
//! statistics are `crate::drift`'s; this file only schedules and records.
//! References and reports live in the `ml_drift` aux tree, so both survive
//! restarts (the reference is kept as uploaded and rebuilt at start).

use crate::config::models::{DriftJobConfig, FeatureKind, WindowLength, WindowMode};
use crate::drift::{
    self, ColumnState, ColumnType, CurrentWindow, DatasetDrift, ReferenceColumn, ReferenceProfile,
    StateLimits,
};
use crate::ml::counters::series;
use crate::ml::event::{ColumnMap, FeatureValue, Features};
use crate::storage::{Label, SeriesSamples};
use std::collections::{BTreeMap, VecDeque};
use std::sync::Arc;

/// How an uploaded reference is framed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReferenceFormat {
    Csv,
    /// NDJSON or a JSON array of rows (`{feature: value}` or `{"features": {...}}`).
    Json,
}

impl ReferenceFormat {
    pub fn tag(self) -> u8 {
        match self {
            ReferenceFormat::Csv => b'c',
            ReferenceFormat::Json => b'j',
        }
    }

    pub fn from_tag(tag: u8) -> Option<ReferenceFormat> {
        match tag {
            b'c' => Some(ReferenceFormat::Csv),
            b'j' => Some(ReferenceFormat::Json),
            _ => None,
        }
    }
}

/// A built reference and how many rows it holds.
pub struct Reference {
    pub profile: ReferenceProfile,
    pub rows: u64,
}

/// Builds a reference from uploaded bytes; `kinds` gives declared or inferred
/// feature types for JSON rows (CSV columns are typed as Evidently types them).
pub fn build_reference(
    format: ReferenceFormat,
    bytes: &[u8],
    kinds: &BTreeMap<String, FeatureKind>,
) -> Result<Reference, String> {
    match format {
        ReferenceFormat::Csv => {
            let (schema, states) = drift::table::read_reference(bytes, StateLimits::EXACT)
                .map_err(|e| format!("reference CSV: {e}"))?;
            let rows = states.first().map_or(0, |s| s.rows);
            let names = schema.columns.into_iter().map(|c| c.name);
            Ok(Reference {
                profile: ReferenceProfile::from_states(names.zip(states)),
                rows,
            })
        }
        ReferenceFormat::Json => {
            let text = std::str::from_utf8(bytes).map_err(|e| format!("reference is not UTF-8: {e}"))?;
            let items = crate::ml::body::split_items(text, false).map_err(|e| e.to_string())?;
            let rows = items
                .iter()
                .enumerate()
                .map(|(i, item)| parse_row(item).map_err(|e| format!("reference row {i}: {e}")))
                .collect::<Result<Vec<_>, _>>()?;
            Ok(reference_from_rows(&rows, kinds))
        }
    }
}

/// One JSON reference row: a flat object, or a prediction-shaped one with `features`.
fn parse_row(text: &str) -> Result<BTreeMap<String, FeatureValue>, String> {
    let value: serde_json::Value = serde_json::from_str(text).map_err(|e| e.to_string())?;
    let object = match value.get("features") {
        Some(features) => features.clone(),
        None => value,
    };
    serde_json::from_value(object).map_err(|e| e.to_string())
}

/// A reference from rows of feature values (an upload or logged predictions).
pub fn reference_from_rows(
    rows: &[BTreeMap<String, FeatureValue>],
    kinds: &BTreeMap<String, FeatureKind>,
) -> Reference {
    let mut names: Vec<&String> = rows.iter().flat_map(|r| r.keys()).collect();
    names.sort();
    names.dedup();
    let states = names.iter().enumerate().map(|(i, name)| {
        let column_type = match kinds.get(*name) {
            Some(FeatureKind::Numeric) => ColumnType::Numerical,
            Some(FeatureKind::Categorical) => ColumnType::Categorical,
            None => inferred_type(rows, name),
        };
        let mut state = ColumnState::new(column_type, StateLimits::EXACT, Vec::new(), i as u64 + 1);
        for row in rows {
            state.observe(
                row.get(*name)
                    .map_or(drift::FeatureValue::Missing, as_drift_value),
            );
        }
        ((*name).clone(), state)
    });
    let states: Vec<(String, ColumnState)> = states.collect();
    Reference {
        profile: ReferenceProfile::from_states(states),
        rows: rows.len() as u64,
    }
}

fn inferred_type(rows: &[BTreeMap<String, FeatureValue>], name: &str) -> ColumnType {
    let first = rows
        .iter()
        .filter_map(|r| r.get(name))
        .find(|v| !matches!(v, FeatureValue::Missing));
    match first {
        Some(FeatureValue::Number(_)) => ColumnType::Numerical,
        _ => ColumnType::Categorical,
    }
}

pub fn as_drift_value(value: &FeatureValue) -> drift::FeatureValue<'_> {
    match value {
        FeatureValue::Number(n) => drift::FeatureValue::Number(*n),
        FeatureValue::Text(s) => drift::FeatureValue::Text(s),
        FeatureValue::Bool(b) => drift::FeatureValue::Bool(*b),
        FeatureValue::Missing => drift::FeatureValue::Missing,
    }
}

/// One step of the current window (the whole window when tumbling).
#[derive(Clone)]
struct Step {
    window: CurrentWindow,
    /// Scores seen in this step (prediction drift).
    scores: ColumnState,
    started_ms: i64,
    events: u64,
}

/// The running job of one model.
pub struct DriftJob {
    pub reference: Arc<Reference>,
    /// The step being filled.
    open: Step,
    /// Ended steps still inside a sliding window, oldest first.
    ended: VecDeque<Step>,
    /// The first compared window's scores, which later windows' scores are compared with.
    score_baseline: Option<Arc<ReferenceColumn>>,
    steps_started: u64,
    /// Reference column indices ordered by name, to walk an event's sorted features.
    columns_by_name: Vec<usize>,
    /// Which reference column each of the last event's features is.
    column_map: ColumnMap,
}

/// A window taken out for evaluation, with where it came from.
pub struct ClosedWindow {
    pub window: CurrentWindow,
    pub scores: ColumnState,
    pub score_baseline: Option<Arc<ReferenceColumn>>,
    pub started_ms: i64,
    pub ended_ms: i64,
    pub events: u64,
}

impl DriftJob {
    pub fn new(reference: Arc<Reference>, config: &DriftJobConfig, now_ms: i64) -> DriftJob {
        let columns = &reference.profile.columns;
        let mut columns_by_name: Vec<usize> = (0..columns.len()).collect();
        columns_by_name.sort_by(|&a, &b| columns[a].name.cmp(&columns[b].name));
        let open = new_step(&reference, step_limits(config), 1, now_ms);
        DriftJob {
            columns_by_name,
            column_map: ColumnMap::default(),
            reference,
            open,
            ended: VecDeque::new(),
            score_baseline: None,
            steps_started: 1,
        }
    }

    /// Adds one prediction's features (absent ones as missing) and score to the open step.
    pub fn observe(&mut self, features: &Features, score: Option<f64>) {
        if let Some(score) = score {
            self.open.scores.observe(drift::FeatureValue::Number(score));
        }
        let columns = &self.reference.profile.columns;
        let names = self
            .columns_by_name
            .iter()
            .map(|&i| (i, columns[i].name.as_str()));
        self.column_map.fit(names, columns.len(), features);
        let window = &mut self.open.window;
        for (index, value) in self.column_map.values(features) {
            window.observe(index, value.map_or(drift::FeatureValue::Missing, as_drift_value));
        }
        self.open.events += 1;
    }

    /// Whether the open step has ended. A tumbling time window does not end
    /// while empty; a sliding one moves on with time.
    pub fn due(&self, config: &DriftJobConfig, now_ms: i64) -> bool {
        let step = config.window_step();
        match config.window_length() {
            WindowLength::Events(_) => self.open.events >= step,
            WindowLength::Millis(_) => {
                let elapsed = u64::try_from(now_ms.saturating_sub(self.open.started_ms)).unwrap_or(0);
                let moves_when_empty = config.window_mode == WindowMode::Sliding;
                (self.open.events > 0 || moves_when_empty) && elapsed >= step
            }
        }
    }

    /// Ends the open step and starts the next one. Returns the window to
    /// compare: the step itself when tumbling, the last whole window when
    /// sliding (none until a whole window has passed, or if it saw no events).
    pub fn close_window(&mut self, config: &DriftJobConfig, now_ms: i64) -> Option<ClosedWindow> {
        self.steps_started += 1;
        let fresh = new_step(&self.reference, step_limits(config), self.steps_started, now_ms);
        self.ended.push_back(std::mem::replace(&mut self.open, fresh));
        let steps = steps_per_window(config);
        while self.ended.len() > steps {
            self.ended.pop_front();
        }
        if self.ended.len() < steps {
            return None;
        }
        let closed = self.merged(self.ended.iter(), now_ms);
        // The oldest step leaves the window before the next comparison.
        self.ended.pop_front();
        if closed.events == 0 {
            return None;
        }
        if self.score_baseline.is_none() && closed.scores.rows > 0 {
            self.score_baseline = Some(Arc::new(ReferenceColumn::finish(
                "prediction",
                closed.scores.clone(),
            )));
        }
        Some(closed)
    }

    /// The window as it stands (an on-demand run leaves it open): the open
    /// step and, when sliding, the ended steps still inside the window.
    pub fn snapshot(&self, now_ms: i64) -> ClosedWindow {
        self.merged(self.ended.iter().chain([&self.open]), now_ms)
    }

    /// One window made of `steps`, oldest first.
    fn merged<'a>(&self, steps: impl Iterator<Item = &'a Step>, now_ms: i64) -> ClosedWindow {
        let mut closed = ClosedWindow {
            window: self
                .reference
                .profile
                .new_window(StateLimits::STREAMING, self.steps_started),
            scores: score_state(StateLimits::STREAMING, self.steps_started),
            score_baseline: self.score_baseline.clone(),
            started_ms: now_ms,
            ended_ms: now_ms,
            events: 0,
        };
        for step in steps {
            closed.window.absorb(&step.window);
            closed.scores.absorb(&step.scores);
            closed.started_ms = closed.started_ms.min(step.started_ms);
            closed.events += step.events;
        }
        closed
    }
}

/// Steps in one window (1 when tumbling).
fn steps_per_window(config: &DriftJobConfig) -> usize {
    let length = config.window_length().amount();
    usize::try_from(length / config.window_step().max(1)).map_or(1, |n| n.max(1))
}

/// A step's share of the streaming limits, so a whole sliding window keeps
/// no more than a tumbling one.
fn step_limits(config: &DriftJobConfig) -> StateLimits {
    let limits = StateLimits::STREAMING;
    limits.with_sample_size((limits.sample_size / steps_per_window(config)).max(1))
}

fn new_step(reference: &Reference, limits: StateLimits, seed: u64, now_ms: i64) -> Step {
    Step {
        window: reference.profile.new_window(limits, seed),
        scores: score_state(limits, seed),
        started_ms: now_ms,
        events: 0,
    }
}

fn score_state(limits: StateLimits, seed: u64) -> ColumnState {
    ColumnState::new(ColumnType::Numerical, limits, Vec::new(), seed)
}

/// The seed's prediction drift: two-sample KS of this window's scores
/// against the first window's. `None` for the first window or without scores.
pub fn prediction_drift(window: &ClosedWindow) -> Option<drift::MethodScore> {
    let baseline = window.score_baseline.as_ref()?;
    drift::evaluate::evaluate_with_method(baseline, &window.scores, drift::Method::Ks)
}

/// Series of one run: per feature score, p-value (tests only) and decision,
/// and the dataset's share and decision.
pub fn drift_series(
    model: &str,
    drift: &DatasetDrift,
    prediction: Option<&drift::MethodScore>,
    t: i64,
) -> Vec<SeriesSamples> {
    let mut out = Vec::new();
    let model_label = Label {
        name: "model".into(),
        value: model.to_string(),
    };
    if let Some(score) = prediction {
        let base = [model_label.clone()];
        out.push(series(
            "prediction_drift_statistic",
            &base,
            None,
            t,
            score.statistic,
        ));
        out.push(series("prediction_drift_p_value", &base, None, t, score.score));
        out.push(series(
            "prediction_drift_detected",
            &base,
            None,
            t,
            f64::from(u8::from(score.detected)),
        ));
    }
    for column in &drift.columns {
        let base = [
            Label {
                name: "feature".into(),
                value: column.name.clone(),
            },
            Label {
                name: "method".into(),
                value: column.primary.method.as_str().to_string(),
            },
            model_label.clone(),
        ];
        out.push(series(
            "feature_drift_score",
            &base,
            None,
            t,
            column.primary.score,
        ));
        if let Some(p) = column.primary.p_value {
            out.push(series("feature_drift_p_value", &base, None, t, p));
        }
        out.push(series(
            "feature_drift_detected",
            &base,
            None,
            t,
            f64::from(u8::from(column.drift_detected)),
        ));
    }
    let base = [model_label];
    out.push(series(
        "dataset_drift_share",
        &base,
        None,
        t,
        drift.share_of_drifted_columns,
    ));
    out.push(series(
        "dataset_drift_detected",
        &base,
        None,
        t,
        f64::from(u8::from(drift.dataset_drift)),
    ));
    out.push(series(
        "dataset_drift_drifted_columns",
        &base,
        None,
        t,
        drift.drifted_columns as f64,
    ));
    out
}

/// The report of one run: its JSON document (the drift library's report, its
/// tests included, with the window, the model and prediction drift added) and
/// the library's report, which `drift::html` renders when the HTML is wanted.
pub fn report_documents(
    model: &str,
    reference: &Reference,
    run: &ClosedWindow,
    drift: &DatasetDrift,
    prediction: Option<&drift::MethodScore>,
    tests: Vec<drift::suite::TestResult>,
) -> (serde_json::Value, drift::report::DriftReport) {
    let report = drift::report::build_report(&reference.profile, &run.window, drift, tests);
    let mut json = serde_json::to_value(&report).unwrap_or_default();
    if let Some(object) = json.as_object_mut() {
        object.insert("model".into(), model.into());
        object.insert("generatedAt".into(), rfc3339(run.ended_ms).into());
        object.insert(
            "window".into(),
            serde_json::json!({"start": rfc3339(run.started_ms), "end": rfc3339(run.ended_ms), "events": run.events}),
        );
        object.insert(
            "predictionDrift".into(),
            serde_json::to_value(prediction).unwrap_or_default(),
        );
    }
    (json, report)
}

/// `ml_test_passed{model,test}` of each test result.
pub fn test_series(model: &str, results: &[drift::suite::TestResult], t: i64) -> Vec<SeriesSamples> {
    results
        .iter()
        .map(|r| {
            let base = [
                Label {
                    name: "model".into(),
                    value: model.to_string(),
                },
                Label {
                    name: "test".into(),
                    value: r.name.clone(),
                },
            ];
            series("ml_test_passed", &base, None, t, f64::from(u8::from(r.passed)))
        })
        .collect()
}

fn rfc3339(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true))
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::drift::Preset;

    fn row(x: f64, c: &str) -> BTreeMap<String, FeatureValue> {
        BTreeMap::from([
            ("x".to_string(), FeatureValue::Number(x)),
            ("c".to_string(), FeatureValue::Text(c.to_string())),
        ])
    }

    fn features(row: BTreeMap<String, FeatureValue>) -> Features {
        Features::new(row.into_iter().collect())
    }

    #[test]
    fn a_shifted_window_drifts_and_a_same_one_does_not() {
        let rows: Vec<_> = (0..500)
            .map(|i| row(f64::from(i % 100), if i % 2 == 0 { "a" } else { "b" }))
            .collect();
        let reference = reference_from_rows(&rows, &BTreeMap::new());
        assert_eq!(reference.rows, 500);
        let config = DriftJobConfig {
            window_events: 500,
            ..DriftJobConfig::default()
        };
        let mut job = DriftJob::new(Arc::new(reference), &config, 0);
        for i in 0..500 {
            job.observe(
                &features(row(f64::from(i % 100), if i % 2 == 0 { "a" } else { "b" })),
                Some(0.3),
            );
        }
        assert!(job.due(&config, 1));
        let same = job.close_window(&config, 1).expect("a whole tumbling window");
        let drift = same.window.evaluate(&job.reference.profile, Preset::Evidently);
        assert!(!drift.dataset_drift, "{drift:?}");
        for i in 0..500 {
            job.observe(&features(row(f64::from(i % 100) + 80.0, "a")), Some(0.9));
        }
        let shifted = job.close_window(&config, 2).expect("a whole tumbling window");
        let drift = shifted.window.evaluate(&job.reference.profile, Preset::Evidently);
        assert_eq!(drift.drifted_columns, 2);
        assert!(prediction_drift(&same).is_none());
        let prediction = prediction_drift(&shifted);
        assert!(prediction.is_some_and(|p| p.detected), "{prediction:?}");
        let series = drift_series("m", &drift, prediction.as_ref(), 2);
        let detected = series
            .iter()
            .filter(|s| s.labels.metric_name() == "feature_drift_detected");
        assert!(detected.clone().count() == 2 && detected.clone().all(|s| s.samples[0].v == 1.0));
        let reference = job.reference.clone();
        let (json, report) =
            report_documents("m", &reference, &shifted, &drift, prediction.as_ref(), Vec::new());
        let html = drift::html::render_html(&report);
        assert_eq!(json["window"]["events"], 500);
        assert_eq!(json["dataset"]["driftedColumns"], 2);
        assert!(html.contains("<svg"), "{html}");
    }

    fn sliding(window_events: u64, step: u64) -> DriftJobConfig {
        DriftJobConfig {
            window_events,
            window_mode: WindowMode::Sliding,
            window_step_events: Some(step),
            ..DriftJobConfig::default()
        }
    }

    #[test]
    fn a_sliding_window_compares_the_last_whole_window_every_step() {
        let rows: Vec<_> = (0..400).map(|i| row(f64::from(i % 100), "a")).collect();
        let config = sliding(400, 100);
        let mut job = DriftJob::new(Arc::new(reference_from_rows(&rows, &BTreeMap::new())), &config, 0);
        let mut windows = Vec::new();
        for step in 0..6 {
            for i in 0..100 {
                // The last two steps move every value up by 1,000.
                let shift = if step >= 4 { 1_000.0 } else { 0.0 };
                job.observe(&features(row(f64::from(i) + shift, "a")), None);
            }
            assert!(job.due(&config, step));
            windows.push(job.close_window(&config, step));
        }
        assert!(
            windows[..3].iter().all(Option::is_none),
            "no run before a whole window"
        );
        let runs: Vec<ClosedWindow> = windows.into_iter().flatten().collect();
        assert_eq!(runs.len(), 3);
        assert!(runs.iter().all(|w| w.events == 400));
        let started: Vec<i64> = runs.iter().map(|w| w.started_ms).collect();
        assert_eq!(started, [0, 0, 1]);
        let shifted_values = |w: &ClosedWindow| {
            let x = &w.window.columns[job.reference.profile.column_index("x").unwrap_or(0)];
            x.sample.values().iter().filter(|&&v| v >= 1_000.0).count()
        };
        assert_eq!(runs.iter().map(shifted_values).collect::<Vec<_>>(), [0, 100, 200]);
        // Each run is exact: the whole window fits the streaming sample.
        assert!(runs
            .iter()
            .all(|w| w.window.columns.iter().all(|c| c.sample.is_complete())));
        let snapshot = job.snapshot(7);
        assert_eq!((snapshot.events, shifted_values(&snapshot)), (300, 200));
    }

    #[test]
    fn csv_and_json_references_build_and_ragged_csv_is_refused() {
        let csv = build_reference(ReferenceFormat::Csv, b"x,c\n1.5,a\n2.5,b\n", &BTreeMap::new());
        assert_eq!(csv.map(|r| r.rows).ok(), Some(2));
        let ragged = build_reference(ReferenceFormat::Csv, b"x,c\n1.5,a\n2.5\n", &BTreeMap::new());
        assert!(ragged.err().unwrap_or_default().contains("line 3"));
        let json = build_reference(
            ReferenceFormat::Json,
            b"{\"x\":1,\"c\":\"a\"}\n{\"features\":{\"x\":2,\"c\":\"b\"}}\n",
            &BTreeMap::new(),
        );
        assert_eq!(json.map(|r| r.profile.columns.len()).ok(), Some(2));
    }
}
