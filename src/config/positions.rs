//! Where each key's value sits in the YAML source, by path (`scrape_configs.1.job_name`).
//!
//! Semantic checks run on the typed config, which keeps no positions; they name the
//! path of the offending value and this map turns it into a line and column.
//! The position-keeping [`Node`] tree is also what the rule-file loader walks to
//! name unknown keys.

use std::collections::HashMap;
use std::fmt;

use serde::de::{MapAccess, SeqAccess, Visitor};
use serde::{Deserialize, Deserializer};
use serde_saphyr::Spanned;

use super::error::Position;

/// A YAML node's shape, with the position of every key and child; scalars are not kept.
pub(crate) enum Node {
    Map(Vec<(Spanned<String>, Spanned<Node>)>),
    Seq(Vec<Spanned<Node>>),
    Scalar,
}

impl Node {
    /// The document in `yaml`, or `None` when it is empty or does not parse.
    pub(crate) fn parse(yaml: &str) -> Option<Spanned<Node>> {
        serde_saphyr::from_str::<Option<Spanned<Node>>>(yaml)
            .ok()
            .flatten()
    }

    /// The value under `key` when this is a map that has it.
    pub(crate) fn get(&self, key: &str) -> Option<&Node> {
        match self {
            Node::Map(entries) => entries
                .iter()
                .find(|(k, _)| k.value == key)
                .map(|(_, v)| &v.value),
            _ => None,
        }
    }

    /// The items of the list under `key`; none when it is missing or not a list.
    pub(crate) fn items<'a>(&'a self, key: &str) -> impl Iterator<Item = &'a Node> {
        let items: &[Spanned<Node>] = match self.get(key) {
            Some(Node::Seq(items)) => items,
            _ => &[],
        };
        items.iter().map(|item| &item.value)
    }
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

    fn visit_some<D: Deserializer<'de>>(self, deserializer: D) -> Result<Node, D::Error> {
        deserializer.deserialize_any(NodeVisitor)
    }
}

impl<'de> Deserialize<'de> for Node {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(NodeVisitor)
    }
}

/// Positions of values by dotted path; list items are numbered from 0.
#[derive(Debug, Default)]
pub(crate) struct Positions(HashMap<String, Position>);

impl Positions {
    /// Maps the document in `yaml`; a document that cannot be mapped yields no positions.
    pub(crate) fn of(yaml: &str) -> Positions {
        let mut positions = Positions::default();
        if let Some(root) = Node::parse(yaml) {
            positions.add(String::new(), &root);
        }
        positions
    }

    fn add(&mut self, path: String, node: &Spanned<Node>) {
        let child_path = |key: &str| {
            if path.is_empty() {
                key.to_string()
            } else {
                format!("{path}.{key}")
            }
        };
        match &node.value {
            Node::Map(entries) => {
                for (key, value) in entries {
                    self.add(child_path(&key.value), value);
                }
            }
            Node::Seq(items) => {
                for (index, item) in items.iter().enumerate() {
                    self.add(child_path(&index.to_string()), item);
                }
            }
            Node::Scalar => {}
        }
        if let Some(position) = Position::from_location(node.referenced) {
            self.0.insert(path, position);
        }
    }

    /// Where `path` is, or else its nearest ancestor that is in the file.
    pub(crate) fn find(&self, path: &str) -> Option<Position> {
        let mut path = path;
        loop {
            if let Some(position) = self.0.get(path) {
                return Some(*position);
            }
            path = &path[..path.rfind('.')?];
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const YAML: &str = "a:\n  b: 1\n  list:\n    - x: 2\n    -   y: [3]\n";

    fn at(line: u64, column: u64) -> Option<Position> {
        Some(Position { line, column })
    }

    #[test]
    fn finds_values_by_path() {
        let positions = Positions::of(YAML);
        assert_eq!(positions.find("a.b"), at(2, 6));
        assert_eq!(positions.find("a.list.0.x"), at(4, 10));
        assert_eq!(positions.find("a.list.1.y"), at(5, 12));
    }

    #[test]
    fn falls_back_to_nearest_ancestor() {
        let positions = Positions::of(YAML);
        assert_eq!(positions.find("a.list.0.missing"), positions.find("a.list.0"));
        assert_eq!(positions.find("nowhere"), None);
    }

    #[test]
    fn tolerates_empty_documents() {
        assert_eq!(Positions::of("").find("a"), None);
    }
}
