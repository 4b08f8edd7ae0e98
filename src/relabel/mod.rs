//! Relabelling: Prometheus's `relabel_config` steps applied to a label set.
//!
//! Owns the semantics of every action (anchored regexes, `$1`/`${name}` expansion
//! as Go's `Regexp.Expand`, `hashmod` over the MD5 of the joined source values),
//! so that scrape targets, scraped samples, alerts and remote-write series all
//! relabel the same way. It must not know where the labels come from.

use md5::{Digest, Md5};

use crate::config::{RelabelAction, RelabelConfig};
use crate::storage::labels::is_valid_label_name;
use crate::storage::{Label, Labels};

/// A label set being changed step by step: sorted by name, no empty values.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LabelBuilder {
    labels: Vec<Label>,
}

impl LabelBuilder {
    pub fn new(labels: Labels) -> Self {
        LabelBuilder {
            labels: labels.into_vec(),
        }
    }

    /// Makes room for `additional` more labels, so that adding them does not
    /// double the buffer (the built labels keep its capacity).
    pub fn reserve_exact(&mut self, additional: usize) {
        self.labels.reserve_exact(additional);
    }

    /// The value of `name`, `""` when absent.
    pub fn get(&self, name: &str) -> &str {
        self.position(name)
            .map(|i| self.labels[i].value.as_str())
            .unwrap_or_default()
    }

    /// Sets `name` to `value`; an empty value removes the label, as in Prometheus.
    pub fn set(&mut self, name: &str, value: &str) {
        match (self.position(name), value.is_empty()) {
            (Ok(i), true) => {
                self.labels.remove(i);
            }
            (Ok(i), false) => value.clone_into(&mut self.labels[i].value),
            (Err(_), true) => {}
            (Err(i), false) => self.labels.insert(
                i,
                Label {
                    name: name.to_string(),
                    value: value.to_string(),
                },
            ),
        }
    }

    pub fn remove(&mut self, name: &str) {
        if let Ok(i) = self.position(name) {
            self.labels.remove(i);
        }
    }

    /// Keeps only the labels for which `keep` is true.
    pub fn retain(&mut self, keep: impl FnMut(&Label) -> bool) {
        self.labels.retain(keep);
    }

    pub fn iter(&self) -> std::slice::Iter<'_, Label> {
        self.labels.iter()
    }

    pub fn is_empty(&self) -> bool {
        self.labels.is_empty()
    }

    pub fn into_labels(self) -> Labels {
        Labels::from_sorted(self.labels)
    }

    fn position(&self, name: &str) -> Result<usize, usize> {
        self.labels.binary_search_by(|l| l.name.as_str().cmp(name))
    }
}

/// Applies `steps` in order; `None` when a step drops the label set (or nothing is left).
pub fn relabel(labels: Labels, steps: &[RelabelConfig]) -> Option<Labels> {
    let mut builder = LabelBuilder::new(labels);
    if !relabel_builder(&mut builder, steps) || builder.is_empty() {
        return None;
    }
    Some(builder.into_labels())
}

/// Applies `steps` to `builder` in place; false when a step drops the label set.
pub fn relabel_builder(builder: &mut LabelBuilder, steps: &[RelabelConfig]) -> bool {
    steps.iter().all(|step| apply_step(builder, step))
}

fn apply_step(builder: &mut LabelBuilder, step: &RelabelConfig) -> bool {
    let regex = step.regex.regex();
    match step.action {
        RelabelAction::Drop => !regex.is_match(&source_value(builder, step)),
        RelabelAction::Keep => regex.is_match(&source_value(builder, step)),
        RelabelAction::DropEqual => builder.get(&step.target_label) != source_value(builder, step),
        RelabelAction::KeepEqual => builder.get(&step.target_label) == source_value(builder, step),
        RelabelAction::Replace => {
            replace(builder, step);
            true
        }
        RelabelAction::Lowercase => {
            let value = source_value(builder, step).to_lowercase();
            builder.set(&step.target_label, &value);
            true
        }
        RelabelAction::Uppercase => {
            let value = source_value(builder, step).to_uppercase();
            builder.set(&step.target_label, &value);
            true
        }
        RelabelAction::HashMod => {
            let value = hash_mod(&source_value(builder, step), step.modulus);
            builder.set(&step.target_label, &value.to_string());
            true
        }
        RelabelAction::LabelMap => {
            label_map(builder, step);
            true
        }
        RelabelAction::LabelDrop => {
            builder.retain(|l| !regex.is_match(&l.name));
            true
        }
        RelabelAction::LabelKeep => {
            builder.retain(|l| regex.is_match(&l.name));
            true
        }
    }
}

/// The values of `source_labels` joined by `separator`.
fn source_value(builder: &LabelBuilder, step: &RelabelConfig) -> String {
    let mut joined = String::new();
    for (i, name) in step.source_labels.iter().enumerate() {
        if i > 0 {
            joined.push_str(&step.separator);
        }
        joined.push_str(builder.get(name));
    }
    joined
}

/// `replace`: when the regex matches, expand `target_label` and `replacement` with
/// its groups; an invalid expanded name leaves the labels as they are, an empty
/// expanded value removes the target label.
fn replace(builder: &mut LabelBuilder, step: &RelabelConfig) {
    let value = source_value(builder, step);
    let Some(groups) = step.regex.regex().captures(&value) else {
        return;
    };
    let mut target = String::new();
    groups.expand(&step.target_label, &mut target);
    if !is_valid_label_name(&target) {
        return;
    }
    let mut replacement = String::new();
    groups.expand(&step.replacement, &mut replacement);
    builder.set(&target, &replacement);
}

/// `labelmap`: copies each label whose name matches to the expanded replacement name.
fn label_map(builder: &mut LabelBuilder, step: &RelabelConfig) {
    let regex = step.regex.regex();
    let mapped: Vec<(String, String)> = builder
        .iter()
        .filter(|l| regex.is_match(&l.name))
        .map(|l| {
            let name = regex.replace(&l.name, step.replacement.as_str()).into_owned();
            (name, l.value.clone())
        })
        .collect();
    for (name, value) in mapped {
        builder.set(&name, &value);
    }
}

/// Prometheus's `hashmod`: the last 8 bytes of the MD5 digest, big-endian, modulo `modulus`.
pub fn hash_mod(value: &str, modulus: u64) -> u64 {
    let digest = Md5::digest(value.as_bytes());
    let mut tail = [0u8; 8];
    tail.copy_from_slice(&digest[8..16]);
    u64::from_be_bytes(tail) % modulus.max(1)
}

#[cfg(test)]
mod tests;
