//! Evidently-style test suites: conditions on a drift result and on data
//! quality, each giving pass/fail with a sentence of detail.
//!
//! A test is written as it is in the config:
//! `{test: share_of_drifted_columns, lt: 0.3}`,
//! `{test: missing_values, column: age, lte: 0.05}`. Without a condition each
//! test uses Evidently's default: fewer than a third of the columns drifted;
//! share of drifted columns < 0.3; column types match the reference; missing
//! share no higher than the reference's; no value outside the reference range;
//! no new category.

use super::column::ColumnType;
use super::evaluate::DatasetDrift;
use super::profile::{CurrentWindow, ReferenceProfile};
use super::state::{ColumnState, ReferenceColumn};
use serde::{Deserialize, Serialize};

/// What a test measures.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TestKind {
    NumberOfDriftedColumns,
    ShareOfDriftedColumns,
    ColumnTypesMatch,
    MissingValues,
    ValueRange,
    NewCategories,
}

/// One configured test: a measure, optionally one column, and a condition.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Condition {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gt: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gte: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lt: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lte: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub eq: Option<f64>,
}

impl Condition {
    fn is_empty(&self) -> bool {
        *self == Condition::default()
    }

    /// True when `value` satisfies every bound given.
    pub fn holds(&self, value: f64) -> bool {
        self.gt.is_none_or(|b| value > b)
            && self.gte.is_none_or(|b| value >= b)
            && self.lt.is_none_or(|b| value < b)
            && self.lte.is_none_or(|b| value <= b)
            && self.eq.is_none_or(|b| value == b)
    }

    fn describe(&self) -> String {
        let parts: Vec<String> = [
            ("gt", self.gt),
            ("gte", self.gte),
            ("lt", self.lt),
            ("lte", self.lte),
            ("eq", self.eq),
        ]
        .iter()
        .filter_map(|(name, bound)| bound.map(|b| format!("{name} {b}")))
        .collect();
        parts.join(" and ")
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SuiteTest {
    pub test: TestKind,
    /// The column a data-quality test checks (all columns when absent).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub column: Option<String>,
    #[serde(flatten)]
    pub condition: Condition,
}

/// The outcome of one test.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct TestResult {
    /// `test` or `test:column`, e.g. `missing_values:age` (the series label).
    pub name: String,
    pub passed: bool,
    /// The measured value (the worst column's when checking all columns).
    pub value: f64,
    pub condition: String,
    pub detail: String,
}

/// Runs every test of a suite.
pub fn run_suite(
    tests: &[SuiteTest],
    reference: &ReferenceProfile,
    window: &CurrentWindow,
    drift: &DatasetDrift,
) -> Vec<TestResult> {
    tests
        .iter()
        .map(|t| run_test(t, reference, window, drift))
        .collect()
}

fn run_test(
    test: &SuiteTest,
    reference: &ReferenceProfile,
    window: &CurrentWindow,
    drift: &DatasetDrift,
) -> TestResult {
    let name = match &test.column {
        Some(column) => format!("{}:{column}", kind_name(test.test)),
        None => kind_name(test.test).to_string(),
    };
    let evaluated = drift.columns.len() as f64;
    let (condition, value, detail) = match test.test {
        TestKind::NumberOfDriftedColumns => {
            let default = Condition {
                lt: Some((evaluated / 3.0).floor().max(0.0)),
                ..Condition::default()
            };
            let n = drift.drifted_columns as f64;
            (default, n, format!("{n} of {evaluated} columns drifted"))
        }
        TestKind::ShareOfDriftedColumns => {
            let default = Condition {
                lt: Some(0.3),
                ..Condition::default()
            };
            let share = drift.share_of_drifted_columns;
            (
                default,
                share,
                format!("{:.1}% of columns drifted", share * 100.0),
            )
        }
        _ => return column_test(test, name, reference, window),
    };
    finish(name, pick(&test.condition, condition), value, detail)
}

fn pick(configured: &Condition, default: Condition) -> Condition {
    if configured.is_empty() {
        default
    } else {
        configured.clone()
    }
}

fn finish(name: String, condition: Condition, value: f64, detail: String) -> TestResult {
    TestResult {
        name,
        passed: condition.holds(value),
        value,
        condition: condition.describe(),
        detail,
    }
}

/// Data-quality tests: measured per column, the worst column decides.
fn column_test(
    test: &SuiteTest,
    name: String,
    reference: &ReferenceProfile,
    window: &CurrentWindow,
) -> TestResult {
    let pairs: Vec<(&ReferenceColumn, &ColumnState)> = reference
        .columns
        .iter()
        .zip(&window.columns)
        .filter(|(r, _)| test.column.as_ref().is_none_or(|c| *c == r.name))
        .collect();
    if pairs.is_empty() {
        let column = test.column.clone().unwrap_or_default();
        return TestResult {
            name,
            passed: false,
            value: f64::NAN,
            condition: test.condition.describe(),
            detail: format!("no column {column:?} in the reference"),
        };
    }
    let mut worst: Option<(f64, String, Condition)> = None;
    let mut all_pass = true;
    for (r, c) in pairs {
        let (value, detail, default) = measure(test.test, r, c);
        let condition = pick(&test.condition, default);
        let passes = condition.holds(value);
        all_pass &= passes;
        if worst.is_none() || !passes {
            worst = Some((value, detail, condition));
        }
    }
    let (value, detail, condition) = worst.unwrap_or_default();
    TestResult {
        name,
        passed: all_pass,
        value,
        condition: condition.describe(),
        detail,
    }
}

fn share(part: u64, whole: u64) -> f64 {
    if whole == 0 {
        0.0
    } else {
        part as f64 / whole as f64
    }
}

/// The measured value, a detail sentence and the default condition.
fn measure(kind: TestKind, reference: &ReferenceColumn, current: &ColumnState) -> (f64, String, Condition) {
    let name = &reference.name;
    match kind {
        TestKind::ColumnTypesMatch => {
            let n = current.type_mismatches as f64;
            let expected = match reference.state.column_type {
                ColumnType::Numerical => "numerical",
                ColumnType::Categorical => "categorical",
            };
            let detail = format!("{name}: {n} values not {expected} as in the reference");
            (n, detail, eq(0.0))
        }
        TestKind::MissingValues => {
            let current_share = share(current.missing, current.rows);
            let reference_share = share(reference.state.missing, reference.state.rows);
            let detail = format!(
                "{name}: {:.2}% missing (reference {:.2}%)",
                current_share * 100.0,
                reference_share * 100.0
            );
            let default = Condition {
                lte: Some(reference_share),
                ..Condition::default()
            };
            (current_share, detail, default)
        }
        TestKind::ValueRange => {
            let out = share(current.out_of_range, current.present());
            let m = reference.state.moments;
            let detail = format!(
                "{name}: {:.2}% of values outside the reference range [{}, {}]",
                out * 100.0,
                m.min,
                m.max
            );
            (out, detail, eq(0.0))
        }
        TestKind::NewCategories => {
            let new: Vec<&str> = current
                .categories
                .iter()
                .map(|(k, _)| k)
                .filter(|k| reference.state.categories.get(k) == 0)
                .collect();
            let detail = format!(
                "{name}: {} new categories {:?}",
                new.len(),
                first_few(new.clone())
            );
            (new.len() as f64, detail, eq(0.0))
        }
        TestKind::NumberOfDriftedColumns | TestKind::ShareOfDriftedColumns => {
            (f64::NAN, String::new(), Condition::default())
        }
    }
}

fn first_few(mut names: Vec<&str>) -> Vec<&str> {
    names.sort_unstable();
    names.truncate(5);
    names
}

fn eq(value: f64) -> Condition {
    Condition {
        eq: Some(value),
        ..Condition::default()
    }
}

fn kind_name(kind: TestKind) -> &'static str {
    match kind {
        TestKind::NumberOfDriftedColumns => "number_of_drifted_columns",
        TestKind::ShareOfDriftedColumns => "share_of_drifted_columns",
        TestKind::ColumnTypesMatch => "column_types_match",
        TestKind::MissingValues => "missing_values",
        TestKind::ValueRange => "value_range",
        TestKind::NewCategories => "new_categories",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::drift::column::FeatureValue;
    use crate::drift::evaluate::Preset;
    use crate::drift::state::StateLimits;

    fn setup() -> (ReferenceProfile, CurrentWindow) {
        let mut x = ColumnState::new(ColumnType::Numerical, StateLimits::EXACT, Vec::new(), 1);
        let mut c = ColumnState::new(ColumnType::Categorical, StateLimits::EXACT, Vec::new(), 2);
        for i in 0..100 {
            x.observe(FeatureValue::Number(f64::from(i)));
            c.observe(FeatureValue::Text(if i % 2 == 0 { "a" } else { "b" }));
        }
        let profile = ReferenceProfile::from_states([("x".to_string(), x), ("c".to_string(), c)]);
        let mut window = profile.new_window(StateLimits::EXACT, 5);
        for i in 0..100 {
            window.observe(
                0,
                if i < 10 {
                    FeatureValue::Missing
                } else {
                    FeatureValue::Number(f64::from(i) * 2.0)
                },
            );
            window.observe(1, FeatureValue::Text(if i < 5 { "new" } else { "a" }));
        }
        (profile, window)
    }

    fn test(kind: TestKind, column: Option<&str>, condition: Condition) -> SuiteTest {
        SuiteTest {
            test: kind,
            column: column.map(str::to_string),
            condition,
        }
    }

    #[test]
    fn conditions_combine_bounds() {
        let c = Condition {
            gte: Some(1.0),
            lt: Some(3.0),
            ..Condition::default()
        };
        assert!(c.holds(1.0) && c.holds(2.9) && !c.holds(3.0) && !c.holds(0.5));
        assert_eq!(c.describe(), "gte 1 and lt 3");
    }

    #[test]
    fn suite_reports_drift_and_quality() {
        let (profile, window) = setup();
        let drift = window.evaluate(&profile, Preset::Evidently);
        let tests = [
            test(
                TestKind::NumberOfDriftedColumns,
                None,
                Condition {
                    lte: Some(2.0),
                    ..Condition::default()
                },
            ),
            test(TestKind::ShareOfDriftedColumns, None, Condition::default()),
            test(
                TestKind::MissingValues,
                Some("x"),
                Condition {
                    lte: Some(0.05),
                    ..Condition::default()
                },
            ),
            test(TestKind::ValueRange, Some("x"), Condition::default()),
            test(TestKind::NewCategories, None, Condition::default()),
            test(TestKind::ColumnTypesMatch, None, Condition::default()),
            test(TestKind::MissingValues, Some("nope"), Condition::default()),
        ];
        let results = run_suite(&tests, &profile, &window, &drift);
        let passed: Vec<bool> = results.iter().map(|r| r.passed).collect();
        assert_eq!(
            passed,
            vec![true, false, false, false, false, true, false],
            "{results:#?}"
        );
        assert_eq!(results[2].name, "missing_values:x");
        assert!((results[2].value - 0.1).abs() < 1e-12);
        assert!(results[4].detail.contains("\"new\""), "{}", results[4].detail);
    }

    #[test]
    fn tests_parse_from_config_yaml() {
        let parsed: Vec<SuiteTest> = serde_saphyr::from_str(
            "- {test: share_of_drifted_columns, lt: 0.5}\n- {test: value_range, column: x}\n",
        )
        .unwrap();
        assert_eq!(parsed[0].condition.lt, Some(0.5));
        assert_eq!(parsed[1].column.as_deref(), Some("x"));
    }
}
