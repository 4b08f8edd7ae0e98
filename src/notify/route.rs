//! The routing tree: which route (and so which receiver and timers) each
//! alert belongs to, and the labels it is grouped by there.
//!
//! Mirrors Alertmanager's `dispatch/route.go`: depth-first, first matching
//! child wins unless it says `continue`, a node with no matching child
//! matches itself; timers and `group_by` inherit from the parent.

use std::time::Duration;

use super::model::{label_set_text, LabelSet};
use crate::config::alerting::Route as RouteConfig;
use crate::storage::matcher::{MatchOp, Matcher};

const DEFAULT_GROUP_WAIT: Duration = Duration::from_secs(30);
const DEFAULT_GROUP_INTERVAL: Duration = Duration::from_secs(300);
const DEFAULT_REPEAT_INTERVAL: Duration = Duration::from_secs(4 * 3600);

/// How a route groups alerts and paces notifications.
#[derive(Debug, Clone, PartialEq)]
pub struct RouteOptions {
    pub receiver: String,
    pub group_by: Vec<String>,
    /// `group_by: ['...']`: every label.
    pub group_by_all: bool,
    pub group_wait: Duration,
    pub group_interval: Duration,
    pub repeat_interval: Duration,
    pub mute_time_intervals: Vec<String>,
    pub active_time_intervals: Vec<String>,
}

/// One compiled node of the tree.
#[derive(Debug, Clone)]
pub struct Route {
    matchers: Vec<Matcher>,
    continue_matching: bool,
    pub options: RouteOptions,
    /// Alertmanager's `Route.Key()`: the matchers of every node from the root.
    pub key: String,
    children: Vec<Route>,
}

impl Route {
    /// Compiles the configured tree; the root's options default to Alertmanager's.
    pub fn compile(config: &RouteConfig) -> Route {
        let root_defaults = RouteOptions {
            receiver: String::new(),
            group_by: Vec::new(),
            group_by_all: false,
            group_wait: DEFAULT_GROUP_WAIT,
            group_interval: DEFAULT_GROUP_INTERVAL,
            repeat_interval: DEFAULT_REPEAT_INTERVAL,
            mute_time_intervals: Vec::new(),
            active_time_intervals: Vec::new(),
        };
        Route::compile_under(config, &root_defaults, None)
    }

    fn compile_under(config: &RouteConfig, parent: &RouteOptions, parent_key: Option<&str>) -> Route {
        let mut matchers = config.all_matchers();
        // Alertmanager sorts a route's matchers (name, value, type) before keying it.
        matchers.sort_by(|a, b| {
            (a.name.as_str(), a.value.as_str(), op_rank(a.op)).cmp(&(
                b.name.as_str(),
                b.value.as_str(),
                op_rank(b.op),
            ))
        });
        let texts: Vec<String> = matchers.iter().map(ToString::to_string).collect();
        let own = format!("{{{}}}", texts.join(","));
        let key = match parent_key {
            Some(parent_key) => format!("{parent_key}/{own}"),
            None => own,
        };
        let options = inherit(config, parent);
        let children = config
            .routes
            .iter()
            .map(|child| Route::compile_under(child, &options, Some(&key)))
            .collect();
        Route {
            matchers,
            continue_matching: config.continue_matching,
            options,
            key,
            children,
        }
    }

    /// The routes an alert with `labels` belongs to, in tree order.
    pub fn matching(&self, labels: &LabelSet) -> Vec<&Route> {
        if !self.matches(labels) {
            return Vec::new();
        }
        let mut found = Vec::new();
        for child in &self.children {
            let matched = child.matching(labels);
            let stop = !matched.is_empty() && !child.continue_matching;
            found.extend(matched);
            if stop {
                break;
            }
        }
        if found.is_empty() {
            found.push(self);
        }
        found
    }

    fn matches(&self, labels: &LabelSet) -> bool {
        self.matchers
            .iter()
            .all(|m| m.matches(labels.get(&m.name).map_or("", String::as_str)))
    }

    /// The labels `labels` is grouped by on this route.
    pub fn group_labels(&self, labels: &LabelSet) -> LabelSet {
        if self.options.group_by_all {
            return labels.clone();
        }
        self.options
            .group_by
            .iter()
            .filter_map(|name| labels.get(name).map(|value| (name.clone(), value.clone())))
            .collect()
    }

    /// Alertmanager's group key: route key and group labels.
    pub fn group_key(&self, group_labels: &LabelSet) -> String {
        format!("{}:{}", self.key, label_set_text(group_labels))
    }
}

/// Alertmanager's `MatchType` order.
fn op_rank(op: MatchOp) -> u8 {
    match op {
        MatchOp::Equal => 0,
        MatchOp::NotEqual => 1,
        MatchOp::Regex => 2,
        MatchOp::NotRegex => 3,
    }
}

fn inherit(config: &RouteConfig, parent: &RouteOptions) -> RouteOptions {
    let duration = |own: Option<crate::config::PromDuration>, inherited: Duration| {
        own.map_or(inherited, |d| Duration::from_millis(d.as_millis()))
    };
    let (group_by, group_by_all) = if config.group_by.is_empty() {
        (parent.group_by.clone(), parent.group_by_all)
    } else if config.group_by.iter().any(|name| name == "...") {
        (Vec::new(), true)
    } else {
        (config.group_by.clone(), false)
    };
    RouteOptions {
        receiver: config.receiver.clone().unwrap_or_else(|| parent.receiver.clone()),
        group_by,
        group_by_all,
        group_wait: duration(config.group_wait, parent.group_wait),
        group_interval: duration(config.group_interval, parent.group_interval),
        repeat_interval: duration(config.repeat_interval, parent.repeat_interval),
        mute_time_intervals: config.mute_time_intervals.clone(),
        active_time_intervals: config.active_time_intervals.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::alerting::AlertingConfig;

    fn tree(yaml: &str) -> Route {
        let config: AlertingConfig = serde_saphyr::from_str(yaml).unwrap();
        Route::compile(config.route.as_ref().unwrap())
    }

    fn labels(pairs: &[(&str, &str)]) -> LabelSet {
        pairs
            .iter()
            .map(|(n, v)| (n.to_string(), v.to_string()))
            .collect()
    }

    const TREE: &str = r#"
route:
  receiver: default
  group_by: [alertname]
  group_wait: 10s
  routes:
    - matchers: ['severity="critical"']
      receiver: pager
      continue: true
      group_by: ['...']
    - match: {team: ml}
      receiver: ml
      repeat_interval: 1h
      routes:
        - matchers: [model=~"fraud.*"]
          receiver: fraud
"#;

    fn receivers(routes: &[&Route]) -> Vec<String> {
        routes.iter().map(|r| r.options.receiver.clone()).collect()
    }

    #[test]
    fn first_match_wins_unless_continue() {
        let root = tree(TREE);
        let crit_ml = labels(&[("severity", "critical"), ("team", "ml"), ("model", "x")]);
        assert_eq!(receivers(&root.matching(&crit_ml)), ["pager", "ml"]);
        let fraud = labels(&[("team", "ml"), ("model", "fraud-v2")]);
        assert_eq!(receivers(&root.matching(&fraud)), ["fraud"]);
        assert_eq!(
            receivers(&root.matching(&labels(&[("team", "web")]))),
            ["default"]
        );
    }

    #[test]
    fn timers_and_grouping_inherit() {
        let root = tree(TREE);
        let fraud = labels(&[("alertname", "A"), ("team", "ml"), ("model", "fraud-v2")]);
        let route = root.matching(&fraud)[0];
        assert_eq!(route.options.group_wait, Duration::from_secs(10));
        assert_eq!(route.options.repeat_interval, Duration::from_secs(3600));
        assert_eq!(route.options.group_interval, DEFAULT_GROUP_INTERVAL);
        assert_eq!(route.key, r#"{}/{team="ml"}/{model=~"fraud.*"}"#);
        let sorted =
            tree("route:\n  receiver: r\n  routes:\n    - {matchers: ['b=1', 'a!=2'], match: {a: '3'}}\n");
        let child = sorted.matching(&labels(&[("a", "3"), ("b", "1")]))[0];
        assert_eq!(child.key, r#"{}/{a!="2",a="3",b="1"}"#);
        let group = route.group_labels(&fraud);
        assert_eq!(
            route.group_key(&group),
            r#"{}/{team="ml"}/{model=~"fraud.*"}:{alertname="A"}"#
        );
        let pager = root.matching(&labels(&[("severity", "critical"), ("x", "y")]))[0];
        assert_eq!(
            pager
                .group_labels(&labels(&[("severity", "critical"), ("x", "y")]))
                .len(),
            2
        );
    }
}
