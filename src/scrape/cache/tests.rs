//! The cache against Prometheus's scrape semantics: labels, limits, staleness.

use super::*;
use crate::storage::is_stale_nan;

fn rules(target: &[(&str, &str)]) -> SampleRules {
    SampleRules {
        target_labels: Labels::from_pairs(target.iter().copied()),
        honor_timestamps: true,
        ..SampleRules::default()
    }
}

/// A cache and a stand-in for the storage that hands out references.
#[derive(Default)]
struct Harness {
    cache: SeriesCache,
    stored: Vec<Labels>,
    ref_epoch: u64,
}

/// One scrape's counts and what it stored, as `labels value@t` sorted.
#[derive(Debug)]
struct Scraped {
    stored: Vec<String>,
    /// Samples sent by labels rather than by reference.
    by_labels: usize,
    samples_scraped: u64,
    samples_post_relabel: u64,
    series_added: u64,
}

impl Harness {
    fn scrape(&mut self, body: &str, ts: i64, rules: &SampleRules) -> Result<Scraped, String> {
        let format = Format::PrometheusText;
        let mut batch = self
            .cache
            .scrape(body.as_bytes(), format, ts, rules, self.ref_epoch)?;
        let by_labels = batch.appends.new.len();
        let (stored, refs) = self.store(std::mem::take(&mut batch.appends));
        self.cache.resolved(&batch.new_series, &refs);
        Ok(Scraped {
            stored,
            by_labels,
            samples_scraped: batch.samples_scraped,
            samples_post_relabel: batch.samples_post_relabel,
            series_added: batch.series_added,
        })
    }

    fn fail(&mut self, ts: i64, rules: &SampleRules) -> Vec<String> {
        let stale = self.cache.fail(ts, rules);
        self.store(stale).0
    }

    /// Renders a batch and gives each new series a reference, as the storage does.
    fn store(&mut self, batch: RefBatch) -> (Vec<String>, Vec<Option<SeriesRef>>) {
        let mut rendered: Vec<String> = batch
            .known
            .iter()
            .map(|&(series_ref, sample)| render(&self.stored[series_ref as usize], sample))
            .collect();
        let mut refs = Vec::new();
        for series in batch.new {
            rendered.push(render(&series.labels, series.samples[0]));
            let existing = self.stored.iter().position(|l| *l == series.labels);
            let series_ref = existing.unwrap_or_else(|| {
                self.stored.push(series.labels);
                self.stored.len() - 1
            });
            refs.push(Some(series_ref as SeriesRef));
        }
        rendered.sort();
        (rendered, refs)
    }
}

fn render(labels: &Labels, sample: Sample) -> String {
    let value = if is_stale_nan(sample.v) {
        "stale".to_string()
    } else {
        sample.v.to_string()
    };
    format!("{labels} {value}@{}", sample.t)
}

#[test]
fn samples_get_target_labels_and_counts() {
    let mut cache = Harness::default();
    let rules = rules(&[("job", "j"), ("instance", "h:1")]);
    let body = "# TYPE a counter\n# HELP a Things.\na{x=\"1\"} 3\nb 4.5\n";
    let batch = cache.scrape(body, 1000, &rules).unwrap();
    assert_eq!(
        batch.stored,
        [
            "a{instance=\"h:1\", job=\"j\", x=\"1\"} 3@1000",
            "b{instance=\"h:1\", job=\"j\"} 4.5@1000"
        ]
    );
    assert_eq!(
        (
            batch.samples_scraped,
            batch.samples_post_relabel,
            batch.series_added
        ),
        (2, 2, 2)
    );
    let again = cache.scrape(body, 2000, &rules).unwrap();
    assert_eq!(again.series_added, 0);
    let metadata = cache.cache.changed_metadata().unwrap();
    assert_eq!(
        metadata["a"],
        Metadata {
            kind: "counter",
            help: "Things.".into(),
            unit: String::new()
        }
    );
    assert!(
        cache.cache.changed_metadata().is_none(),
        "unchanged metadata is not republished"
    );
}

#[test]
fn vanished_series_get_one_staleness_marker() {
    let mut cache = Harness::default();
    let rules = rules(&[("job", "j")]);
    cache.scrape("a 1\nb 2\n", 1000, &rules).unwrap();
    let batch = cache.scrape("a 1\n", 2000, &rules).unwrap();
    assert_eq!(batch.stored, ["a{job=\"j\"} 1@2000", "b{job=\"j\"} stale@2000"]);
    let batch = cache.scrape("a 1\n", 3000, &rules).unwrap();
    assert_eq!(batch.stored, ["a{job=\"j\"} 1@3000"]);
}

#[test]
fn a_failed_scrape_marks_everything_stale_once() {
    let mut cache = Harness::default();
    let rules = rules(&[]);
    cache.scrape("a 1\nb 2\n", 1000, &rules).unwrap();
    let err = cache.scrape("a 1\nb x\n", 2000, &rules).unwrap_err();
    assert!(err.starts_with("line 2:"), "{err}");
    assert_eq!(cache.fail(2000, &rules), ["a{} stale@2000", "b{} stale@2000"]);
    assert!(cache.fail(3000, &rules).is_empty());
    let batch = cache.scrape("a 1\n", 4000, &rules).unwrap();
    assert_eq!(batch.stored, ["a{} 1@4000"]);
}

#[test]
fn sample_limit_counts_samples_after_relabelling() {
    let mut cache = Harness::default();
    let mut rules = rules(&[]);
    rules.limits.sample_limit = 2;
    rules.metric_relabel_configs = Arc::new(vec![serde_saphyr::from_str(
        "{source_labels: [__name__], regex: drop_me, action: drop}",
    )
    .unwrap()]);
    let batch = cache.scrape("a 1\nb 2\ndrop_me 3\n", 1000, &rules).unwrap();
    assert_eq!((batch.samples_scraped, batch.samples_post_relabel), (3, 2));
    let err = cache.scrape("a 1\nb 2\nc 3\n", 2000, &rules).unwrap_err();
    assert_eq!(err, "sample limit exceeded (limit: 2)");
}

#[test]
fn label_limits_name_the_metric_and_label() {
    let mut cache = Harness::default();
    let mut rules = rules(&[("job", "j")]);
    rules.limits.label_limit = 2;
    let err = cache.scrape("m{a=\"1\",b=\"2\"} 1\n", 1000, &rules).unwrap_err();
    assert_eq!(
        err,
        "label_limit exceeded (metric: m, number of labels: 4, limit: 2)"
    );
    let mut rules = self::rules(&[]);
    rules.limits.label_value_length_limit = 3;
    let err = cache.scrape("m{a=\"long\"} 1\n", 1000, &rules).unwrap_err();
    assert!(
        err.starts_with("label_value_length_limit exceeded (metric: m, label name: a"),
        "{err}"
    );
}

#[test]
fn explicit_timestamps_are_honoured_and_not_marked_stale() {
    let mut cache = Harness::default();
    let honoured = rules(&[]);
    let batch = cache.scrape("a 1 500\n", 1000, &honoured).unwrap();
    assert_eq!(batch.stored, ["a{} 1@500"]);
    let batch = cache.scrape("a 1 500\n", 2000, &honoured).unwrap();
    assert!(
        batch.stored.is_empty(),
        "the same explicit timestamp is not appended twice"
    );
    let batch = cache.scrape("", 3000, &honoured).unwrap();
    assert!(batch.stored.is_empty());
    let ignored = SampleRules {
        honor_timestamps: false,
        ..rules(&[])
    };
    let batch = Harness::default().scrape("a 1 500\n", 1000, &ignored).unwrap();
    assert_eq!(batch.stored, ["a{} 1@1000"]);
}

#[test]
fn duplicate_series_in_one_scrape_keep_the_first() {
    let mut cache = Harness::default();
    let batch = cache.scrape("a 1\na 2\n", 1000, &rules(&[])).unwrap();
    assert_eq!(batch.stored, ["a{} 1@1000"]);
}

#[test]
fn clashing_labels_become_exported_unless_honoured() {
    let target = Labels::from_pairs([("job", "j"), ("instance", "i")]);
    let exposed = Labels::from_pairs([("__name__", "m"), ("job", "x"), ("exported_job", "y")]);
    let merged = with_target_labels(exposed.clone(), &target, false);
    let expected = Labels::from_pairs([
        ("__name__", "m"),
        ("job", "j"),
        ("instance", "i"),
        ("exported_job", "y"),
        ("exported_exported_job", "x"),
    ]);
    assert_eq!(merged, expected);
    let honoured = with_target_labels(exposed, &target, true);
    let expected = Labels::from_pairs([
        ("__name__", "m"),
        ("job", "x"),
        ("instance", "i"),
        ("exported_job", "y"),
    ]);
    assert_eq!(honoured, expected);
}

#[test]
fn known_series_are_appended_by_reference_until_the_epoch_moves() {
    let mut cache = Harness::default();
    let rules = rules(&[("job", "j")]);
    let first = cache.scrape("a 1\nb{x=\"1\"} 2\n", 1000, &rules).unwrap();
    assert_eq!(first.by_labels, 2);
    let steady = cache.scrape("a 3\nb{x=\"1\"} 4\n", 2000, &rules).unwrap();
    assert_eq!(steady.by_labels, 0, "known series go by reference");
    assert_eq!(
        steady.stored,
        ["a{job=\"j\"} 3@2000", "b{job=\"j\", x=\"1\"} 4@2000"]
    );
    cache.ref_epoch += 1;
    let vanished = cache.scrape("a 5\n", 3000, &rules).unwrap();
    assert_eq!(
        vanished.by_labels, 2,
        "references of an older epoch are resolved again"
    );
    assert_eq!(vanished.series_added, 0);
    assert_eq!(
        vanished.stored,
        ["a{job=\"j\"} 5@3000", "b{job=\"j\", x=\"1\"} stale@3000"]
    );
    let again = cache.scrape("a 6\n", 4000, &rules).unwrap();
    assert_eq!(again.by_labels, 0);
}

#[test]
fn keys_give_back_the_final_labels() {
    let body = "m{b=\"2\",a=\"x\\\"y\\n\"} 1\n";
    let Some(Ok(Entry::Sample(sample))) = Parser::new(body.as_bytes(), Format::PrometheusText).next() else {
        panic!("no sample in {body:?}");
    };
    let mut key = Vec::new();
    write_series_text(&sample, &mut key);
    let rules = rules(&[("job", "j")]);
    assert_eq!(key_labels(&key, &rules), final_labels(&sample, &rules));
    let expected = Labels::from_pairs([("__name__", "m"), ("a", "x\"y\n"), ("b", "2"), ("job", "j")]);
    assert_eq!(key_labels(&key, &rules), Ok(Some(expected)));
}

#[test]
fn other_spellings_of_a_series_are_the_same_series() {
    let mut cache = Harness::default();
    let rules = rules(&[]);
    let first = cache.scrape("a{x=\"1\"} 1\n", 1000, &rules).unwrap();
    assert_eq!(first.by_labels, 1);
    let spelled = "a { x = \"1\" , } 2\n{\"a\",x=\"1\"} 3\na{x=\"1\"} 4\n";
    let again = cache.scrape(spelled, 2000, &rules).unwrap();
    assert_eq!(again.stored, ["a{x=\"1\"} 2@2000"], "the first spelling counts");
    assert_eq!((again.by_labels, again.series_added), (0, 0));
}

#[test]
fn a_known_series_with_a_bad_value_fails_the_scrape() {
    let mut cache = Harness::default();
    let rules = rules(&[]);
    cache.scrape("a{x=\"1\"} 1\nb 1\n", 1000, &rules).unwrap();
    let err = cache.scrape("b 2\na{x=\"1\"} zz\n", 2000, &rules).unwrap_err();
    assert_eq!(err, "line 2: invalid float \"zz\"");
    let err = cache.scrape("a {x=\"1\"} 2\nb\n", 3000, &rules).unwrap_err();
    assert_eq!(err, "line 2: expected value after metric b, found end of line");
}
