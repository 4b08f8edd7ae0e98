//! The scrape loop of one target: every interval, fetch, parse, append, report.
//!
//! Owns the schedule (first scrape offset by a hash of the target within its
//! interval, as Prometheus spreads targets), the report series (`up`,
//! `scrape_duration_seconds`, `scrape_samples_scraped`,
//! `scrape_samples_post_metric_relabeling`, `scrape_series_added`), the target's
//! health for the API, and the staleness markers written when it stops.
//! A failed scrape stores nothing but the report and staleness markers.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use parking_lot::Mutex;
use tokio::sync::oneshot;

use super::cache::{Metadata, SampleRules, ScrapeBatch, SeriesCache};
use super::fetch::{fetch, Scraped};
use super::store_thread;
use super::target::Target;
use crate::exposition::Format;
use crate::http_client::HttpClient;
use crate::storage::{now_ms, stale_nan, Labels, RefAppender, RefBatch, Sample, SeriesSamples, METRIC_NAME};

/// Names of the series written for every scrape, in Prometheus's order.
const REPORT_SERIES: [&str; 5] = [
    "up",
    "scrape_duration_seconds",
    "scrape_samples_scraped",
    "scrape_samples_post_metric_relabeling",
    "scrape_series_added",
];

/// `up`, `down` or `unknown` (not scraped yet), as `/api/v1/targets` spells them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Health {
    Unknown,
    Up,
    Down,
}

impl Health {
    pub fn as_str(self) -> &'static str {
        match self {
            Health::Unknown => "unknown",
            Health::Up => "up",
            Health::Down => "down",
        }
    }
}

/// What the API shows about a target's last scrape.
#[derive(Debug, Clone)]
pub struct TargetHealth {
    pub health: Health,
    pub last_error: String,
    pub last_scrape: Option<DateTime<Utc>>,
    pub last_duration: Duration,
    pub metadata: Arc<BTreeMap<String, Metadata>>,
}

/// A running target as the API sees it.
#[derive(Debug)]
pub struct ActiveTarget {
    pub target: Target,
    pub scrape_pool: String,
    pub health: Mutex<TargetHealth>,
}

/// Everything a loop needs besides its target.
pub struct LoopContext {
    pub client: HttpClient,
    pub appender: Arc<dyn RefAppender>,
    pub body_size_limit: u64,
    /// The job's rules; `target_labels` is filled per target.
    pub rules: SampleRules,
    /// Set while the job has more targets than `target_limit`: every scrape fails with it.
    pub forced_error: Arc<Mutex<Option<String>>>,
}

/// Runs until `stop` fires (or its sender is dropped), then marks everything stale.
pub async fn run(active: Arc<ActiveTarget>, context: Arc<LoopContext>, mut stop: oneshot::Receiver<()>) {
    let mut scraper = Scraper::new(&active, &context);
    let interval = active.target.interval;
    let first = tokio::time::Instant::now() + offset(active.target.identity(), interval);
    let mut ticker = tokio::time::interval_at(first, interval);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    loop {
        tokio::select! {
            _ = &mut stop => break,
            _ = ticker.tick() => scraper = scraper.scrape_once(&active, &context).await,
        }
    }
    scraper.mark_all_stale(&context);
}

/// When in its interval a target is scraped: the same point for the same target
/// across restarts, so that targets of a job are spread evenly.
fn offset(identity: u64, interval: Duration) -> Duration {
    let interval_ns = interval.as_nanos().max(1) as u64;
    let now_ns = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64);
    let base = interval_ns - now_ns % interval_ns;
    Duration::from_nanos((base + identity % interval_ns) % interval_ns)
}

/// The per-target state carried from one scrape to the next.
struct Scraper {
    cache: SeriesCache,
    rules: SampleRules,
    report_labels: Vec<Labels>,
}

impl Scraper {
    fn new(active: &ActiveTarget, context: &LoopContext) -> Self {
        let target_labels = active.target.public_labels();
        let report_labels = REPORT_SERIES
            .iter()
            .map(|name| target_labels.with(METRIC_NAME, name))
            .collect();
        Scraper {
            cache: SeriesCache::default(),
            rules: SampleRules {
                target_labels,
                ..context.rules.clone()
            },
            report_labels,
        }
    }

    /// Scrapes once; gives the scraper back for the next scrape.
    async fn scrape_once(mut self, active: &ActiveTarget, context: &LoopContext) -> Self {
        let started = Instant::now();
        let started_at = Utc::now();
        let ts = now_ms();
        let forced_error = context.forced_error.lock().clone();
        let fetched = match forced_error {
            Some(forced) => Err(forced),
            None => {
                let target = &active.target;
                fetch(
                    &context.client,
                    &target.url,
                    target.timeout,
                    context.body_size_limit,
                )
                .await
            }
        };
        let outcome = match fetched {
            Ok(scraped) => {
                let (scraper, outcome) = self.store_off_runtime(scraped, ts, active, context).await;
                self = scraper;
                outcome
            }
            Err(err) => Err(err),
        };
        let duration = started.elapsed();
        let (health, last_error, report) = match outcome {
            Ok(batch) => (Health::Up, String::new(), Report::success(&batch, duration)),
            Err(err) => {
                let stale = self.cache.fail(ts, &self.rules);
                self.append_or_log(context, stale);
                (Health::Down, err, Report::failure(duration))
            }
        };
        self.append_or_log(context, self.report_batch(&report, ts));
        let metadata = self.cache.changed_metadata().map(Arc::new);
        let mut state = active.health.lock();
        state.health = health;
        state.last_error = last_error;
        state.last_scrape = Some(started_at);
        state.last_duration = duration;
        if let Some(metadata) = metadata {
            state.metadata = metadata;
        }
        drop(state);
        self
    }

    /// [`Scraper::store`] on the scrape-store thread (see `store_thread`):
    /// parsing and appending are CPU and disk work, kept off the async workers.
    async fn store_off_runtime(
        self,
        scraped: Scraped,
        ts: i64,
        active: &ActiveTarget,
        context: &LoopContext,
    ) -> (Self, Result<ScrapeBatch, String>) {
        let appender = Arc::clone(&context.appender);
        let mut scraper = self;
        let stored = store_thread::run(move || {
            let outcome = scraper.store(&scraped, ts, appender.as_ref());
            (scraper, outcome)
        })
        .await;
        stored.unwrap_or_else(|| {
            // The cache went with the panic: start again from labels.
            let error = "internal error while storing the scrape".to_string();
            (Scraper::new(active, context), Err(error))
        })
    }

    /// Parses the body and appends it in one batch; an append error fails the scrape.
    fn store(
        &mut self,
        scraped: &Scraped,
        ts: i64,
        appender: &dyn RefAppender,
    ) -> Result<ScrapeBatch, String> {
        let format = Format::from_content_type(scraped.content_type.as_deref());
        let epoch = appender.ref_epoch();
        let mut batch = self.cache.scrape(&scraped.body, format, ts, &self.rules, epoch)?;
        let appends = std::mem::take(&mut batch.appends);
        let appended = appender.append_refs(appends).map_err(|err| err.to_string())?;
        self.cache.resolved(&batch.new_series, &appended.new_refs);
        Ok(batch)
    }

    fn report_batch(&self, report: &Report, ts: i64) -> RefBatch {
        let new = self
            .report_labels
            .iter()
            .zip(report.values())
            .map(|(labels, v)| SeriesSamples {
                labels: labels.clone(),
                samples: vec![Sample { t: ts, v }],
            })
            .collect();
        RefBatch {
            known: Vec::new(),
            new,
        }
    }

    /// The target is gone: its series and its report series end here.
    fn mark_all_stale(&mut self, context: &LoopContext) {
        let ts = now_ms();
        let mut stale = self.cache.fail(ts, &self.rules);
        stale
            .new
            .extend(self.report_labels.iter().map(|labels| SeriesSamples {
                labels: labels.clone(),
                samples: vec![Sample {
                    t: ts,
                    v: stale_nan(),
                }],
            }));
        tokio::task::block_in_place(|| self.append_or_log(context, stale));
    }

    fn append_or_log(&self, context: &LoopContext, batch: RefBatch) {
        if batch.known.is_empty() && batch.new.is_empty() {
            return;
        }
        if let Err(err) = context.appender.append_refs(batch) {
            tracing::warn!(target = %self.rules.target_labels, "cannot store scrape report or staleness markers: {err}");
        }
    }
}

/// The five report values of one scrape.
struct Report {
    up: f64,
    duration: Duration,
    scraped: u64,
    post_relabel: u64,
    added: u64,
}

impl Report {
    fn success(batch: &ScrapeBatch, duration: Duration) -> Self {
        Report {
            up: 1.0,
            duration,
            scraped: batch.samples_scraped,
            post_relabel: batch.samples_post_relabel,
            added: batch.series_added,
        }
    }

    fn failure(duration: Duration) -> Self {
        Report {
            up: 0.0,
            duration,
            scraped: 0,
            post_relabel: 0,
            added: 0,
        }
    }

    fn values(&self) -> [f64; 5] {
        [
            self.up,
            self.duration.as_secs_f64(),
            self.scraped as f64,
            self.post_relabel as f64,
            self.added as f64,
        ]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn offsets_are_stable_and_inside_the_interval() {
        let interval = Duration::from_secs(15);
        for identity in [0, 1, u64::MAX, 123_456_789] {
            assert!(offset(identity, interval) < interval);
        }
    }
}
