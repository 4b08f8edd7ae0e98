//! One Alertmanager matcher as written in configuration: `name="value"`,
//! `name!=value`, `name=~"regex"`, `name!~regex`.
//!
//! Hand-written because it is a dozen lines of grammar and the result must be
//! the storage's own [`Matcher`] (anchored RE2 regexes, as Alertmanager
//! compiles them). Values may be double-quoted (with `\"`, `\\`, `\n`
//! escapes) or bare; bare values are trimmed.

use crate::storage::labels::is_valid_label_name;
use crate::storage::{MatchOp, Matcher};

/// Parses one matcher; the error says what is wrong and where in `text`.
pub fn parse_matcher(text: &str) -> Result<Matcher, String> {
    let trimmed = text.trim();
    let inner = trimmed
        .strip_prefix('{')
        .and_then(|rest| rest.strip_suffix('}'))
        .unwrap_or(trimmed)
        .trim();
    let (name, op, rest) = split_operator(inner)
        .ok_or_else(|| format!("bad matcher {text:?}: expected name, one of = != =~ !~, then a value"))?;
    let name = name.trim();
    if !is_valid_label_name(name) {
        return Err(format!(
            "bad matcher {text:?}: {name:?} is not a valid label name"
        ));
    }
    let value = parse_value(rest.trim()).map_err(|why| format!("bad matcher {text:?}: {why}"))?;
    Matcher::new(op, name, value).map_err(|e| format!("bad matcher {text:?}: invalid regex: {e}"))
}

/// Splits at the first operator, preferring the two-character ones.
fn split_operator(text: &str) -> Option<(&str, MatchOp, &str)> {
    let at = text.find(['=', '!'])?;
    let (name, rest) = text.split_at(at);
    for (token, op) in [
        ("=~", MatchOp::Regex),
        ("!~", MatchOp::NotRegex),
        ("!=", MatchOp::NotEqual),
        ("=", MatchOp::Equal),
    ] {
        if let Some(value) = rest.strip_prefix(token) {
            return Some((name, op, value));
        }
    }
    None
}

fn parse_value(raw: &str) -> Result<String, String> {
    let Some(body) = raw.strip_prefix('"') else {
        if raw.contains('"') {
            return Err("a bare value must not contain '\"'; quote the whole value".into());
        }
        return Ok(raw.to_string());
    };
    let mut value = String::with_capacity(body.len());
    let mut chars = body.chars();
    while let Some(c) = chars.next() {
        match c {
            '"' if chars.as_str().is_empty() => return Ok(value),
            '"' => return Err("text after the closing quote".into()),
            '\\' => match chars.next() {
                Some('n') => value.push('\n'),
                Some('t') => value.push('\t'),
                Some(c @ ('\\' | '"')) => value.push(c),
                other => return Err(format!("unknown escape \\{}", other.unwrap_or(' '))),
            },
            c => value.push(c),
        }
    }
    Err("missing closing quote".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parsed(text: &str) -> (String, MatchOp, String) {
        let m = parse_matcher(text).unwrap();
        (m.name.clone(), m.op, m.value.clone())
    }

    #[test]
    fn all_four_operators_quoted_and_bare() {
        assert_eq!(parsed("a=\"b\""), ("a".into(), MatchOp::Equal, "b".into()));
        assert_eq!(parsed(" a != b "), ("a".into(), MatchOp::NotEqual, "b".into()));
        assert_eq!(parsed("a=~\"x|y\""), ("a".into(), MatchOp::Regex, "x|y".into()));
        assert_eq!(parsed("{a!~x.*}"), ("a".into(), MatchOp::NotRegex, "x.*".into()));
        assert_eq!(
            parsed("a=\"q\\\"u\\\\o\""),
            ("a".into(), MatchOp::Equal, "q\"u\\o".into())
        );
        assert_eq!(parsed("a="), ("a".into(), MatchOp::Equal, String::new()));
    }

    #[test]
    fn regexes_are_anchored() {
        let m = parse_matcher("model=~fraud").unwrap();
        assert!(m.matches("fraud"));
        assert!(!m.matches("fraud-v2"));
    }

    #[test]
    fn malformed_matchers_say_why() {
        for (text, why) in [
            ("severity", "expected name"),
            ("9x=a", "not a valid label name"),
            ("a=\"b", "missing closing quote"),
            ("a=\"b\"c", "after the closing quote"),
            ("a=b\"c", "bare value"),
            ("a=~(", "invalid regex"),
        ] {
            let err = parse_matcher(text).unwrap_err();
            assert!(err.contains(why), "{text}: {err}");
        }
    }
}
