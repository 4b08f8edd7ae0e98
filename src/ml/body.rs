//! Turning an events request body into item texts: gzip, then one JSON object,
//! a JSON array, or NDJSON.
//!
//! Owns only framing. Items are split without parsing them, so one malformed
//! item (a `NaN` that Python's `json.dumps` writes, a missing brace on one
//! NDJSON line) is reported against its own index while its neighbours count.
//! The array splitter is hand-written for that reason: a JSON parser stops at
//! the first error in the whole array.

use std::io::Read;

/// Why a body could not be read at all.
#[derive(Debug, PartialEq)]
pub enum BodyError {
    /// Not gzip, not UTF-8, not JSON framing: HTTP 400.
    Unreadable(String),
    /// Bigger than the limit once decompressed: HTTP 413.
    TooLarge(usize),
    /// A `Content-Encoding` other than gzip or identity: HTTP 415.
    UnsupportedEncoding(String),
}

impl std::fmt::Display for BodyError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            BodyError::Unreadable(why) => write!(f, "unreadable body: {why}"),
            BodyError::TooLarge(limit) => write!(f, "body larger than {limit} bytes once decompressed"),
            BodyError::UnsupportedEncoding(e) => write!(f, "unsupported Content-Encoding {e:?} (use gzip)"),
        }
    }
}

/// Undoes `Content-Encoding`, refusing output past `limit` bytes (a gzip bomb).
pub fn decode(body: &[u8], content_encoding: Option<&str>, limit: usize) -> Result<Vec<u8>, BodyError> {
    match content_encoding.map(str::trim) {
        None | Some("") | Some("identity") => Ok(body.to_vec()),
        Some(e) if e.eq_ignore_ascii_case("gzip") || e.eq_ignore_ascii_case("x-gzip") => gunzip(body, limit),
        Some(other) => Err(BodyError::UnsupportedEncoding(other.to_string())),
    }
}

fn gunzip(body: &[u8], limit: usize) -> Result<Vec<u8>, BodyError> {
    let mut out = Vec::new();
    let read_limit = u64::try_from(limit).unwrap_or(u64::MAX).saturating_add(1);
    flate2::read::MultiGzDecoder::new(body)
        .take(read_limit)
        .read_to_end(&mut out)
        .map_err(|e| BodyError::Unreadable(format!("gzip: {e}")))?;
    if out.len() > limit {
        return Err(BodyError::TooLarge(limit));
    }
    Ok(out)
}

/// Splits `text` into item texts. `ndjson` forces one item per line
/// (`Content-Type: application/x-ndjson`); otherwise the framing is sniffed.
pub fn split_items(text: &str, ndjson: bool) -> Result<Vec<&str>, BodyError> {
    let trimmed = text.trim();
    if trimmed.is_empty() {
        return Err(BodyError::Unreadable("empty body".into()));
    }
    if ndjson {
        return Ok(lines(trimmed));
    }
    if trimmed.starts_with('[') {
        return split_array(trimmed);
    }
    if value_end(trimmed, 0) == Some(trimmed.len()) {
        return Ok(vec![trimmed]);
    }
    if trimmed.contains('\n') {
        return Ok(lines(trimmed));
    }
    Ok(vec![trimmed])
}

fn lines(text: &str) -> Vec<&str> {
    text.lines()
        .map(str::trim)
        .filter(|line| !line.is_empty())
        .collect()
}

/// The elements of a top-level JSON array, as text.
fn split_array(text: &str) -> Result<Vec<&str>, BodyError> {
    let bytes = text.as_bytes();
    let mut items = Vec::new();
    let mut at = skip_space(bytes, 1);
    if bytes.get(at) == Some(&b']') {
        return finish_array(text, at, items);
    }
    loop {
        let end = value_end(text, at)
            .ok_or_else(|| BodyError::Unreadable(format!("unbalanced array element at byte {at}")))?;
        items.push(text[at..end].trim());
        at = skip_space(bytes, end);
        match bytes.get(at) {
            Some(b',') => at = skip_space(bytes, at + 1),
            Some(b']') => return finish_array(text, at, items),
            _ => return Err(BodyError::Unreadable(format!("expected , or ] at byte {at}"))),
        }
    }
}

fn finish_array<'a>(text: &'a str, close: usize, items: Vec<&'a str>) -> Result<Vec<&'a str>, BodyError> {
    if text[close + 1..].trim().is_empty() {
        Ok(items)
    } else {
        Err(BodyError::Unreadable(format!(
            "text after the array at byte {}",
            close + 1
        )))
    }
}

fn skip_space(bytes: &[u8], mut at: usize) -> usize {
    while at < bytes.len() && bytes[at].is_ascii_whitespace() {
        at += 1;
    }
    at
}

/// Where the JSON value starting at `start` ends: the first `,` `]` or newline
/// outside brackets and strings, or the end of the text. `None` if brackets
/// do not balance. The value itself is not validated here.
fn value_end(text: &str, start: usize) -> Option<usize> {
    let bytes = text.as_bytes();
    let mut depth = 0usize;
    let mut in_string = false;
    let mut escaped = false;
    for (offset, &b) in bytes[start..].iter().enumerate() {
        let at = start + offset;
        if in_string {
            match b {
                _ if escaped => escaped = false,
                b'\\' => escaped = true,
                b'"' => in_string = false,
                _ => {}
            }
            continue;
        }
        match b {
            b'"' => in_string = true,
            b'{' | b'[' => depth += 1,
            b'}' | b']' if depth == 0 => return Some(at),
            b'}' | b']' => {
                depth -= 1;
                if depth == 0 {
                    return Some(at + 1);
                }
            }
            b',' | b'\n' if depth == 0 => return Some(at),
            _ => {}
        }
    }
    (depth == 0 && !in_string).then_some(bytes.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_object_an_array_and_ndjson() {
        assert_eq!(split_items(" {\"a\":1} ", false), Ok(vec!["{\"a\":1}"]));
        assert_eq!(
            split_items("[{\"a\":\"],\"}, {\"b\":[1,2]} ]", false),
            Ok(vec!["{\"a\":\"],\"}", "{\"b\":[1,2]}"])
        );
        assert_eq!(
            split_items("{\"a\":1}\n\n{\"b\":2}\n", false),
            Ok(vec!["{\"a\":1}", "{\"b\":2}"])
        );
        assert_eq!(split_items("[]", false), Ok(vec![]));
    }

    #[test]
    fn a_bad_element_stays_one_item() {
        let items = split_items("[{\"x\":NaN},{\"y\":1}]", false);
        assert_eq!(items, Ok(vec!["{\"x\":NaN}", "{\"y\":1}"]));
        let items = split_items("{\"x\":1\n{\"y\":1}", true);
        assert_eq!(items, Ok(vec!["{\"x\":1", "{\"y\":1}"]));
    }

    #[test]
    fn broken_framing_is_unreadable() {
        assert!(matches!(
            split_items("[{\"a\":1}", false),
            Err(BodyError::Unreadable(_))
        ));
        assert!(matches!(
            split_items("[1] x", false),
            Err(BodyError::Unreadable(_))
        ));
        assert!(matches!(split_items("   ", false), Err(BodyError::Unreadable(_))));
    }

    #[test]
    fn gzip_is_undone_and_bombs_refused() {
        use std::io::Write;
        let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        let big = vec![b' '; 10_000];
        let written = encoder.write_all(&big).and_then(|()| encoder.finish());
        let gz = written.unwrap_or_default();
        assert_eq!(decode(&gz, Some("gzip"), 10_000).map(|b| b.len()), Ok(10_000));
        assert_eq!(decode(&gz, Some("gzip"), 9_999), Err(BodyError::TooLarge(9_999)));
        assert!(matches!(
            decode(b"nope", Some("gzip"), 10),
            Err(BodyError::Unreadable(_))
        ));
        assert!(matches!(
            decode(b"x", Some("br"), 10),
            Err(BodyError::UnsupportedEncoding(_))
        ));
    }
}
