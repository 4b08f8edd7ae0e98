//! Per-column drift evaluation and dataset drift: picks the method a preset
//! prescribes, prepares its inputs from the reference and the window, and
//! decides.
//!
//! Presets:
//! - `evidently` reproduces Evidently 0.7's defaults (`_get_default_stattest`):
//!   reference ≤ 1000 values: numerical with > 5 distinct values (reference ∪
//!   current) → KS; otherwise > 2 distinct → chi-square goodness-of-fit, ≤ 2 →
//!   proportion z-test. Reference > 1000: numerical with > 5 distinct →
//!   Wasserstein normed by the reference std (threshold 0.1), otherwise
//!   Jensen-Shannon (threshold 0.1). p-value tests drift at p < 0.05, distances
//!   at ≥ their threshold. Dataset drift: share of drifted columns ≥ 0.5.
//! - `sound` (ours): a column drifts only when a test *and* an effect size
//!   agree. Numerical (> 5 distinct): KS p < 0.05 and PSI ≥ 0.1 on the
//!   reference's fixed decile bins (exact counts). Categorical and
//!   low-cardinality numerical: chi-square test of independence on the
//!   2 × k table of reference and current counts (p < 0.05; unlike Evidently's
//!   goodness-of-fit it accounts for the reference being a sample too) and
//!   Jensen-Shannon distance ≥ 0.1. Small windows are judged by the test
//!   (effects are noisy but must still be large), large windows by the effect
//!   (p-values shrink to zero on negligible shifts).

use super::column::ColumnType;
use super::ks::ks_2samp_sorted;
use super::state::{ColumnState, ReferenceColumn};
use super::stattests::{
    chi2_independence, chisquare_goodness_of_fit, equal_width_edges, fill_zeroes, histogram_sorted,
    jensen_shannon, kl_divergence, proportions_z_test, psi, sorted_by_total_order, wasserstein_sorted,
};
use serde::{Deserialize, Serialize};

/// Which rules choose methods and thresholds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Preset {
    #[default]
    Evidently,
    Sound,
}

impl std::str::FromStr for Preset {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "evidently" => Ok(Preset::Evidently),
            "sound" => Ok(Preset::Sound),
            other => Err(format!(
                "unknown drift preset {other:?} (expected evidently or sound)"
            )),
        }
    }
}

/// A drift method, named as Evidently names it where Evidently has it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Method {
    Ks,
    Chisquare,
    Z,
    Wasserstein,
    Jensenshannon,
    Psi,
    KlDiv,
    Chi2Independence,
}

impl Method {
    /// Default threshold: 0.05 for p-values, 0.1 for distances.
    pub fn default_threshold(self) -> f64 {
        if self.is_test() {
            0.05
        } else {
            0.1
        }
    }

    /// True when the score is a p-value (drift below the threshold).
    pub fn is_test(self) -> bool {
        matches!(
            self,
            Method::Ks | Method::Chisquare | Method::Z | Method::Chi2Independence
        )
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Method::Ks => "ks",
            Method::Chisquare => "chisquare",
            Method::Z => "z",
            Method::Wasserstein => "wasserstein",
            Method::Jensenshannon => "jensenshannon",
            Method::Psi => "psi",
            Method::KlDiv => "kl_div",
            Method::Chi2Independence => "chi2_independence",
        }
    }
}

/// One method's result on one column.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct MethodScore {
    pub method: Method,
    /// The test statistic (KS D, χ², z) or the distance.
    pub statistic: f64,
    /// The p-value of a test; absent for distances.
    pub p_value: Option<f64>,
    /// What is compared with the threshold: the p-value or the distance.
    pub score: f64,
    pub threshold: f64,
    pub detected: bool,
}

impl MethodScore {
    fn test(method: Method, statistic: f64, p_value: f64) -> Self {
        let threshold = method.default_threshold();
        MethodScore {
            method,
            statistic,
            p_value: Some(p_value),
            score: p_value,
            threshold,
            detected: p_value < threshold,
        }
    }

    fn distance(method: Method, value: f64) -> Self {
        let threshold = method.default_threshold();
        MethodScore {
            method,
            statistic: value,
            p_value: None,
            score: value,
            threshold,
            detected: value >= threshold,
        }
    }
}

/// The decision on one column.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ColumnDrift {
    pub name: String,
    pub column_type: ColumnType,
    /// The deciding method (a test, or the only distance).
    #[serde(flatten)]
    pub primary: MethodScore,
    /// The effect-size gate of the `sound` preset.
    pub effect: Option<MethodScore>,
    pub drift_detected: bool,
}

/// Evaluates one column; `None` when the reference or the window holds no
/// usable value (Evidently refuses such a column).
pub fn evaluate_column(
    reference: &ReferenceColumn,
    current: &ColumnState,
    preset: Preset,
) -> Option<ColumnDrift> {
    let inputs = ColumnInputs::new(reference, current)?;
    let (primary, effect) = match preset {
        Preset::Evidently => (inputs.score(inputs.evidently_method())?, None),
        Preset::Sound => inputs.sound_scores()?,
    };
    let drift_detected = primary.detected && effect.is_none_or(|e| e.detected);
    Some(ColumnDrift {
        name: reference.name.clone(),
        column_type: reference.state.column_type,
        primary,
        effect,
        drift_detected,
    })
}

/// Evaluates one column with a chosen method (any type), Evidently's
/// definition of that method.
pub fn evaluate_with_method(
    reference: &ReferenceColumn,
    current: &ColumnState,
    method: Method,
) -> Option<MethodScore> {
    ColumnInputs::new(reference, current)?.score(method)
}

/// Distinct values with their counts in the reference and the window.
struct KeyCounts {
    reference: Vec<f64>,
    current: Vec<f64>,
}

struct ColumnInputs<'a> {
    reference: &'a ReferenceColumn,
    current: &'a ColumnState,
    /// Sorted current sample (numerical only).
    current_sorted: Vec<f64>,
    /// Distinct values in reference ∪ current, counted on first use: a
    /// reference with more distinct values than a rule asks about already
    /// answers it, and the count was a quarter of a window's evaluation.
    distinct: std::cell::OnceCell<usize>,
    /// Distinct values in the reference alone.
    reference_distinct: usize,
    /// Built on first use: a numerical column with many distinct values
    /// (the usual case) never needs them, and building them for ~11,000
    /// values per column was most of a window's evaluation.
    keys: std::cell::OnceCell<KeyCounts>,
    ref_n: f64,
    cur_n: f64,
}

impl<'a> ColumnInputs<'a> {
    fn new(reference: &'a ReferenceColumn, current: &'a ColumnState) -> Option<Self> {
        let numerical = reference.state.column_type == ColumnType::Numerical;
        let keys = std::cell::OnceCell::new();
        let distinct = std::cell::OnceCell::new();
        let (current_sorted, reference_distinct, ref_n, cur_n) = if numerical {
            let sorted = sorted_by_total_order(current.sample.values());
            let (ref_n, cur_n) = (reference.sorted.len() as f64, sorted.len() as f64);
            (sorted, reference.sorted_distinct, ref_n, cur_n)
        } else {
            let counts = category_keys(reference, current);
            let _ = distinct.set(counts.reference.len());
            let reference_distinct = counts.reference.iter().filter(|&&c| c > 0.0).count();
            let _ = keys.set(counts);
            let ref_n = reference.state.categories.total() as f64;
            let cur_n = current.categories.total() as f64;
            (Vec::new(), reference_distinct, ref_n, cur_n)
        };
        (ref_n > 0.0 && cur_n > 0.0).then_some(ColumnInputs {
            reference,
            current,
            current_sorted,
            distinct,
            reference_distinct,
            keys,
            ref_n,
            cur_n,
        })
    }

    fn numerical(&self) -> bool {
        self.reference.state.column_type == ColumnType::Numerical
    }

    /// Counts per distinct value of reference ∪ current, aligned.
    fn keys(&self) -> &KeyCounts {
        self.keys.get_or_init(|| {
            if self.numerical() {
                numeric_keys(&self.reference.sorted, &self.current_sorted)
            } else {
                category_keys(self.reference, self.current)
            }
        })
    }

    /// Distinct values in reference ∪ current (pandas `nunique`).
    fn distinct(&self) -> usize {
        *self.distinct.get_or_init(|| {
            let (reference, current) = (&self.reference.sorted, &self.current_sorted);
            numeric_distinct_with(reference, self.reference_distinct, current)
        })
    }

    /// Whether reference ∪ current holds more than `k` distinct values.
    fn more_distinct_than(&self, k: usize) -> bool {
        self.reference_distinct > k || self.distinct() > k
    }

    fn evidently_method(&self) -> Method {
        let small_reference = self.ref_n <= 1000.0;
        match (small_reference, self.numerical() && self.more_distinct_than(5)) {
            (true, true) => Method::Ks,
            (true, false) if self.more_distinct_than(2) => Method::Chisquare,
            (true, false) => Method::Z,
            (false, true) => Method::Wasserstein,
            (false, false) => Method::Jensenshannon,
        }
    }

    fn sound_scores(&self) -> Option<(MethodScore, Option<MethodScore>)> {
        if self.numerical() && self.more_distinct_than(5) {
            let ks = self.score(Method::Ks)?;
            Some((ks, Some(self.fixed_bin_psi())))
        } else {
            let chi2 = self.score(Method::Chi2Independence)?;
            Some((chi2, Some(self.score(Method::Jensenshannon)?)))
        }
    }

    fn score(&self, method: Method) -> Option<MethodScore> {
        Some(match method {
            Method::Ks => {
                let r = ks_2samp_sorted(&self.reference.sorted, &self.current_sorted)?;
                MethodScore::test(method, r.statistic, r.p_value)
            }
            Method::Chisquare => {
                let k_norm = self.cur_n / self.ref_n;
                let keys = self.keys();
                let expected: Vec<f64> = keys.reference.iter().map(|c| c * k_norm).collect();
                let r = chisquare_goodness_of_fit(&keys.current, &expected)?;
                MethodScore::test(method, r.statistic, r.p_value)
            }
            Method::Chi2Independence => {
                let keys = self.keys();
                let r = chi2_independence(&keys.reference, &keys.current)?;
                MethodScore::test(method, r.statistic, r.p_value)
            }
            Method::Z => self.z_test()?,
            Method::Wasserstein => {
                let norm = self.reference.state.moments.std().max(0.001);
                let wd = wasserstein_sorted(&self.reference.sorted, &self.current_sorted);
                MethodScore::distance(method, wd / norm)
            }
            Method::Jensenshannon => {
                let (r, c) = self.binned_percents(false);
                MethodScore::distance(method, jensen_shannon(&r, &c))
            }
            Method::Psi => {
                let (r, c) = self.binned_percents(true);
                MethodScore::distance(method, psi(&r, &c))
            }
            Method::KlDiv => {
                let (r, c) = self.binned_percents(true);
                MethodScore::distance(method, kl_divergence(&r, &c))
            }
        })
    }

    /// Evidently's `_z_stat_test` on a column with at most two values.
    fn z_test(&self) -> Option<MethodScore> {
        match self.distinct() {
            1 => Some(MethodScore::test(Method::Z, 0.0, 1.0)),
            2 => {
                let keys = self.keys();
                let r = proportions_z_test(keys.reference[0], self.ref_n, keys.current[0], self.cur_n);
                Some(MethodScore::test(Method::Z, r.statistic, r.p_value))
            }
            _ => None,
        }
    }

    /// Evidently's `get_binned_data`: numerical columns with more than 20
    /// distinct reference values → 30 equal-width bins over the pooled range;
    /// otherwise one bin per value. Percentages of each sample's size.
    fn binned_percents(&self, fill_zero: bool) -> (Vec<f64>, Vec<f64>) {
        let (ref_counts, cur_counts) = if self.numerical() && self.reference_distinct > 20 {
            let (r, c) = (&self.reference.sorted, &self.current_sorted);
            let min = r[0].min(c[0]);
            let max = r[r.len() - 1].max(c[c.len() - 1]);
            let edges = equal_width_edges(min, max, 30);
            (histogram_sorted(r, &edges), histogram_sorted(c, &edges))
        } else {
            let keys = self.keys();
            (keys.reference.clone(), keys.current.clone())
        };
        let mut r: Vec<f64> = ref_counts.iter().map(|c| c / self.ref_n).collect();
        let mut c: Vec<f64> = cur_counts.iter().map(|c| c / self.cur_n).collect();
        if fill_zero {
            fill_zeroes(&mut r);
            fill_zeroes(&mut c);
        }
        (r, c)
    }

    /// PSI on the reference's fixed decile bins, exact window counts.
    fn fixed_bin_psi(&self) -> MethodScore {
        let percents = |counts: &[u64]| -> Vec<f64> {
            let total = counts.iter().sum::<u64>().max(1) as f64;
            counts.iter().map(|&c| c as f64 / total).collect()
        };
        let mut r = percents(&self.reference.state.bin_counts);
        let mut c = percents(&self.current.bin_counts);
        fill_zeroes(&mut r);
        fill_zeroes(&mut c);
        MethodScore::distance(Method::Psi, psi(&r, &c))
    }
}

/// Distinct values of reference ∪ current and of the reference alone, for
/// two sorted samples, as [`numeric_keys`] counts them (`==`, so `-0.0` and
/// `0.0` are one value); the reference's count comes with it in use
/// ([`ReferenceColumn::sorted_distinct`]).
#[cfg(test)]
fn numeric_distinct(reference: &[f64], current: &[f64]) -> (usize, usize) {
    let reference_distinct = reference
        .iter()
        .enumerate()
        .filter(|&(i, v)| i == 0 || reference[i - 1] != *v)
        .count();
    let distinct = numeric_distinct_with(reference, reference_distinct, current);
    (distinct, reference_distinct)
}

/// [`numeric_distinct`] with the reference's distinct values already
/// counted, without building the key vectors: a galloping search per
/// distinct current value from where the last one was found, so a
/// 10,000-value reference costs ~1,000 short searches, not a branchy
/// 11,000-step merge.
fn numeric_distinct_with(reference: &[f64], reference_distinct: usize, current: &[f64]) -> usize {
    let mut distinct = reference_distinct;
    let mut from = 0;
    for (j, &value) in current.iter().enumerate() {
        if j > 0 && current[j - 1] == value {
            continue;
        }
        from = lower_bound_from(reference, from, value);
        if reference.get(from) != Some(&value) {
            distinct += 1;
        }
    }
    distinct
}

/// The first index at or after `from` whose value is not below `value`, in
/// a sorted slice: doubling steps, then a binary search in the last one.
fn lower_bound_from(sorted: &[f64], from: usize, value: f64) -> usize {
    let mut step = 1;
    while from + step < sorted.len() && sorted[from + step - 1] < value {
        step *= 2;
    }
    let start = (from + step / 2).min(sorted.len());
    let end = (from + step).min(sorted.len());
    start + sorted[start..end].partition_point(|&v| v < value)
}

/// Counts per distinct value of two sorted samples, aligned.
fn numeric_keys(reference: &[f64], current: &[f64]) -> KeyCounts {
    let (mut i, mut j) = (0, 0);
    let mut keys = KeyCounts {
        reference: Vec::new(),
        current: Vec::new(),
    };
    while i < reference.len() || j < current.len() {
        let value = match (reference.get(i), current.get(j)) {
            (Some(&a), Some(&b)) => a.min(b),
            (Some(&a), None) => a,
            (None, Some(&b)) => b,
            (None, None) => break,
        };
        let (start_i, start_j) = (i, j);
        while i < reference.len() && reference[i] == value {
            i += 1;
        }
        while j < current.len() && current[j] == value {
            j += 1;
        }
        keys.reference.push((i - start_i) as f64);
        keys.current.push((j - start_j) as f64);
    }
    keys
}

/// Counts per category of reference ∪ current, aligned (reference order
/// first, then new categories).
fn category_keys(reference: &ReferenceColumn, current: &ColumnState) -> KeyCounts {
    let mut names: Vec<&str> = reference.state.categories.iter().map(|(k, _)| k).collect();
    names.sort_unstable();
    let mut new: Vec<&str> = current
        .categories
        .iter()
        .map(|(k, _)| k)
        .filter(|k| reference.state.categories.get(k) == 0)
        .collect();
    new.sort_unstable();
    names.extend(new);
    KeyCounts {
        reference: names
            .iter()
            .map(|k| reference.state.categories.get(k) as f64)
            .collect(),
        current: names.iter().map(|k| current.categories.get(k) as f64).collect(),
    }
}

/// Drift of a whole dataset.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct DatasetDrift {
    pub preset: Preset,
    pub columns: Vec<ColumnDrift>,
    /// Columns that could not be evaluated (no usable value on one side).
    pub skipped_columns: Vec<String>,
    pub drifted_columns: usize,
    pub share_of_drifted_columns: f64,
    /// The share at or above which the dataset drifts (0.5).
    pub drift_share_threshold: f64,
    pub dataset_drift: bool,
}

/// Evidently's default `drift_share`.
pub const DEFAULT_DRIFT_SHARE: f64 = 0.5;

/// Evaluates every column: `pairs` holds each reference column with its
/// current window.
pub fn evaluate_dataset<'a>(
    pairs: impl IntoIterator<Item = (&'a ReferenceColumn, &'a ColumnState)>,
    preset: Preset,
) -> DatasetDrift {
    let mut columns = Vec::new();
    let mut skipped_columns = Vec::new();
    for (reference, current) in pairs {
        match evaluate_column(reference, current, preset) {
            Some(drift) => columns.push(drift),
            None => skipped_columns.push(reference.name.clone()),
        }
    }
    let drifted_columns = columns.iter().filter(|c| c.drift_detected).count();
    let share = if columns.is_empty() {
        0.0
    } else {
        drifted_columns as f64 / columns.len() as f64
    };
    DatasetDrift {
        preset,
        dataset_drift: !columns.is_empty() && share >= DEFAULT_DRIFT_SHARE,
        columns,
        skipped_columns,
        drifted_columns,
        share_of_drifted_columns: share,
        drift_share_threshold: DEFAULT_DRIFT_SHARE,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::drift::column::FeatureValue;
    use crate::drift::state::StateLimits;

    #[test]
    fn distinct_counts_match_the_key_vectors() {
        let mut cases: Vec<(Vec<f64>, Vec<f64>)> = vec![
            (vec![1.0, 1.0, 2.0, 5.0], vec![0.0, 1.0, 3.0, 3.0, 9.0]),
            (vec![], vec![1.0, 1.0]),
            (vec![2.0, 2.0], vec![]),
            (vec![-0.0, 0.0, 1.0], vec![0.0, 2.0]),
            (vec![-0.0, 1.0], vec![-0.0, 0.0, 0.0]),
            (vec![1.0, 2.0, 3.0], vec![1.0, 2.0, 3.0]),
            (vec![1.0, 2.0, 3.0], vec![4.0, 5.0]),
        ];
        let mut rng = fastrand::Rng::with_seed(7);
        for size in [10, 100, 10_000] {
            let mut sample = |n: usize, spread: u32| -> Vec<f64> {
                let mut v: Vec<f64> = (0..n).map(|_| f64::from(rng.u32(0..spread)) / 4.0).collect();
                v.sort_by(f64::total_cmp);
                v
            };
            cases.push((sample(size, 50), sample(size / 10 + 1, 60)));
            cases.push((sample(size, 100_000), sample(size / 10 + 1, 100_000)));
        }
        for (reference, current) in &cases {
            let (reference, current) = (reference.as_slice(), current.as_slice());
            let keys = numeric_keys(reference, current);
            let reference_distinct = keys.reference.iter().filter(|&&c| c > 0.0).count();
            assert_eq!(
                numeric_distinct(reference, current),
                (keys.reference.len(), reference_distinct),
                "{reference:?} {current:?}"
            );
        }
    }

    fn numeric(values: impl IntoIterator<Item = f64>) -> ColumnState {
        let mut s = ColumnState::new(ColumnType::Numerical, StateLimits::EXACT, Vec::new(), 1);
        values
            .into_iter()
            .for_each(|v| s.observe(FeatureValue::Number(v)));
        s
    }

    fn window(reference: &ReferenceColumn, values: impl IntoIterator<Item = f64>) -> ColumnState {
        let mut s = reference.new_window(StateLimits::EXACT, 3);
        values
            .into_iter()
            .for_each(|v| s.observe(FeatureValue::Number(v)));
        s
    }

    fn categorical(reference: Option<&ReferenceColumn>, values: &[&str]) -> ColumnState {
        let mut s = match reference {
            Some(r) => r.new_window(StateLimits::EXACT, 3),
            None => ColumnState::new(ColumnType::Categorical, StateLimits::EXACT, Vec::new(), 1),
        };
        values.iter().for_each(|v| s.observe(FeatureValue::Text(v)));
        s
    }

    #[test]
    fn small_numerical_reference_uses_ks() {
        let reference = ReferenceColumn::finish("x", numeric((0..100).map(f64::from)));
        let current = window(&reference, (50..150).map(f64::from));
        let drift = evaluate_column(&reference, &current, Preset::Evidently).unwrap();
        assert_eq!(drift.primary.method, Method::Ks);
        assert!(drift.drift_detected);
        let same = window(&reference, (0..100).map(f64::from));
        let drift = evaluate_column(&reference, &same, Preset::Evidently).unwrap();
        assert_eq!(drift.primary.p_value, Some(1.0));
        assert!(!drift.drift_detected);
    }

    #[test]
    fn large_numerical_reference_uses_normed_wasserstein() {
        let reference = ReferenceColumn::finish("x", numeric((0..2000).map(f64::from)));
        let current = window(&reference, (0..2000).map(|v| f64::from(v) + 100.0));
        let drift = evaluate_column(&reference, &current, Preset::Evidently).unwrap();
        assert_eq!(drift.primary.method, Method::Wasserstein);
        // shift 100 / std(0..2000), std = sqrt((2000² − 1) / 12)
        let std = ((2000.0f64 * 2000.0 - 1.0) / 12.0).sqrt();
        assert!(
            (drift.primary.score - 100.0 / std).abs() < 1e-9,
            "{}",
            drift.primary.score
        );
        assert!(drift.drift_detected);
    }

    #[test]
    fn categorical_methods_follow_cardinality_and_size() {
        let reference = ReferenceColumn::finish("c", categorical(None, &["a", "b", "c", "a"]));
        let current = categorical(Some(&reference), &["a", "b", "c", "c"]);
        let drift = evaluate_column(&reference, &current, Preset::Evidently).unwrap();
        assert_eq!(drift.primary.method, Method::Chisquare);
        let binary = ReferenceColumn::finish("b", categorical(None, &["y", "n", "y"]));
        let current = categorical(Some(&binary), &["y", "y", "y"]);
        let drift = evaluate_column(&binary, &current, Preset::Evidently).unwrap();
        assert_eq!(drift.primary.method, Method::Z);
        let big: Vec<&str> = (0..1001).map(|i| if i % 2 == 0 { "a" } else { "b" }).collect();
        let big = ReferenceColumn::finish("b", categorical(None, &big));
        let current = categorical(Some(&big), &["a", "b"]);
        let drift = evaluate_column(&big, &current, Preset::Evidently).unwrap();
        assert_eq!(drift.primary.method, Method::Jensenshannon);
        assert!(drift.primary.score < 1e-3);
    }

    #[test]
    fn sound_preset_needs_an_effect_on_large_samples() {
        // 20,000 values vs the same shifted by 1% of a std: KS fires, PSI does not.
        let reference = ReferenceColumn::finish("x", numeric((0..20_000).map(|i| (i % 1000) as f64)));
        let current = window(&reference, (0..20_000).map(|i| (i % 1000) as f64 + 30.0));
        let sound = evaluate_column(&reference, &current, Preset::Sound).unwrap();
        assert!(sound.primary.detected, "{sound:?}");
        assert!(!sound.effect.unwrap().detected);
        assert!(!sound.drift_detected);
    }

    #[test]
    fn dataset_drift_is_a_share_of_columns() {
        let reference = ReferenceColumn::finish("x", numeric((0..100).map(f64::from)));
        let drifted = window(&reference, (500..600).map(f64::from));
        let same = window(&reference, (0..100).map(f64::from));
        let result = evaluate_dataset([(&reference, &drifted), (&reference, &same)], Preset::Evidently);
        assert_eq!(result.drifted_columns, 1);
        assert_eq!(result.share_of_drifted_columns, 0.5);
        assert!(result.dataset_drift);
        let empty = reference.new_window(StateLimits::EXACT, 1);
        let result = evaluate_dataset([(&reference, &empty)], Preset::Evidently);
        assert_eq!(result.skipped_columns, vec!["x".to_string()]);
        assert!(!result.dataset_drift);
    }
}
