//! Every fixture of `../shared/conformance/rulefmt/` with the result upstream expects.

use super::*;

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../shared/conformance/rulefmt")
        .join(name)
}

fn load(name: &str, names: NameValidation) -> Result<Vec<GroupSpec>, ConfigError> {
    let opts = LoadOptions {
        names,
        ignore_unknown_fields: false,
    };
    load_files(&[fixture(name)], opts)
}

#[test]
fn good_files_load() {
    for name in [
        "test.yaml",
        "test_aliases.yaml",
        "utf-8_lname.good.yaml",
        "utf-8_annotation.good.yaml",
    ] {
        if let Err(e) = load(name, NameValidation::Utf8) {
            panic!("{name}: {e}");
        }
    }
    load("legacy_validation_annotation.good.yaml", NameValidation::Legacy).unwrap();
}

#[test]
fn bad_files_fail_with_prometheus_wording_and_position() {
    let cases = [
        (
            "legacy_validation_annotation.bad.yaml",
            NameValidation::Legacy,
            "invalid annotation name: ins-tance",
        ),
        (
            "duplicate_grp.bad.yaml",
            NameValidation::Utf8,
            "groupname: \"yolo\" is repeated in the same file",
        ),
        ("bad_expr.bad.yaml", NameValidation::Utf8, "parse error"),
        (
            "record_and_alert.bad.yaml",
            NameValidation::Utf8,
            "only one of 'record' and 'alert' must be set",
        ),
        (
            "no_rec_alert.bad.yaml",
            NameValidation::Utf8,
            "one of 'record' or 'alert' must be set",
        ),
        (
            "noexpr.bad.yaml",
            NameValidation::Utf8,
            "field 'expr' must be set in rule",
        ),
        (
            "invalid_record_name.bad.yaml",
            NameValidation::Utf8,
            "braces present in the recording rule name; should it be in expr?: strawberry{flavor=\"sweet\"}",
        ),
        (
            "bad_field.bad.yaml",
            NameValidation::Utf8,
            "field annotation not found",
        ),
        (
            "invalid_label_name.bad.yaml",
            NameValidation::Utf8,
            "invalid label name",
        ),
        (
            "record_and_for.bad.yaml",
            NameValidation::Utf8,
            "invalid field 'for' in recording rule",
        ),
        (
            "record_and_keep_firing_for.bad.yaml",
            NameValidation::Utf8,
            "invalid field 'keep_firing_for' in recording rule",
        ),
    ];
    for (name, names, expected) in cases {
        let err = load(name, names).expect_err(name).to_string();
        assert!(err.contains(expected), "{name}: {err}");
        let located = err.lines().any(|l| {
            let mut parts = l.splitn(4, ':');
            parts.next();
            let line = parts.next().and_then(|p| p.parse::<u64>().ok());
            let col = parts.next().and_then(|p| p.parse::<u64>().ok());
            line.is_some() && col.is_some()
        });
        assert!(located, "{name}: no file:line:column in {err}");
    }
}

#[test]
fn anchors_aliases_and_merge_keys_resolve() {
    let aliased = load("test_aliases.yaml", NameValidation::Utf8).unwrap();
    let names: Vec<&str> = aliased[0].rules.iter().map(|r| r.name()).collect();
    assert_eq!(names, ["HighAlert", "new_metric", "HighAlert", "HighAlert2"]);
    assert!(aliased[0]
        .rules
        .iter()
        .all(|r| r.expr.ends_with('\n') && r.expr.lines().count() == 3));
    let merged = &aliased[0].rules[3];
    assert_eq!(
        merged.expr, aliased[0].rules[0].expr,
        "<<: merge key copies the anchored rule"
    );
    assert_eq!(merged.for_ms, 300_000);
    assert_eq!(merged.labels["severity"], "critical");
}

#[test]
fn template_errors_are_load_errors() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/conformance/promtool-rules");
    load_files(&[dir.join("rules.yml")], LoadOptions::default()).unwrap();
    let err = load_files(&[dir.join("rules-bad.yml")], LoadOptions::default()).unwrap_err();
    assert!(err.to_string().contains("undefined variable \"$label\""), "{err}");
}

#[test]
fn unknown_keys_can_be_ignored() {
    let yaml = "groups:\n- name: g\n  rules:\n  - record: a\n    expr: b\n    owner: me\n";
    let err = parse_str(yaml, "f.yml", LoadOptions::default())
        .unwrap_err()
        .to_string();
    assert_eq!(err, "f.yml:6:5: field owner not found in type rulefmt.RuleNode");
    let opts = LoadOptions {
        ignore_unknown_fields: true,
        ..LoadOptions::default()
    };
    assert_eq!(parse_str(yaml, "f.yml", opts).unwrap()[0].rules.len(), 1);
}

#[test]
fn group_labels_apply_to_rules_without_overriding_theirs() {
    let yaml = "groups:\n- name: g\n  labels: {team: a, tier: x}\n  rules:\n  - record: r\n    expr: up\n    labels: {tier: y}\n";
    let groups = parse_str(yaml, "f.yml", LoadOptions::default()).unwrap();
    let labels = &groups[0].rules[0].labels;
    assert_eq!(labels["team"], "a");
    assert_eq!(labels["tier"], "y");
}
