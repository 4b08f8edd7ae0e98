//! A whole model's reference (`ReferenceProfile`) and the current window
//! compared with it (`CurrentWindow`): one state per feature, addressed by
//! index for speed (`column_index` once per feature name).

use super::column::FeatureValue;
use super::evaluate::{evaluate_dataset, DatasetDrift, Preset};
use super::state::{ColumnState, ReferenceColumn, StateLimits};

/// The frozen reference of every feature.
#[derive(Debug, Clone)]
pub struct ReferenceProfile {
    pub columns: Vec<ReferenceColumn>,
}

impl ReferenceProfile {
    /// Freezes accumulated reference states, one per named feature.
    pub fn from_states(states: impl IntoIterator<Item = (String, ColumnState)>) -> Self {
        ReferenceProfile {
            columns: states
                .into_iter()
                .map(|(name, state)| ReferenceColumn::finish(name, state))
                .collect(),
        }
    }

    pub fn column_index(&self, name: &str) -> Option<usize> {
        self.columns.iter().position(|c| c.name == name)
    }

    /// An empty window over the same features and bins.
    pub fn new_window(&self, limits: StateLimits, seed: u64) -> CurrentWindow {
        CurrentWindow {
            columns: self
                .columns
                .iter()
                .enumerate()
                .map(|(i, c)| c.new_window(limits, seed.wrapping_add(i as u64)))
                .collect(),
        }
    }
}

/// The current window of every feature of a `ReferenceProfile`.
#[derive(Debug, Clone)]
pub struct CurrentWindow {
    pub columns: Vec<ColumnState>,
}

impl CurrentWindow {
    /// Adds one value of the feature at `column` (an index from
    /// `ReferenceProfile::column_index`); unknown indexes are ignored.
    pub fn observe(&mut self, column: usize, value: FeatureValue<'_>) {
        if let Some(state) = self.columns.get_mut(column) {
            state.observe(value);
        }
    }

    /// Adds another window over the same reference (see `ColumnState::absorb`).
    pub fn absorb(&mut self, other: &CurrentWindow) {
        for (mine, theirs) in self.columns.iter_mut().zip(&other.columns) {
            mine.absorb(theirs);
        }
    }

    /// Empties the window (a tumbling window's next period).
    pub fn reset(&mut self) {
        self.columns.iter_mut().for_each(ColumnState::reset);
    }

    /// Drift of this window against `reference` under `preset`.
    pub fn evaluate(&self, reference: &ReferenceProfile, preset: Preset) -> DatasetDrift {
        evaluate_dataset(reference.columns.iter().zip(&self.columns), preset)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::drift::column::ColumnType;

    #[test]
    fn window_evaluates_against_its_reference() {
        let mut x = ColumnState::new(ColumnType::Numerical, StateLimits::EXACT, Vec::new(), 1);
        let mut c = ColumnState::new(ColumnType::Categorical, StateLimits::EXACT, Vec::new(), 2);
        for i in 0..200 {
            x.observe(FeatureValue::Number(f64::from(i)));
            c.observe(FeatureValue::Text(if i % 2 == 0 { "a" } else { "b" }));
        }
        let profile = ReferenceProfile::from_states([("x".to_string(), x), ("c".to_string(), c)]);
        let mut window = profile.new_window(StateLimits::STREAMING, 9);
        let (xi, ci) = (
            profile.column_index("x").unwrap(),
            profile.column_index("c").unwrap(),
        );
        for i in 0..200 {
            window.observe(xi, FeatureValue::Number(f64::from(i) + 1000.0));
            window.observe(ci, FeatureValue::Text("a"));
        }
        let drift = window.evaluate(&profile, Preset::Evidently);
        assert_eq!(drift.drifted_columns, 2);
        assert!(drift.dataset_drift);
        window.reset();
        assert_eq!(window.columns[0].rows, 0);
    }
}
