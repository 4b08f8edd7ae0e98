//! Expansion results taken from Prometheus's documented examples.

use super::*;

fn expand(text: &str, labels: &[(&str, &str)], value: f64) -> Result<String, String> {
    let labels = Labels::from_pairs(labels.iter().copied());
    let external = BTreeMap::from([("cluster".to_string(), "eu1".to_string())]);
    let data = TemplateData {
        labels: &labels,
        external_labels: &external,
        external_url: "http://sightline:7464/prefix",
        value,
        eval_ms: 0,
    };
    AlertTemplate::compile("Test", text)?.expand(&data, None)
}

#[test]
fn variables_and_missing_labels() {
    let out = expand(
        "{{ $labels.instance }} {{ $value }} {{ $externalLabels.cluster }} [{{ $labels.nope }}]",
        &[("instance", "a:1")],
        0.5,
    );
    assert_eq!(out.unwrap(), "a:1 0.5 eu1 []");
}

#[test]
fn humanize_family_matches_go() {
    let cases = [
        ("{{ humanize 0 }}", "0"),
        ("{{ humanize 1 }}", "1"),
        ("{{ humanize 1234567 }}", "1.235M"),
        ("{{ humanize .12 }}", "120m"),
        ("{{ humanize1024 1048576 }}", "1Mi"),
        ("{{ humanizeDuration 60 }}", "1m 0s"),
        ("{{ humanizeDuration 3600 }}", "1h 0m 0s"),
        ("{{ humanizeDuration 90000 }}", "1d 1h 0m 0s"),
        ("{{ humanizeDuration -183845 }}", "-2d 3h 4m 5s"),
        ("{{ humanizeDuration 899.99 }}", "14m 59s"),
        ("{{ humanizeDuration 0.25 }}", "250ms"),
        ("{{ humanizePercentage 0.8234 }}", "82.34%"),
        (
            "{{ humanizeTimestamp 1435065584.128 }}",
            "2015-06-23 13:19:44.128 +0000 UTC",
        ),
    ];
    for (text, expected) in cases {
        assert_eq!(expand(text, &[], 0.0).unwrap(), expected, "{text}");
    }
}

#[test]
fn string_functions() {
    let cases = [
        ("{{ toUpper \"aBc\" }}", "ABC"),
        ("{{ title \"hello world\" }}", "Hello World"),
        ("{{ stripPort \"host:9090\" }}", "host"),
        ("{{ stripPort \"[::1]:9090\" }}", "::1"),
        ("{{ stripDomain \"node.example.com:9100\" }}", "node:9100"),
        ("{{ reReplaceAll \"(a)(b)\" \"$2$1\" \"xaby\" }}", "xbay"),
        ("{{ if match \"^a\" \"abc\" }}yes{{ end }}", "yes"),
        ("{{ $value | printf \"%.2f\" }}", "0.50"),
        ("{{ (args 1 \"x\").arg1 }}", "x"),
        ("{{ pathPrefix }}", "/prefix"),
    ];
    for (text, expected) in cases {
        assert_eq!(expand(text, &[], 0.5).unwrap(), expected, "{text}");
    }
}

#[test]
fn undefined_names_fail_at_parse_time() {
    assert!(check("A", "{{ $label.foo }}")
        .unwrap_err()
        .contains("undefined variable \"$label\""));
    assert!(check("A", "{{ nosuch 1 }}")
        .unwrap_err()
        .contains("function \"nosuch\" not defined"));
    assert!(check("A", "{{$labels.quantile * 100}}").is_err());
    assert!(check("A", "{{ range $i, $x := $labels }}{{ $x }}{{ end }}").is_ok());
    assert!(check("A", "{{ range $i, $x := $labels }}{{ end }}{{ $x }}").is_err());
}

#[test]
fn query_without_storage_is_an_expansion_error() {
    assert!(expand("{{ query \"up\" }}", &[], 0.0).is_err());
}

#[test]
fn values_print_as_go_prints_floats() {
    let cases = [
        (0.5, "0.5"),
        (42.0, "42"),
        (1e6, "1e+06"),
        (1234567.0, "1.234567e+06"),
        (123456.5, "123456.5"),
        (0.00001, "1e-05"),
        (f64::INFINITY, "+Inf"),
    ];
    for (value, expected) in cases {
        assert_eq!(expand("{{ $value }}", &[], value).unwrap(), expected);
        assert_eq!(
            expand("{{ if true }}{{ .Value }}{{ end }}", &[], value).unwrap(),
            expected
        );
    }
    assert_eq!(
        expand("{{ $x := $value }}[{{ $x }}]", &[], 1e6).unwrap(),
        "[1e+06]"
    );
    assert_eq!(expand("{{ humanize $value }}", &[], 1e6).unwrap(), "1M");
}
