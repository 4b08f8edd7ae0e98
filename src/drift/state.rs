//! Streaming per-column state: one `ColumnState` accumulates a column's
//! values, either to become a reference (`ReferenceColumn`) or as the current
//! window compared with one.
//!
//! Cost per value is O(1) (a counter, Welford's mean/variance, one reservoir
//! step, one hash lookup for categories) plus O(log bins) for the exact count
//! on the bins fixed from the reference. Memory is bounded by `StateLimits`:
//! with the streaming defaults (50,000-value samples, 10,000 categories) a
//! numerical column holds at most ~0.8 MB (reference sample + current
//! reservoir), so 50 features stay under 50 MB.
//!
//! While a window has seen no more values than its reservoir holds, the
//! reservoir *is* the window, and every statistic equals the batch computation
//! on the same values exactly.

use super::column::{category_key, ColumnType, FeatureValue};

/// Bounds on what one column keeps.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StateLimits {
    /// Values kept (uniform reservoir) for KS, Wasserstein and Evidently's
    /// data-dependent bins.
    pub sample_size: usize,
    /// Distinct categories counted exactly; later new ones count as one
    /// overflow bucket.
    pub max_categories: usize,
}

impl StateLimits {
    /// For long-running windows: ≤ ~0.8 MB per numerical feature.
    pub const STREAMING: StateLimits = StateLimits {
        sample_size: 50_000,
        max_categories: 10_000,
    };
    /// Keep everything: batch comparisons (`sightline drift` on two CSVs).
    pub const EXACT: StateLimits = StateLimits {
        sample_size: usize::MAX,
        max_categories: usize::MAX,
    };

    /// The same limits with another sample size.
    pub const fn with_sample_size(self, sample_size: usize) -> StateLimits {
        StateLimits {
            sample_size,
            max_categories: self.max_categories,
        }
    }
}

/// Counts of categories, exact up to a limit. Hashed by FxHash, not
/// SipHash: every categorical value of every event is looked up here, and
/// the limit bounds what crafted collisions could cost.
#[derive(Debug, Clone, Default)]
pub struct CategoryCounts {
    counts: rustc_hash::FxHashMap<String, u64>,
    /// Values of categories first seen after the limit was reached.
    pub overflow: u64,
}

impl CategoryCounts {
    fn add(&mut self, key: &str, limit: usize) {
        if let Some(count) = self.counts.get_mut(key) {
            *count += 1;
        } else if self.counts.len() < limit {
            self.counts.insert(key.to_owned(), 1);
        } else {
            self.overflow += 1;
        }
    }

    /// Adds another window's counts; categories beyond `limit` go to the overflow.
    fn absorb(&mut self, other: &CategoryCounts, limit: usize) {
        for (key, &count) in &other.counts {
            if let Some(mine) = self.counts.get_mut(key) {
                *mine += count;
            } else if self.counts.len() < limit {
                self.counts.insert(key.clone(), count);
            } else {
                self.overflow += count;
            }
        }
        self.overflow += other.overflow;
    }

    pub fn get(&self, key: &str) -> u64 {
        self.counts.get(key).copied().unwrap_or(0)
    }

    pub fn iter(&self) -> impl Iterator<Item = (&str, u64)> {
        self.counts.iter().map(|(k, &v)| (k.as_str(), v))
    }

    pub fn distinct(&self) -> usize {
        self.counts.len()
    }

    pub fn total(&self) -> u64 {
        self.counts.values().sum::<u64>() + self.overflow
    }
}

/// A uniform sample of a stream (Vitter's algorithm R).
#[derive(Debug, Clone)]
pub struct Reservoir {
    values: Vec<f64>,
    capacity: usize,
    seen: u64,
    rng: fastrand::Rng,
}

impl Reservoir {
    fn new(capacity: usize, seed: u64) -> Self {
        Reservoir {
            values: Vec::new(),
            capacity,
            seen: 0,
            rng: fastrand::Rng::with_seed(seed),
        }
    }

    fn add(&mut self, value: f64) {
        self.seen += 1;
        if self.values.len() < self.capacity {
            self.values.push(value);
            return;
        }
        let slot = self.rng.u64(0..self.seen);
        if let Some(kept) = self.values.get_mut(slot as usize) {
            *kept = value;
        }
    }

    /// Adds another reservoir's sample so that the result is a uniform sample
    /// of everything both saw: each side gives values in proportion to what it
    /// saw, picked at random from its own uniform sample, and the result is as
    /// large as that allows within the capacity. While both are complete and
    /// fit together this is their concatenation (exact).
    fn absorb(&mut self, other: &Reservoir) {
        let total = self.seen + other.seen;
        if total == 0 {
            return;
        }
        let size = (self.capacity as u64)
            .min(self.proportional_limit(total))
            .min(other.proportional_limit(total));
        let mine = (u128::from(size) * u128::from(self.seen) / u128::from(total)) as usize;
        let theirs = size as usize - mine;
        keep_random(&mut self.values, mine, &mut self.rng);
        let mut picked = other.values.clone();
        keep_random(&mut picked, theirs, &mut self.rng);
        self.values.extend_from_slice(&picked);
        self.seen = total;
    }

    /// The largest sample of `total` values this one can give its share of.
    fn proportional_limit(&self, total: u64) -> u64 {
        if self.seen == 0 {
            return u64::MAX;
        }
        let limit = self.values.len() as u128 * u128::from(total) / u128::from(self.seen);
        u64::try_from(limit).unwrap_or(u64::MAX)
    }

    /// True while every value seen is in the sample.
    pub fn is_complete(&self) -> bool {
        self.seen == self.values.len() as u64
    }

    pub fn values(&self) -> &[f64] {
        &self.values
    }

    fn clear(&mut self) {
        self.values.clear();
        self.seen = 0;
    }

    /// Moves the sample out (a finished reference keeps it sorted instead).
    fn take_values(&mut self) -> Vec<f64> {
        std::mem::take(&mut self.values)
    }
}

/// Keeps `n` of `values` chosen uniformly at random (all of them, in order,
/// when there are no more than `n`).
fn keep_random(values: &mut Vec<f64>, n: usize, rng: &mut fastrand::Rng) {
    if n >= values.len() {
        return;
    }
    for i in 0..n {
        let j = rng.usize(i..values.len());
        values.swap(i, j);
    }
    values.truncate(n);
}

/// Running moments and range of the finite values of a numerical column.
#[derive(Debug, Clone, Copy)]
pub struct Moments {
    pub count: u64,
    pub mean: f64,
    m2: f64,
    pub min: f64,
    pub max: f64,
}

impl Default for Moments {
    fn default() -> Self {
        Moments {
            count: 0,
            mean: 0.0,
            m2: 0.0,
            min: f64::INFINITY,
            max: f64::NEG_INFINITY,
        }
    }
}

impl Moments {
    fn add(&mut self, x: f64) {
        self.count += 1;
        let delta = x - self.mean;
        self.mean += delta / self.count as f64;
        self.m2 += delta * (x - self.mean);
        self.min = self.min.min(x);
        self.max = self.max.max(x);
    }

    /// Combines the moments of two disjoint sets of values (Chan, Golub and
    /// LeVeque 1979).
    fn absorb(&mut self, other: &Moments) {
        if other.count == 0 {
            return;
        }
        let count = self.count + other.count;
        let delta = other.mean - self.mean;
        let weight = other.count as f64 / count as f64;
        self.m2 += other.m2 + delta * delta * self.count as f64 * weight;
        self.mean += delta * weight;
        self.count = count;
        self.min = self.min.min(other.min);
        self.max = self.max.max(other.max);
    }

    /// Population standard deviation (`np.std`, ddof = 0).
    pub fn std(&self) -> f64 {
        if self.count == 0 {
            f64::NAN
        } else {
            (self.m2 / self.count as f64).sqrt()
        }
    }
}

/// The accumulated state of one column.
#[derive(Debug, Clone)]
pub struct ColumnState {
    pub column_type: ColumnType,
    /// Every value offered, missing ones included.
    pub rows: u64,
    /// Missing values, NaN and ±inf (Evidently drops those before testing).
    pub missing: u64,
    /// Values of the wrong kind (text in a numerical column).
    pub type_mismatches: u64,
    pub moments: Moments,
    pub sample: Reservoir,
    pub categories: CategoryCounts,
    /// Exact counts on the reference's fixed bins (`bin_edges.len() + 1`
    /// slots: below the first edge, between edges, above the last).
    pub bin_counts: Vec<u64>,
    /// Finite values outside the reference's [min, max] (windows only).
    pub out_of_range: u64,
    bin_edges: Vec<f64>,
    reference_range: Option<(f64, f64)>,
    max_categories: usize,
}

impl ColumnState {
    /// An empty state; `bin_edges` are the reference's fixed inner edges
    /// (empty while accumulating a reference).
    pub fn new(column_type: ColumnType, limits: StateLimits, bin_edges: Vec<f64>, seed: u64) -> Self {
        ColumnState {
            column_type,
            rows: 0,
            missing: 0,
            type_mismatches: 0,
            moments: Moments::default(),
            sample: Reservoir::new(limits.sample_size, seed),
            categories: CategoryCounts::default(),
            bin_counts: vec![0; bin_edges.len() + 1],
            out_of_range: 0,
            bin_edges,
            reference_range: None,
            max_categories: limits.max_categories,
        }
    }

    /// Adds one value.
    pub fn observe(&mut self, value: FeatureValue<'_>) {
        self.rows += 1;
        match self.column_type {
            ColumnType::Numerical => self.observe_number(value),
            ColumnType::Categorical => match category_key(value) {
                Some(key) => self.categories.add(&key, self.max_categories),
                None => self.missing += 1,
            },
        }
    }

    fn observe_number(&mut self, value: FeatureValue<'_>) {
        let x = match value {
            FeatureValue::Number(x) if x.is_finite() => x,
            FeatureValue::Number(_) | FeatureValue::Missing => {
                self.missing += 1;
                return;
            }
            FeatureValue::Bool(b) => f64::from(u8::from(b)),
            FeatureValue::Text(_) => {
                self.type_mismatches += 1;
                self.missing += 1;
                return;
            }
        };
        self.moments.add(x);
        self.sample.add(x);
        if let Some((low, high)) = self.reference_range {
            self.out_of_range += u64::from(x < low || x > high);
        }
        if !self.bin_counts.is_empty() {
            let slot = self.bin_edges.partition_point(|&e| e < x);
            self.bin_counts[slot] += 1;
        }
    }

    /// Values that took part in the statistics (not missing).
    pub fn present(&self) -> u64 {
        self.rows - self.missing
    }

    /// Adds another window's state over the same bins (the steps of a sliding
    /// window). Counts, moments and bins add exactly; the samples combine as
    /// `Reservoir::absorb` says, within this state's limits.
    pub fn absorb(&mut self, other: &ColumnState) {
        self.rows += other.rows;
        self.missing += other.missing;
        self.type_mismatches += other.type_mismatches;
        self.moments.absorb(&other.moments);
        self.sample.absorb(&other.sample);
        self.categories.absorb(&other.categories, self.max_categories);
        for (mine, theirs) in self.bin_counts.iter_mut().zip(&other.bin_counts) {
            *mine += theirs;
        }
        self.out_of_range += other.out_of_range;
    }

    /// Starts a new window with the same bins and limits.
    pub fn reset(&mut self) {
        self.rows = 0;
        self.missing = 0;
        self.type_mismatches = 0;
        self.moments = Moments::default();
        self.sample.clear();
        self.categories = CategoryCounts::default();
        self.bin_counts.iter_mut().for_each(|c| *c = 0);
        self.out_of_range = 0;
    }

    /// Approximate heap bytes held (sample, bins, category keys and map).
    pub fn heap_bytes(&self) -> usize {
        let categories: usize = self.categories.iter().map(|(k, _)| k.len() + 48).sum();
        (self.sample.values.capacity() + self.bin_edges.capacity()) * 8
            + self.bin_counts.capacity() * 8
            + categories
    }

    /// The fixed inner bin edges this state counts on.
    pub fn bin_edges(&self) -> &[f64] {
        &self.bin_edges
    }
}

/// A finished reference column: the state, its sample sorted, and the bins
/// every current window of this column counts on.
#[derive(Debug, Clone)]
pub struct ReferenceColumn {
    pub name: String,
    pub state: ColumnState,
    /// The reference sample in ascending order.
    pub sorted: Vec<f64>,
    /// Distinct values of `sorted` (`==`, so `-0.0` and `0.0` are one),
    /// counted once instead of at every window's evaluation.
    pub sorted_distinct: usize,
    /// Inner edges of the fixed bins: the reference deciles (distinct).
    pub bin_edges: Vec<f64>,
}

/// Number of equal-frequency bins fixed from a numerical reference.
pub const FIXED_BINS: usize = 10;

impl ReferenceColumn {
    /// Freezes an accumulated reference: sorts its sample, fixes the decile
    /// bin edges and counts the reference itself on them.
    pub fn finish(name: impl Into<String>, mut state: ColumnState) -> Self {
        let sorted = super::stattests::sorted_by_total_order(&state.sample.take_values());
        let bin_edges = decile_edges(&sorted);
        state.bin_counts = vec![0; bin_edges.len() + 1];
        for &x in &sorted {
            state.bin_counts[bin_edges.partition_point(|&e| e < x)] += 1;
        }
        state.bin_edges = bin_edges.clone();
        let sorted_distinct = sorted
            .iter()
            .enumerate()
            .filter(|&(i, v)| i == 0 || sorted[i - 1] != *v)
            .count();
        ReferenceColumn {
            name: name.into(),
            state,
            sorted,
            sorted_distinct,
            bin_edges,
        }
    }

    /// Approximate heap bytes held, the state included.
    pub fn heap_bytes(&self) -> usize {
        self.state.heap_bytes() + (self.sorted.capacity() + self.bin_edges.capacity()) * 8
    }

    /// An empty current-window state that counts on this reference's bins.
    pub fn new_window(&self, limits: StateLimits, seed: u64) -> ColumnState {
        let mut window = ColumnState::new(self.state.column_type, limits, self.bin_edges.clone(), seed);
        let moments = self.state.moments;
        window.reference_range = (moments.count > 0).then_some((moments.min, moments.max));
        window
    }
}

/// Distinct interior decile values of a sorted sample (bins are
/// `(-inf, e0], (e0, e1], …, (e_last, inf)`).
fn decile_edges(sorted: &[f64]) -> Vec<f64> {
    if sorted.is_empty() {
        return Vec::new();
    }
    let mut edges: Vec<f64> = (1..FIXED_BINS)
        .map(|k| sorted[(k * (sorted.len() - 1)) / FIXED_BINS])
        .collect();
    edges.dedup();
    edges
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reservoir_is_complete_until_full_then_bounded() {
        let mut state = ColumnState::new(
            ColumnType::Numerical,
            StateLimits {
                sample_size: 100,
                max_categories: 10,
            },
            Vec::new(),
            7,
        );
        for i in 0..100 {
            state.observe(FeatureValue::Number(i as f64));
        }
        assert!(state.sample.is_complete());
        for i in 100..10_000 {
            state.observe(FeatureValue::Number(i as f64));
        }
        assert!(!state.sample.is_complete());
        assert_eq!(state.sample.values().len(), 100);
        assert_eq!(state.moments.count, 10_000);
        // A uniform sample of 0..10000 has a mean near 5000.
        let mean = state.sample.values().iter().sum::<f64>() / 100.0;
        assert!((mean - 5000.0).abs() < 1200.0, "{mean}");
    }

    fn numbers(limits: StateLimits, seed: u64, values: impl IntoIterator<Item = f64>) -> ColumnState {
        let mut state = ColumnState::new(ColumnType::Numerical, limits, vec![10.0, 100.0], seed);
        values
            .into_iter()
            .for_each(|x| state.observe(FeatureValue::Number(x)));
        state
    }

    #[test]
    fn absorbing_complete_windows_equals_one_window_of_all_values() {
        let first: Vec<f64> = (0..300).map(|i| f64::from(i) * 0.7).collect();
        let second: Vec<f64> = (0..200).map(|i| f64::from(i).sqrt() * 31.0).collect();
        let mut merged = numbers(StateLimits::STREAMING, 1, []);
        merged.absorb(&numbers(StateLimits::STREAMING, 2, first.iter().copied()));
        merged.absorb(&numbers(StateLimits::STREAMING, 3, second.iter().copied()));
        let whole = numbers(StateLimits::STREAMING, 4, first.iter().chain(&second).copied());
        assert_eq!(merged.sample.values(), whole.sample.values());
        assert!(merged.sample.is_complete());
        assert_eq!(
            (merged.rows, merged.bin_counts.clone()),
            (whole.rows, whole.bin_counts.clone())
        );
        assert_eq!(merged.moments.count, whole.moments.count);
        assert!((merged.moments.mean - whole.moments.mean).abs() < 1e-12);
        assert!((merged.moments.std() - whole.moments.std()).abs() < 1e-9);
        assert_eq!(
            (merged.moments.min, merged.moments.max),
            (whole.moments.min, whole.moments.max)
        );
    }

    #[test]
    fn absorbing_categories_respects_the_limit() {
        let limits = StateLimits {
            sample_size: 10,
            max_categories: 2,
        };
        let categories = |values: &[&str]| {
            let mut state = ColumnState::new(ColumnType::Categorical, limits, Vec::new(), 1);
            values.iter().for_each(|v| state.observe(FeatureValue::Text(v)));
            state
        };
        let mut merged = categories(&["a", "a", "b"]);
        merged.absorb(&categories(&["b", "c", "c"]));
        assert_eq!((merged.categories.get("a"), merged.categories.get("b")), (2, 2));
        assert_eq!((merged.categories.overflow, merged.rows), (2, 6));
    }

    #[test]
    fn absorbing_full_reservoirs_keeps_each_part_in_proportion() {
        let small = StateLimits {
            sample_size: 500,
            max_categories: 10,
        };
        // 9,000 values near 0 and 1,000 near 1,000, each sampled down to 500.
        let mut merged = numbers(small.with_sample_size(1_000), 1, []);
        merged.absorb(&numbers(small, 2, (0..9_000).map(|i| f64::from(i % 10))));
        merged.absorb(&numbers(
            small,
            3,
            (0..1_000).map(|i| 1_000.0 + f64::from(i % 10)),
        ));
        // 500 values standing for 9,000 allow a uniform sample of 555 of the
        // 10,000, of which 10% come from the second part.
        let kept = merged.sample.values();
        assert_eq!(kept.len(), 555);
        assert_eq!(kept.iter().filter(|&&x| x >= 1_000.0).count(), 56);
        assert_eq!(merged.moments.count, 10_000);
    }

    #[test]
    fn missing_and_mismatched_values_are_counted_not_used() {
        let mut state = ColumnState::new(ColumnType::Numerical, StateLimits::EXACT, Vec::new(), 1);
        for v in [
            FeatureValue::Number(1.0),
            FeatureValue::Number(f64::NAN),
            FeatureValue::Number(f64::INFINITY),
            FeatureValue::Missing,
            FeatureValue::Text("x"),
        ] {
            state.observe(v);
        }
        assert_eq!((state.rows, state.missing, state.type_mismatches), (5, 4, 1));
        assert_eq!(state.sample.values(), &[1.0]);
    }

    #[test]
    fn windows_count_exactly_on_reference_deciles() {
        let mut reference = ColumnState::new(ColumnType::Numerical, StateLimits::EXACT, Vec::new(), 1);
        for i in 0..1000 {
            reference.observe(FeatureValue::Number(i as f64));
        }
        let reference = ReferenceColumn::finish("x", reference);
        assert_eq!(reference.bin_edges.len(), 9);
        assert_eq!(reference.state.bin_counts.iter().sum::<u64>(), 1000);
        let mut window = reference.new_window(StateLimits::STREAMING, 2);
        for _ in 0..5 {
            window.observe(FeatureValue::Number(-1.0));
        }
        window.observe(FeatureValue::Number(5000.0));
        assert_eq!(window.bin_counts[0], 5);
        assert_eq!(window.bin_counts[9], 1);
        assert_eq!(window.out_of_range, 6);
    }

    #[test]
    fn fifty_features_stay_under_fifty_megabytes() {
        let mut rng = fastrand::Rng::with_seed(3);
        let mut total = 0;
        for feature in 0..50 {
            let column_type = if feature < 35 {
                ColumnType::Numerical
            } else {
                ColumnType::Categorical
            };
            let mut reference = ColumnState::new(column_type, StateLimits::STREAMING, Vec::new(), 1);
            let labels: Vec<String> = (0..200).map(|i| format!("category-{i}")).collect();
            let mut feed = |state: &mut ColumnState| {
                for _ in 0..60_000 {
                    match column_type {
                        ColumnType::Numerical => state.observe(FeatureValue::Number(rng.f64())),
                        ColumnType::Categorical => {
                            state.observe(FeatureValue::Text(&labels[rng.usize(0..200)]))
                        }
                    }
                }
            };
            feed(&mut reference);
            let reference = ReferenceColumn::finish("f", reference);
            let mut window = reference.new_window(StateLimits::STREAMING, 2);
            feed(&mut window);
            total += reference.heap_bytes() + window.heap_bytes();
        }
        assert!(total < 50 * 1024 * 1024, "{total} bytes");
    }

    #[test]
    fn categories_overflow_past_the_limit() {
        let limits = StateLimits {
            sample_size: 10,
            max_categories: 2,
        };
        let mut state = ColumnState::new(ColumnType::Categorical, limits, Vec::new(), 1);
        for v in ["a", "b", "c", "a", "d"] {
            state.observe(FeatureValue::Text(v));
        }
        assert_eq!(state.categories.get("a"), 2);
        assert_eq!(state.categories.overflow, 2);
        assert_eq!(state.categories.total(), 5);
    }
}
