//! Checks on single YAML values, run while deserializing, and the [`Secret`] wrapper.
//!
//! Errors raised here go through serde, so serde-saphyr pins them to the offending
//! key or value. Checks that compare several values live in `validate`.

use std::collections::BTreeMap;
use std::fmt;
use std::net::SocketAddr;

use serde::de::Error as _;
use serde::{Deserialize, Deserializer};

use crate::storage::labels::is_valid_label_name;

/// A section or list left empty (`rule_files:` with every entry commented out) is
/// null in YAML; like Prometheus, treat it as the default rather than an error.
pub(crate) fn nullable<'de, D: Deserializer<'de>, T: Deserialize<'de> + Default>(
    deserializer: D,
) -> Result<T, D::Error> {
    Ok(Option::<T>::deserialize(deserializer)?.unwrap_or_default())
}

/// A label name, checked against Prometheus's `[a-zA-Z_][a-zA-Z0-9_]*`.
#[derive(PartialEq, Eq, PartialOrd, Ord)]
struct LabelName(String);

impl<'de> Deserialize<'de> for LabelName {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let name = String::deserialize(deserializer)?;
        if !is_valid_label_name(&name) {
            return Err(D::Error::custom(format!("{name:?} is not a valid label name")));
        }
        Ok(LabelName(name))
    }
}

/// A `name: value` label map whose names are valid label names.
pub(crate) fn label_map<'de, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<BTreeMap<String, String>, D::Error> {
    let labels = nullable::<_, BTreeMap<LabelName, String>>(deserializer)?;
    Ok(labels.into_iter().map(|(name, value)| (name.0, value)).collect())
}

/// A list of valid label names.
pub(crate) fn label_names<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Vec<String>, D::Error> {
    let names = nullable::<_, Vec<LabelName>>(deserializer)?;
    Ok(names.into_iter().map(|name| name.0).collect())
}

/// A scrape target: `host:port`, without scheme or path (those are per job).
struct Target(String);

impl<'de> Deserialize<'de> for Target {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let target = String::deserialize(deserializer)?;
        let malformed = target.is_empty() || target.contains('/') || target.contains(char::is_whitespace);
        if malformed {
            return Err(D::Error::custom(format!(
                "{target:?} is not a valid target: expected host:port, without scheme or path"
            )));
        }
        Ok(Target(target))
    }
}

/// A list of scrape targets.
pub(crate) fn targets<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Vec<String>, D::Error> {
    let targets = nullable::<_, Vec<Target>>(deserializer)?;
    Ok(targets.into_iter().map(|target| target.0).collect())
}

/// An absolute `http://` or `https://` URL with a host.
pub(crate) fn http_url<'de, D: Deserializer<'de>>(deserializer: D) -> Result<String, D::Error> {
    let url = String::deserialize(deserializer)?;
    let rest = url
        .strip_prefix("http://")
        .or_else(|| url.strip_prefix("https://"));
    let has_host = rest.is_some_and(|rest| !rest.is_empty() && !rest.starts_with('/'));
    if !has_host || url.contains(char::is_whitespace) {
        return Err(D::Error::custom(format!(
            "{url:?} is not a valid URL: expected http(s)://host[:port]/path"
        )));
    }
    Ok(url)
}

/// Headers Sightline sets itself when talking to a remote endpoint.
const RESERVED_HEADERS: [&str; 10] = [
    "authorization",
    "host",
    "content-encoding",
    "content-length",
    "content-type",
    "user-agent",
    "connection",
    "keep-alive",
    "x-prometheus-remote-write-version",
    "x-prometheus-remote-read-version",
];

/// Symbols allowed in an HTTP header name besides letters and digits.
const TCHAR: &[u8] = b"!#$%&'*+-.^_`|~";

/// A header name that is not one Sightline sets itself.
#[derive(PartialEq, Eq, PartialOrd, Ord)]
struct HeaderName(String);

impl<'de> Deserialize<'de> for HeaderName {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let name = String::deserialize(deserializer)?;
        if RESERVED_HEADERS.contains(&name.to_ascii_lowercase().as_str()) {
            return Err(D::Error::custom(format!(
                "{name} is a reserved header. It must not be changed"
            )));
        }
        // RFC 9110 `token`: letters, digits and a few symbols; no spaces or separators.
        let token = !name.is_empty()
            && name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || TCHAR.contains(&b));
        if !token {
            return Err(D::Error::custom(format!(
                "{name:?} is not a valid HTTP header name"
            )));
        }
        Ok(HeaderName(name))
    }
}

/// Extra HTTP headers, none of them reserved.
pub(crate) fn headers<'de, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<BTreeMap<String, String>, D::Error> {
    let headers = nullable::<_, BTreeMap<HeaderName, String>>(deserializer)?;
    Ok(headers.into_iter().map(|(name, value)| (name.0, value)).collect())
}

/// An `IP:PORT` socket address to listen on.
pub(crate) fn listen_addr<'de, D: Deserializer<'de>>(deserializer: D) -> Result<SocketAddr, D::Error> {
    let text = String::deserialize(deserializer)?;
    text.parse().map_err(|_| {
        D::Error::custom(format!(
            "{text:?} is not a valid listen address: expected IP:PORT, e.g. 0.0.0.0:7464"
        ))
    })
}

/// A secret (password, token) that `Debug` never prints.
#[derive(Clone, PartialEq, Eq, Deserialize)]
#[serde(transparent)]
pub struct Secret(String);

impl Secret {
    /// The secret itself, for the one place that sends it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<secret>")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secret_debug_hides_value() {
        let secret: Secret = serde_saphyr::from_str("hunter2").unwrap();
        assert_eq!(format!("{secret:?}"), "<secret>");
        assert_eq!(secret.expose(), "hunter2");
    }
}
