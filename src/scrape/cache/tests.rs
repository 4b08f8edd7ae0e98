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

fn scrape(cache: &mut SeriesCache, body: &str, ts: i64, rules: &SampleRules) -> Result<ScrapeBatch, String> {
    cache.scrape(body.as_bytes(), Format::PrometheusText, ts, rules)
}

/// `labels value@t` per series, sorted, stale markers as `stale`.
fn render(series: &[SeriesSamples]) -> Vec<String> {
    let mut out: Vec<String> = series
        .iter()
        .map(|s| {
            let sample = s.samples[0];
            let value = if is_stale_nan(sample.v) {
                "stale".to_string()
            } else {
                sample.v.to_string()
            };
            format!("{} {value}@{}", s.labels, sample.t)
        })
        .collect();
    out.sort();
    out
}

#[test]
fn samples_get_target_labels_and_counts() {
    let mut cache = SeriesCache::default();
    let rules = rules(&[("job", "j"), ("instance", "h:1")]);
    let body = "# TYPE a counter\n# HELP a Things.\na{x=\"1\"} 3\nb 4.5\n";
    let batch = scrape(&mut cache, body, 1000, &rules).unwrap();
    assert_eq!(
        render(&batch.series),
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
    let again = scrape(&mut cache, body, 2000, &rules).unwrap();
    assert_eq!(again.series_added, 0);
    let metadata = cache.changed_metadata().unwrap();
    assert_eq!(
        metadata["a"],
        Metadata {
            kind: "counter",
            help: "Things.".into(),
            unit: String::new()
        }
    );
    assert!(
        cache.changed_metadata().is_none(),
        "unchanged metadata is not republished"
    );
}

#[test]
fn vanished_series_get_one_staleness_marker() {
    let mut cache = SeriesCache::default();
    let rules = rules(&[("job", "j")]);
    scrape(&mut cache, "a 1\nb 2\n", 1000, &rules).unwrap();
    let batch = scrape(&mut cache, "a 1\n", 2000, &rules).unwrap();
    assert_eq!(
        render(&batch.series),
        ["a{job=\"j\"} 1@2000", "b{job=\"j\"} stale@2000"]
    );
    let batch = scrape(&mut cache, "a 1\n", 3000, &rules).unwrap();
    assert_eq!(render(&batch.series), ["a{job=\"j\"} 1@3000"]);
}

#[test]
fn a_failed_scrape_marks_everything_stale_once() {
    let mut cache = SeriesCache::default();
    let rules = rules(&[]);
    scrape(&mut cache, "a 1\nb 2\n", 1000, &rules).unwrap();
    let err = scrape(&mut cache, "a 1\nb x\n", 2000, &rules).unwrap_err();
    assert!(err.starts_with("line 2:"), "{err}");
    assert_eq!(render(&cache.fail(2000)), ["a{} stale@2000", "b{} stale@2000"]);
    assert!(cache.fail(3000).is_empty());
    let batch = scrape(&mut cache, "a 1\n", 4000, &rules).unwrap();
    assert_eq!(render(&batch.series), ["a{} 1@4000"]);
}

#[test]
fn sample_limit_counts_samples_after_relabelling() {
    let mut cache = SeriesCache::default();
    let mut rules = rules(&[]);
    rules.limits.sample_limit = 2;
    rules.metric_relabel_configs = Arc::new(vec![serde_saphyr::from_str(
        "{source_labels: [__name__], regex: drop_me, action: drop}",
    )
    .unwrap()]);
    let batch = scrape(&mut cache, "a 1\nb 2\ndrop_me 3\n", 1000, &rules).unwrap();
    assert_eq!((batch.samples_scraped, batch.samples_post_relabel), (3, 2));
    let err = scrape(&mut cache, "a 1\nb 2\nc 3\n", 2000, &rules).unwrap_err();
    assert_eq!(err, "sample limit exceeded (limit: 2)");
}

#[test]
fn label_limits_name_the_metric_and_label() {
    let mut cache = SeriesCache::default();
    let mut rules = rules(&[("job", "j")]);
    rules.limits.label_limit = 2;
    let err = scrape(&mut cache, "m{a=\"1\",b=\"2\"} 1\n", 1000, &rules).unwrap_err();
    assert_eq!(
        err,
        "label_limit exceeded (metric: m, number of labels: 4, limit: 2)"
    );
    let mut rules = self::rules(&[]);
    rules.limits.label_value_length_limit = 3;
    let err = scrape(&mut cache, "m{a=\"long\"} 1\n", 1000, &rules).unwrap_err();
    assert!(
        err.starts_with("label_value_length_limit exceeded (metric: m, label name: a"),
        "{err}"
    );
}

#[test]
fn explicit_timestamps_are_honoured_and_not_marked_stale() {
    let mut cache = SeriesCache::default();
    let honoured = rules(&[]);
    let batch = scrape(&mut cache, "a 1 500\n", 1000, &honoured).unwrap();
    assert_eq!(render(&batch.series), ["a{} 1@500"]);
    let batch = scrape(&mut cache, "a 1 500\n", 2000, &honoured).unwrap();
    assert!(
        batch.series.is_empty(),
        "the same explicit timestamp is not appended twice"
    );
    let batch = scrape(&mut cache, "", 3000, &honoured).unwrap();
    assert!(batch.series.is_empty());
    let ignored = SampleRules {
        honor_timestamps: false,
        ..rules(&[])
    };
    let batch = scrape(&mut SeriesCache::default(), "a 1 500\n", 1000, &ignored).unwrap();
    assert_eq!(render(&batch.series), ["a{} 1@1000"]);
}

#[test]
fn duplicate_series_in_one_scrape_keep_the_first() {
    let mut cache = SeriesCache::default();
    let batch = scrape(&mut cache, "a 1\na 2\n", 1000, &rules(&[])).unwrap();
    assert_eq!(render(&batch.series), ["a{} 1@1000"]);
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
