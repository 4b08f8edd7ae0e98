//! Sample values and OpenMetrics timestamps as Prometheus reads them: Go's
//! `strconv.ParseFloat` restricted to pre-Go-1.13 syntax (no hex floats, no
//! `_` digit separators), so `1e400` (out of range) is an error, `Inf`,
//! `+inf`, `-Infinity` and `NaN` (any case, no sign on NaN) are accepted.

/// Parses `s` or says why it is not a float Prometheus accepts.
pub(super) fn parse_go_float(s: &[u8]) -> Result<f64, String> {
    if let Some(special) = special_value(s) {
        return Ok(special);
    }
    if !is_decimal_float(s) {
        return Err(format!("invalid float {}", super::cursor::quote(s)));
    }
    let text = std::str::from_utf8(s).map_err(|_| "invalid float".to_string())?;
    let value: f64 = text.parse().map_err(|_| format!("invalid float {text:?}"))?;
    if value.is_infinite() {
        return Err(format!("float {text:?} is out of range"));
    }
    Ok(value)
}

/// `[+-]?(inf|infinity)` and `nan`, any case.
fn special_value(s: &[u8]) -> Option<f64> {
    let (negative, unsigned) = match s.first() {
        Some(b'-') => (true, &s[1..]),
        Some(b'+') => (false, &s[1..]),
        _ => (false, s),
    };
    if unsigned.eq_ignore_ascii_case(b"inf") || unsigned.eq_ignore_ascii_case(b"infinity") {
        return Some(if negative {
            f64::NEG_INFINITY
        } else {
            f64::INFINITY
        });
    }
    if s.eq_ignore_ascii_case(b"nan") {
        return Some(f64::NAN);
    }
    None
}

/// `[+-]? (digits [. digits?] | . digits) ([eE] [+-]? digits)?`
fn is_decimal_float(s: &[u8]) -> bool {
    let mut i = usize::from(matches!(s.first(), Some(b'+' | b'-')));
    let int_digits = count_digits(&s[i..]);
    i += int_digits;
    let mut frac_digits = 0;
    if s.get(i) == Some(&b'.') {
        i += 1;
        frac_digits = count_digits(&s[i..]);
        i += frac_digits;
    }
    if int_digits + frac_digits == 0 {
        return false;
    }
    if matches!(s.get(i), Some(b'e' | b'E')) {
        i += 1;
        i += usize::from(matches!(s.get(i), Some(b'+' | b'-')));
        let exp_digits = count_digits(&s[i..]);
        if exp_digits == 0 {
            return false;
        }
        i += exp_digits;
    }
    i == s.len()
}

fn count_digits(s: &[u8]) -> usize {
    s.iter().take_while(|b| b.is_ascii_digit()).count()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(s: &str) -> f64 {
        match parse_go_float(s.as_bytes()) {
            Ok(v) => v,
            Err(e) => panic!("{s}: {e}"),
        }
    }

    #[test]
    fn accepts_go_decimal_and_special_forms() {
        assert_eq!(ok("1"), 1.0);
        assert_eq!(ok("-1.5e3"), -1500.0);
        assert_eq!(ok("+.5"), 0.5);
        assert_eq!(ok("5."), 5.0);
        assert_eq!(ok("1E-2"), 0.01);
        assert_eq!(ok("1.726839813016397e+09"), 1.726839813016397e9);
        assert_eq!(ok("1e-400"), 0.0);
        assert_eq!(ok("+Inf"), f64::INFINITY);
        assert_eq!(ok("-inf"), f64::NEG_INFINITY);
        assert_eq!(ok("Infinity"), f64::INFINITY);
        assert!(ok("NaN").is_nan());
        assert!(ok("nan").is_nan());
    }

    #[test]
    fn refuses_what_prometheus_refuses() {
        for bad in [
            "", "+", ".", "e5", "1e", "1e+", "0x10", "0x1p-2", "1_000", "1p5", "+NaN", "-nan", "infin",
            "1e400", "-1e400", "1 ", " 1", "1,5", "--1", "١",
        ] {
            assert!(
                parse_go_float(bad.as_bytes()).is_err(),
                "{bad:?} should be refused"
            );
        }
    }
}
