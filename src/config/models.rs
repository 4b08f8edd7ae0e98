//! The `models:` section: ML models Sightline monitors, as users declare them.
//!
//! Owns the shape and defaults of each model entry (task, classes, feature
//! types, quality windows, sampling, drift schedule). A model that is not
//! declared here is registered on its first event with inferred feature types;
//! declaring it fixes the schema instead. Nothing here acts on the values.

use serde::Deserialize;

use super::fields;
use super::units::PromDuration;

/// One entry of `models:`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModelConfig {
    /// The `model` label of every event and derived series.
    pub name: String,
    /// `classification` or `regression`; inferred from the first prediction when absent.
    #[serde(default)]
    pub task: Option<ModelTask>,
    /// Class labels a classifier may predict; events naming others are refused.
    /// When set, quality metrics use exactly these labels (scikit-learn's `labels=`).
    #[serde(default, deserialize_with = "fields::nullable")]
    pub classes: Vec<String>,
    /// Feature schema; features not listed are inferred from the first value seen.
    #[serde(default, deserialize_with = "fields::nullable")]
    pub features: Vec<FeatureConfig>,
    /// Keys of the event's `segment` map copied as labels onto every derived series.
    #[serde(default, deserialize_with = "fields::label_names")]
    pub segment_labels: Vec<String>,
    /// Upper bounds (seconds) of the `prediction_latency_seconds` buckets.
    #[serde(default = "default_latency_buckets")]
    pub latency_buckets: Vec<f64>,
    /// How long a prediction waits for its feedback (and feedback for its prediction).
    #[serde(default = "default_feedback_ttl")]
    pub feedback_ttl: PromDuration,
    /// Windows the quality metrics are computed over.
    #[serde(default, deserialize_with = "fields::nullable")]
    pub windows: QualityWindows,
    /// Decision thresholds.
    #[serde(default, deserialize_with = "fields::nullable")]
    pub thresholds: Thresholds,
    /// Which predictions the prediction log keeps.
    #[serde(default, deserialize_with = "fields::nullable")]
    pub sampling: SamplingConfig,
    /// The drift job: current window and method preset (runs once a reference is set).
    #[serde(default, deserialize_with = "fields::nullable")]
    pub drift: DriftJobConfig,
}

/// `drift:` of a model: the current window (`window_events` predictions, or
/// `window_duration` if set) compared with the reference. A tumbling window is
/// compared when it ends and a new one starts; a sliding window is compared
/// every step (`window_step_events` or `window_step_duration`, a tenth of the
/// window by default) over the last whole window. That is the job's schedule.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DriftJobConfig {
    /// `evidently` (Evidently 0.7's defaults) or `sound`.
    #[serde(default)]
    pub preset: crate::drift::Preset,
    /// A count window of this many predictions (used unless `window_duration` is set).
    #[serde(default = "default_window_events")]
    pub window_events: u64,
    /// A time window of this length instead of a count window.
    #[serde(default)]
    pub window_duration: Option<PromDuration>,
    /// `tumbling` (default) or `sliding`.
    #[serde(default)]
    pub window_mode: WindowMode,
    /// Predictions between two runs of a sliding count window.
    #[serde(default)]
    pub window_step_events: Option<u64>,
    /// Time between two runs of a sliding time window.
    #[serde(default)]
    pub window_step_duration: Option<PromDuration>,
    /// Evidently-style tests run on every window (`ml_test_passed{model,test}`).
    #[serde(default, deserialize_with = "fields::nullable")]
    pub tests: Vec<crate::drift::suite::SuiteTest>,
}

impl Default for DriftJobConfig {
    fn default() -> Self {
        DriftJobConfig {
            preset: crate::drift::Preset::default(),
            window_events: default_window_events(),
            window_duration: None,
            window_mode: WindowMode::default(),
            window_step_events: None,
            window_step_duration: None,
            tests: Vec::new(),
        }
    }
}

fn default_window_events() -> u64 {
    1000
}

/// How a drift job's current window moves.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum WindowMode {
    /// Back-to-back windows, each compared once when it ends.
    #[default]
    Tumbling,
    /// The last whole window, compared every step.
    Sliding,
}

/// Steps a sliding window is cut into when no step is given.
pub const DEFAULT_SLIDING_STEPS: u64 = 10;
/// Most steps one sliding window may hold (each keeps its own state).
pub const MAX_SLIDING_STEPS: u64 = 100;

impl DriftJobConfig {
    /// The window's length: events for a count window, milliseconds for a time window.
    pub fn window_length(&self) -> WindowLength {
        match self.window_duration {
            Some(d) => WindowLength::Millis(d.as_millis()),
            None => WindowLength::Events(self.window_events),
        }
    }

    /// The step between runs, in the window's unit (the whole window when tumbling).
    pub fn window_step(&self) -> u64 {
        let (length, given) = match self.window_length() {
            WindowLength::Events(n) => (n, self.window_step_events),
            WindowLength::Millis(ms) => (ms, self.window_step_duration.map(PromDuration::as_millis)),
        };
        match self.window_mode {
            WindowMode::Tumbling => length,
            WindowMode::Sliding => given.unwrap_or(length / DEFAULT_SLIDING_STEPS),
        }
    }

    /// Why this window and step do not fit together, if they do not.
    fn window_problem(&self) -> Option<String> {
        let (length, step) = (self.window_length().amount(), self.window_step());
        let misplaced = match self.window_length() {
            WindowLength::Events(_) => self.window_step_duration.map(|_| "window_step_duration"),
            WindowLength::Millis(_) => self.window_step_events.map(|_| "window_step_events"),
        };
        if let Some(field) = misplaced {
            return Some(format!(
                "{field} does not fit a {} window",
                self.window_length().kind()
            ));
        }
        let has_step = self.window_step_events.is_some() || self.window_step_duration.is_some();
        if self.window_mode == WindowMode::Tumbling && has_step {
            return Some("a window step needs window_mode: sliding".to_string());
        }
        if length == 0 {
            return Some("drift windows must hold at least one event and last longer than 0".to_string());
        }
        if step == 0 || length % step != 0 || length / step > MAX_SLIDING_STEPS {
            return Some(format!(
                "a sliding window must be a whole number of steps, at most {MAX_SLIDING_STEPS}: set a step that divides the window (window {length}, step {step})"
            ));
        }
        None
    }
}

/// A drift window's length.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WindowLength {
    Events(u64),
    Millis(u64),
}

impl WindowLength {
    /// The length in its own unit (events or milliseconds).
    pub fn amount(self) -> u64 {
        match self {
            WindowLength::Events(n) | WindowLength::Millis(n) => n,
        }
    }

    fn kind(self) -> &'static str {
        match self {
            WindowLength::Events(_) => "count",
            WindowLength::Millis(_) => "time",
        }
    }
}

/// What a model predicts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ModelTask {
    Classification,
    Regression,
}

impl ModelTask {
    pub fn as_str(self) -> &'static str {
        match self {
            ModelTask::Classification => "classification",
            ModelTask::Regression => "regression",
        }
    }
}

/// One declared input feature.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FeatureConfig {
    pub name: String,
    #[serde(rename = "type")]
    pub kind: FeatureKind,
    /// Smallest expected value of a numeric feature (data-quality out-of-range checks).
    #[serde(default)]
    pub min: Option<f64>,
    /// Largest expected value of a numeric feature.
    #[serde(default)]
    pub max: Option<f64>,
    /// Expected values of a categorical feature; others count as unseen categories.
    #[serde(default, deserialize_with = "fields::nullable")]
    pub categories: Vec<String>,
}

/// How a feature's values are compared.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum FeatureKind {
    Numeric,
    Categorical,
}

impl FeatureKind {
    pub fn as_str(self) -> &'static str {
        match self {
            FeatureKind::Numeric => "numeric",
            FeatureKind::Categorical => "categorical",
        }
    }
}

/// `windows:` of a model.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct QualityWindows {
    /// Quality over the last this many labelled predictions (`window="last_<n>"`).
    #[serde(default = "default_last_labelled")]
    pub last_labelled: usize,
    /// Quality over labelled predictions joined within each of these durations.
    #[serde(default = "default_time_windows")]
    pub time: Vec<PromDuration>,
    /// Data-quality shares are computed over the last this many predictions.
    #[serde(default = "default_data_quality_events")]
    pub data_quality_events: usize,
}

impl Default for QualityWindows {
    fn default() -> Self {
        QualityWindows {
            last_labelled: default_last_labelled(),
            time: default_time_windows(),
            data_quality_events: default_data_quality_events(),
        }
    }
}

/// `thresholds:` of a model.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Thresholds {
    /// Predictions whose confidence is below this are "low confidence" (always logged).
    #[serde(default = "default_low_confidence")]
    pub low_confidence: f64,
}

impl Default for Thresholds {
    fn default() -> Self {
        Thresholds {
            low_confidence: default_low_confidence(),
        }
    }
}

/// `sampling:` of a model: what the prediction log keeps, and for how long.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SamplingConfig {
    /// Share of ordinary predictions logged (0..=1), chosen by a hash of `request_id`.
    #[serde(default = "default_sampling_rate")]
    pub rate: f64,
    /// Always log predictions that carry `error`.
    #[serde(default = "yes")]
    pub log_errors: bool,
    /// Log predictions found misclassified once their feedback arrives.
    #[serde(default = "yes")]
    pub log_misclassified: bool,
    /// Always log predictions below `thresholds.low_confidence`.
    #[serde(default = "yes")]
    pub log_low_confidence: bool,
    /// How long logged predictions are kept.
    #[serde(default = "default_log_retention")]
    pub retention: PromDuration,
}

impl Default for SamplingConfig {
    fn default() -> Self {
        SamplingConfig {
            rate: default_sampling_rate(),
            log_errors: true,
            log_misclassified: true,
            log_low_confidence: true,
            retention: default_log_retention(),
        }
    }
}

impl ModelConfig {
    /// The configuration a model registered by its first event gets.
    pub fn inferred(name: &str) -> ModelConfig {
        ModelConfig {
            name: name.to_string(),
            task: None,
            classes: Vec::new(),
            features: Vec::new(),
            segment_labels: Vec::new(),
            latency_buckets: default_latency_buckets(),
            feedback_ttl: default_feedback_ttl(),
            windows: QualityWindows::default(),
            thresholds: Thresholds::default(),
            sampling: SamplingConfig::default(),
            drift: DriftJobConfig::default(),
        }
    }
}

/// The seed's LatencyMonitor buckets.
pub fn default_latency_buckets() -> Vec<f64> {
    vec![0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0]
}

const DAY_SECS: u64 = 86_400;

fn default_feedback_ttl() -> PromDuration {
    PromDuration::from_secs(7 * DAY_SECS)
}

fn default_log_retention() -> PromDuration {
    PromDuration::from_secs(7 * DAY_SECS)
}

fn default_last_labelled() -> usize {
    1000
}

fn default_time_windows() -> Vec<PromDuration> {
    vec![PromDuration::from_secs(3600)]
}

fn default_data_quality_events() -> usize {
    10_000
}

fn default_low_confidence() -> f64 {
    0.6
}

fn default_sampling_rate() -> f64 {
    0.1
}

fn yes() -> bool {
    true
}

/// Problems across the `models:` entries, as `(dotted path, message)`.
pub(crate) fn check(models: &[ModelConfig]) -> Vec<(String, String)> {
    let mut problems = Vec::new();
    let mut names = std::collections::HashSet::new();
    for (index, model) in models.iter().enumerate() {
        let path = format!("models.{index}");
        if model.name.is_empty() {
            problems.push((format!("{path}.name"), "model name is empty".to_string()));
        } else if !names.insert(model.name.as_str()) {
            problems.push((
                format!("{path}.name"),
                format!("duplicate model name {:?}", model.name),
            ));
        }
        check_model(model, &path, &mut problems);
    }
    problems
}

fn check_model(model: &ModelConfig, path: &str, problems: &mut Vec<(String, String)>) {
    let mut add = |field: &str, message: String| problems.push((format!("{path}.{field}"), message));
    if let Some(duplicate) = first_duplicate(model.classes.iter().map(String::as_str)) {
        add("classes", format!("class {duplicate:?} is listed twice"));
    }
    if model.task == Some(ModelTask::Regression) && !model.classes.is_empty() {
        add("classes", "a regression model has no classes".to_string());
    }
    if let Some(duplicate) = first_duplicate(model.features.iter().map(|f| f.name.as_str())) {
        add("features", format!("feature {duplicate:?} is listed twice"));
    }
    let increasing = model.latency_buckets.windows(2).all(|w| w[0] < w[1]);
    if model.latency_buckets.is_empty() || !increasing || model.latency_buckets.iter().any(|b| !b.is_finite())
    {
        add(
            "latency_buckets",
            "latency_buckets must be finite and strictly increasing, at least one".to_string(),
        );
    }
    if model.feedback_ttl.is_zero() {
        add("feedback_ttl", "feedback_ttl must be more than 0".to_string());
    }
    if model.windows.last_labelled == 0 || model.windows.data_quality_events == 0 {
        add("windows", "window sizes must be at least 1".to_string());
    }
    if model.windows.time.iter().any(|d| d.is_zero()) {
        add("windows.time", "time windows must be longer than 0".to_string());
    }
    if !(0.0..=1.0).contains(&model.sampling.rate) {
        add(
            "sampling.rate",
            "sampling rate must be between 0 and 1".to_string(),
        );
    }
    if let Some(problem) = model.drift.window_problem() {
        add("drift", problem);
    }
    if model.sampling.retention.is_zero() {
        add(
            "sampling.retention",
            "retention must be longer than 0".to_string(),
        );
    }
}

fn first_duplicate<'a>(items: impl Iterator<Item = &'a str>) -> Option<&'a str> {
    let mut seen = std::collections::HashSet::new();
    items.into_iter().find(|item| !seen.insert(*item))
}

#[cfg(test)]
mod tests {
    use crate::config::parse_str;

    #[test]
    fn a_declared_model_parses_with_defaults() {
        let yaml = "models:\n  - name: churn\n    task: classification\n    classes: [no, yes]\n    features:\n      - {name: age, type: numeric, max: 120}\n    segment_labels: [tier]\n";
        let config = parse_str(yaml, "m.yml").unwrap_or_else(|e| panic!("{e}"));
        let model = &config.models[0];
        assert_eq!(model.classes, ["no", "yes"]);
        assert_eq!(model.features[0].max, Some(120.0));
        assert_eq!(model.windows.last_labelled, 1000);
        assert_eq!(model.latency_buckets.len(), 11);
        assert_eq!(model.feedback_ttl.as_millis(), 7 * 86_400_000);
    }

    #[test]
    fn sliding_windows_take_a_step_or_a_tenth_of_the_window() {
        use super::{WindowLength, WindowMode};
        let yaml = "models:\n  - name: a\n    drift: {window_events: 1000, window_mode: sliding}\n  - name: b\n    drift: {window_duration: 1h, window_mode: sliding, window_step_duration: 15m}\n  - name: c\n";
        let config = parse_str(yaml, "m.yml").unwrap_or_else(|e| panic!("{e}"));
        let [a, b, c] = [0, 1, 2].map(|i| &config.models[i].drift);
        assert_eq!(
            (a.window_mode, a.window_length(), a.window_step()),
            (WindowMode::Sliding, WindowLength::Events(1000), 100)
        );
        assert_eq!(
            (b.window_length(), b.window_step()),
            (WindowLength::Millis(3_600_000), 900_000)
        );
        assert_eq!((c.window_mode, c.window_step()), (WindowMode::Tumbling, 1000));
    }

    #[test]
    fn bad_models_point_at_the_field() {
        let cases = [
            (
                "models:\n  - name: a\n  - name: a\n",
                "m.yml:3:11: duplicate model name \"a\"",
            ),
            (
                "models:\n  - name: a\n    sampling: {rate: 2}\n",
                "m.yml:3:22: sampling rate must be between 0 and 1",
            ),
            (
                "models:\n  - name: a\n    latency_buckets: [1, 0.5]\n",
                "m.yml:3:22: latency_buckets must be",
            ),
            (
                "models:\n  - name: a\n    task: ranking\n",
                "m.yml:3:11: unknown variant `ranking`",
            ),
            (
                "models:\n  - name: a\n    colour: red\n",
                "m.yml:3:5: unknown field `colour`",
            ),
            (
                "models:\n  - name: a\n    drift: {window_mode: hopping}\n",
                "m.yml:3:26: unknown variant `hopping`",
            ),
            (
                "models:\n  - name: a\n    drift: {window_events: 1000, window_mode: sliding, window_step_events: 300}\n",
                "m.yml:3:12: a sliding window must be a whole number of steps",
            ),
            (
                "models:\n  - name: a\n    drift: {window_events: 1005, window_mode: sliding}\n",
                "m.yml:3:12: a sliding window must be a whole number of steps",
            ),
            (
                "models:\n  - name: a\n    drift: {window_events: 1000, window_step_events: 100}\n",
                "m.yml:3:12: a window step needs window_mode: sliding",
            ),
            (
                "models:\n  - name: a\n    drift: {window_duration: 1h, window_mode: sliding, window_step_events: 10}\n",
                "m.yml:3:12: window_step_events does not fit a time window",
            ),
        ];
        for (yaml, want) in cases {
            let message = parse_str(yaml, "m.yml")
                .err()
                .map(|e| e.to_string())
                .unwrap_or_default();
            assert!(message.starts_with(want), "{yaml}: {message}");
        }
    }
}
