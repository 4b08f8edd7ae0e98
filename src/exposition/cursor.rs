//! A position in the body with the line it is on, and the lexical pieces both
//! formats share: names, quoted strings, escapes, duplicate label checks.

use super::ParseError;
use std::borrow::Cow;

pub(super) struct Cursor<'a> {
    buf: &'a [u8],
    pos: usize,
    /// 1-based line of `pos`.
    line: usize,
}

/// Where a quoted string may run: text-format label values may hold raw
/// newlines (Prometheus's lexer allows them), OpenMetrics strings may not.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) enum Newlines {
    Allowed,
    Refused,
}

/// Which escapes a string's unescaping resolves (Prometheus's `lvalReplacer`
/// and `helpReplacer`): every string resolves `\\` and `\n`; label values and
/// OpenMetrics HELP also resolve `\"`. Other backslashes stay as written.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) enum Escapes {
    WithQuote,
    WithoutQuote,
}

impl<'a> Cursor<'a> {
    pub fn new(buf: &'a [u8]) -> Cursor<'a> {
        Cursor { buf, pos: 0, line: 1 }
    }

    pub fn peek(&self) -> Option<u8> {
        self.buf.get(self.pos).copied()
    }

    pub fn peek_at(&self, offset: usize) -> Option<u8> {
        self.buf.get(self.pos + offset).copied()
    }

    pub fn at_end(&self) -> bool {
        self.pos >= self.buf.len()
    }

    pub fn eat(&mut self, byte: u8) -> bool {
        if self.peek() == Some(byte) {
            self.pos += 1;
            return true;
        }
        false
    }

    pub fn eat_bytes(&mut self, bytes: &[u8]) -> bool {
        if self.buf[self.pos..].starts_with(bytes) {
            self.pos += bytes.len();
            return true;
        }
        false
    }

    /// Consumes a `\n` and moves to the next line.
    pub fn eat_newline(&mut self) -> bool {
        if self.eat(b'\n') {
            self.line += 1;
            return true;
        }
        false
    }

    /// Skips spaces and tabs; returns whether any were skipped.
    pub fn skip_blanks(&mut self) -> bool {
        let start = self.pos;
        while matches!(self.peek(), Some(b' ' | b'\t')) {
            self.pos += 1;
        }
        self.pos > start
    }

    /// The bytes up to (not including) the next `\n` or the end.
    pub fn take_line_rest(&mut self) -> &'a [u8] {
        let rest = &self.buf[self.pos..];
        let len = memchr::memchr(b'\n', rest).unwrap_or(rest.len());
        self.pos += len;
        &rest[..len]
    }

    /// Consumes bytes while `keep` holds.
    pub fn take_while(&mut self, keep: impl Fn(u8) -> bool) -> &'a [u8] {
        let start = self.pos;
        while self.peek().is_some_and(&keep) {
            self.pos += 1;
        }
        &self.buf[start..self.pos]
    }

    /// Where the cursor is, to come back to with [`Cursor::rewind`].
    pub fn mark(&self) -> (usize, usize) {
        (self.pos, self.line)
    }

    pub fn rewind(&mut self, (pos, line): (usize, usize)) {
        self.pos = pos;
        self.line = line;
    }

    /// The text of a sample line's series, for a lookup of series parsed
    /// before: a metric name, then either a label list up to its closing `}`
    /// (found by skipping quoted strings) or nothing, when no `{` follows
    /// after blanks. Nothing is checked beyond that extent: only a caller that
    /// finds these exact bytes among series it parsed fully may skip parsing
    /// them. `None` (the cursor moved) where no such extent is found.
    pub fn series_text(&mut self) -> Option<(&'a str, &'a [u8])> {
        let start = self.pos;
        let name = self.metric_name()?;
        if self.peek() == Some(b'{') {
            self.skip_label_list()?;
        } else if self.buf[self.pos..].iter().find(|b| !matches!(b, b' ' | b'\t')) == Some(&b'{') {
            return None;
        }
        Some((name, &self.buf[start..self.pos]))
    }

    /// Whether the series text at the cursor (as [`Cursor::series_text`]
    /// finds it) is `text`, a text written by `write_series_text`; moves past
    /// it if so and returns its metric name. Compares bytes, no scan.
    pub fn series_text_is(&mut self, text: &[u8]) -> Option<&'a str> {
        let rest = &self.buf[self.pos..];
        if !rest.starts_with(text) {
            return None;
        }
        let name_len = text.iter().position(|&b| !is_name_byte(b)).unwrap_or(text.len());
        let after = &rest[text.len()..];
        let ends_here = if name_len == text.len() {
            match after.first() {
                None => true,
                Some(&b) if is_name_byte(b) || b == b'{' => false,
                Some(b' ' | b'\t') => after.iter().find(|b| !matches!(b, b' ' | b'\t')) != Some(&b'{'),
                Some(_) => true,
            }
        } else {
            text[name_len] == b'{' && text.last() == Some(&b'}')
        };
        let name = &rest[..name_len];
        if !ends_here || !is_legacy_name(name, true) {
            return None;
        }
        let name = std::str::from_utf8(name).ok()?;
        self.pos += text.len();
        Some(name)
    }

    /// Past the `}` that closes the label list at the cursor.
    fn skip_label_list(&mut self) -> Option<()> {
        loop {
            let rest = &self.buf[self.pos..];
            let at = memchr::memchr2(b'"', b'}', rest)?;
            self.pos += at + 1;
            if rest[at] == b'}' {
                return Some(());
            }
            self.skip_quoted_rest()?;
        }
    }

    /// Past the `"` that ends the quoted string the cursor is in.
    fn skip_quoted_rest(&mut self) -> Option<()> {
        loop {
            let rest = &self.buf[self.pos..];
            let at = memchr::memchr2(b'"', b'\\', rest)?;
            if rest[at] == b'"' {
                self.pos += at + 1;
                return Some(());
            }
            // A backslash escapes the next byte.
            self.pos = (self.pos + at + 2).min(self.buf.len());
        }
    }

    /// `[a-zA-Z_:][a-zA-Z0-9_:]*`
    pub fn metric_name(&mut self) -> Option<&'a str> {
        self.ascii_name(|b| b.is_ascii_alphabetic() || b == b'_' || b == b':')
    }

    /// `[a-zA-Z_][a-zA-Z0-9_]*`
    pub fn label_name(&mut self) -> Option<&'a str> {
        let first = self.peek()?;
        if !(first.is_ascii_alphabetic() || first == b'_') {
            return None;
        }
        let bytes = self.take_while(|b| b.is_ascii_alphanumeric() || b == b'_');
        std::str::from_utf8(bytes).ok()
    }

    fn ascii_name(&mut self, is_start: impl Fn(u8) -> bool) -> Option<&'a str> {
        if !is_start(self.peek()?) {
            return None;
        }
        let bytes = self.take_while(is_name_byte);
        std::str::from_utf8(bytes).ok()
    }

    /// A `"…"` string starting at the cursor; returns the raw bytes between
    /// the quotes (escapes unresolved) as UTF-8.
    pub fn quoted(&mut self, newlines: Newlines) -> Result<&'a str, ParseError> {
        if !self.eat(b'"') {
            return Err(self.error(format!("expected '\"', found {}", self.found())));
        }
        let (start, start_line) = (self.pos, self.line);
        loop {
            let Some(byte) = self.peek() else {
                return Err(ParseError {
                    line: start_line,
                    reason: "quoted string is never closed".to_string(),
                });
            };
            match byte {
                b'"' => break,
                b'\\' => self.skip_escape()?,
                b'\n' if newlines == Newlines::Refused => {
                    return Err(self.error("line break inside a quoted string".to_string()));
                }
                b'\n' => {
                    self.eat_newline();
                }
                _ => self.pos += 1,
            }
        }
        let raw = &self.buf[start..self.pos];
        self.pos += 1;
        std::str::from_utf8(raw)
            .map_err(|_| self.error(format!("invalid UTF-8 in quoted string {}", quote(raw))))
    }

    /// A backslash may escape any byte but a line break.
    fn skip_escape(&mut self) -> Result<(), ParseError> {
        match self.peek_at(1) {
            None | Some(b'\n') => Err(self.error("backslash at the end of a line".to_string())),
            Some(_) => {
                self.pos += 2;
                Ok(())
            }
        }
    }

    /// A quoted metric or label name: escapes are refused because names
    /// borrow from the body.
    pub fn quoted_name(&mut self, newlines: Newlines) -> Result<&'a str, ParseError> {
        let name = self.quoted(newlines)?;
        if name.contains('\\') {
            return Err(self.error(format!(
                "escape sequences in quoted name \"{name}\" are not supported"
            )));
        }
        if name.is_empty() {
            return Err(self.error("empty quoted name".to_string()));
        }
        Ok(name)
    }

    pub fn error(&self, reason: String) -> ParseError {
        ParseError {
            line: self.line,
            reason,
        }
    }

    /// What the cursor is looking at, for error messages.
    pub fn found(&self) -> String {
        match self.peek() {
            None => "end of input".to_string(),
            Some(b'\n') => "end of line".to_string(),
            Some(_) => {
                let rest = &self.buf[self.pos..];
                let end = memchr::memchr(b'\n', rest).unwrap_or(rest.len()).min(24);
                quote(&rest[..end])
            }
        }
    }
}

fn is_name_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_' || b == b':'
}

/// Whether `name` is a legacy metric name (`[a-zA-Z_:][a-zA-Z0-9_:]*`) or,
/// without `colons`, a legacy label name (`[a-zA-Z_][a-zA-Z0-9_]*`).
pub(super) fn is_legacy_name(name: &[u8], colons: bool) -> bool {
    let inner = |b: u8| b.is_ascii_alphanumeric() || b == b'_' || (colons && b == b':');
    match name.split_first() {
        Some((first, rest)) => !first.is_ascii_digit() && inner(*first) && rest.iter().all(|&b| inner(b)),
        None => false,
    }
}

/// Bytes as a double-quoted, escaped string for error messages.
pub(super) fn quote(bytes: &[u8]) -> String {
    format!("{:?}", String::from_utf8_lossy(bytes))
}

/// Resolves escapes, borrowing when there are none.
pub(super) fn unescape(raw: &str, escapes: Escapes) -> Cow<'_, str> {
    if !raw.contains('\\') {
        return Cow::Borrowed(raw);
    }
    let mut out = String::with_capacity(raw.len());
    let mut chars = raw.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        let rest = chars.as_str();
        match rest.as_bytes().first() {
            Some(b'\\') => out.push('\\'),
            Some(b'n') => out.push('\n'),
            Some(b'"') if escapes == Escapes::WithQuote => out.push('"'),
            _ => {
                out.push('\\');
                continue;
            }
        }
        chars.next();
    }
    Cow::Owned(out)
}

/// The first label name used twice, counting the metric name as `__name__`.
pub(super) fn duplicate_label<'a>(labels: &[(&'a str, Cow<'a, str>)]) -> Option<&'a str> {
    if let Some((name, _)) = labels.iter().find(|(name, _)| *name == "__name__") {
        return Some(name);
    }
    if labels.len() <= 16 {
        for (i, (name, _)) in labels.iter().enumerate() {
            if labels[i + 1..].iter().any(|(other, _)| other == name) {
                return Some(name);
            }
        }
        return None;
    }
    let mut names: Vec<&str> = labels.iter().map(|(name, _)| *name).collect();
    names.sort_unstable();
    names
        .windows(2)
        .find(|pair| pair[0] == pair[1])
        .map(|pair| pair[0])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unescape_resolves_only_prometheus_escapes() {
        assert_eq!(unescape(r#"a\\b\nc\"d\te"#, Escapes::WithQuote), "a\\b\nc\"d\\te");
        assert_eq!(unescape(r#"c\"d"#, Escapes::WithoutQuote), "c\\\"d");
        assert_eq!(unescape(r"\\n", Escapes::WithQuote), "\\n");
        assert_eq!(unescape(r"trailing\", Escapes::WithQuote), "trailing\\");
        assert!(matches!(
            unescape("plain", Escapes::WithQuote),
            Cow::Borrowed("plain")
        ));
    }

    #[test]
    fn quoted_strings_follow_the_newline_rule() {
        let mut c = Cursor::new(b"\"a\nb\" rest");
        assert_eq!(c.quoted(Newlines::Allowed).ok(), Some("a\nb"));
        assert_eq!(c.line, 2);
        let mut c = Cursor::new(b"\"a\nb\"");
        assert!(c.quoted(Newlines::Refused).is_err());
        let mut c = Cursor::new(b"\"a\\\nb\"");
        assert!(c.quoted(Newlines::Allowed).is_err());
        let mut c = Cursor::new(b"\"unterminated");
        assert!(c.quoted(Newlines::Allowed).is_err());
        let mut c = Cursor::new(b"\"\xff\"");
        assert!(c.quoted(Newlines::Allowed).is_err());
    }

    #[test]
    fn duplicates_are_found_in_short_and_long_lists() {
        let short = vec![
            ("a", Cow::Borrowed("1")),
            ("b", Cow::Borrowed("2")),
            ("a", Cow::Borrowed("3")),
        ];
        assert_eq!(duplicate_label(&short), Some("a"));
        let mut long: Vec<(&str, Cow<str>)> = Vec::new();
        let names: Vec<String> = (0..40).map(|i| format!("l{i}")).collect();
        for name in &names {
            long.push((name.as_str(), Cow::Borrowed("v")));
        }
        assert_eq!(duplicate_label(&long), None);
        long.push(("l7", Cow::Borrowed("v")));
        assert_eq!(duplicate_label(&long), Some("l7"));
        assert_eq!(
            duplicate_label(&[("__name__", Cow::Borrowed("x"))]),
            Some("__name__")
        );
    }
}
