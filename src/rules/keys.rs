//! Unknown keys in a rule file, found on a position-keeping copy of its key tree.
//!
//! Prometheus decodes rule files strictly and names the offending key and Go type
//! (`field annotation not found in type rulefmt.RuleNode`). The typed decoding in
//! `file` accepts extra keys so that `--ignore-unknown-fields` needs no second set
//! of types; this pass reports them unless the caller ignores them.

use crate::config::{Position, YamlNode as Node};

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
    let Some(root) = Node::parse(yaml) else {
        return out;
    };
    check_map(&root.value, FILE_KEYS, &mut out);
    for group in root.value.items("groups") {
        check_map(group, GROUP_KEYS, &mut out);
        for rule in group.items("rules") {
            check_map(rule, RULE_KEYS, &mut out);
        }
    }
    out
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
