//! The per-target scrape cache: from exposed series to stored labels, and staleness.
//!
//! Owns turning one scraped body into one append batch. Like Prometheus's
//! `scrapeCache`, each exposed series (its name and labels as written) maps to its
//! final labels, computed once (target labels, `honor_labels`, metric relabelling,
//! label limits); steady-state scrapes only look the series up. The cache also
//! remembers which series the last successful scrape returned, so that series
//! which vanish, or every series when a scrape fails, get a staleness marker.
//! Metric metadata (HELP, TYPE, UNIT) is kept per family for the metadata API.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::sync::Arc;

use hashbrown::HashMap;

use crate::config::RelabelConfig;
use crate::exposition::{Entry, Format, Parser, Sample as ExposedSample};
use crate::relabel::{relabel, LabelBuilder};
use crate::storage::{stale_nan, Labels, Sample, SeriesSamples, METRIC_NAME};

/// What a job says about turning exposed samples into stored ones.
#[derive(Debug, Clone, Default)]
pub struct SampleRules {
    /// The target's labels without `__` names; added to every series.
    pub target_labels: Labels,
    pub honor_labels: bool,
    pub honor_timestamps: bool,
    pub metric_relabel_configs: Arc<Vec<RelabelConfig>>,
    pub limits: Limits,
}

/// A job's per-scrape limits; `0` is no limit. Exceeding one fails the whole scrape.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Limits {
    pub sample_limit: u64,
    pub label_limit: u64,
    pub label_name_length_limit: u64,
    pub label_value_length_limit: u64,
}

/// One family's metadata as exposed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Metadata {
    pub kind: &'static str,
    pub help: String,
    pub unit: String,
}

/// What one successful scrape produced.
#[derive(Debug, Default)]
pub struct ScrapeBatch {
    /// Samples to append, staleness markers included.
    pub series: Vec<SeriesSamples>,
    pub samples_scraped: u64,
    pub samples_post_relabel: u64,
    pub series_added: u64,
}

#[derive(Debug)]
struct CachedSeries {
    /// `None` when metric relabelling dropped the series.
    labels: Option<Labels>,
    /// Iteration in which the series last had a sample, and the one before.
    seen_in: u64,
    previously_seen_in: u64,
    /// Series with explicit timestamps get no staleness markers (as in Prometheus).
    tracks_staleness: bool,
    last_explicit_ts: i64,
}

/// One target's cache. See the module doc.
#[derive(Debug, Default)]
pub struct SeriesCache {
    series: HashMap<Box<[u8]>, CachedSeries>,
    metadata: HashMap<String, (Metadata, u64)>,
    metadata_changed: bool,
    iteration: u64,
    /// Iteration of the last successful scrape; 0 when there is none to mark stale.
    last_success: u64,
    key: Vec<u8>,
}

impl SeriesCache {
    /// Parses `body` into a batch at `scrape_ts`; on error nothing is kept but
    /// the caller must still call [`SeriesCache::fail`] to mark series stale.
    pub fn scrape(
        &mut self,
        body: &[u8],
        format: Format,
        scrape_ts: i64,
        rules: &SampleRules,
    ) -> Result<ScrapeBatch, String> {
        self.iteration += 1;
        let mut batch = ScrapeBatch::default();
        if let Err(err) = self.add_samples(body, format, scrape_ts, rules, &mut batch) {
            self.undo_iteration();
            return Err(err);
        }
        self.add_stale_markers(scrape_ts, &mut batch.series, true);
        self.last_success = self.iteration;
        Ok(batch)
    }

    /// After a failed scrape (or append): staleness markers for every series of
    /// the last successful scrape.
    pub fn fail(&mut self, scrape_ts: i64) -> Vec<SeriesSamples> {
        let mut stale = Vec::new();
        self.add_stale_markers(scrape_ts, &mut stale, false);
        self.last_success = 0;
        stale
    }

    /// Takes the metadata when it changed since the last call.
    pub fn changed_metadata(&mut self) -> Option<BTreeMap<String, Metadata>> {
        if !std::mem::take(&mut self.metadata_changed) {
            return None;
        }
        let map = self
            .metadata
            .iter()
            .map(|(name, (meta, _))| (name.clone(), meta.clone()));
        Some(map.collect())
    }

    fn add_samples(
        &mut self,
        body: &[u8],
        format: Format,
        scrape_ts: i64,
        rules: &SampleRules,
        batch: &mut ScrapeBatch,
    ) -> Result<(), String> {
        for entry in Parser::new(body, format) {
            match entry.map_err(|err| err.to_string())? {
                Entry::Sample(sample) => {
                    batch.samples_scraped += 1;
                    self.add_sample(&sample, scrape_ts, rules, batch)?;
                }
                Entry::Help { family, text } => self.note_metadata(family, MetadataField::Help(text)),
                Entry::Type { family, kind } => {
                    self.note_metadata(family, MetadataField::Kind(kind.as_str()))
                }
                Entry::Unit { family, unit } => self.note_metadata(family, MetadataField::Unit(unit)),
            }
        }
        self.forget_unseen_metadata();
        Ok(())
    }

    fn add_sample(
        &mut self,
        sample: &ExposedSample<'_>,
        scrape_ts: i64,
        rules: &SampleRules,
        batch: &mut ScrapeBatch,
    ) -> Result<(), String> {
        write_key(&mut self.key, sample);
        let iteration = self.iteration;
        let entry = match self.series.get_mut(self.key.as_slice()) {
            Some(entry) => entry,
            None => {
                let labels = final_labels(sample, rules)?;
                batch.series_added += u64::from(labels.is_some());
                let fresh = CachedSeries {
                    labels,
                    seen_in: 0,
                    previously_seen_in: 0,
                    tracks_staleness: true,
                    last_explicit_ts: i64::MIN,
                };
                self.series
                    .entry(self.key.clone().into_boxed_slice())
                    .or_insert(fresh)
            }
        };
        if entry.seen_in == iteration {
            return Ok(()); // the same series twice in one scrape: the first one counts
        }
        entry.previously_seen_in = entry.seen_in;
        entry.seen_in = iteration;
        let Some(labels) = &entry.labels else {
            return Ok(());
        };
        let t = match sample.timestamp_ms.filter(|_| rules.honor_timestamps) {
            Some(explicit) if explicit <= entry.last_explicit_ts => return Ok(()),
            Some(explicit) => {
                entry.tracks_staleness = false;
                entry.last_explicit_ts = explicit;
                explicit
            }
            None => {
                entry.tracks_staleness = true;
                scrape_ts
            }
        };
        batch.samples_post_relabel += 1;
        let limit = rules.limits.sample_limit;
        if limit > 0 && batch.samples_post_relabel > limit {
            return Err(format!("sample limit exceeded (limit: {limit})"));
        }
        batch.series.push(SeriesSamples {
            labels: labels.clone(),
            samples: vec![Sample { t, v: sample.value }],
        });
        Ok(())
    }

    /// Staleness markers for series of the last successful scrape not seen in this
    /// one; after a success, series not seen in it are forgotten.
    fn add_stale_markers(&mut self, ts: i64, out: &mut Vec<SeriesSamples>, succeeded: bool) {
        let (current, previous) = (self.iteration, self.last_success);
        self.series.retain(|_, entry| {
            let seen_now = succeeded && entry.seen_in == current;
            if !seen_now && previous != 0 && entry.seen_in == previous && entry.tracks_staleness {
                if let Some(labels) = &entry.labels {
                    out.push(SeriesSamples {
                        labels: labels.clone(),
                        samples: vec![Sample {
                            t: ts,
                            v: stale_nan(),
                        }],
                    });
                }
            }
            seen_now || !succeeded
        });
    }

    /// A failed parse leaves the series as the last successful scrape saw them.
    fn undo_iteration(&mut self) {
        let current = self.iteration;
        for entry in self.series.values_mut() {
            if entry.seen_in == current {
                entry.seen_in = entry.previously_seen_in;
            }
        }
    }

    fn note_metadata(&mut self, family: &str, field: MetadataField<'_>) {
        let iteration = self.iteration;
        if !self.metadata.contains_key(family) {
            let blank = Metadata {
                kind: "unknown",
                help: String::new(),
                unit: String::new(),
            };
            self.metadata.insert(family.to_string(), (blank, iteration));
            self.metadata_changed = true;
        }
        let Some((meta, seen)) = self.metadata.get_mut(family) else {
            return;
        };
        *seen = iteration;
        let changed = match field {
            MetadataField::Help(text) => replace_if_different(&mut meta.help, &text),
            MetadataField::Unit(unit) => replace_if_different(&mut meta.unit, unit),
            MetadataField::Kind(kind) => std::mem::replace(&mut meta.kind, kind) != kind,
        };
        self.metadata_changed |= changed;
    }

    fn forget_unseen_metadata(&mut self) {
        let iteration = self.iteration;
        let before = self.metadata.len();
        self.metadata.retain(|_, (_, seen)| *seen == iteration);
        self.metadata_changed |= self.metadata.len() != before;
    }
}

/// One metadata line of a family.
enum MetadataField<'a> {
    Help(Cow<'a, str>),
    Kind(&'static str),
    Unit(&'a str),
}

/// Replaces `slot` only when it differs, so unchanged metadata allocates nothing.
fn replace_if_different(slot: &mut String, value: &str) -> bool {
    if slot == value {
        return false;
    }
    value.clone_into(slot);
    true
}

/// The series' identity as exposed: name and labels in their written order.
fn write_key(key: &mut Vec<u8>, sample: &ExposedSample<'_>) {
    key.clear();
    key.extend_from_slice(sample.name.as_bytes());
    for (name, value) in &sample.labels {
        key.push(0xff);
        key.extend_from_slice(name.as_bytes());
        key.push(0xfe);
        key.extend_from_slice(value.as_bytes());
    }
}

/// Target labels, `honor_labels`, metric relabelling and limits; `None` when dropped.
fn final_labels(sample: &ExposedSample<'_>, rules: &SampleRules) -> Result<Option<Labels>, String> {
    let exposed = Labels::from_pairs(
        std::iter::once((METRIC_NAME, sample.name))
            .chain(sample.labels.iter().map(|(n, v)| (*n, v.as_ref()))),
    );
    let merged = with_target_labels(exposed, &rules.target_labels, rules.honor_labels);
    let Some(labels) = relabel(merged, &rules.metric_relabel_configs) else {
        return Ok(None);
    };
    check_limits(&labels, &rules.limits)?;
    labels
        .validate()
        .map_err(|err| format!("{err} in series {labels}"))?;
    Ok(Some(labels))
}

/// Prometheus's `mutateSampleLabels`: with `honor_labels` exposed labels win;
/// otherwise target labels win and clashing exposed ones become `exported_<name>`
/// (prefixed again until the name is free).
pub fn with_target_labels(exposed: Labels, target: &Labels, honor_labels: bool) -> Labels {
    let mut builder = LabelBuilder::new(exposed.clone());
    if honor_labels {
        for label in target.iter().filter(|l| exposed.get(&l.name).is_empty()) {
            builder.set(&label.name, &label.value);
        }
        return builder.into_labels();
    }
    let mut clashing: Vec<(String, String)> = Vec::new();
    for label in target.iter() {
        let exposed_value = exposed.get(&label.name);
        if !exposed_value.is_empty() {
            clashing.push((label.name.clone(), exposed_value.to_string()));
        }
        builder.set(&label.name, &label.value);
    }
    clashing.sort_by_key(|(name, _)| name.len());
    for i in 0..clashing.len() {
        let mut name = clashing[i].0.clone();
        loop {
            name = format!("exported_{name}");
            let taken = !exposed.get(&name).is_empty()
                || !target.get(&name).is_empty()
                || clashing[..i].iter().any(|(n, _)| *n == name);
            if !taken {
                break;
            }
        }
        clashing[i].0 = name;
    }
    for (name, value) in &clashing {
        builder.set(name, value);
    }
    builder.into_labels()
}

/// Prometheus's label limits, with its messages.
fn check_limits(labels: &Labels, limits: &Limits) -> Result<(), String> {
    let metric = truncated(labels.metric_name());
    let count = labels.len() as u64;
    if limits.label_limit > 0 && count > limits.label_limit {
        return Err(format!(
            "label_limit exceeded (metric: {metric}, number of labels: {count}, limit: {})",
            limits.label_limit
        ));
    }
    for label in labels.iter() {
        let name_len = label.name.chars().count() as u64;
        if limits.label_name_length_limit > 0 && name_len > limits.label_name_length_limit {
            return Err(format!(
                "label_name_length_limit exceeded (metric: {metric}, label name: {}, length: {name_len}, limit: {})",
                truncated(&label.name),
                limits.label_name_length_limit
            ));
        }
        let value_len = label.value.chars().count() as u64;
        if limits.label_value_length_limit > 0 && value_len > limits.label_value_length_limit {
            return Err(format!(
                "label_value_length_limit exceeded (metric: {metric}, label name: {}, value: {:?}, length: {value_len}, limit: {})",
                truncated(&label.name),
                truncated(&label.value),
                limits.label_value_length_limit
            ));
        }
    }
    Ok(())
}

/// Go's `%.50s`.
fn truncated(text: &str) -> &str {
    text.char_indices().nth(50).map_or(text, |(i, _)| &text[..i])
}

#[cfg(test)]
mod tests;
