//! The exposition fixtures in `../shared/conformance/textparse` (copied from
//! Prometheus, see FORMAT.md there) parse with the counts FORMAT.md states.

use sightline::exposition::{Entry, Format, MetricType, Parser};
use std::collections::BTreeMap;
use std::path::PathBuf;

fn fixture(name: &str) -> Vec<u8> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../shared/conformance/textparse")
        .join(name);
    std::fs::read(&path).unwrap_or_else(|e| panic!("fixture {} is missing: {e}", path.display()))
}

/// What a whole body holds.
#[derive(Default, Debug)]
struct Counts {
    samples: usize,
    help: usize,
    types: BTreeMap<&'static str, usize>,
    samples_per_family: BTreeMap<String, usize>,
    timestamps: Vec<i64>,
}

fn parse(name: &str, format: Format) -> Counts {
    let body = fixture(name);
    let mut counts = Counts::default();
    let mut family_of_type = String::new();
    for entry in Parser::new(&body, format) {
        match entry.unwrap_or_else(|e| panic!("{name}: {e}")) {
            Entry::Sample(s) => {
                counts.samples += 1;
                counts.timestamps.extend(s.timestamp_ms);
                let family = if s.name.starts_with(family_of_type.as_str()) && !family_of_type.is_empty() {
                    family_of_type.clone()
                } else {
                    s.name.to_string()
                };
                *counts.samples_per_family.entry(family).or_default() += 1;
            }
            Entry::Help { .. } => counts.help += 1,
            Entry::Type { family, kind } => {
                family_of_type = family.to_string();
                *counts.types.entry(kind.as_str()).or_default() += 1;
            }
            Entry::Unit { .. } => {}
        }
    }
    counts
}

#[test]
fn alltypes_237_families_with_metadata() {
    let c = parse("alltypes.237mfs.prom.txt", Format::PrometheusText);
    assert_eq!(c.samples, 1857);
    assert_eq!(c.help, 237);
    let types: Vec<_> = c.types.into_iter().collect();
    assert_eq!(
        types,
        [
            ("counter", 112),
            ("gauge", 97),
            ("histogram", 15),
            ("summary", 13)
        ]
    );
}

#[test]
fn alltypes_237_families_without_metadata() {
    let c = parse("alltypes.237mfs.nometa.prom.txt", Format::PrometheusText);
    assert_eq!((c.samples, c.help, c.types.len()), (1857, 0, 0));
}

#[test]
fn openmetrics_five_families_with_exemplars_and_created() {
    let c = parse("alltypes.5mfs.om.txt", Format::OpenMetrics);
    assert_eq!(c.samples, 53);
    let types: Vec<_> = c.types.into_iter().collect();
    assert_eq!(
        types,
        [("counter", 2), ("gauge", 1), ("histogram", 1), ("summary", 1)]
    );
    assert_eq!(c.help, 5);
}

#[test]
fn openmetrics_one_classic_histogram() {
    let c = parse("1histogram.om.txt", Format::OpenMetrics);
    assert_eq!(c.samples, 42);
    assert_eq!(c.types.get(MetricType::Histogram.as_str()), Some(&1));
}

#[test]
fn promtool_metrics_test_families() {
    let c = parse("metrics-test.prom", Format::PrometheusText);
    assert_eq!(c.samples, 27);
    let per_family = |name: &str| c.samples_per_family.get(name).copied();
    assert_eq!(
        per_family("prometheus_tsdb_compaction_chunk_size_bytes"),
        Some(15)
    );
    assert_eq!(per_family("go_gc_duration_seconds"), Some(7));
    assert_eq!(per_family("net_conntrack_dialer_conn_attempted_total"), Some(4));
    assert_eq!(per_family("go_info"), Some(1));
}

#[test]
fn openmetrics_dumps_have_second_timestamps() {
    let c = parse("dump-openmetrics-roundtrip-test.prom", Format::OpenMetrics);
    assert_eq!(c.samples, 14);
    assert_eq!(c.timestamps.first(), Some(&1_700_215_884_373));
    let c = parse("dump-openmetrics-test.prom", Format::OpenMetrics);
    assert_eq!(c.samples, 10);
    assert_eq!(c.timestamps[..5], [0, 60_000, 120_000, 180_000, 240_000]);
}

#[test]
fn float_second_timestamps_are_refused_by_the_text_parser() {
    // The text parser treats `# EOF` as a comment, so the dumps also parse
    // there, but their float-second timestamps do not.
    let body = fixture("dump-openmetrics-test.prom");
    let error = Parser::new(&body, Format::PrometheusText).find_map(Result::err);
    assert!(error.is_some_and(|e| e.line == 1 && e.reason.contains("after timestamp")));
}
