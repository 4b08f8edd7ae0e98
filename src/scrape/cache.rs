//! The per-target scrape cache: from exposed series to stored labels, and staleness.
//!
//! Owns turning one scraped body into one append batch. Like Prometheus's
//! `scrapeCache`, each exposed series maps to the storage's [`SeriesRef`] for
//! it, keyed by its series text (name and labels in written order, spelled by
//! [`write_series_text`]): a line spelled that way, as exposition libraries
//! write them, is found by [`Parser::next_known`] without parsing its labels,
//! and only its value and timestamp are read. Its final labels (target labels,
//! `honor_labels`, metric relabelling, label limits) are computed only when the
//! series is first seen, appended by labels once, and from then on its samples
//! are appended by reference, so steady-state scrapes do no label work and
//! allocate nothing per sample. The cache holds no labels: when a reference is
//! lost (the storage removed series, or the append that would have given it
//! failed) the labels are computed again from the series text.
//! The cache also remembers which series the last successful scrape returned,
//! so that series which vanish, or every series when a scrape fails, get a
//! staleness marker. Metric metadata (HELP, TYPE, UNIT) is kept per family for
//! the metadata API.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::sync::Arc;

use hashbrown::HashMap;

use table::SeriesTable;

use crate::config::RelabelConfig;
use crate::exposition::{write_series_text, Entry, Format, Parser, Read, Sample as ExposedSample};
use crate::relabel::{relabel, LabelBuilder};
use crate::storage::{stale_nan, Labels, RefBatch, Sample, SeriesRef, SeriesSamples, METRIC_NAME};

mod table;

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
    pub appends: RefBatch,
    /// The cache entries of `appends.new`, in order: give their references
    /// back with [`SeriesCache::resolved`] before the next scrape.
    pub new_series: Vec<usize>,
    pub samples_scraped: u64,
    pub samples_post_relabel: u64,
    pub series_added: u64,
}

/// Where an exposed series' samples go.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stored {
    /// Metric relabelling dropped the series.
    Dropped,
    /// Not known to the storage yet (or no longer): append by labels.
    Unresolved,
    At(SeriesRef),
}

#[derive(Debug)]
struct CachedSeries {
    stored: Stored,
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
    series: SeriesTable<CachedSeries>,
    /// Set by a successful scrape that did not see every series: the
    /// iteration whose series the next scrape keeps (the others are dropped
    /// then, once the batch's entry numbers are no longer needed).
    forget_unseen_before: Option<u64>,
    metadata: HashMap<String, (Metadata, u64)>,
    metadata_changed: bool,
    iteration: u64,
    /// Iteration of the last successful scrape; 0 when there is none to mark stale.
    last_success: u64,
    /// The storage's reference epoch the cached references belong to.
    ref_epoch: u64,
    key: Vec<u8>,
}

impl SeriesCache {
    /// Parses `body` into a batch at `scrape_ts`; on error nothing is kept but
    /// the caller must still call [`SeriesCache::fail`] to mark series stale.
    /// `ref_epoch` is the storage's current [`RefAppender::ref_epoch`]
    /// (crate::storage::RefAppender): when it moved, every reference is
    /// resolved again by labels.
    pub fn scrape(
        &mut self,
        body: &[u8],
        format: Format,
        scrape_ts: i64,
        rules: &SampleRules,
        ref_epoch: u64,
    ) -> Result<ScrapeBatch, String> {
        self.forget_references_before(ref_epoch);
        self.forget_unseen_series();
        self.iteration += 1;
        let mut batch = ScrapeBatch::default();
        // Most scrapes expose what the last one did.
        batch.appends.known.reserve(self.series.len());
        if let Err(err) = self.add_samples(body, format, scrape_ts, rules, &mut batch) {
            self.undo_iteration();
            return Err(err);
        }
        self.add_stale_markers(scrape_ts, rules, &mut batch, true);
        self.last_success = self.iteration;
        if batch.series_added > 0 {
            self.series.shrink();
        }
        Ok(batch)
    }

    fn forget_unseen_series(&mut self) {
        if let Some(kept) = self.forget_unseen_before.take() {
            self.series.retain(|entry| entry.seen_in >= kept);
        }
    }

    /// After the storage accepted a batch: the references of its new series.
    pub fn resolved(&mut self, new_series: &[usize], refs: &[Option<SeriesRef>]) {
        for (&number, series_ref) in new_series.iter().zip(refs) {
            if let (Some((_, entry)), Some(series_ref)) = (self.series.get_mut(number), series_ref) {
                entry.stored = Stored::At(*series_ref);
            }
        }
    }

    /// After a failed scrape (or append): staleness markers for every series of
    /// the last successful scrape.
    pub fn fail(&mut self, scrape_ts: i64, rules: &SampleRules) -> RefBatch {
        let mut stale = ScrapeBatch::default();
        self.add_stale_markers(scrape_ts, rules, &mut stale, false);
        self.last_success = 0;
        stale.appends
    }

    fn forget_references_before(&mut self, ref_epoch: u64) {
        if std::mem::replace(&mut self.ref_epoch, ref_epoch) == ref_epoch {
            return;
        }
        for entry in self.series.values_mut() {
            if matches!(entry.stored, Stored::At(_)) {
                entry.stored = Stored::Unresolved;
            }
        }
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
        let scrape = ThisScrape {
            iteration: self.iteration,
            ts: scrape_ts,
            rules,
        };
        let mut parser = Parser::new(body, format);
        while let Some(read) = parser.next_known(|line| self.series.find(line)) {
            match read.map_err(|err| err.to_string())? {
                Read::Known {
                    series,
                    value,
                    timestamp_ms,
                } => {
                    batch.samples_scraped += 1;
                    let exposed = ExposedValue { value, timestamp_ms };
                    add_sample(&mut self.series, series, None, exposed, &scrape, batch)?;
                }
                Read::Entry(Entry::Sample(sample)) => {
                    batch.samples_scraped += 1;
                    self.add_parsed_sample(&sample, &scrape, batch)?;
                }
                Read::Entry(Entry::Help { family, text }) => {
                    self.note_metadata(family, MetadataField::Help(text))
                }
                Read::Entry(Entry::Type { family, kind }) => {
                    self.note_metadata(family, MetadataField::Kind(kind.as_str()))
                }
                Read::Entry(Entry::Unit { family, unit }) => {
                    self.note_metadata(family, MetadataField::Unit(unit))
                }
            }
        }
        self.forget_unseen_metadata();
        Ok(())
    }

    /// A sample whose series the parser did not find in the cache under the
    /// text of its line (a new series, or one spelled otherwise).
    fn add_parsed_sample(
        &mut self,
        sample: &ExposedSample<'_>,
        scrape: &ThisScrape<'_>,
        batch: &mut ScrapeBatch,
    ) -> Result<(), String> {
        write_series_text(sample, &mut self.key);
        let mut labels = None;
        let number = match self.series.find_text(&self.key) {
            Some(number) => number,
            None => {
                labels = final_labels(sample, scrape.rules)?;
                batch.series_added += u64::from(labels.is_some());
                let stored = if labels.is_some() {
                    Stored::Unresolved
                } else {
                    Stored::Dropped
                };
                self.series.insert(&self.key, CachedSeries::new(stored))?
            }
        };
        let exposed = ExposedValue {
            value: sample.value,
            timestamp_ms: sample.timestamp_ms,
        };
        add_sample(&mut self.series, number, labels, exposed, scrape, batch)
    }

    /// Staleness markers for series of the last successful scrape not seen in this
    /// one; after a success, series not seen in it are forgotten.
    fn add_stale_markers(&mut self, ts: i64, rules: &SampleRules, out: &mut ScrapeBatch, succeeded: bool) {
        let (current, previous) = (self.iteration, self.last_success);
        let marker = Sample {
            t: ts,
            v: stale_nan(),
        };
        let mut unseen = false;
        for (number, (key, entry)) in self.series.iter_mut().enumerate() {
            let seen_now = succeeded && entry.seen_in == current;
            if !seen_now && previous != 0 && entry.seen_in == previous && entry.tracks_staleness {
                // The labels were computed from this key before, with these rules.
                let _ = push_sample(out, entry.stored, key, number, None, marker, rules);
            }
            unseen |= !seen_now;
        }
        if succeeded && unseen {
            self.forget_unseen_before = Some(current);
        }
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

/// The scrape samples are added for.
struct ThisScrape<'r> {
    iteration: u64,
    ts: i64,
    rules: &'r SampleRules,
}

/// A sample line's value and timestamp.
#[derive(Clone, Copy)]
struct ExposedValue {
    value: f64,
    timestamp_ms: Option<i64>,
}

impl CachedSeries {
    fn new(stored: Stored) -> Self {
        CachedSeries {
            stored,
            seen_in: 0,
            previously_seen_in: 0,
            tracks_staleness: true,
            last_explicit_ts: i64::MIN,
        }
    }
}

/// One sample of a cached series, in scrape `iteration`. `labels` are its
/// final labels when they were just computed.
fn add_sample(
    series: &mut SeriesTable<CachedSeries>,
    number: usize,
    labels: Option<Labels>,
    exposed: ExposedValue,
    scrape: &ThisScrape<'_>,
    batch: &mut ScrapeBatch,
) -> Result<(), String> {
    let (iteration, rules) = (scrape.iteration, scrape.rules);
    let Some((key, entry)) = series.get_mut(number) else {
        return Ok(());
    };
    if entry.seen_in == iteration {
        return Ok(()); // the same series twice in one scrape: the first one counts
    }
    entry.previously_seen_in = entry.seen_in;
    entry.seen_in = iteration;
    if entry.stored == Stored::Dropped {
        return Ok(());
    }
    let t = match exposed.timestamp_ms.filter(|_| rules.honor_timestamps) {
        Some(explicit) if explicit <= entry.last_explicit_ts => return Ok(()),
        Some(explicit) => {
            entry.tracks_staleness = false;
            entry.last_explicit_ts = explicit;
            explicit
        }
        None => {
            entry.tracks_staleness = true;
            scrape.ts
        }
    };
    batch.samples_post_relabel += 1;
    let limit = rules.limits.sample_limit;
    if limit > 0 && batch.samples_post_relabel > limit {
        return Err(format!("sample limit exceeded (limit: {limit})"));
    }
    let sample = Sample { t, v: exposed.value };
    push_sample(batch, entry.stored, key, number, labels, sample, rules)
}

/// Adds one sample: by reference when the storage gave one, else by labels
/// (`labels`, or computed again from the key).
fn push_sample(
    batch: &mut ScrapeBatch,
    stored: Stored,
    key: &[u8],
    number: usize,
    labels: Option<Labels>,
    sample: Sample,
    rules: &SampleRules,
) -> Result<(), String> {
    match stored {
        Stored::Dropped => {}
        Stored::At(series_ref) => batch.appends.known.push((series_ref, sample)),
        Stored::Unresolved => {
            let labels = match labels {
                Some(labels) => Some(labels),
                None => key_labels(key, rules)?,
            };
            if let Some(labels) = labels {
                batch.appends.new.push(SeriesSamples {
                    labels,
                    samples: vec![sample],
                });
                batch.new_series.push(number);
            }
        }
    }
    Ok(())
}

/// The final labels of the series a key was written for.
fn key_labels(key: &[u8], rules: &SampleRules) -> Result<Option<Labels>, String> {
    let mut line = Vec::with_capacity(key.len() + 3);
    line.extend_from_slice(key);
    line.extend_from_slice(b" 0\n");
    match Parser::new(&line, Format::PrometheusText).next() {
        Some(Ok(Entry::Sample(sample))) => final_labels(&sample, rules),
        _ => Err(format!(
            "cached series {} does not parse",
            String::from_utf8_lossy(key)
        )),
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
    if honor_labels {
        let missing: Vec<_> = target
            .iter()
            .filter(|l| exposed.get(&l.name).is_empty())
            .collect();
        let mut builder = LabelBuilder::new(exposed);
        builder.reserve_exact(missing.len());
        for label in missing {
            builder.set(&label.name, &label.value);
        }
        return builder.into_labels();
    }
    let clashing = exported_names(&exposed, target);
    let mut builder = LabelBuilder::new(exposed);
    builder.reserve_exact(target.len() + clashing.len());
    for label in target.iter() {
        builder.set(&label.name, &label.value);
    }
    for (name, value) in &clashing {
        builder.set(name, value);
    }
    builder.into_labels()
}

/// The exposed labels that clash with target labels, under the
/// `exported_` names they keep (shortest names renamed first).
fn exported_names(exposed: &Labels, target: &Labels) -> Vec<(String, String)> {
    let mut clashing: Vec<(String, String)> = target
        .iter()
        .filter_map(|label| {
            let exposed_value = exposed.get(&label.name);
            (!exposed_value.is_empty()).then(|| (label.name.clone(), exposed_value.to_string()))
        })
        .collect();
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
    clashing
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
