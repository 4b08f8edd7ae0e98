//! Backtick strings as Prometheus reads them: raw, with no escapes.
//!
//! In PromQL a string in backticks is raw (as in Go): `` `10\.0\.0\.1` `` is
//! the regex `10\.0\.0\.1`, and a backslash is never special, which is why
//! people write regexes that way. `promql-parser` 0.11 lexes backtick strings
//! like double-quoted ones, so `\.` or `\d` is "unknown escape sequence" and
//! a trailing backslash swallows the closing backtick. [`parse`] rewrites
//! every backtick string as the double-quoted string of the same value before
//! handing the query to the parser. Must not touch sled or HTTP.

use std::borrow::Cow;

use promql_parser::parser::{self, Expr};

/// Parses `expr` with backtick strings read raw, as Prometheus does.
pub fn parse(expr: &str) -> Result<Expr, String> {
    parser::parse(&backticks_to_double_quotes(expr))
}

/// `expr` with each backtick string replaced by the double-quoted string of
/// the same value. Quoted strings and `#` comments are copied unchanged, so
/// a backtick inside them is left alone; an unterminated backtick string is
/// copied as it is, for the parser to report.
pub(crate) fn backticks_to_double_quotes(expr: &str) -> Cow<'_, str> {
    if !expr.contains('`') {
        return Cow::Borrowed(expr);
    }
    let mut out = String::with_capacity(expr.len() + 8);
    let mut chars = expr.char_indices();
    while let Some((start, c)) = chars.next() {
        match c {
            '"' | '\'' => {
                out.push(c);
                while let Some((_, d)) = chars.next() {
                    out.push(d);
                    if d == '\\' {
                        if let Some((_, e)) = chars.next() {
                            out.push(e);
                        }
                    } else if d == c {
                        break;
                    }
                }
            }
            '#' => {
                out.push(c);
                for (_, d) in chars.by_ref() {
                    out.push(d);
                    if d == '\n' {
                        break;
                    }
                }
            }
            '`' => match expr[start + 1..].find('`') {
                Some(len) => {
                    out.push('"');
                    for d in expr[start + 1..start + 1 + len].chars() {
                        match d {
                            '\\' => out.push_str("\\\\"),
                            '"' => out.push_str("\\\""),
                            '\n' => out.push_str("\\n"),
                            '\r' => out.push_str("\\r"),
                            _ => out.push(d),
                        }
                    }
                    out.push('"');
                    // Skip the string's characters and its closing backtick.
                    let end = start + 1 + len;
                    while chars.next().is_some_and(|(i, _)| i < end) {}
                }
                None => {
                    out.push_str(&expr[start..]);
                    break;
                }
            },
            _ => out.push(c),
        }
    }
    Cow::Owned(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use promql_parser::parser::StringLiteral;

    fn string_value(expr: &str) -> String {
        match parse(expr).unwrap() {
            Expr::StringLiteral(StringLiteral { val }) => val,
            other => panic!("not a string: {other:?}"),
        }
    }

    #[test]
    fn backtick_strings_are_raw() {
        assert_eq!(string_value(r"`10\.0\.0\.1:\d+`"), r"10\.0\.0\.1:\d+");
        assert_eq!(string_value(r"`ends with \`"), r"ends with \");
        assert_eq!(string_value(r#"`say "hi"`"#), r#"say "hi""#);
        assert_eq!(string_value("`two\nlines`"), "two\nlines");
        assert_eq!(string_value(r"`a\\b`"), r"a\\b");
    }

    #[test]
    fn regex_matcher_in_backticks() {
        let Expr::VectorSelector(vs) = parse(r"up{instance!~`10\.0\.0\.[1]:8080`}").unwrap() else {
            panic!("not a selector");
        };
        let m = vs
            .matchers
            .matchers
            .iter()
            .find(|m| m.name == "instance")
            .unwrap();
        assert_eq!(m.value, r"10\.0\.0\.[1]:8080");
    }

    #[test]
    fn other_strings_and_comments_are_untouched() {
        for expr in [
            r#"label_replace(up, "a`b", "\\.", "c", 'd`e')"#,
            "up # a `comment\nor vector(1)",
            r#"up{job="\"`"}"#,
            "no backticks at all",
        ] {
            assert_eq!(backticks_to_double_quotes(expr), expr);
        }
        assert_eq!(
            backticks_to_double_quotes(r#"f("x`", `y\`, 'z`')"#),
            r#"f("x`", "y\\", 'z`')"#
        );
        // Unterminated: left for the parser to report.
        assert_eq!(backticks_to_double_quotes("up{a=`x}"), "up{a=`x}");
        assert!(parse("up{a=`x}").is_err());
    }
}
