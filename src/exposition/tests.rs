//! Properties over arbitrary input: the parser never panics, always ends, and
//! errors carry a line inside the body.

use super::{write_series_text, Entry, Format, LineStart, Parser, Read};
use proptest::prelude::*;

const VALID_TEXT: &str = "# HELP http_requests_total Requests.\n# TYPE http_requests_total counter\n\
http_requests_total{method=\"post\",code=\"200\"} 1027 1395066363000\n\
http_requests_total{method=\"post\",code=\"400\"} 3 1395066363000\n\
# TYPE rpc histogram\nrpc_bucket{le=\"0.5\"} 1\nrpc_bucket{le=\"+Inf\"} 2\nrpc_sum 1.5e-3\nrpc_count 2\n\
msdos_file_access_time_seconds{path=\"C:\\\\DIR\\\\FILE.TXT\",error=\"Cannot find file:\\n\\\"FILE.TXT\\\"\"} 1.458255915e9\n";

const VALID_OM: &str = "# TYPE foo counter\n# UNIT foo_seconds seconds\n# HELP foo Help.\n\
foo_total{a=\"b\"} 17.0 1520879607.789 # {id=\"c\"} 1 1520879607.7\nfoo_created 1520430000.123\n\
# TYPE h histogram\nh_bucket{le=\"-1\"} 0\nh_bucket{le=\"+Inf\"} 2 # {t=\"x\"} 3\nh_sum -4\nh_count 2\n# EOF\n";

fn run(body: &[u8], format: Format) {
    let lines = body.iter().filter(|&&b| b == b'\n').count() + 1;
    let mut count = 0usize;
    for entry in Parser::new(body, format) {
        count += 1;
        assert!(count <= body.len() + 1, "more entries than bytes");
        if let Err(e) = entry {
            assert!(
                e.line >= 1 && e.line <= lines,
                "line {} outside 1..={lines}",
                e.line
            );
        }
    }
}

#[test]
fn the_seed_bodies_are_valid() {
    for (body, format) in [
        (VALID_TEXT, Format::PrometheusText),
        (VALID_OM, Format::OpenMetrics),
    ] {
        let entries: Vec<Entry> = Parser::new(body.as_bytes(), format)
            .collect::<Result<_, _>>()
            .unwrap_or_else(|e| panic!("{format:?}: {e}"));
        assert!(entries.len() > 5);
    }
}

#[test]
fn content_type_picks_the_parser() {
    assert_eq!(Format::from_content_type(None), Format::PrometheusText);
    assert_eq!(
        Format::from_content_type(Some("application/openmetrics-text; version=1.0.0; charset=utf-8")),
        Format::OpenMetrics
    );
    assert_eq!(
        Format::from_content_type(Some("Application/OpenMetrics-Text")),
        Format::OpenMetrics
    );
    assert_eq!(
        Format::from_content_type(Some("text/plain; version=0.0.4")),
        Format::PrometheusText
    );
    assert_eq!(
        Format::from_content_type(Some("garbage;;")),
        Format::PrometheusText
    );
}

#[test]
fn iteration_stops_after_the_first_error() {
    let mut parser = Parser::new(b"a 1\nb x\nc 3\n", Format::PrometheusText);
    assert!(matches!(parser.next(), Some(Ok(_))));
    assert!(matches!(parser.next(), Some(Err(_))));
    assert!(parser.next().is_none());
}

#[derive(Debug, Clone)]
enum Mutation {
    Flip(usize, u8),
    Insert(usize, u8),
    Delete(usize),
    Truncate(usize),
}

fn mutate(seed: &str, mutations: &[Mutation]) -> Vec<u8> {
    let mut body = seed.as_bytes().to_vec();
    for m in mutations {
        let len = body.len().max(1);
        match *m {
            Mutation::Flip(at, byte) if !body.is_empty() => body[at % len] = byte,
            Mutation::Insert(at, byte) => body.insert(at % (body.len() + 1), byte),
            Mutation::Delete(at) if !body.is_empty() => {
                body.remove(at % len);
            }
            Mutation::Truncate(at) => body.truncate(at % (body.len() + 1)),
            _ => {}
        }
    }
    body
}

fn mutation() -> impl Strategy<Value = Mutation> {
    // Bytes that matter to the grammars are drawn more often than others.
    let byte = prop_oneof![
        any::<u8>(),
        prop::sample::select(b" \t\n\r#{}\",=\\_:.eE+-0123456789xpPNaIf\0".to_vec()),
    ];
    prop_oneof![
        (any::<usize>(), byte.clone()).prop_map(|(a, b)| Mutation::Flip(a, b)),
        (any::<usize>(), byte).prop_map(|(a, b)| Mutation::Insert(a, b)),
        any::<usize>().prop_map(Mutation::Delete),
        any::<usize>().prop_map(Mutation::Truncate),
    ]
}

/// The series texts of every sample in the seed bodies, in order.
fn seed_series_texts() -> Vec<Vec<u8>> {
    let mut texts = Vec::new();
    for (body, format) in [
        (VALID_TEXT, Format::PrometheusText),
        (VALID_OM, Format::OpenMetrics),
    ] {
        for entry in Parser::new(body.as_bytes(), format) {
            if let Ok(Entry::Sample(sample)) = entry {
                let mut text = Vec::new();
                write_series_text(&sample, &mut text);
                texts.push(text);
            }
        }
    }
    texts
}

/// A lookup like the scrape cache's: the text expected next, else any known text.
fn lookup(line: &mut LineStart<'_, '_>, known: &[Vec<u8>], next: &mut usize) -> Option<Vec<u8>> {
    let expected = &known[*next % known.len()];
    let found = if line.is(expected) {
        *next % known.len()
    } else {
        let text = line.text()?;
        known.iter().position(|k| k == text)?
    };
    *next = found + 1;
    Some(known[found].clone())
}

/// `next_known` with a lookup of series parsed before reads what `next` reads.
fn known_reads_agree(body: &[u8], format: Format, known: &[Vec<u8>]) {
    let mut plain = Parser::new(body, format);
    let mut fast = Parser::new(body, format);
    let mut text = Vec::new();
    let mut next = 0;
    loop {
        let read = fast.next_known(|line| lookup(line, known, &mut next));
        match (plain.next(), read) {
            (None, None) => return,
            (
                Some(Ok(Entry::Sample(sample))),
                Some(Ok(Read::Known {
                    series,
                    value,
                    timestamp_ms,
                })),
            ) => {
                write_series_text(&sample, &mut text);
                assert_eq!(text, series);
                assert_eq!(
                    (sample.value.to_bits(), sample.timestamp_ms),
                    (value.to_bits(), timestamp_ms)
                );
            }
            (Some(Ok(entry)), Some(Ok(Read::Entry(other)))) => assert_eq!(entry, other),
            (Some(Err(err)), Some(Err(other))) => assert_eq!(err, other),
            (expected, got) => panic!("next gave {expected:?}, next_known {got:?}"),
        }
    }
}

#[test]
fn known_series_texts_are_found_on_their_lines() {
    let known = seed_series_texts();
    assert!(known.contains(&b"http_requests_total{method=\"post\",code=\"200\"}".to_vec()));
    assert!(known.contains(&b"foo_total{a=\"b\"}".to_vec()));
    let mut fast = Parser::new(VALID_TEXT.as_bytes(), Format::PrometheusText);
    let (mut found, mut next) = (0, 0);
    while let Some(read) = fast.next_known(|line| lookup(line, &known, &mut next)) {
        found += usize::from(matches!(read, Ok(Read::Known { .. })));
    }
    assert_eq!(found, 7, "every sample line of the seed is known");
    known_reads_agree(VALID_TEXT.as_bytes(), Format::PrometheusText, &known);
    known_reads_agree(VALID_OM.as_bytes(), Format::OpenMetrics, &known);
    let respelled =
        b"rpc_sum{} 1\nrpc_sum {le=\"0.5\"} 1\nrpc_sum\t 2\nrpc_sumx 3\nrpc_bucket{le=\"0.5\"}4\n";
    known_reads_agree(respelled, Format::PrometheusText, &known);
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn known_series_read_as_parsed_in_mutated_bodies(mutations in prop::collection::vec(mutation(), 1..8)) {
        let known = seed_series_texts();
        for seed in [VALID_TEXT, VALID_OM] {
            let body = mutate(seed, &mutations);
            known_reads_agree(&body, Format::PrometheusText, &known);
            known_reads_agree(&body, Format::OpenMetrics, &known);
        }
    }

    #[test]
    fn never_panics_on_arbitrary_bytes(body in prop::collection::vec(any::<u8>(), 0..512)) {
        run(&body, Format::PrometheusText);
        run(&body, Format::OpenMetrics);
    }

    #[test]
    fn never_panics_on_mutated_valid_bodies(mutations in prop::collection::vec(mutation(), 1..8)) {
        run(&mutate(VALID_TEXT, &mutations), Format::PrometheusText);
        run(&mutate(VALID_OM, &mutations), Format::OpenMetrics);
        run(&mutate(VALID_TEXT, &mutations), Format::OpenMetrics);
        run(&mutate(VALID_OM, &mutations), Format::PrometheusText);
    }
}
