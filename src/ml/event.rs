//! Prediction and feedback events as clients send them, and the checks each
//! one passes before it counts.
//!
//! Owns the wire shape (field names exactly as the events API documents them,
//! unknown fields refused) and the per-item reasons a batch answer reports.
//! It knows nothing of models' state: checks that need a model's schema live
//! in `registry`.

use serde::de::Error as _;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::collections::BTreeMap;

/// A feature value: number, string, bool or null.
#[derive(Debug, Clone, PartialEq, bincode::Encode, bincode::Decode)]
pub enum FeatureValue {
    Number(f64),
    Text(String),
    Bool(bool),
    Missing,
}

/// Written as JSON writes it: integral numbers without a fraction (`30`, not `30.0`).
impl Serialize for FeatureValue {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            FeatureValue::Number(n) => serialize_number(*n, serializer),
            FeatureValue::Text(s) => serializer.serialize_str(s),
            FeatureValue::Bool(b) => serializer.serialize_bool(*b),
            FeatureValue::Missing => serializer.serialize_unit(),
        }
    }
}

/// An integral number as an integer, others as they are.
fn serialize_number<S: Serializer>(n: f64, serializer: S) -> Result<S::Ok, S::Error> {
    match whole_number(n) {
        Some(i) => serializer.serialize_i64(i),
        None => serializer.serialize_f64(n),
    }
}

/// `n` as an integer, when it is a whole number that `f64` holds exactly.
fn whole_number(n: f64) -> Option<i64> {
    (n.fract() == 0.0 && n.abs() < 9.0e15).then_some(n as i64)
}

/// Read with a visitor, not through `serde_json::Value`: 50 features per event
/// at 100k events/s make the intermediate allocations count.
impl<'de> Deserialize<'de> for FeatureValue {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(FeatureVisitor)
    }
}

struct FeatureVisitor;

const NOT_A_FEATURE: &str = "a feature must be a number, string, bool or null";

impl<'de> serde::de::Visitor<'de> for FeatureVisitor {
    type Value = FeatureValue;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(NOT_A_FEATURE)
    }

    fn visit_bool<E: serde::de::Error>(self, v: bool) -> Result<FeatureValue, E> {
        Ok(FeatureValue::Bool(v))
    }

    fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<FeatureValue, E> {
        Ok(FeatureValue::Number(v as f64))
    }

    fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<FeatureValue, E> {
        Ok(FeatureValue::Number(v as f64))
    }

    /// `-0` is read as `-0.0` by one JSON reader and as `0` by another (and
    /// by Python): one zero, so equal values sort and store alike.
    fn visit_f64<E: serde::de::Error>(self, v: f64) -> Result<FeatureValue, E> {
        Ok(FeatureValue::Number(v + 0.0))
    }

    fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<FeatureValue, E> {
        Ok(FeatureValue::Text(v.to_string()))
    }

    fn visit_string<E: serde::de::Error>(self, v: String) -> Result<FeatureValue, E> {
        Ok(FeatureValue::Text(v))
    }

    fn visit_unit<E: serde::de::Error>(self) -> Result<FeatureValue, E> {
        Ok(FeatureValue::Missing)
    }

    fn visit_none<E: serde::de::Error>(self) -> Result<FeatureValue, E> {
        Ok(FeatureValue::Missing)
    }

    fn visit_seq<A: serde::de::SeqAccess<'de>>(self, _: A) -> Result<FeatureValue, A::Error> {
        Err(serde::de::Error::custom(format!("{NOT_A_FEATURE}, not an array")))
    }

    fn visit_map<A: serde::de::MapAccess<'de>>(self, _: A) -> Result<FeatureValue, A::Error> {
        Err(serde::de::Error::custom(format!(
            "{NOT_A_FEATURE}, not an object"
        )))
    }
}

/// An event's features, sorted by name: a vector, not a map, because
/// building a `BTreeMap` of 50 entries per event (node inserts, key
/// comparisons) was the largest single cost of parsing a batch. A name given
/// twice keeps its last value, as a JSON map would. Names are shared
/// (`Arc<str>`): parsing takes each from the names of the thread's previous
/// event when it is the same, instead of allocating 50 strings per event
/// (encoded as the strings they hold, as before).
#[derive(Debug, Clone, Default, PartialEq, bincode::Encode, bincode::Decode)]
pub struct Features(Vec<(Name, FeatureValue)>);

/// A feature name, shared by the events that give it.
type Name = std::sync::Arc<str>;

/// The order of the last unsorted name list a thread sorted: the names as
/// given, and for each place in name order the position to take it from.
/// Clients send the same names in the same order event after event (`n0,
/// n1, .., n10` is not sorted), so checking the names against it and
/// permuting in place replaces a sort of 50 strings (~280 comparisons).
#[derive(Default)]
struct NameOrder {
    given: Vec<Name>,
    sorted: Vec<usize>,
    /// Scratch for [`NameOrder::apply`], kept to spare an allocation.
    placed: Vec<bool>,
}

thread_local! {
    static LAST_ORDER: std::cell::RefCell<NameOrder> = std::cell::RefCell::default();
}

impl NameOrder {
    fn matches(&self, pairs: &[(Name, FeatureValue)]) -> bool {
        self.given.len() == pairs.len()
            && self
                .given
                .iter()
                .zip(pairs)
                .all(|(a, (b, _))| std::sync::Arc::ptr_eq(a, b) || a == b)
    }

    /// The order of `pairs` already in name order, names unique.
    fn in_order(pairs: &[(Name, FeatureValue)]) -> NameOrder {
        NameOrder {
            given: pairs.iter().map(|(name, _)| name.clone()).collect(),
            sorted: (0..pairs.len()).collect(),
            placed: Vec::new(),
        }
    }

    /// Positions of `pairs` in name order; of a repeated name only the last.
    fn of(pairs: &[(Name, FeatureValue)]) -> NameOrder {
        let mut sorted: Vec<usize> = (0..pairs.len()).rev().collect();
        // Stable: of equal names the one given last comes first, and stays.
        sorted.sort_by(|&a, &b| pairs[a].0.cmp(&pairs[b].0));
        sorted.dedup_by(|later, earlier| pairs[*later].0 == pairs[*earlier].0);
        NameOrder {
            given: pairs.iter().map(|(name, _)| name.clone()).collect(),
            sorted,
            placed: Vec::new(),
        }
    }

    /// `pairs` in name order: in place, one cycle of swaps at a time, unless
    /// a repeated name is dropped.
    fn apply(&mut self, mut pairs: Vec<(Name, FeatureValue)>) -> Vec<(Name, FeatureValue)> {
        if self.sorted.len() != pairs.len() {
            let mut slots: Vec<Option<(Name, FeatureValue)>> = pairs.into_iter().map(Some).collect();
            return self
                .sorted
                .iter()
                .filter_map(|&i| slots.get_mut(i).and_then(Option::take))
                .collect();
        }
        self.placed.clear();
        self.placed.resize(pairs.len(), false);
        for start in 0..pairs.len() {
            let mut at = start;
            while !self.placed[at] {
                self.placed[at] = true;
                let from = self.sorted[at];
                if from == start {
                    break;
                }
                pairs.swap(at, from);
                at = from;
            }
        }
        pairs
    }
}

impl Features {
    /// Sorts `pairs` by name; the last value of a repeated name wins.
    pub fn new(pairs: Vec<(String, FeatureValue)>) -> Features {
        Features::sorted(pairs.into_iter().map(|(k, v)| (Name::from(k), v)).collect())
    }

    /// `pairs` in name order. Every list is remembered, sorted or not, so
    /// the next event's names can be shared with it.
    fn sorted(pairs: Vec<(Name, FeatureValue)>) -> Features {
        LAST_ORDER.with(|last| {
            let mut last = last.borrow_mut();
            if !last.matches(&pairs) {
                *last = if pairs.windows(2).all(|w| w[0].0 < w[1].0) {
                    NameOrder::in_order(&pairs)
                } else {
                    NameOrder::of(&pairs)
                };
            }
            Features(last.apply(pairs))
        })
    }

    pub fn iter(&self) -> impl Iterator<Item = (&str, &FeatureValue)> {
        self.0.iter().map(|(k, v)| (&**k, v))
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

/// As a JSON map, in name order.
impl Serialize for Features {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_map(self.iter())
    }
}

impl<'de> Deserialize<'de> for Features {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_map(FeaturesVisitor)
    }
}

struct FeaturesVisitor;

impl<'de> serde::de::Visitor<'de> for FeaturesVisitor {
    type Value = Features;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("a map of feature names to values")
    }

    fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<Features, A::Error> {
        // serde_json gives no size hint: start where models usually are, not
        // at 4 entries doubled five times.
        let mut pairs = Vec::with_capacity(map.size_hint().unwrap_or(64));
        // The names of the thread's last event, in the order given: a name
        // at the same place is shared, not allocated again. Not borrowed
        // while a value is read, and never when already borrowed.
        while let Some(text) = map.next_key::<NameText<'de>>()? {
            let at = pairs.len();
            let cached = LAST_ORDER.with(|last| {
                let last = last.try_borrow().ok()?;
                last.given.get(at).filter(|name| ***name == *text.0).cloned()
            });
            let name = cached.unwrap_or_else(|| Name::from(text.0.as_ref()));
            pairs.push((name, map.next_value::<FeatureValue>()?));
        }
        Ok(Features::sorted(pairs))
    }
}

/// A feature name as the input spells it: borrowed from it when it has no
/// escapes.
struct NameText<'a>(std::borrow::Cow<'a, str>);

impl<'de> Deserialize<'de> for NameText<'de> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_str(NameTextVisitor)
    }
}

struct NameTextVisitor;

impl<'de> serde::de::Visitor<'de> for NameTextVisitor {
    type Value = NameText<'de>;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("a feature name")
    }

    fn visit_borrowed_str<E: serde::de::Error>(self, v: &'de str) -> Result<NameText<'de>, E> {
        Ok(NameText(std::borrow::Cow::Borrowed(v)))
    }

    fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<NameText<'de>, E> {
        Ok(NameText(std::borrow::Cow::Owned(v.to_string())))
    }

    fn visit_string<E: serde::de::Error>(self, v: String) -> Result<NameText<'de>, E> {
        Ok(NameText(std::borrow::Cow::Owned(v)))
    }
}

/// What a model predicted: a class label or a number.
#[derive(Debug, Clone, PartialEq, bincode::Encode, bincode::Decode)]
pub enum Outcome {
    Label(String),
    Number(f64),
}

impl Outcome {
    /// The class label this outcome names (numbers spelled as JSON spells them).
    pub fn as_label(&self) -> String {
        match self {
            Outcome::Label(s) => s.clone(),
            Outcome::Number(n) => number_label(*n),
        }
    }
}

/// `1.0` → `"1"`, `0.5` → `"0.5"`: a numeric class label as it is usually written.
pub fn number_label(n: f64) -> String {
    whole_number(n).map_or_else(|| n.to_string(), |i| i.to_string())
}

/// A label as a JSON string, a number as [`FeatureValue`] writes one.
impl Serialize for Outcome {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            Outcome::Label(s) => serializer.serialize_str(s),
            Outcome::Number(n) => serialize_number(*n, serializer),
        }
    }
}

impl<'de> Deserialize<'de> for Outcome {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        match serde_json::Value::deserialize(deserializer)? {
            serde_json::Value::String(s) => Ok(Outcome::Label(s)),
            serde_json::Value::Bool(b) => Ok(Outcome::Label(b.to_string())),
            serde_json::Value::Number(n) => match n.as_f64() {
                Some(v) if v.is_finite() => Ok(Outcome::Number(v)),
                _ => Err(D::Error::custom("number out of range")),
            },
            _ => Err(D::Error::custom(
                "expected a class label (string or bool) or a number",
            )),
        }
    }
}

/// An event time: RFC 3339 text or Unix seconds.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct EventTime(pub i64);

impl<'de> Deserialize<'de> for EventTime {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        match serde_json::Value::deserialize(deserializer)? {
            serde_json::Value::String(s) => chrono::DateTime::parse_from_rfc3339(&s)
                .map(|t| EventTime(t.timestamp_millis()))
                .map_err(|e| D::Error::custom(format!("timestamp {s:?} is not RFC 3339: {e}"))),
            serde_json::Value::Number(n) => match n.as_f64() {
                Some(secs) if secs.is_finite() && secs.abs() < 1e11 => {
                    Ok(EventTime((secs * 1000.0).round() as i64))
                }
                _ => Err(D::Error::custom("timestamp out of range")),
            },
            _ => Err(D::Error::custom(
                "timestamp must be RFC 3339 text or Unix seconds",
            )),
        }
    }
}

/// `error`: `true`, or a message saying why the request failed.
#[derive(Debug, Clone, PartialEq)]
pub struct Failure(pub Option<String>);

impl<'de> Deserialize<'de> for Failure {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        match serde_json::Value::deserialize(deserializer)? {
            serde_json::Value::Bool(true) => Ok(Failure(Some(String::new()))),
            serde_json::Value::Bool(false) | serde_json::Value::Null => Ok(Failure(None)),
            serde_json::Value::String(s) => Ok(Failure(Some(s))),
            _ => Err(D::Error::custom("error must be a bool or a message")),
        }
    }
}

/// One prediction event.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Prediction {
    pub model: String,
    pub model_version: String,
    pub request_id: String,
    #[serde(default)]
    pub timestamp: Option<EventTime>,
    #[serde(default)]
    pub features: Features,
    pub prediction: Outcome,
    #[serde(default)]
    pub probabilities: Option<BTreeMap<String, f64>>,
    #[serde(default)]
    pub score: Option<f64>,
    #[serde(default)]
    pub latency_ms: Option<f64>,
    #[serde(default)]
    pub segment: BTreeMap<String, String>,
    #[serde(default)]
    pub error: Option<Failure>,
}

impl Prediction {
    /// Checks that need no model state; the reason names the field at fault.
    pub fn check(&self) -> Result<(), String> {
        check_ids(&self.model, &self.request_id)?;
        if self.model_version.is_empty() {
            return Err("model_version is empty".into());
        }
        if let Some((name, _)) = self
            .features
            .iter()
            .find(|(_, v)| matches!(v, FeatureValue::Number(n) if !n.is_finite()))
        {
            return Err(format!("feature {name:?} is not a finite number"));
        }
        if let Some(probabilities) = &self.probabilities {
            check_probabilities(probabilities)?;
        }
        if let Some(score) = self.score {
            if !(0.0..=1.0).contains(&score) {
                return Err(format!("score {score} is not a probability in [0, 1]"));
            }
        }
        if let Some(latency) = self.latency_ms {
            if !latency.is_finite() || latency < 0.0 {
                return Err(format!("latency_ms {latency} is not a non-negative number"));
            }
        }
        Ok(())
    }

    /// Whether the request behind this prediction failed.
    pub fn failed(&self) -> bool {
        matches!(&self.error, Some(Failure(Some(_))))
    }
}

fn check_ids(model: &str, request_id: &str) -> Result<(), String> {
    if model.is_empty() {
        return Err("model is empty".into());
    }
    if request_id.is_empty() {
        return Err("request_id is empty".into());
    }
    if model.contains('\0') || request_id.contains('\0') {
        return Err("model and request_id must not contain NUL".into());
    }
    Ok(())
}

fn check_probabilities(probabilities: &BTreeMap<String, f64>) -> Result<(), String> {
    if let Some((class, p)) = probabilities.iter().find(|(_, p)| !(0.0..=1.0).contains(*p)) {
        return Err(format!("probability {p} of class {class:?} is not in [0, 1]"));
    }
    let sum: f64 = probabilities.values().sum();
    if !probabilities.is_empty() && (sum - 1.0).abs() > 1e-3 {
        return Err(format!("probabilities sum to {sum}, not 1"));
    }
    Ok(())
}

/// One feedback event: the true outcome of an earlier (or later) prediction.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Feedback {
    pub model: String,
    pub request_id: String,
    pub ground_truth: Outcome,
    #[serde(default)]
    pub timestamp: Option<EventTime>,
}

impl Feedback {
    pub fn check(&self) -> Result<(), String> {
        check_ids(&self.model, &self.request_id)
    }
}

/// Which of a fixed list of columns (a model's features, a drift job's
/// reference columns) each feature of an event is, kept for the next event
/// with the same names. Clients send the same names event after event and
/// the parser shares them (see [`NameOrder`]), so the check is mostly
/// pointer comparisons; walking both sorted name lists for every event and
/// every owner was ~10 % of ingest's CPU. The owner's columns may only grow:
/// a new column count makes the map anew.
#[derive(Debug, Default)]
pub struct ColumnMap {
    /// The event names the map was made for.
    names: Vec<Name>,
    /// The column count it was made for.
    width: usize,
    /// (place in the event, column) of the event's features that are columns.
    present: Vec<(usize, usize)>,
    /// Columns the event lacks.
    absent: Vec<usize>,
    /// Places in the event of features that are no column.
    others: Vec<usize>,
}

impl ColumnMap {
    /// Makes the map fit `features` unless it already does. `columns` gives
    /// each column's `(index, name)`, sorted by name; `width` is their count.
    pub fn fit<'a>(
        &mut self,
        columns: impl Iterator<Item = (usize, &'a str)>,
        width: usize,
        features: &Features,
    ) {
        let same_length = self.names.len() == features.0.len();
        let event_names = || features.0.iter().map(|(name, _)| name);
        let shared = same_length
            && self
                .names
                .iter()
                .zip(event_names())
                .all(|(a, b)| std::sync::Arc::ptr_eq(a, b));
        if shared && self.width == width {
            return;
        }
        let same_names = shared || (same_length && self.names.iter().eq(event_names()));
        // Each parser thread shares names of its own: keep this event's, so
        // the events after it compare by pointer, not by content.
        self.names = event_names().cloned().collect();
        if same_names && self.width == width {
            return;
        }
        self.width = width;
        self.present.clear();
        self.absent.clear();
        let mut placed = vec![false; features.0.len()];
        let mut event = features.0.iter().enumerate().peekable();
        for (index, name) in columns {
            while event.next_if(|(_, (k, _))| &**k < name).is_some() {}
            match event.peek() {
                Some(&(at, (k, _))) if &**k == name => {
                    self.present.push((at, index));
                    placed[at] = true;
                }
                _ => self.absent.push(index),
            }
        }
        self.others = (0..placed.len()).filter(|&at| !placed[at]).collect();
    }

    /// Every column with the event's value of it (`None` when absent), in
    /// no particular order. `features` must be what the map was last fitted to.
    pub fn values<'m, 'p>(
        &'m self,
        features: &'p Features,
    ) -> impl Iterator<Item = (usize, Option<&'p FeatureValue>)> + 'm
    where
        'p: 'm,
    {
        let present = self
            .present
            .iter()
            .filter_map(|&(at, column)| Some((column, Some(&features.0.get(at)?.1))));
        present.chain(self.absent.iter().map(|&column| (column, None)))
    }

    /// The event's features that are no column (of `features`, which must be
    /// what the map was last fitted to).
    pub fn others<'m, 'p>(
        &'m self,
        features: &'p Features,
    ) -> impl Iterator<Item = (&'p str, &'p FeatureValue)> + 'm
    where
        'p: 'm,
    {
        self.others
            .iter()
            .filter_map(|&at| features.0.get(at).map(|(name, value)| (&**name, value)))
    }
}

/// Parses one item, turning serde's message into a per-item reason.
/// Reasons for items that are not JSON at all start with [`MALFORMED`].
pub fn parse_item<'a, T: Deserialize<'a>>(text: &'a str) -> Result<T, String> {
    serde_json::from_str(text).map_err(|e| {
        let reason = strip_position(&e.to_string());
        match e.classify() {
            serde_json::error::Category::Syntax | serde_json::error::Category::Eof => {
                let hint = if text.contains("NaN") || text.contains("Infinity") {
                    " (NaN and infinite numbers are not allowed)"
                } else {
                    ""
                };
                format!("{MALFORMED}{reason}{hint}")
            }
            _ => reason,
        }
    })
}

/// How the reason of an item that is not JSON starts.
pub const MALFORMED: &str = "malformed JSON: ";

/// serde_json appends " at line L column C"; within one item the field name says more.
fn strip_position(message: &str) -> String {
    match message.rfind(" at line ") {
        Some(i) => message[..i].to_string(),
        None => message.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn prediction(json: &str) -> Result<Prediction, String> {
        parse_item::<Prediction>(json).and_then(|p| p.check().map(|()| p))
    }

    const OK: &str = r#"{"model":"m","model_version":"1","request_id":"r","prediction":"a"}"#;

    #[test]
    fn a_minimal_prediction_parses() {
        let p = prediction(OK).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(p.prediction, Outcome::Label("a".into()));
    }

    #[test]
    fn bad_items_name_their_fault() {
        let cases = [
            (
                r#"{"model":"m","model_version":"1","request_id":"r","prediction":"a","x":1}"#,
                "unknown field `x`",
            ),
            (
                r#"{"model":"m","model_version":"1","prediction":"a"}"#,
                "missing field `request_id`",
            ),
            (
                r#"{"model":"m","model_version":"1","request_id":"r","prediction":"a","features":{"f":[1]}}"#,
                "a feature must be a number, string, bool or null, not an array",
            ),
            (
                r#"{"model":"m","model_version":"1","request_id":"","prediction":"a"}"#,
                "request_id is empty",
            ),
            (
                r#"{"model":"m","model_version":"1","request_id":"r","prediction":"a","score":1.5}"#,
                "score 1.5 is not a probability in [0, 1]",
            ),
            (
                r#"{"model":"m","model_version":"1","request_id":"r","prediction":"a","timestamp":"yesterday"}"#,
                "is not RFC 3339",
            ),
            (
                r#"{"model":"m","model_version":1,"request_id":"r","prediction":"a"}"#,
                "invalid type: integer `1`",
            ),
        ];
        for (json, reason) in cases {
            let err = prediction(json).err().unwrap_or_default();
            assert!(err.contains(reason), "{json}: {err}");
        }
    }

    #[test]
    fn timestamps_take_rfc3339_or_unix_seconds() {
        let t: EventTime = serde_json::from_str("\"2024-01-02T03:04:05.5Z\"").unwrap_or(EventTime(0));
        assert_eq!(t.0, 1_704_164_645_500);
        let t: EventTime = serde_json::from_str("1704164645.5").unwrap_or(EventTime(0));
        assert_eq!(t.0, 1_704_164_645_500);
    }

    #[test]
    fn a_column_map_pairs_columns_with_the_event_and_is_made_anew_when_they_change() {
        let event = |names: &[&str]| {
            Features::new(
                names
                    .iter()
                    .enumerate()
                    .map(|(i, n)| (n.to_string(), FeatureValue::Number(i as f64)))
                    .collect(),
            )
        };
        let seen = |map: &ColumnMap, features: &Features| {
            let mut seen: Vec<_> = map.values(features).map(|(i, v)| (i, v.cloned())).collect();
            seen.sort_by_key(|(i, _)| *i);
            let others: Vec<_> = map.others(features).map(|(n, _)| n.to_string()).collect();
            (seen, others)
        };
        let columns = [(2, "a"), (0, "b"), (1, "c"), (3, "e")];
        let mut map = ColumnMap::default();
        let first = event(&["d", "a", "c"]);
        map.fit(columns.into_iter(), 4, &first);
        let number = |x: f64| Some(FeatureValue::Number(x));
        assert_eq!(
            seen(&map, &first),
            (
                vec![(0, None), (1, number(2.0)), (2, number(1.0)), (3, None)],
                vec!["d".to_string()]
            )
        );
        // The same names again, with their own values.
        let second = event(&["d", "a", "c"]);
        map.fit(columns.into_iter(), 4, &second);
        assert_eq!(seen(&map, &second).0[1], (1, number(2.0)));
        // Names equal in content but from another parser are kept, so the
        // next events from that parser compare by pointer.
        assert!(map
            .names
            .iter()
            .zip(&second.0)
            .all(|(a, (b, _))| std::sync::Arc::ptr_eq(a, b)));
        // Other names, then a column more: each makes the map anew.
        let third = event(&["b", "e"]);
        map.fit(columns.into_iter(), 4, &third);
        assert_eq!(
            seen(&map, &third),
            (
                vec![(0, number(0.0)), (1, None), (2, None), (3, number(1.0))],
                vec![]
            )
        );
        let wider = [(2, "a"), (0, "b"), (1, "c"), (4, "d"), (3, "e")];
        map.fit(wider.into_iter(), 5, &third);
        assert_eq!(seen(&map, &third).0.len(), 5);
    }

    #[test]
    fn features_sort_and_a_repeated_name_keeps_its_last_value() {
        let p: Prediction = parse_item(
            r#"{"model":"m","model_version":"1","request_id":"r","prediction":"a","features":{"b":1,"a":2,"b":3}}"#,
        )
        .unwrap_or_else(|e| panic!("{e}"));
        let features: Vec<_> = p.features.iter().map(|(k, v)| (k, v.clone())).collect();
        assert_eq!(
            features,
            [("a", FeatureValue::Number(2.0)), ("b", FeatureValue::Number(3.0))]
        );
    }

    #[test]
    fn consecutive_events_share_their_feature_names() {
        let parse = |features: &str| -> Features {
            let text = format!(
                r#"{{"model":"m","model_version":"1","request_id":"r","prediction":"a","features":{features}}}"#
            );
            parse_item::<Prediction>(&text)
                .unwrap_or_else(|e| panic!("{e}"))
                .features
        };
        let first = parse(r#"{"n2":1,"n10":2,"a\u0062":"x"}"#);
        let second = parse(r#"{"n2":3,"n10":4,"ab":"y"}"#);
        let names = |f: &Features| f.0.iter().map(|(k, _)| k.clone()).collect::<Vec<_>>();
        assert_eq!(names(&first), names(&second));
        assert!(names(&first)
            .iter()
            .zip(names(&second))
            .all(|(a, b)| std::sync::Arc::ptr_eq(a, &b)));
        let values: Vec<_> = second.iter().map(|(k, v)| (k.to_string(), v.clone())).collect();
        assert_eq!(
            values,
            [
                ("ab".to_string(), FeatureValue::Text("y".into())),
                ("n10".to_string(), FeatureValue::Number(4.0)),
                ("n2".to_string(), FeatureValue::Number(3.0)),
            ]
        );
        // Another list, sorted as given: its own names, in order.
        let third = parse(r#"{"a":1,"b":2}"#);
        let names: Vec<&str> = third.iter().map(|(k, _)| k).collect();
        assert_eq!(names, ["a", "b"]);
    }

    #[test]
    fn a_name_order_seen_before_sorts_each_event_by_its_own_values() {
        let numbers = |pairs: &[(&str, f64)]| {
            let pairs = pairs
                .iter()
                .map(|(k, v)| (k.to_string(), FeatureValue::Number(*v)))
                .collect();
            let features = Features::new(pairs);
            features
                .iter()
                .map(|(k, v)| (k.to_string(), v.clone()))
                .collect::<Vec<_>>()
        };
        let expect = |pairs: &[(&str, f64)]| {
            pairs
                .iter()
                .map(|(k, v)| (k.to_string(), FeatureValue::Number(*v)))
                .collect::<Vec<_>>()
        };
        let given = [("n1", 1.0), ("n10", 10.0), ("n2", 2.0), ("c", 0.0)];
        let sorted = [("c", 0.0), ("n1", 1.0), ("n10", 10.0), ("n2", 2.0)];
        assert_eq!(numbers(&given), expect(&sorted));
        // The same order again, with other values: taken from the cache.
        let again = [("n1", 5.0), ("n10", 6.0), ("n2", 7.0), ("c", 8.0)];
        assert_eq!(
            numbers(&again),
            expect(&[("c", 8.0), ("n1", 5.0), ("n10", 6.0), ("n2", 7.0)])
        );
        // Two cycles of swaps.
        assert_eq!(
            numbers(&[("b", 1.0), ("a", 2.0), ("d", 3.0), ("c", 4.0)]),
            expect(&[("a", 2.0), ("b", 1.0), ("c", 4.0), ("d", 3.0)])
        );
        // A list one name longer, and one with a name repeated, are sorted afresh.
        assert_eq!(
            numbers(&[("n1", 1.0), ("n10", 10.0), ("n2", 2.0), ("c", 0.0), ("b", 4.0)]),
            expect(&[("b", 4.0), ("c", 0.0), ("n1", 1.0), ("n10", 10.0), ("n2", 2.0)])
        );
        let repeated = [("n2", 1.0), ("n1", 2.0), ("n2", 3.0), ("c", 4.0)];
        assert_eq!(
            numbers(&repeated),
            expect(&[("c", 4.0), ("n1", 2.0), ("n2", 3.0)])
        );
        assert_eq!(
            numbers(&[("n2", 9.0), ("n1", 8.0), ("n2", 7.0), ("c", 6.0)]),
            expect(&[("c", 6.0), ("n1", 8.0), ("n2", 7.0)])
        );
    }

    #[test]
    fn numeric_labels_print_like_integers() {
        assert_eq!(number_label(1.0), "1");
        assert_eq!(number_label(0.25), "0.25");
    }
}
