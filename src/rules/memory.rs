//! An in-memory [`Queryable`] + [`Appender`] for rule unit tests.
//!
//! `sightline test rules` and the module's own tests need seconds of data and
//! no durability, so they skip sled. Samples of a series are kept sorted; a
//! sample at an existing timestamp replaces it.

use std::collections::BTreeMap;

use parking_lot::RwLock;

use crate::storage::{
    is_stale_nan, AppendError, AppendStats, Appender, Labels, Matcher, QueryError, Queryable, Sample,
    SelectHints, Series, SeriesSamples,
};

/// Input series: labels and samples in time order, not yet visible.
pub type Input = Vec<(Labels, Vec<Sample>)>;

/// Test data in memory: input series (loaded tick by tick) and rule output.
#[derive(Default)]
pub struct MemoryStore {
    series: RwLock<BTreeMap<Labels, Vec<Sample>>>,
}

impl MemoryStore {
    /// Moves input samples with `t <= ts` into the store.
    pub fn load_until(&self, input: &mut Input, ts: i64) {
        let mut series = self.series.write();
        for (labels, samples) in input.iter_mut() {
            let due = samples.partition_point(|s| s.t <= ts);
            if due == 0 {
                continue;
            }
            let stored = series.entry(labels.clone()).or_default();
            for s in samples.drain(..due) {
                insert_sample(stored, s);
            }
        }
    }

    fn matching(&self, matchers: &[Matcher], mint: i64, maxt: i64) -> Vec<Series> {
        self.series
            .read()
            .iter()
            .filter(|(labels, _)| matchers.iter().all(|m| m.matches(labels.get(&m.name))))
            .filter_map(|(labels, samples)| {
                let from = samples.partition_point(|s| s.t < mint);
                let to = samples.partition_point(|s| s.t <= maxt);
                (from < to).then(|| Series {
                    labels: labels.clone(),
                    samples: samples[from..to].to_vec(),
                })
            })
            .collect()
    }
}

fn insert_sample(stored: &mut Vec<Sample>, s: Sample) {
    let at = stored.partition_point(|x| x.t < s.t);
    match stored.get_mut(at) {
        Some(existing) if existing.t == s.t => *existing = s,
        _ => stored.insert(at, s),
    }
}

impl Appender for MemoryStore {
    fn append(&self, batch: Vec<SeriesSamples>) -> Result<AppendStats, AppendError> {
        let mut series = self.series.write();
        let mut stats = AppendStats::default();
        for s in batch {
            let stored = series.entry(s.labels).or_default();
            for sample in s.samples {
                // A stale marker for a series never written is dropped, as the TSDB does.
                if stored.is_empty() && is_stale_nan(sample.v) {
                    continue;
                }
                insert_sample(stored, sample);
                stats.samples_appended += 1;
            }
        }
        Ok(stats)
    }
}

impl Queryable for MemoryStore {
    fn select(
        &self,
        m: &[Matcher],
        mint: i64,
        maxt: i64,
        hints: SelectHints,
    ) -> Result<Vec<Series>, QueryError> {
        let found = self.matching(m, mint, maxt);
        let total: usize = found.iter().map(|s| s.samples.len()).sum();
        if total > hints.max_samples {
            return Err(QueryError::TooManySamples(hints.max_samples));
        }
        Ok(found)
    }

    fn series(&self, m: &[Matcher], mint: i64, maxt: i64) -> Result<Vec<Labels>, QueryError> {
        Ok(self
            .matching(m, mint, maxt)
            .into_iter()
            .map(|s| s.labels)
            .collect())
    }

    fn label_names(&self, m: &[Matcher], mint: i64, maxt: i64) -> Result<Vec<String>, QueryError> {
        let mut names: Vec<String> = self
            .matching(m, mint, maxt)
            .iter()
            .flat_map(|s| s.labels.iter().map(|l| l.name.clone()))
            .collect();
        names.sort();
        names.dedup();
        Ok(names)
    }

    fn label_values(
        &self,
        name: &str,
        m: &[Matcher],
        mint: i64,
        maxt: i64,
    ) -> Result<Vec<String>, QueryError> {
        let mut values: Vec<String> = self
            .matching(m, mint, maxt)
            .iter()
            .map(|s| s.labels.get(name).to_string())
            .filter(|v| !v.is_empty())
            .collect();
        values.sort();
        values.dedup();
        Ok(values)
    }
}
