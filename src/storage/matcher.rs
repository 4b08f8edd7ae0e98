//! Label matchers: `=`, `!=`, `=~`, `!~`, with Prometheus's regex semantics.
//!
//! Regexes are fully anchored and `.` matches a newline, exactly as Prometheus
//! compiles them (`^(?s:<re>)$`). The `regex` crate's syntax is RE2's, which is
//! what Prometheus uses.

use regex::Regex;
use std::fmt;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MatchOp {
    Equal,
    NotEqual,
    Regex,
    NotRegex,
}

/// One `name op value` condition on a series' labels.
#[derive(Debug, Clone)]
pub struct Matcher {
    pub name: String,
    pub op: MatchOp,
    pub value: String,
    regex: Option<Regex>,
}

impl PartialEq for Matcher {
    fn eq(&self, other: &Self) -> bool {
        self.name == other.name && self.op == other.op && self.value == other.value
    }
}

impl Matcher {
    /// Builds a matcher; fails only for a regex that does not compile.
    pub fn new(op: MatchOp, name: impl Into<String>, value: impl Into<String>) -> Result<Self, regex::Error> {
        let value = value.into();
        let regex = match op {
            MatchOp::Regex | MatchOp::NotRegex => Some(Regex::new(&format!("^(?s:{value})$"))?),
            MatchOp::Equal | MatchOp::NotEqual => None,
        };
        Ok(Matcher {
            name: name.into(),
            op,
            value,
            regex,
        })
    }

    /// Shorthand for an `=` matcher, which cannot fail.
    pub fn equal(name: impl Into<String>, value: impl Into<String>) -> Self {
        Matcher {
            name: name.into(),
            op: MatchOp::Equal,
            value: value.into(),
            regex: None,
        }
    }

    /// Whether a label value (`""` for an absent label) satisfies the matcher.
    pub fn matches(&self, value: &str) -> bool {
        match (self.op, &self.regex) {
            (MatchOp::Equal, _) => self.value == value,
            (MatchOp::NotEqual, _) => self.value != value,
            (MatchOp::Regex, Some(re)) => re.is_match(value),
            (MatchOp::NotRegex, Some(re)) => !re.is_match(value),
            (_, None) => false,
        }
    }
}

impl fmt::Display for Matcher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let op = match self.op {
            MatchOp::Equal => "=",
            MatchOp::NotEqual => "!=",
            MatchOp::Regex => "=~",
            MatchOp::NotRegex => "!~",
        };
        write!(f, "{}{}{:?}", self.name, op, self.value)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn regex_is_fully_anchored() {
        let m = Matcher::new(MatchOp::Regex, "job", "api").unwrap();
        assert!(m.matches("api"));
        assert!(!m.matches("api-server"));
        assert!(!m.matches("my-api"));
        let m = Matcher::new(MatchOp::Regex, "job", "a|b.*").unwrap();
        assert!(m.matches("a"));
        assert!(m.matches("bcd"));
        assert!(!m.matches("ab"));
    }

    #[test]
    fn dot_matches_newline() {
        let m = Matcher::new(MatchOp::Regex, "x", "a.b").unwrap();
        assert!(m.matches("a\nb"));
    }

    #[test]
    fn negative_matchers_and_empty_values() {
        let m = Matcher::new(MatchOp::NotRegex, "job", "a.*").unwrap();
        assert!(m.matches(""));
        assert!(!m.matches("abc"));
        let m = Matcher::new(MatchOp::NotEqual, "job", "").unwrap();
        assert!(!m.matches(""));
        assert!(m.matches("x"));
    }

    #[test]
    fn bad_regex_is_an_error() {
        assert!(Matcher::new(MatchOp::Regex, "x", "(").is_err());
    }
}
