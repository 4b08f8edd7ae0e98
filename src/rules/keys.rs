//! Unknown keys in a rule file, found on a position-keeping copy of its key tree.
//!
//! Prometheus decodes rule files strictly and names the offending key and Go type
//! (`field annotation not found in type rulefmt.RuleNode`). The typed decoding in
//! `file` accepts extra keys so that `--ignore-unknown-fields` needs no second set
//! of types; this pass reports them unless the caller ignores them.

use std::fmt;

use serde::de::{MapAccess, SeqAccess, Visitor};
use serde::{Deserialize, Deserializer};
use serde_saphyr::Spanned;

use crate::config::Position;

/// A YAML node with the position of every key; scalars are not kept.
enum Node {
    Map(Vec<(Spanned<String>, Node)>),
    Seq(Vec<Node>),
    Scalar,
}

struct NodeVisitor;

impl<'de> Visitor<'de> for NodeVisitor {
    type Value = Node;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any YAML node")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Node, A::Error> {
        let mut entries = Vec::new();
        while let Some(key) = map.next_key::<Spanned<String>>()? {
            entries.push((key, map.next_value()?));
        }
        Ok(Node::Map(entries))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Node, A::Error> {
        let mut items = Vec::new();
        while let Some(item) = seq.next_element()? {
            items.push(item);
        }
        Ok(Node::Seq(items))
    }

    fn visit_bool<E>(self, _: bool) -> Result<Node, E> {
        Ok(Node::Scalar)
    }
    fn visit_i64<E>(self, _: i64) -> Result<Node, E> {
        Ok(Node::Scalar)
    }
    fn visit_u64<E>(self, _: u64) -> Result<Node, E> {
        Ok(Node::Scalar)
    }
    fn visit_f64<E>(self, _: f64) -> Result<Node, E> {
        Ok(Node::Scalar)
    }
    fn visit_str<E>(self, _: &str) -> Result<Node, E> {
        Ok(Node::Scalar)
    }
    fn visit_unit<E>(self) -> Result<Node, E> {
        Ok(Node::Scalar)
    }
    fn visit_none<E>(self) -> Result<Node, E> {
        Ok(Node::Scalar)
    }
    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Node, D::Error> {
        d.deserialize_any(NodeVisitor)
    }
}

impl<'de> Deserialize<'de> for Node {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(NodeVisitor)
    }
}

const FILE_KEYS: (&str, &[&str]) = ("rulefmt.RuleGroups", &["groups"]);
const GROUP_KEYS: (&str, &[&str]) = (
    "rulefmt.RuleGroup",
    &["name", "interval", "query_offset", "limit", "labels", "rules"],
);
const RULE_KEYS: (&str, &[&str]) = (
    "rulefmt.RuleNode",
    &[
        "record",
        "alert",
        "expr",
        "for",
        "keep_firing_for",
        "labels",
        "annotations",
    ],
);

/// `(position, message)` for every key of the file, a group or a rule that Prometheus would refuse.
/// YAML that does not parse yields nothing here: the typed decoding reports it.
pub(super) fn unknown_keys(yaml: &str) -> Vec<(Option<Position>, String)> {
    let mut out = Vec::new();
    let Ok(Some(root)) = serde_saphyr::from_str::<Option<Node>>(yaml) else {
        return out;
    };
    check_map(&root, FILE_KEYS, &mut out);
    for group in children(&root, "groups") {
        check_map(group, GROUP_KEYS, &mut out);
        for rule in children(group, "rules") {
            check_map(rule, RULE_KEYS, &mut out);
        }
    }
    out
}

fn children<'a>(node: &'a Node, key: &str) -> impl Iterator<Item = &'a Node> {
    let list = match node {
        Node::Map(entries) => entries.iter().find(|(k, _)| k.value == key).map(|(_, v)| v),
        _ => None,
    };
    let items: &[Node] = match list {
        Some(Node::Seq(items)) => items,
        _ => &[],
    };
    items.iter()
}

fn check_map(node: &Node, (type_name, known): (&str, &[&str]), out: &mut Vec<(Option<Position>, String)>) {
    let Node::Map(entries) = node else { return };
    for (key, _) in entries {
        if !known.contains(&key.value.as_str()) {
            let message = format!("field {} not found in type {type_name}", key.value);
            out.push((Position::from_location(key.referenced), message));
        }
    }
}
