//! Each action against Prometheus's documented behaviour.

use super::*;
use crate::config::{RelabelAction, RelabelConfig, RelabelRegex};

fn labels(pairs: &[(&str, &str)]) -> Labels {
    Labels::from_pairs(pairs.iter().copied())
}

/// Parses one relabel step from YAML, as a user would write it.
fn step(yaml: &str) -> RelabelConfig {
    serde_saphyr::from_str(yaml).unwrap()
}

fn run(input: &[(&str, &str)], steps: &[&str]) -> Option<Labels> {
    let steps: Vec<RelabelConfig> = steps.iter().map(|s| step(s)).collect();
    relabel(labels(input), &steps)
}

#[test]
fn replace_expands_groups_in_target_and_replacement() {
    let out = run(
        &[("__address__", "db-1:9100")],
        &["{source_labels: [__address__], regex: '(.+)-(\\d+):.*', target_label: '${1}_id', replacement: 'n$2'}"],
    );
    assert_eq!(
        out,
        Some(labels(&[("__address__", "db-1:9100"), ("db_id", "n1")]))
    );
}

#[test]
fn replace_is_anchored_and_leaves_labels_alone_without_a_match() {
    let out = run(
        &[("a", "xfoo")],
        &["{source_labels: [a], regex: foo, target_label: b}"],
    );
    assert_eq!(out, Some(labels(&[("a", "xfoo")])));
}

#[test]
fn replace_with_empty_result_removes_the_target() {
    let out = run(
        &[("a", "x"), ("b", "y")],
        &["{source_labels: [c], regex: '(.*)', target_label: b}"],
    );
    assert_eq!(out, Some(labels(&[("a", "x")])));
}

#[test]
fn replace_to_an_invalid_name_changes_nothing() {
    let out = run(&[("a", "1x")], &["{source_labels: [a], target_label: '$1'}"]);
    assert_eq!(out, Some(labels(&[("a", "1x")])));
}

#[test]
fn go_style_expansion_takes_the_longest_name() {
    // `$1x` names group `1x`, which does not exist: empty, as in Go.
    let out = run(
        &[("a", "v")],
        &["{source_labels: [a], target_label: b, replacement: '$1x-${1}x'}"],
    );
    assert_eq!(out, Some(labels(&[("a", "v"), ("b", "-vx")])));
}

#[test]
fn keep_and_drop_join_sources_with_the_separator() {
    let input = [("a", "1"), ("b", "2")];
    let keep = "{source_labels: [a, b], separator: '-', regex: '1-2', action: keep}";
    let drop = "{source_labels: [a, b], regex: '1;2', action: drop}";
    assert!(run(&input, &[keep]).is_some());
    assert!(run(&input, &[drop]).is_none());
    assert!(run(&input, &["{source_labels: [a], regex: '2', action: keep}"]).is_none());
}

#[test]
fn keepequal_and_dropequal_compare_with_the_target_label() {
    let input = [("a", "1"), ("b", "1"), ("c", "2")];
    assert!(run(
        &input,
        &["{source_labels: [a], target_label: b, action: keepequal}"]
    )
    .is_some());
    assert!(run(
        &input,
        &["{source_labels: [a], target_label: c, action: keepequal}"]
    )
    .is_none());
    assert!(run(
        &input,
        &["{source_labels: [a], target_label: b, action: dropequal}"]
    )
    .is_none());
    assert!(run(
        &input,
        &["{source_labels: [a], target_label: c, action: dropequal}"]
    )
    .is_some());
}

#[test]
fn hashmod_matches_prometheus() {
    // Prometheus: md5 of the joined values, last 8 bytes big-endian, modulo.
    let digest = Md5::digest(b"foo");
    let expected = u64::from_be_bytes(digest[8..16].try_into().unwrap()) % 8;
    let out = run(
        &[("a", "foo")],
        &["{source_labels: [a], modulus: 8, target_label: shard, action: hashmod}"],
    );
    assert_eq!(out.unwrap().get("shard"), expected.to_string());
    // md5("foo") = acbd18db4cc2f85cedef654fccc4a4d8; last 8 bytes 0xedef654fccc4a4d8.
    assert_eq!(hash_mod("foo", 1 << 40), 0xedef_654f_ccc4_a4d8 % (1 << 40));
}

#[test]
fn labelmap_copies_matching_names() {
    let out = run(
        &[("__meta_kubernetes_pod_label_app", "web"), ("x", "1")],
        &["{regex: '__meta_kubernetes_pod_label_(.+)', action: labelmap}"],
    );
    let expected = labels(&[
        ("__meta_kubernetes_pod_label_app", "web"),
        ("app", "web"),
        ("x", "1"),
    ]);
    assert_eq!(out, Some(expected));
}

#[test]
fn labeldrop_and_labelkeep_match_whole_names() {
    let input = [("ab", "1"), ("abc", "2"), ("b", "3")];
    let dropped = run(&input, &["{regex: 'ab', action: labeldrop}"]);
    assert_eq!(dropped, Some(labels(&[("abc", "2"), ("b", "3")])));
    let kept = run(&input, &["{regex: 'ab.*', action: labelkeep}"]);
    assert_eq!(kept, Some(labels(&[("ab", "1"), ("abc", "2")])));
}

#[test]
fn lowercase_and_uppercase_set_the_target() {
    let out = run(
        &[("a", "MiXed")],
        &[
            "{source_labels: [a], target_label: lo, action: lowercase}",
            "{source_labels: [a], target_label: up, action: uppercase}",
        ],
    );
    assert_eq!(
        out,
        Some(labels(&[("a", "MiXed"), ("lo", "mixed"), ("up", "MIXED")]))
    );
}

#[test]
fn steps_run_in_order_and_nothing_left_is_dropped() {
    let out = run(&[("a", "1")], &["{regex: 'a', action: labeldrop}"]);
    assert_eq!(out, None);
    let config = RelabelConfig {
        source_labels: vec!["a".into()],
        separator: ";".into(),
        regex: RelabelRegex::new("1").unwrap(),
        modulus: 0,
        target_label: "b".into(),
        replacement: "two".into(),
        action: RelabelAction::Replace,
    };
    let out = relabel(labels(&[("a", "1")]), &[config]);
    assert_eq!(out, Some(labels(&[("a", "1"), ("b", "two")])));
}

#[test]
fn builder_set_replaces_inserts_and_removes() {
    let mut builder = LabelBuilder::new(labels(&[("b", "2")]));
    builder.set("a", "1");
    builder.set("b", "3");
    builder.set("c", "");
    assert_eq!(builder.clone().into_labels(), labels(&[("a", "1"), ("b", "3")]));
    builder.set("a", "");
    builder.remove("b");
    assert!(builder.is_empty());
}
