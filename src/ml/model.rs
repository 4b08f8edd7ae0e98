//! A monitored model's schema: task, classes, feature types, versions and
//! segment labels, declared in the config or inferred from its first events.
//!
//! Owns the checks an event needs a model for (unknown class, wrong kind of
//! prediction) and keeping inferred feature types stable: the first non-null
//! value of a feature fixes its type, later values of another type count as
//! type mismatches instead of changing it. Persisted as JSON so the schema
//! survives restarts.

use crate::config::models::{FeatureKind, ModelConfig, ModelTask};
use crate::ml::event::{ColumnMap, FeatureValue, Features, Outcome, Prediction};
use serde::{Deserialize, Serialize};
use std::borrow::Cow;
use std::collections::{BTreeSet, HashMap};

/// A feature's fixed type and its expectations.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FeatureSchema {
    pub name: String,
    #[serde(rename = "type", with = "kind_text")]
    pub kind: FeatureKind,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max: Option<f64>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub categories: Vec<String>,
}

mod kind_text {
    use crate::config::models::FeatureKind;
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(kind: &FeatureKind, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(kind.as_str())
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<FeatureKind, D::Error> {
        Ok(match String::deserialize(d)?.as_str() {
            "numeric" => FeatureKind::Numeric,
            _ => FeatureKind::Categorical,
        })
    }
}

/// What a model's schema holds; the persisted part of a model.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Schema {
    pub task: Option<String>,
    pub classes: Vec<String>,
    pub features: Vec<FeatureSchema>,
    pub versions: BTreeSet<String>,
    pub segments: BTreeSet<String>,
    pub last_event_ms: Option<i64>,
}

/// A model's schema plus its config and lookup tables.
pub struct ModelSchema {
    pub config: ModelConfig,
    pub declared: bool,
    pub schema: Schema,
    feature_index: HashMap<String, usize>,
    /// Feature indices ordered by name, to walk an event's sorted features.
    by_name: Vec<usize>,
    class_index: HashMap<String, u32>,
    /// Which feature each of the last event's features is.
    column_map: ColumnMap,
}

/// How one feature value relates to the schema.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ValueCheck {
    Fine,
    Missing,
    TypeMismatch,
    OutOfRange,
    UnseenCategory,
}

impl ModelSchema {
    /// A model as declared in the config (or the default config of an inferred one).
    pub fn new(config: ModelConfig, declared: bool) -> ModelSchema {
        let schema = Schema {
            task: config.task.map(|t| t.as_str().to_string()),
            classes: config.classes.clone(),
            features: config
                .features
                .iter()
                .map(|f| FeatureSchema {
                    name: f.name.clone(),
                    kind: f.kind,
                    min: f.min,
                    max: f.max,
                    categories: f.categories.clone(),
                })
                .collect(),
            ..Schema::default()
        };
        ModelSchema::with_schema(config, declared, schema)
    }

    /// Restores a persisted schema; the config's declarations win over it.
    pub fn restore(config: ModelConfig, declared: bool, stored: Schema) -> ModelSchema {
        let mut model = ModelSchema::new(config, declared);
        if model.schema.task.is_none() {
            model.schema.task = stored.task;
        }
        if model.config.classes.is_empty() {
            model.schema.classes = stored.classes;
        }
        for feature in stored.features {
            if !model.feature_index.contains_key(&feature.name) {
                model.push_feature(feature);
            }
        }
        model.schema.versions = stored.versions;
        model.schema.segments = stored.segments;
        model.schema.last_event_ms = stored.last_event_ms;
        model.reindex_classes();
        model
    }

    fn with_schema(config: ModelConfig, declared: bool, mut schema: Schema) -> ModelSchema {
        let features = std::mem::take(&mut schema.features);
        let mut model = ModelSchema {
            config,
            declared,
            schema,
            feature_index: HashMap::new(),
            by_name: Vec::new(),
            class_index: HashMap::new(),
            column_map: ColumnMap::default(),
        };
        for feature in features {
            model.push_feature(feature);
        }
        model.reindex_classes();
        model
    }

    fn push_feature(&mut self, feature: FeatureSchema) {
        let index = self.schema.features.len();
        let features = &self.schema.features;
        let at = self.by_name.partition_point(|&i| features[i].name < feature.name);
        self.by_name.insert(at, index);
        self.feature_index.insert(feature.name.clone(), index);
        self.schema.features.push(feature);
    }

    /// Calls `f` with the schema, each feature's index and the event's value
    /// of it, in no particular order.
    pub fn each_value<'p>(
        &mut self,
        features: &'p Features,
        mut f: impl FnMut(&ModelSchema, usize, Option<&'p FeatureValue>),
    ) {
        self.fit_column_map(features);
        for (index, value) in self.column_map.values(features) {
            f(self, index, value);
        }
    }

    fn fit_column_map(&mut self, features: &Features) {
        let known = &self.schema.features;
        let columns = self.by_name.iter().map(|&i| (i, known[i].name.as_str()));
        self.column_map.fit(columns, known.len(), features);
    }

    /// The event's features the schema lacks, with inferred kinds.
    fn unknown_features(&mut self, features: &Features) -> Vec<FeatureSchema> {
        self.fit_column_map(features);
        self.column_map
            .others(features)
            .filter_map(|(name, value)| {
                Some(FeatureSchema {
                    name: name.to_string(),
                    kind: inferred_kind(value)?,
                    min: None,
                    max: None,
                    categories: Vec::new(),
                })
            })
            .collect()
    }

    fn reindex_classes(&mut self) {
        self.class_index = self
            .schema
            .classes
            .iter()
            .enumerate()
            .map(|(i, c)| (c.clone(), i as u32))
            .collect();
    }

    pub fn name(&self) -> &str {
        &self.config.name
    }

    pub fn task(&self) -> Option<ModelTask> {
        match self.schema.task.as_deref() {
            Some("classification") => Some(ModelTask::Classification),
            Some("regression") => Some(ModelTask::Regression),
            _ => None,
        }
    }

    /// Refuses a prediction the schema cannot accept; fixes the task on first use.
    pub fn admit(&mut self, p: &Prediction) -> Result<(), String> {
        let task = match self.task() {
            Some(task) => task,
            None => inferred_task(p),
        };
        match (task, &p.prediction) {
            (ModelTask::Regression, Outcome::Label(l)) => {
                return Err(format!(
                    "model {:?} is a regression model; prediction {l:?} is not a number",
                    self.name()
                ))
            }
            (ModelTask::Classification, outcome) => self.check_class(&outcome.as_label())?,
            _ => {}
        }
        if let Some(probabilities) = &p.probabilities {
            for class in probabilities.keys() {
                self.check_class(class)?;
            }
        }
        self.schema.task = Some(task.as_str().to_string());
        Ok(())
    }

    /// Refuses a class outside the configured ones.
    pub fn check_class(&self, class: &str) -> Result<(), String> {
        if self.config.classes.is_empty() || self.class_index.contains_key(class) {
            return Ok(());
        }
        Err(format!(
            "class {class:?} is not one of model {:?}'s classes {:?}",
            self.name(),
            self.config.classes
        ))
    }

    /// The id of `class`, registering it when classes are not configured.
    pub fn class_id(&mut self, class: &str) -> u32 {
        if let Some(&id) = self.class_index.get(class) {
            return id;
        }
        let id = self.schema.classes.len() as u32;
        self.schema.classes.push(class.to_string());
        self.class_index.insert(class.to_string(), id);
        id
    }

    /// Configured classes as ids (scikit-learn's `labels=`), if any.
    pub fn configured_class_ids(&self) -> Option<Vec<u32>> {
        (!self.config.classes.is_empty()).then(|| (0..self.config.classes.len() as u32).collect())
    }

    /// Records version, segment keys and first-seen feature types of an accepted
    /// prediction; true when it added a feature.
    pub fn observe(&mut self, p: &Prediction, at_ms: i64) -> bool {
        let known = self.schema.features.len();
        if !self.schema.versions.contains(&p.model_version) {
            self.schema.versions.insert(p.model_version.clone());
        }
        for key in p.segment.keys() {
            if !self.schema.segments.contains(key) {
                self.schema.segments.insert(key.clone());
            }
        }
        for feature in self.unknown_features(&p.features) {
            self.push_feature(feature);
        }
        self.schema.last_event_ms = Some(self.schema.last_event_ms.map_or(at_ms, |t| t.max(at_ms)));
        self.schema.features.len() > known
    }

    /// Takes expected ranges and categories from a drift reference for features
    /// whose declaration sets none, so data quality checks against the reference.
    pub fn expect_from_reference(&mut self, reference: &crate::drift::ReferenceProfile) {
        for column in &reference.columns {
            let Some(&index) = self.feature_index.get(&column.name) else {
                continue;
            };
            let declared = self.config.features.iter().find(|f| f.name == column.name);
            let feature = &mut self.schema.features[index];
            match feature.kind {
                FeatureKind::Numeric if declared.is_none_or(|d| d.min.is_none() && d.max.is_none()) => {
                    let moments = &column.state.moments;
                    if moments.count > 0 {
                        feature.min = Some(moments.min);
                        feature.max = Some(moments.max);
                    }
                }
                FeatureKind::Categorical if declared.is_none_or(|d| d.categories.is_empty()) => {
                    feature.categories = column
                        .state
                        .categories
                        .iter()
                        .map(|(c, _)| c.to_string())
                        .collect();
                    feature.categories.sort();
                }
                _ => {}
            }
        }
    }

    pub fn features(&self) -> &[FeatureSchema] {
        &self.schema.features
    }

    /// How `value` (or its absence) fits feature number `index`.
    pub fn check_value(&self, index: usize, value: Option<&FeatureValue>) -> ValueCheck {
        let Some(feature) = self.schema.features.get(index) else {
            return ValueCheck::Fine;
        };
        match (feature.kind, value) {
            (_, None | Some(FeatureValue::Missing)) => ValueCheck::Missing,
            (FeatureKind::Numeric, Some(FeatureValue::Number(v))) => {
                let below = feature.min.is_some_and(|min| *v < min);
                let above = feature.max.is_some_and(|max| *v > max);
                if below || above {
                    ValueCheck::OutOfRange
                } else {
                    ValueCheck::Fine
                }
            }
            (FeatureKind::Numeric, Some(_)) => ValueCheck::TypeMismatch,
            (FeatureKind::Categorical, Some(FeatureValue::Number(_))) => ValueCheck::TypeMismatch,
            (FeatureKind::Categorical, Some(v)) => {
                let text = categorical_text(v);
                if feature.categories.is_empty() || feature.categories.iter().any(|c| *c == text) {
                    ValueCheck::Fine
                } else {
                    ValueCheck::UnseenCategory
                }
            }
        }
    }
}

/// A categorical value as text (`true`/`false` for bools), borrowed when it is text.
fn categorical_text(value: &FeatureValue) -> Cow<'_, str> {
    match value {
        FeatureValue::Text(s) => Cow::Borrowed(s),
        FeatureValue::Bool(b) => Cow::Borrowed(if *b { "true" } else { "false" }),
        FeatureValue::Number(n) => Cow::Owned(crate::ml::event::number_label(*n)),
        FeatureValue::Missing => Cow::Borrowed(""),
    }
}

fn inferred_task(p: &Prediction) -> ModelTask {
    match (&p.prediction, &p.probabilities) {
        (Outcome::Number(_), None) => ModelTask::Regression,
        _ => ModelTask::Classification,
    }
}

fn inferred_kind(value: &FeatureValue) -> Option<FeatureKind> {
    match value {
        FeatureValue::Number(_) => Some(FeatureKind::Numeric),
        FeatureValue::Text(_) | FeatureValue::Bool(_) => Some(FeatureKind::Categorical),
        FeatureValue::Missing => None,
    }
}

/// Class order scikit-learn uses to pick the positive class: numeric when both
/// labels are numbers, else lexicographic.
pub fn class_order(a: &str, b: &str) -> std::cmp::Ordering {
    match (a.parse::<f64>(), b.parse::<f64>()) {
        (Ok(x), Ok(y)) => x.total_cmp(&y),
        _ => a.cmp(b),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ml::event::parse_item;

    fn prediction(json: &str) -> Prediction {
        parse_item(json).unwrap_or_else(|e| panic!("{e}"))
    }

    #[test]
    fn inferred_types_stay_fixed() {
        let mut model = ModelSchema::new(ModelConfig::inferred("m"), false);
        let first = prediction(
            r#"{"model":"m","model_version":"1","request_id":"a","prediction":"x","features":{"n":1.5,"c":"red","z":null}}"#,
        );
        model.admit(&first).unwrap_or_else(|e| panic!("{e}"));
        model.observe(&first, 1);
        let kinds: Vec<_> = model
            .features()
            .iter()
            .map(|f| (f.name.as_str(), f.kind))
            .collect();
        assert_eq!(
            kinds,
            [("c", FeatureKind::Categorical), ("n", FeatureKind::Numeric)]
        );
        let n = 1;
        assert_eq!(
            model.check_value(n, Some(&FeatureValue::Text("7".into()))),
            ValueCheck::TypeMismatch
        );
        assert_eq!(model.features()[n].kind, FeatureKind::Numeric);
        assert_eq!(model.check_value(n, None), ValueCheck::Missing);
        assert_eq!(model.task(), Some(ModelTask::Classification));
    }

    #[test]
    fn configured_classes_refuse_others() {
        let mut config = ModelConfig::inferred("m");
        config.classes = vec!["cat".into(), "dog".into()];
        let mut model = ModelSchema::new(config, true);
        let bad = prediction(r#"{"model":"m","model_version":"1","request_id":"a","prediction":"cow"}"#);
        let err = model.admit(&bad).err().unwrap_or_default();
        assert!(err.contains("class \"cow\" is not one of"), "{err}");
    }

    #[test]
    fn a_regression_model_refuses_labels() {
        let mut model = ModelSchema::new(ModelConfig::inferred("m"), false);
        let number = prediction(r#"{"model":"m","model_version":"1","request_id":"a","prediction":2.5}"#);
        model.admit(&number).unwrap_or_else(|e| panic!("{e}"));
        let label = prediction(r#"{"model":"m","model_version":"1","request_id":"b","prediction":"x"}"#);
        assert!(model.admit(&label).is_err());
    }

    #[test]
    fn classes_order_numerically_when_numbers() {
        assert_eq!(class_order("10", "9"), std::cmp::Ordering::Greater);
        assert_eq!(class_order("b", "a"), std::cmp::Ordering::Greater);
    }
}
