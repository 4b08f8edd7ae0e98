//! Alertmanager's identities and spellings: an alert's fingerprint, a label
//! set's text form (used in group keys) and Go's RFC 3339 time format.
//!
//! Hand-written because each is a few lines and must match Alertmanager's
//! output byte for byte (FNV-1a over `name 0xff value 0xff`, Go `%q`, Go's
//! trimmed nanoseconds).

use chrono::{DateTime, SecondsFormat, Utc};
use std::collections::BTreeMap;

use crate::alerts::Alert;

pub type LabelSet = BTreeMap<String, String>;

const FNV_OFFSET: u64 = 14_695_981_039_346_656_037;
const FNV_PRIME: u64 = 1_099_511_628_211;
const SEPARATOR: u8 = 0xff;

/// `model.LabelSet.Fingerprint()`: FNV-1a 64 over the sorted labels.
pub fn fingerprint(labels: &LabelSet) -> u64 {
    let mut hash = FNV_OFFSET;
    let mut feed = |bytes: &[u8]| {
        for byte in bytes {
            hash ^= u64::from(*byte);
            hash = hash.wrapping_mul(FNV_PRIME);
        }
    };
    for (name, value) in labels {
        feed(name.as_bytes());
        feed(&[SEPARATOR]);
        feed(value.as_bytes());
        feed(&[SEPARATOR]);
    }
    hash
}

/// The fingerprint as Alertmanager prints it: 16 hex digits.
pub fn fingerprint_text(labels: &LabelSet) -> String {
    format!("{:016x}", fingerprint(labels))
}

/// `model.LabelSet.String()`: `{a="x", b="y"}` with Go's `%q` quoting.
pub fn label_set_text(labels: &LabelSet) -> String {
    let pairs: Vec<String> = labels
        .iter()
        .map(|(name, value)| format!("{name}={}", go_quote(value)))
        .collect();
    format!("{{{}}}", pairs.join(", "))
}

/// Go's `%q` for the characters label values hold in practice.
pub fn go_quote(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 2);
    out.push('"');
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if c.is_control() => out.push_str(&format!("\\x{:02x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// Go's zero `time.Time`, which Alertmanager sends as a firing alert's `endsAt`.
pub fn go_zero_time() -> DateTime<Utc> {
    chrono::NaiveDate::from_ymd_opt(1, 1, 1)
        .and_then(|day| day.and_hms_opt(0, 0, 0))
        .map_or(DateTime::<Utc>::MIN_UTC, |time| time.and_utc())
}

/// Go's `time.RFC3339Nano` as `encoding/json` writes it: nanoseconds with
/// trailing zeros trimmed, `Z` for UTC.
pub fn go_time(time: &DateTime<Utc>) -> String {
    let text = time.to_rfc3339_opts(SecondsFormat::Nanos, true);
    let Some((head, fraction)) = text.trim_end_matches('Z').split_once('.') else {
        return text;
    };
    let fraction = fraction.trim_end_matches('0');
    if fraction.is_empty() {
        format!("{head}Z")
    } else {
        format!("{head}.{fraction}Z")
    }
}

/// Alertmanager's order of alerts in a notification: by `job`, then
/// `instance`, then the whole label set.
pub fn alert_order(a: &Alert, b: &Alert) -> std::cmp::Ordering {
    for key in ["job", "instance"] {
        match (a.labels.get(key), b.labels.get(key)) {
            (Some(x), Some(y)) if x != y => return x.cmp(y),
            (Some(_), None) => return std::cmp::Ordering::Less,
            (None, Some(_)) => return std::cmp::Ordering::Greater,
            _ => {}
        }
    }
    label_set_order(&a.labels, &b.labels)
}

/// `model.LabelSet.Before`: by sorted names, then values, then length.
fn label_set_order(a: &LabelSet, b: &LabelSet) -> std::cmp::Ordering {
    for ((name_a, value_a), (name_b, value_b)) in a.iter().zip(b.iter()) {
        let order = name_a.cmp(name_b).then_with(|| value_a.cmp(value_b));
        if order.is_ne() {
            return order;
        }
    }
    a.len().cmp(&b.len())
}

/// Serde for persisted times as Unix milliseconds (chrono's serde support is not enabled).
pub mod unix_millis {
    use chrono::{DateTime, Utc};
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(time: &DateTime<Utc>, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_i64(time.timestamp_millis())
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<DateTime<Utc>, D::Error> {
        let millis = i64::deserialize(deserializer)?;
        DateTime::from_timestamp_millis(millis)
            .ok_or_else(|| serde::de::Error::custom(format!("time {millis} ms out of range")))
    }
}

/// Serde for persisted times as RFC 3339 text with nanoseconds, so any time
/// an Alertmanager client sends comes back exactly.
pub mod rfc3339_nanos {
    use chrono::{DateTime, SecondsFormat, Utc};
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(time: &DateTime<Utc>, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&time.to_rfc3339_opts(SecondsFormat::Nanos, true))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<DateTime<Utc>, D::Error> {
        let text = String::deserialize(deserializer)?;
        DateTime::parse_from_rfc3339(&text)
            .map(|time| time.to_utc())
            .map_err(|err| serde::de::Error::custom(format!("time {text:?}: {err}")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set(pairs: &[(&str, &str)]) -> LabelSet {
        pairs
            .iter()
            .map(|(n, v)| (n.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn fingerprints_match_alertmanager() {
        // Values from prometheus/common model/signature_test.go.
        assert_eq!(fingerprint(&LabelSet::new()), 14_695_981_039_346_656_037);
        assert_eq!(
            fingerprint(&set(&[
                ("name", "garland, briggs"),
                ("fear", "love is not enough")
            ])),
            5_799_056_148_416_392_346
        );
    }

    #[test]
    fn label_sets_print_as_go_does() {
        assert_eq!(label_set_text(&LabelSet::new()), "{}");
        assert_eq!(
            label_set_text(&set(&[("b", "x\"y"), ("a", "1")])),
            r#"{a="1", b="x\"y"}"#
        );
    }

    #[test]
    fn times_print_as_go_does() {
        let t: DateTime<Utc> = "2024-03-01T10:20:30.120Z".parse().unwrap();
        assert_eq!(go_time(&t), "2024-03-01T10:20:30.12Z");
        let t: DateTime<Utc> = "2024-03-01T10:20:30Z".parse().unwrap();
        assert_eq!(go_time(&t), "2024-03-01T10:20:30Z");
        assert_eq!(go_time(&go_zero_time()), "0001-01-01T00:00:00Z");
    }
}
