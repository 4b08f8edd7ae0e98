//! The `alerting:` section: Prometheus's own keys (`alertmanagers`,
//! `alert_relabel_configs`) beside Alertmanager's (`global`, `route`,
//! `receivers`, `inhibit_rules`, `time_intervals`, `templates`) in their own
//! formats, so an `alertmanager.yml` pasted under `alerting:` (or named by
//! `alerting.config_file`) parses unchanged.
//!
//! Owns the shape, the defaults Alertmanager fills in, Alertmanager's matcher
//! syntax and the checks Alertmanager runs at load. It must not act on the
//! configuration: the notifier (`crate::notify`) does that.

use std::collections::{BTreeMap, HashSet};
use std::fmt;

use serde::de::Error as _;
use serde::{Deserialize, Deserializer};

use super::fields::{self, Secret};
use super::sections::{Authorization, BasicAuth, RelabelConfig, Scheme, TlsConfig};
use super::units::PromDuration;
use super::validate::Violation;
use crate::storage::labels::is_valid_label_name;
use crate::storage::matcher::{MatchOp, Matcher};

/// `alerting:` as a whole.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AlertingConfig {
    /// External Alertmanagers that receive every alert (Prometheus's key).
    #[serde(default, deserialize_with = "fields::nullable")]
    pub alertmanagers: Vec<AlertmanagerConfig>,
    /// Applied to alerts before they leave for external Alertmanagers (Prometheus's key).
    #[serde(default, deserialize_with = "fields::nullable")]
    pub alert_relabel_configs: Vec<RelabelConfig>,
    /// An `alertmanager.yml` whose sections are used when not written here.
    #[serde(default)]
    pub config_file: Option<String>,
    #[serde(default, deserialize_with = "fields::nullable")]
    pub global: NotifyGlobal,
    /// The routing tree; without it Sightline sends no notifications itself.
    #[serde(default)]
    pub route: Option<Route>,
    #[serde(default, deserialize_with = "fields::nullable")]
    pub receivers: Vec<Receiver>,
    #[serde(default, deserialize_with = "fields::nullable")]
    pub inhibit_rules: Vec<InhibitRule>,
    #[serde(default, deserialize_with = "fields::nullable")]
    pub time_intervals: Vec<NamedTimeInterval>,
    /// The older name of `time_intervals`; both may be used.
    #[serde(default, deserialize_with = "fields::nullable")]
    pub mute_time_intervals: Vec<NamedTimeInterval>,
    /// Template files (globs); Sightline's templates use the names defined there.
    #[serde(default, deserialize_with = "fields::nullable")]
    pub templates: Vec<String>,
}

/// The part of `alerting:` that an `alertmanager.yml` holds.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AlertmanagerFile {
    #[serde(default, deserialize_with = "fields::nullable")]
    pub global: NotifyGlobal,
    #[serde(default)]
    pub route: Option<Route>,
    #[serde(default, deserialize_with = "fields::nullable")]
    pub receivers: Vec<Receiver>,
    #[serde(default, deserialize_with = "fields::nullable")]
    pub inhibit_rules: Vec<InhibitRule>,
    #[serde(default, deserialize_with = "fields::nullable")]
    pub time_intervals: Vec<NamedTimeInterval>,
    #[serde(default, deserialize_with = "fields::nullable")]
    pub mute_time_intervals: Vec<NamedTimeInterval>,
    #[serde(default, deserialize_with = "fields::nullable")]
    pub templates: Vec<String>,
}

impl AlertingConfig {
    /// Takes from `file` every Alertmanager section not written inline.
    pub fn fill_from(&mut self, file: AlertmanagerFile) {
        if self.global == NotifyGlobal::default() {
            self.global = file.global;
        }
        if self.route.is_none() {
            self.route = file.route;
        }
        if self.receivers.is_empty() {
            self.receivers = file.receivers;
        }
        if self.inhibit_rules.is_empty() {
            self.inhibit_rules = file.inhibit_rules;
        }
        if self.time_intervals.is_empty() {
            self.time_intervals = file.time_intervals;
        }
        if self.mute_time_intervals.is_empty() {
            self.mute_time_intervals = file.mute_time_intervals;
        }
        if self.templates.is_empty() {
            self.templates = file.templates;
        }
    }

    /// Every named time interval, from both keys.
    pub fn all_time_intervals(&self) -> impl Iterator<Item = &NamedTimeInterval> {
        self.time_intervals.iter().chain(&self.mute_time_intervals)
    }
}

/// One entry of Prometheus's `alerting.alertmanagers`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AlertmanagerConfig {
    #[serde(default)]
    pub scheme: Scheme,
    #[serde(default)]
    pub path_prefix: String,
    #[serde(default = "default_alertmanager_timeout")]
    pub timeout: PromDuration,
    /// Only `v2` exists since Prometheus 2.x dropped v1.
    #[serde(default)]
    pub api_version: ApiVersion,
    #[serde(default, deserialize_with = "fields::nullable")]
    pub static_configs: Vec<AlertmanagerTargets>,
    #[serde(default, deserialize_with = "fields::nullable")]
    pub relabel_configs: Vec<RelabelConfig>,
    #[serde(default, deserialize_with = "fields::nullable")]
    pub alert_relabel_configs: Vec<RelabelConfig>,
    #[serde(default)]
    pub basic_auth: Option<BasicAuth>,
    #[serde(default)]
    pub authorization: Option<Authorization>,
    #[serde(default, deserialize_with = "fields::nullable")]
    pub tls_config: TlsConfig,
    #[serde(default = "default_true")]
    pub follow_redirects: bool,
    #[serde(default = "default_true")]
    pub enable_http2: bool,
}

fn default_alertmanager_timeout() -> PromDuration {
    PromDuration::from_secs(10)
}

fn default_true() -> bool {
    true
}

/// The Alertmanager API version to talk.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ApiVersion {
    #[default]
    V2,
}

/// `static_configs` of an Alertmanager: `host:port` targets.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AlertmanagerTargets {
    #[serde(default, deserialize_with = "fields::targets")]
    pub targets: Vec<String>,
    #[serde(default, deserialize_with = "fields::label_map")]
    pub labels: BTreeMap<String, String>,
}

/// Alertmanager's `global`: defaults for receivers.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NotifyGlobal {
    /// An alert sent without `endsAt` resolves after this long without an update.
    #[serde(default = "default_resolve_timeout")]
    pub resolve_timeout: PromDuration,
    #[serde(default)]
    pub slack_api_url: Option<Secret>,
    #[serde(default)]
    pub slack_api_url_file: Option<String>,
    #[serde(default = "default_pagerduty_url")]
    pub pagerduty_url: String,
    #[serde(default, deserialize_with = "fields::nullable")]
    pub http_config: HttpConfig,
}

fn default_resolve_timeout() -> PromDuration {
    PromDuration::from_secs(300)
}

fn default_pagerduty_url() -> String {
    "https://events.pagerduty.com/v2/enqueue".to_string()
}

impl Default for NotifyGlobal {
    fn default() -> Self {
        NotifyGlobal {
            resolve_timeout: default_resolve_timeout(),
            slack_api_url: None,
            slack_api_url_file: None,
            pagerduty_url: default_pagerduty_url(),
            http_config: HttpConfig::default(),
        }
    }
}

/// Alertmanager's `http_config` for a receiver.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HttpConfig {
    #[serde(default)]
    pub basic_auth: Option<BasicAuth>,
    #[serde(default)]
    pub authorization: Option<Authorization>,
    #[serde(default)]
    pub bearer_token: Option<Secret>,
    #[serde(default)]
    pub bearer_token_file: Option<String>,
    #[serde(default, deserialize_with = "fields::nullable")]
    pub tls_config: TlsConfig,
    #[serde(default)]
    pub proxy_url: Option<String>,
    #[serde(default = "default_true")]
    pub follow_redirects: bool,
    #[serde(default = "default_true")]
    pub enable_http2: bool,
}

impl Default for HttpConfig {
    fn default() -> Self {
        HttpConfig {
            basic_auth: None,
            authorization: None,
            bearer_token: None,
            bearer_token_file: None,
            tls_config: TlsConfig::default(),
            proxy_url: None,
            follow_redirects: true,
            enable_http2: true,
        }
    }
}

/// A node of the routing tree. Timers left unset inherit from the parent.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Route {
    #[serde(default)]
    pub receiver: Option<String>,
    /// Label names to group by; `...` alone groups by every label.
    #[serde(default, deserialize_with = "fields::nullable")]
    pub group_by: Vec<String>,
    #[serde(default, rename = "continue")]
    pub continue_matching: bool,
    #[serde(default, deserialize_with = "matcher_lists")]
    pub matchers: Vec<Matcher>,
    /// The older equality form of `matchers`.
    #[serde(default, rename = "match", deserialize_with = "fields::label_map")]
    pub match_equal: BTreeMap<String, String>,
    /// The older regex form of `matchers`.
    #[serde(default, rename = "match_re", deserialize_with = "regex_map")]
    pub match_regex: Vec<Matcher>,
    #[serde(default)]
    pub group_wait: Option<PromDuration>,
    #[serde(default)]
    pub group_interval: Option<PromDuration>,
    #[serde(default)]
    pub repeat_interval: Option<PromDuration>,
    #[serde(default, deserialize_with = "fields::nullable")]
    pub mute_time_intervals: Vec<String>,
    #[serde(default, deserialize_with = "fields::nullable")]
    pub active_time_intervals: Vec<String>,
    #[serde(default, deserialize_with = "fields::nullable")]
    pub routes: Vec<Route>,
}

impl Route {
    /// `matchers`, `match` and `match_re` together, in that order.
    pub fn all_matchers(&self) -> Vec<Matcher> {
        let equal = self.match_equal.iter().map(|(n, v)| Matcher::equal(n, v));
        self.matchers
            .iter()
            .cloned()
            .chain(equal)
            .chain(self.match_regex.iter().cloned())
            .collect()
    }
}

/// A named receiver and its integrations.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Receiver {
    pub name: String,
    #[serde(default, deserialize_with = "fields::nullable")]
    pub webhook_configs: Vec<WebhookConfig>,
    #[serde(default, deserialize_with = "fields::nullable")]
    pub slack_configs: Vec<SlackConfig>,
    #[serde(default, deserialize_with = "fields::nullable")]
    pub pagerduty_configs: Vec<PagerdutyConfig>,
}

/// `webhook_configs` entry.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WebhookConfig {
    #[serde(default = "default_true")]
    pub send_resolved: bool,
    #[serde(default)]
    pub url: Option<Secret>,
    #[serde(default)]
    pub url_file: Option<String>,
    #[serde(default)]
    pub http_config: Option<HttpConfig>,
    /// At most this many alerts per message; `0` is no limit.
    #[serde(default)]
    pub max_alerts: u64,
    /// `0` is Alertmanager's default: bounded only by the group interval.
    #[serde(default)]
    pub timeout: PromDuration,
}

/// `slack_configs` entry (incoming webhook).
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SlackConfig {
    #[serde(default)]
    pub send_resolved: bool,
    #[serde(default)]
    pub api_url: Option<Secret>,
    #[serde(default)]
    pub api_url_file: Option<String>,
    #[serde(default)]
    pub http_config: Option<HttpConfig>,
    #[serde(default)]
    pub channel: Option<String>,
    #[serde(default)]
    pub username: Option<String>,
    /// A template; empty picks the colour by the group's `severity`.
    #[serde(default)]
    pub color: Option<String>,
    #[serde(default)]
    pub title: Option<String>,
    #[serde(default)]
    pub title_link: Option<String>,
    #[serde(default)]
    pub pretext: Option<String>,
    #[serde(default)]
    pub text: Option<String>,
    #[serde(default)]
    pub footer: Option<String>,
    #[serde(default)]
    pub fallback: Option<String>,
    #[serde(default)]
    pub icon_emoji: Option<String>,
    #[serde(default)]
    pub icon_url: Option<String>,
    #[serde(default)]
    pub link_names: bool,
    #[serde(default)]
    pub short_fields: bool,
    #[serde(default, deserialize_with = "fields::nullable")]
    pub fields: Vec<SlackField>,
    #[serde(default, deserialize_with = "fields::nullable")]
    pub mrkdwn_in: Vec<String>,
}

/// One attachment field of a Slack message.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SlackField {
    pub title: String,
    pub value: String,
    #[serde(default)]
    pub short: Option<bool>,
}

/// `pagerduty_configs` entry (Events API v2).
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PagerdutyConfig {
    #[serde(default = "default_true")]
    pub send_resolved: bool,
    #[serde(default)]
    pub routing_key: Option<Secret>,
    #[serde(default)]
    pub routing_key_file: Option<String>,
    /// Events API v1 key; Sightline speaks v2 only and refuses it.
    #[serde(default)]
    pub service_key: Option<Secret>,
    #[serde(default)]
    pub service_key_file: Option<String>,
    #[serde(default)]
    pub url: Option<String>,
    #[serde(default)]
    pub http_config: Option<HttpConfig>,
    #[serde(default)]
    pub client: Option<String>,
    #[serde(default)]
    pub client_url: Option<String>,
    #[serde(default)]
    pub description: Option<String>,
    #[serde(default)]
    pub severity: Option<String>,
    #[serde(default)]
    pub class: Option<String>,
    #[serde(default)]
    pub component: Option<String>,
    #[serde(default)]
    pub group: Option<String>,
    #[serde(default)]
    pub source: Option<String>,
    #[serde(default, deserialize_with = "fields::nullable")]
    pub details: BTreeMap<String, String>,
}

/// An inhibition rule; the `source_match*`/`target_match*` forms are the older spellings.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InhibitRule {
    #[serde(default, deserialize_with = "matcher_lists")]
    pub source_matchers: Vec<Matcher>,
    #[serde(default, deserialize_with = "matcher_lists")]
    pub target_matchers: Vec<Matcher>,
    #[serde(default, deserialize_with = "fields::label_map")]
    pub source_match: BTreeMap<String, String>,
    #[serde(default, deserialize_with = "regex_map")]
    pub source_match_re: Vec<Matcher>,
    #[serde(default, deserialize_with = "fields::label_map")]
    pub target_match: BTreeMap<String, String>,
    #[serde(default, deserialize_with = "regex_map")]
    pub target_match_re: Vec<Matcher>,
    #[serde(default, deserialize_with = "fields::label_names")]
    pub equal: Vec<String>,
}

impl InhibitRule {
    /// Every condition on the inhibiting alert.
    pub fn all_source_matchers(&self) -> Vec<Matcher> {
        combine(&self.source_matchers, &self.source_match, &self.source_match_re)
    }

    /// Every condition on the inhibited alert.
    pub fn all_target_matchers(&self) -> Vec<Matcher> {
        combine(&self.target_matchers, &self.target_match, &self.target_match_re)
    }
}

fn combine(matchers: &[Matcher], equal: &BTreeMap<String, String>, regex: &[Matcher]) -> Vec<Matcher> {
    let equal = equal.iter().map(|(n, v)| Matcher::equal(n, v));
    matchers
        .iter()
        .cloned()
        .chain(equal)
        .chain(regex.iter().cloned())
        .collect()
}

/// `time_intervals` entry: a name and the periods it covers.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NamedTimeInterval {
    pub name: String,
    #[serde(default, deserialize_with = "fields::nullable")]
    pub time_intervals: Vec<TimePeriod>,
}

/// One period: every listed constraint must hold; an absent one always holds.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TimePeriod {
    #[serde(default, deserialize_with = "fields::nullable")]
    pub times: Vec<TimeOfDayRange>,
    #[serde(default, deserialize_with = "ranges::<WeekdayBound, _>")]
    pub weekdays: Vec<(u32, u32)>,
    #[serde(default, deserialize_with = "ranges::<DayOfMonthBound, _>")]
    pub days_of_month: Vec<(i32, i32)>,
    #[serde(default, deserialize_with = "ranges::<MonthBound, _>")]
    pub months: Vec<(u32, u32)>,
    #[serde(default, deserialize_with = "ranges::<YearBound, _>")]
    pub years: Vec<(i32, i32)>,
    /// Only `UTC` and `Local` are known (no time-zone database is bundled).
    #[serde(default)]
    pub location: Option<TimeLocation>,
}

/// `start_time`/`end_time` as minutes since midnight, end exclusive.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TimeOfDayRange {
    pub start_minute: u32,
    pub end_minute: u32,
}

impl<'de> Deserialize<'de> for TimeOfDayRange {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(deny_unknown_fields)]
        struct Raw {
            start_time: String,
            end_time: String,
        }
        let raw = Raw::deserialize(deserializer)?;
        let start_minute = parse_clock(&raw.start_time).map_err(D::Error::custom)?;
        let end_minute = parse_clock(&raw.end_time).map_err(D::Error::custom)?;
        if start_minute >= end_minute {
            return Err(D::Error::custom(
                "start time cannot be equal or greater than end time",
            ));
        }
        Ok(TimeOfDayRange {
            start_minute,
            end_minute,
        })
    }
}

/// `HH:MM` between `00:00` and `24:00`.
fn parse_clock(text: &str) -> Result<u32, String> {
    let invalid = || format!("couldn't parse timestamp {text}, invalid format");
    let (hours, minutes) = text.split_once(':').ok_or_else(invalid)?;
    let hours: u32 = hours.parse().map_err(|_| invalid())?;
    let minutes: u32 = minutes.parse().map_err(|_| invalid())?;
    if hours > 24 || minutes > 59 || (hours == 24 && minutes != 0) {
        return Err(format!("timestamp {text} out of range"));
    }
    Ok(hours * 60 + minutes)
}

/// `UTC` or `Local`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TimeLocation {
    Utc,
    Local,
}

impl<'de> Deserialize<'de> for TimeLocation {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let name = String::deserialize(deserializer)?;
        match name.as_str() {
            "UTC" | "" => Ok(TimeLocation::Utc),
            "Local" => Ok(TimeLocation::Local),
            other => Err(D::Error::custom(format!(
                "unknown time zone {other:?}: Sightline bundles no time-zone database; use UTC or Local"
            ))),
        }
    }
}

/// One end of a `start:end` range in a time period.
trait RangeBound: Sized {
    type Value: Copy + PartialOrd + fmt::Debug;
    fn parse(text: &str) -> Result<Self::Value, String>;
    /// Extra checks on a whole range; the default requires `start <= end`.
    fn check(start: Self::Value, end: Self::Value, text: &str) -> Result<(), String> {
        if start > end {
            return Err(format!("start is after end in range {text:?}"));
        }
        Ok(())
    }
}

struct WeekdayBound;
impl RangeBound for WeekdayBound {
    type Value = u32;
    fn parse(text: &str) -> Result<u32, String> {
        const DAYS: [&str; 7] = [
            "sunday",
            "monday",
            "tuesday",
            "wednesday",
            "thursday",
            "friday",
            "saturday",
        ];
        let lower = text.to_ascii_lowercase();
        DAYS.iter()
            .position(|day| *day == lower)
            .map(|index| index as u32)
            .ok_or_else(|| format!("{text} is not a valid weekday"))
    }
}

struct DayOfMonthBound;
impl RangeBound for DayOfMonthBound {
    type Value = i32;
    fn parse(text: &str) -> Result<i32, String> {
        let day: i32 = text
            .parse()
            .map_err(|_| format!("invalid day of month {text:?}"))?;
        if day == 0 || !(-31..=31).contains(&day) {
            return Err(format!("{day} is not a valid day of the month: out of range"));
        }
        Ok(day)
    }
    fn check(start: i32, end: i32, text: &str) -> Result<(), String> {
        // Negative days count from the month's end; mixed signs are checked at match time.
        if start.signum() == end.signum() && start > end {
            return Err(format!("start day cannot be after end day in {text:?}"));
        }
        Ok(())
    }
}

struct MonthBound;
impl RangeBound for MonthBound {
    type Value = u32;
    fn parse(text: &str) -> Result<u32, String> {
        const MONTHS: [&str; 12] = [
            "january",
            "february",
            "march",
            "april",
            "may",
            "june",
            "july",
            "august",
            "september",
            "october",
            "november",
            "december",
        ];
        if let Ok(number) = text.parse::<u32>() {
            if (1..=12).contains(&number) {
                return Ok(number);
            }
            return Err(format!("{number} is not a valid month: out of range"));
        }
        let lower = text.to_ascii_lowercase();
        MONTHS
            .iter()
            .position(|month| *month == lower)
            .map(|index| index as u32 + 1)
            .ok_or_else(|| format!("{text} is not a valid month"))
    }
}

struct YearBound;
impl RangeBound for YearBound {
    type Value = i32;
    fn parse(text: &str) -> Result<i32, String> {
        text.parse().map_err(|_| format!("invalid year {text:?}"))
    }
}

/// Inclusive `(start, end)` pairs.
type Ranges<T> = Vec<(T, T)>;

/// A list of `start:end` (or single `value`) ranges, checked per element.
fn ranges<'de, B: RangeBound, D: Deserializer<'de>>(deserializer: D) -> Result<Ranges<B::Value>, D::Error> {
    let texts = fields::nullable::<_, Vec<String>>(deserializer)?;
    texts
        .iter()
        .map(|text| {
            let (start, end) = text.split_once(':').unwrap_or((text, text));
            let start = B::parse(start.trim()).map_err(D::Error::custom)?;
            let end = B::parse(end.trim()).map_err(D::Error::custom)?;
            B::check(start, end, text).map_err(D::Error::custom)?;
            Ok((start, end))
        })
        .collect()
}

/// A `matchers:` list: each string holds one matcher or a `{...}` list of them.
pub(super) fn matcher_lists<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Vec<Matcher>, D::Error> {
    let texts = fields::nullable::<_, Vec<String>>(deserializer)?;
    let mut matchers = Vec::new();
    for text in &texts {
        matchers.extend(parse_matchers(text).map_err(D::Error::custom)?);
    }
    Ok(matchers)
}

/// A `match_re:` map: label name to an (anchored) regex.
fn regex_map<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Vec<Matcher>, D::Error> {
    let map = fields::label_map(deserializer)?;
    map.into_iter()
        .map(|(name, value)| {
            Matcher::new(MatchOp::Regex, name, value.as_str())
                .map_err(|err| D::Error::custom(format!("invalid regex {value:?}: {err}")))
        })
        .collect()
}

/// Parses Alertmanager's matcher syntax: `{a="b", c=~"d.*"}`, `a=b,c!=d` or one
/// matcher. Values may be quoted (with `\"`, `\\`, `\n` escapes) or bare.
pub fn parse_matchers(text: &str) -> Result<Vec<Matcher>, String> {
    let trimmed = text.trim();
    let inner = match (trimmed.strip_prefix('{'), trimmed.ends_with('}')) {
        (Some(rest), true) => &rest[..rest.len() - 1],
        (None, false) => trimmed,
        _ => return Err(format!("bad matcher format: {text}")),
    };
    let mut rest = inner;
    let mut matchers = Vec::new();
    loop {
        rest = rest.trim_start_matches(|c: char| c.is_whitespace() || c == ',');
        if rest.is_empty() {
            return Ok(matchers);
        }
        let (matcher, after) =
            parse_one_matcher(rest).map_err(|err| format!("bad matcher format: {text}: {err}"))?;
        matchers.push(matcher);
        rest = after.trim_start();
        if !rest.is_empty() && !rest.starts_with(',') {
            return Err(format!("expected a comma after a matcher in {text:?}"));
        }
    }
}

/// One `name op value` from the front of `text`; returns the rest.
fn parse_one_matcher(text: &str) -> Result<(Matcher, &str), String> {
    let name_end = text
        .find(|c: char| c == '=' || c == '!' || c == '~' || c.is_whitespace())
        .ok_or("matcher without an operator")?;
    let name = text[..name_end].trim_matches('"');
    if !is_valid_label_name(name) {
        return Err(format!("invalid label name {name:?}"));
    }
    let after_name = text[name_end..].trim_start();
    let (op, after_op) = [
        ("=~", MatchOp::Regex),
        ("!~", MatchOp::NotRegex),
        ("!=", MatchOp::NotEqual),
        ("=", MatchOp::Equal),
    ]
    .into_iter()
    .find_map(|(symbol, op)| after_name.strip_prefix(symbol).map(|rest| (op, rest)))
    .ok_or_else(|| format!("unknown operator after {name:?}"))?;
    let (value, rest) = parse_matcher_value(after_op.trim_start())?;
    let matcher = Matcher::new(op, name, value).map_err(|err| format!("invalid regex: {err}"))?;
    Ok((matcher, rest))
}

/// A quoted or bare value; a bare one runs to the next comma.
fn parse_matcher_value(text: &str) -> Result<(String, &str), String> {
    let Some(quoted) = text.strip_prefix('"') else {
        let end = text.find(',').unwrap_or(text.len());
        return Ok((text[..end].trim_end().to_string(), &text[end..]));
    };
    let mut value = String::new();
    let mut chars = quoted.char_indices();
    while let Some((index, c)) = chars.next() {
        match c {
            '"' => return Ok((value, &quoted[index + 1..])),
            '\\' => match chars.next() {
                Some((_, 'n')) => value.push('\n'),
                Some((_, escaped)) => value.push(escaped),
                None => break,
            },
            other => value.push(other),
        }
    }
    Err("unterminated quoted value".to_string())
}

/// Alertmanager's load-time checks on the notification sections.
pub(crate) fn check(alerting: &AlertingConfig) -> Vec<Violation> {
    let mut found = Vec::new();
    let mut add = |path: String, message: String| found.push(Violation { path, message });
    let mut names = HashSet::new();
    for (index, receiver) in alerting.receivers.iter().enumerate() {
        let path = format!("alerting.receivers.{index}");
        if receiver.name.is_empty() {
            add(format!("{path}.name"), "missing name in receiver".into());
        } else if !names.insert(receiver.name.as_str()) {
            add(
                format!("{path}.name"),
                format!("notification config name {:?} is not unique", receiver.name),
            );
        }
        check_receiver(receiver, &alerting.global, &path, &mut add);
    }
    let intervals: HashSet<&str> = alerting.all_time_intervals().map(|t| t.name.as_str()).collect();
    match &alerting.route {
        Some(route) => {
            if route.receiver.as_deref().unwrap_or_default().is_empty() {
                add(
                    "alerting.route".into(),
                    "root route must specify a default receiver".into(),
                );
            }
            if !route.all_matchers().is_empty() {
                add(
                    "alerting.route".into(),
                    "root route must not have any matchers".into(),
                );
            }
            if !route.mute_time_intervals.is_empty() || !route.active_time_intervals.is_empty() {
                add(
                    "alerting.route".into(),
                    "root route must not have any time intervals".into(),
                );
            }
            check_route(route, "alerting.route", &names, &intervals, &mut add);
        }
        None if !alerting.receivers.is_empty() => {
            add("alerting.receivers".into(), "no route provided in config".into());
        }
        None => {}
    }
    found
}

fn check_receiver(
    receiver: &Receiver,
    global: &NotifyGlobal,
    path: &str,
    add: &mut impl FnMut(String, String),
) {
    for (index, webhook) in receiver.webhook_configs.iter().enumerate() {
        let at = format!("{path}.webhook_configs.{index}");
        match (&webhook.url, &webhook.url_file) {
            (None, None) => add(at, "one of url or url_file must be configured".into()),
            (Some(_), Some(_)) => add(at, "at most one of url & url_file must be configured".into()),
            _ => {}
        }
    }
    for (index, slack) in receiver.slack_configs.iter().enumerate() {
        let at = format!("{path}.slack_configs.{index}");
        let own = slack.api_url.is_some() || slack.api_url_file.is_some();
        let global_url = global.slack_api_url.is_some() || global.slack_api_url_file.is_some();
        if slack.api_url.is_some() && slack.api_url_file.is_some() {
            add(
                at,
                "at most one of api_url & api_url_file must be configured".into(),
            );
        } else if !own && !global_url {
            add(
                at,
                "no global Slack API URL set either inline or in a file".into(),
            );
        }
    }
    for (index, pagerduty) in receiver.pagerduty_configs.iter().enumerate() {
        let at = format!("{path}.pagerduty_configs.{index}");
        if pagerduty.service_key.is_some() || pagerduty.service_key_file.is_some() {
            add(
                at,
                "service_key (Events API v1) is not supported: use routing_key".into(),
            );
        } else if pagerduty.routing_key.is_some() == pagerduty.routing_key_file.is_some() {
            add(
                at,
                "exactly one of routing_key or routing_key_file must be configured".into(),
            );
        }
    }
}

fn check_route(
    route: &Route,
    path: &str,
    receivers: &HashSet<&str>,
    intervals: &HashSet<&str>,
    add: &mut impl FnMut(String, String),
) {
    if let Some(receiver) = &route.receiver {
        if !receivers.contains(receiver.as_str()) {
            add(
                format!("{path}.receiver"),
                format!("undefined receiver {receiver:?} used in route"),
            );
        }
    }
    check_group_by(&route.group_by, path, add);
    if route.group_interval.is_some_and(PromDuration::is_zero) {
        add(
            format!("{path}.group_interval"),
            "group_interval cannot be zero".into(),
        );
    }
    if route.repeat_interval.is_some_and(PromDuration::is_zero) {
        add(
            format!("{path}.repeat_interval"),
            "repeat_interval cannot be zero".into(),
        );
    }
    let named = route
        .mute_time_intervals
        .iter()
        .chain(&route.active_time_intervals);
    for name in named {
        if !intervals.contains(name.as_str()) {
            add(
                path.to_string(),
                format!("undefined time interval {name:?} used in route"),
            );
        }
    }
    for (index, child) in route.routes.iter().enumerate() {
        check_route(
            child,
            &format!("{path}.routes.{index}"),
            receivers,
            intervals,
            add,
        );
    }
}

fn check_group_by(group_by: &[String], path: &str, add: &mut impl FnMut(String, String)) {
    let mut seen = HashSet::new();
    for (index, name) in group_by.iter().enumerate() {
        let at = format!("{path}.group_by.{index}");
        if name == "..." {
            if group_by.len() > 1 {
                add(
                    at,
                    "cannot have wildcard group_by (`...`) and other labels at the same time".into(),
                );
            }
        } else if !is_valid_label_name(name) {
            add(at, format!("invalid label name {name:?} in group_by list"));
        } else if !seen.insert(name) {
            add(at, format!("duplicated label {name:?} in group_by"));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn texts(matchers: &[Matcher]) -> Vec<String> {
        matchers.iter().map(|m| m.to_string()).collect()
    }

    #[test]
    fn matchers_in_every_spelling() {
        assert_eq!(texts(&parse_matchers("foo=bar").unwrap()), [r#"foo="bar""#]);
        assert_eq!(
            texts(&parse_matchers(r#"{a="x, y", b=~"c.*" , d!=e}"#).unwrap()),
            [r#"a="x, y""#, r#"b=~"c.*""#, r#"d!="e""#]
        );
        assert_eq!(texts(&parse_matchers(r#"q!~"a\"b""#).unwrap()), [r#"q!~"a\"b""#]);
        assert!(parse_matchers("").unwrap().is_empty());
    }

    #[test]
    fn bad_matchers_say_why() {
        assert!(parse_matchers("{a=b").unwrap_err().contains("bad matcher format"));
        assert!(parse_matchers("1a=b").unwrap_err().contains("invalid label name"));
        assert!(parse_matchers("a").unwrap_err().contains("without an operator"));
        assert!(parse_matchers(r#"a="b"#).unwrap_err().contains("unterminated"));
        assert!(parse_matchers("a=~(").unwrap_err().contains("invalid regex"));
    }

    #[test]
    fn matcher_regexes_are_anchored() {
        let matcher = &parse_matchers("model=~fraud").unwrap()[0];
        assert!(matcher.matches("fraud"));
        assert!(!matcher.matches("fraud-v2"));
    }

    /// An Alertmanager configuration as teams write it, pasted under `alerting:`.
    const PASTED: &str = r#"
alerting:
  alertmanagers:
    - static_configs: [{targets: ['127.0.0.1:9093']}]
      path_prefix: /am
  global:
    resolve_timeout: 1m
    slack_api_url: https://hooks.slack.com/services/T/B/X
  route:
    receiver: default
    group_by: [alertname, model]
    routes:
      - matchers: ['severity="critical"']
        receiver: pager
        mute_time_intervals: [weekend]
  receivers:
    - name: default
      webhook_configs: [{url: 'http://127.0.0.1:5001/', max_alerts: 10}]
      slack_configs: [{channel: '#ml'}]
    - name: pager
      pagerduty_configs: [{routing_key: abc}]
  inhibit_rules:
    - source_match: {severity: critical}
      target_matchers: [severity=warning]
      equal: [model]
  time_intervals:
    - name: weekend
      time_intervals: [{weekdays: ['saturday', 'sunday']}]
  templates: ['/etc/sightline/*.tmpl']
"#;

    #[test]
    fn pasted_alertmanager_yml_parses() {
        let config = crate::config::parse_str(PASTED, "t.yml").unwrap();
        let alerting = config.alerting;
        assert_eq!(alerting.alertmanagers[0].path_prefix, "/am");
        assert_eq!(alerting.global.resolve_timeout, PromDuration::from_secs(60));
        let route = alerting.route.unwrap();
        assert_eq!(
            route.routes[0].all_matchers()[0].to_string(),
            r#"severity="critical""#
        );
        assert_eq!(alerting.receivers[0].webhook_configs[0].max_alerts, 10);
        assert!(alerting.receivers[0].webhook_configs[0].send_resolved);
        assert!(!alerting.receivers[0].slack_configs[0].send_resolved);
        assert_eq!(
            alerting.inhibit_rules[0].all_source_matchers()[0].to_string(),
            r#"severity="critical""#
        );
        assert_eq!(
            alerting.time_intervals[0].time_intervals[0].weekdays,
            [(6, 6), (0, 0)]
        );
    }

    fn first_error(yaml: &str) -> String {
        crate::config::parse_str(yaml, "t.yml").unwrap_err().problems[0].to_string()
    }

    #[test]
    fn mistakes_point_at_their_place() {
        let yaml = "alerting:\n  route: {receiver: nobody}\n  receivers: [{name: ops}]\n";
        assert_eq!(
            first_error(yaml),
            r#"t.yml:2:21: undefined receiver "nobody" used in route"#
        );
        let yaml = "alerting:\n  route:\n    receiver: ops\n    routes:\n      - matchers: ['a=~(']\n  receivers: [{name: ops}]\n";
        assert!(first_error(yaml).starts_with("t.yml:5:"), "{}", first_error(yaml));
        let yaml = "alerting:\n  receivers:\n    - name: ops\n      email_configs: []\n";
        assert!(
            first_error(yaml).starts_with("t.yml:4:7: unknown field `email_configs`"),
            "{}",
            first_error(yaml)
        );
        let yaml = "alerting:\n  route: {receiver: ops}\n  receivers:\n    - name: ops\n      webhook_configs: [{send_resolved: true}]\n";
        assert!(first_error(yaml).contains("one of url or url_file must be configured"));
        let yaml = "alerting:\n  time_intervals: [{name: x, time_intervals: [{times: [{start_time: '10:00', end_time: '09:00'}]}]}]\n";
        assert!(first_error(yaml).contains("start time cannot be equal or greater than end time"));
    }

    #[test]
    fn config_file_fills_the_notification_sections() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("alertmanager.yml"),
            "route: {receiver: ops}\nreceivers:\n  - name: ops\n    webhook_configs: [{url_file: hook.url}]\n",
        )
        .unwrap();
        let main = dir.path().join("sightline.yml");
        std::fs::write(&main, "alerting:\n  config_file: alertmanager.yml\n").unwrap();
        let config = crate::config::load_file(&main).unwrap();
        let webhook = &config.alerting.receivers[0].webhook_configs[0];
        assert_eq!(
            webhook.url_file.as_deref(),
            Some(dir.path().join("hook.url").to_str().unwrap())
        );
        std::fs::write(dir.path().join("alertmanager.yml"), "route: {receiver: nobody}\n").unwrap();
        let err = crate::config::load_file(&main).unwrap_err().problems[0].to_string();
        assert!(
            err.ends_with(r#"alertmanager.yml:1:19: undefined receiver "nobody" used in route"#),
            "{err}"
        );
    }

    #[test]
    fn clock_bounds() {
        assert_eq!(parse_clock("00:00"), Ok(0));
        assert_eq!(parse_clock("24:00"), Ok(1440));
        assert!(parse_clock("24:01").is_err());
        assert!(parse_clock("9").is_err());
    }
}
