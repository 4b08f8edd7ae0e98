//! Label sets: the identity of a series.
//!
//! A [`Labels`] value is a list of name/value pairs kept sorted by name, with no
//! duplicate names and no empty values (Prometheus drops empty-valued labels).
//! Its canonical byte form (see [`Labels::encode`]) is what the series tree in
//! sled stores and what the WAL carries.

use std::fmt;

/// The label that holds a series' metric name.
pub const METRIC_NAME: &str = "__name__";

/// One label pair.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Label {
    pub name: String,
    pub value: String,
}

/// A sorted, duplicate-free set of labels.
#[derive(Debug, Clone, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Labels(Vec<Label>);

/// Why a label set was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LabelError {
    #[error("invalid label name {0:?}")]
    InvalidName(String),
    #[error("duplicate label name {0:?}")]
    DuplicateName(String),
    #[error("missing metric name")]
    MissingMetricName,
    #[error("invalid metric name {0:?}")]
    InvalidMetricName(String),
}

impl Labels {
    /// Builds a label set from pairs in any order; empty values are dropped.
    /// Duplicate names are kept (so that [`Labels::validate`] can report them).
    pub fn from_pairs<N: Into<String>, V: Into<String>>(pairs: impl IntoIterator<Item = (N, V)>) -> Self {
        let mut labels: Vec<Label> = pairs
            .into_iter()
            .map(|(n, v)| Label {
                name: n.into(),
                value: v.into(),
            })
            .filter(|l| !l.value.is_empty())
            .collect();
        labels.sort();
        Labels(labels)
    }

    /// Wraps labels already sorted by name with no empty values.
    pub fn from_sorted(labels: Vec<Label>) -> Self {
        debug_assert!(labels.windows(2).all(|w| w[0].name <= w[1].name));
        Labels(labels)
    }

    pub fn iter(&self) -> std::slice::Iter<'_, Label> {
        self.0.iter()
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The value of label `name`, or `""` when absent (Prometheus semantics).
    pub fn get(&self, name: &str) -> &str {
        self.0
            .binary_search_by(|l| l.name.as_str().cmp(name))
            .map(|i| self.0[i].value.as_str())
            .unwrap_or("")
    }

    pub fn metric_name(&self) -> &str {
        self.get(METRIC_NAME)
    }

    pub fn into_vec(self) -> Vec<Label> {
        self.0
    }

    /// Returns a copy with `name` set to `value` (removed when `value` is empty).
    pub fn with(&self, name: &str, value: &str) -> Labels {
        let mut out: Vec<Label> = self.0.iter().filter(|l| l.name != name).cloned().collect();
        if !value.is_empty() {
            let pos = out.partition_point(|l| l.name.as_str() < name);
            out.insert(
                pos,
                Label {
                    name: name.to_string(),
                    value: value.to_string(),
                },
            );
        }
        Labels(out)
    }

    /// Returns a copy without the named labels.
    pub fn without(&self, names: &[&str]) -> Labels {
        Labels(
            self.0
                .iter()
                .filter(|l| !names.contains(&l.name.as_str()))
                .cloned()
                .collect(),
        )
    }

    /// Checks what every stored series must satisfy: a valid metric name,
    /// valid label names and no duplicate names.
    pub fn validate(&self) -> Result<(), LabelError> {
        validate_sorted(&self.0, |l| (&l.name, &l.value))
    }

    /// Canonical bytes: for each label, varint name length, name, varint value length, value.
    pub fn encode(&self, out: &mut Vec<u8>) {
        encode_sorted(&self.0, |l| (&l.name, &l.value), out);
    }

    /// Reads what [`Labels::encode`] wrote; `None` on corrupt input.
    pub fn decode(buf: &mut &[u8]) -> Option<Labels> {
        let n = get_uvarint(buf)? as usize;
        let mut labels = Vec::with_capacity(n.min(64));
        for _ in 0..n {
            let name = get_str(buf)?;
            let value = get_str(buf)?;
            labels.push(Label { name, value });
        }
        Some(Labels(labels))
    }
}

impl fmt::Display for Labels {
    /// Formats as Prometheus does: `name{a="b", c="d"}`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let name = self.metric_name();
        write!(f, "{name}{{")?;
        let mut first = true;
        for l in self.0.iter().filter(|l| l.name != METRIC_NAME) {
            if !first {
                write!(f, ", ")?;
            }
            first = false;
            write!(f, "{}={:?}", l.name, l.value)?;
        }
        write!(f, "}}")
    }
}

/// [`Labels::validate`] for label pairs not (yet) held as [`Labels`]: sorted,
/// without empty values, as [`Labels::from_pairs`] would order them. Checks in
/// the same order, so it gives the same error for the same pairs.
pub fn validate_sorted_pairs(pairs: &[(&str, &str)]) -> Result<(), LabelError> {
    validate_sorted(pairs, |&(name, value)| (name, value))
}

/// [`Labels::encode`] for pairs as [`validate_sorted_pairs`] takes them: the
/// same bytes the [`Labels`] value of those pairs encodes to.
pub fn encode_sorted_pairs(pairs: &[(&str, &str)], out: &mut Vec<u8>) {
    encode_sorted(pairs, |&(name, value)| (name, value), out);
}

fn validate_sorted<'a, T>(
    items: &'a [T],
    pair: impl Fn(&'a T) -> (&'a str, &'a str),
) -> Result<(), LabelError> {
    let name = items
        .binary_search_by(|l| pair(l).0.cmp(METRIC_NAME))
        .map_or("", |i| pair(&items[i]).1);
    if name.is_empty() {
        return Err(LabelError::MissingMetricName);
    }
    if !is_valid_metric_name(name) {
        return Err(LabelError::InvalidMetricName(name.to_string()));
    }
    let mut previous = None;
    for l in items {
        let (label, _) = pair(l);
        if !is_valid_label_name(label) {
            return Err(LabelError::InvalidName(label.to_string()));
        }
        if previous == Some(label) {
            return Err(LabelError::DuplicateName(label.to_string()));
        }
        previous = Some(label);
    }
    Ok(())
}

fn encode_sorted<'a, T>(items: &'a [T], pair: impl Fn(&'a T) -> (&'a str, &'a str), out: &mut Vec<u8>) {
    put_uvarint(out, items.len() as u64);
    for l in items {
        let (name, value) = pair(l);
        put_uvarint(out, name.len() as u64);
        out.extend_from_slice(name.as_bytes());
        put_uvarint(out, value.len() as u64);
        out.extend_from_slice(value.as_bytes());
    }
}

/// `[a-zA-Z_:][a-zA-Z0-9_:]*`
pub fn is_valid_metric_name(name: &str) -> bool {
    let mut bytes = name.bytes();
    match bytes.next() {
        Some(b) if b.is_ascii_alphabetic() || b == b'_' || b == b':' => {}
        _ => return false,
    }
    bytes.all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b':')
}

/// `[a-zA-Z_][a-zA-Z0-9_]*`
pub fn is_valid_label_name(name: &str) -> bool {
    let mut bytes = name.bytes();
    match bytes.next() {
        Some(b) if b.is_ascii_alphabetic() || b == b'_' => {}
        _ => return false,
    }
    bytes.all(|b| b.is_ascii_alphanumeric() || b == b'_')
}

pub(crate) fn put_uvarint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

pub(crate) fn get_uvarint(buf: &mut &[u8]) -> Option<u64> {
    let mut v: u64 = 0;
    for (i, &b) in buf.iter().enumerate().take(10) {
        v |= u64::from(b & 0x7f) << (7 * i);
        if b < 0x80 {
            *buf = &buf[i + 1..];
            return Some(v);
        }
    }
    None
}

fn get_str(buf: &mut &[u8]) -> Option<String> {
    let n = get_uvarint(buf)? as usize;
    if buf.len() < n {
        return None;
    }
    let s = std::str::from_utf8(&buf[..n]).ok()?.to_string();
    *buf = &buf[n..];
    Some(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sorted_and_empty_values_dropped() {
        let l = Labels::from_pairs([("b", "2"), ("__name__", "up"), ("a", ""), ("c", "3")]);
        assert_eq!(l.to_string(), r#"up{b="2", c="3"}"#);
        assert_eq!(l.get("a"), "");
        assert_eq!(l.get("c"), "3");
    }

    #[test]
    fn encode_round_trip() {
        let l = Labels::from_pairs([("__name__", "x"), ("job", "api"), ("ünï", "çödé")]);
        let mut buf = Vec::new();
        l.encode(&mut buf);
        let mut slice = buf.as_slice();
        assert_eq!(Labels::decode(&mut slice), Some(l));
        assert!(slice.is_empty());
        assert_eq!(Labels::decode(&mut &buf[..buf.len() - 1]), None);
    }

    #[test]
    fn validation() {
        assert_eq!(
            Labels::from_pairs([("job", "a")]).validate(),
            Err(LabelError::MissingMetricName)
        );
        assert_eq!(
            Labels::from_pairs([("__name__", "1x")]).validate(),
            Err(LabelError::InvalidMetricName("1x".into()))
        );
        assert_eq!(
            Labels::from_pairs([("__name__", "x"), ("a-b", "1")]).validate(),
            Err(LabelError::InvalidName("a-b".into()))
        );
        assert_eq!(
            Labels::from_pairs([("__name__", "x"), ("a", "1"), ("a", "2")]).validate(),
            Err(LabelError::DuplicateName("a".into()))
        );
        assert!(Labels::from_pairs([("__name__", "x:y_z"), ("_a1", "1")])
            .validate()
            .is_ok());
    }

    #[test]
    fn pairs_validate_and_encode_as_their_labels() {
        let cases: [&[(&str, &str)]; 6] = [
            &[("job", "a")],
            &[("__name__", "1x")],
            &[("__name__", "x"), ("a-b", "1")],
            &[("__name__", "x"), ("a", "1"), ("a", "2")],
            &[("__name__", "1x"), ("__name__", "y")],
            &[("__name__", "x:y_z"), ("_a1", "1"), ("ünï", "ç")],
        ];
        for pairs in cases {
            let labels = Labels::from_pairs(pairs.iter().copied());
            let mut sorted = pairs.to_vec();
            sorted.sort_unstable();
            assert_eq!(validate_sorted_pairs(&sorted), labels.validate(), "{pairs:?}");
            let (mut want, mut got) = (Vec::new(), Vec::new());
            labels.encode(&mut want);
            encode_sorted_pairs(&sorted, &mut got);
            assert_eq!(got, want, "{pairs:?}");
        }
    }

    #[test]
    fn with_and_without() {
        let l = Labels::from_pairs([("__name__", "x"), ("b", "1")]);
        assert_eq!(l.with("a", "0").to_string(), r#"x{a="0", b="1"}"#);
        assert_eq!(l.with("b", "").to_string(), "x{}");
        assert_eq!(l.without(&["__name__"]).metric_name(), "");
    }
}
