//! Go's number formatting (`strconv.FormatFloat` and the `%g`/`%v` verbs),
//! which Prometheus's messages and generated label values are written in.
//!
//! Must not touch sled or HTTP.

/// `±Inf`/`NaN` as Go writes them, or `None` for a finite number.
fn special(v: f64) -> Option<String> {
    if v.is_nan() {
        Some("NaN".to_string())
    } else if v.is_infinite() {
        Some(if v > 0.0 { "+Inf" } else { "-Inf" }.to_string())
    } else {
        None
    }
}

/// `strconv.FormatFloat(v, 'f', -1, 64)`: shortest decimal, never an exponent.
pub(crate) fn go_f(v: f64) -> String {
    let mut out = String::new();
    write_go_f(&mut out, v);
    out
}

/// Appends `strconv.FormatFloat(v, 'f', -1, 64)` to `out`: the shortest digits
/// that read back to `v`, never an exponent; `NaN`, `+Inf`, `-Inf`. Query
/// results hold one per point, so this is the hot path of large range queries:
/// zmij's plain output is used as it is, and only a value it writes with an
/// exponent is spelled out from its digits.
pub fn write_go_f(out: &mut String, v: f64) {
    if v.is_nan() {
        out.push_str("NaN");
    } else if v.is_infinite() {
        out.push_str(if v > 0.0 { "+Inf" } else { "-Inf" });
    } else {
        let mut buffer = zmij::Buffer::new();
        let text = buffer.format_finite(v);
        if text.contains('e') {
            let (digits, exp) = shortest_digits(text);
            if v.is_sign_negative() {
                out.push('-');
            }
            out.push_str(&fixed_form(&digits, exp + 1));
        } else {
            out.push_str(text.strip_suffix(".0").unwrap_or(text));
        }
    }
}

/// Go's shortest digits of a finite `|v|` and its decimal exponent
/// (`1.25e16` → `("125", 16)`): the fewest digits that read back, an exact tie
/// broken to the even digit. zmij finds them as Go does; Rust's `Display`
/// breaks such a tie upwards (`-695717462780334.25` → `.3`, Go `.2`).
fn shortest_digits_of(v: f64) -> (String, i32) {
    shortest_digits(zmij::Buffer::new().format_finite(v))
}

/// Reads zmij's text (`-0.00015`, `123.5`, `1.25e+16`) as digits and exponent.
fn shortest_digits(text: &str) -> (String, i32) {
    let text = text.trim_start_matches('-');
    let (mantissa, exp) = text.split_once('e').unwrap_or((text, "0"));
    let exp: i32 = exp.trim_start_matches('+').parse().unwrap_or(0);
    let (int_part, frac_part) = mantissa.split_once('.').unwrap_or((mantissa, ""));
    let all = [int_part, frac_part].concat();
    let leading_zeros = all.len() - all.trim_start_matches('0').len();
    let digits = all.trim_matches('0');
    if digits.is_empty() {
        return ("0".to_string(), 0);
    }
    let exp = int_part.len() as i32 + exp - leading_zeros as i32 - 1;
    (digits.to_string(), exp)
}

/// Go's `%g` (and `%v`) with `precision: None` (shortest), or `%.Ng`.
pub(crate) fn go_g(v: f64, precision: Option<usize>) -> String {
    if let Some(s) = special(v) {
        return s;
    }
    let (digits, exp) = match precision {
        Some(p) => rounded_digits(v, p),
        None => shortest_digits_of(v),
    };
    let nd = digits.len() as i32;
    let dp = exp + 1;
    let eprec = match precision {
        None => 6,
        Some(p) if (p as i32) > nd && nd >= dp => nd,
        Some(p) => p as i32,
    };
    let sign = if v.is_sign_negative() && v != 0.0 { "-" } else { "" };
    let body = if exp < -4 || exp >= eprec {
        exponent_form(&digits, exp)
    } else {
        fixed_form(&digits, dp)
    };
    format!("{sign}{body}")
}

/// `|v|` rounded to `precision` significant digits (Rust's exact formatting
/// rounds a tie to even, as Go's does), trailing zeros dropped.
fn rounded_digits(v: f64, precision: usize) -> (String, i32) {
    let sci = format!("{:.*e}", precision.max(1) - 1, v.abs());
    let (mantissa, exp) = sci.split_once('e').unwrap_or((sci.as_str(), "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    let digits: String = mantissa.chars().filter(char::is_ascii_digit).collect();
    match digits.trim_end_matches('0') {
        "" => ("0".to_string(), exp),
        d => (d.to_string(), exp),
    }
}

fn exponent_form(digits: &str, exp: i32) -> String {
    let (first, rest) = digits.split_at(1.min(digits.len()));
    let fraction = if rest.is_empty() {
        String::new()
    } else {
        format!(".{rest}")
    };
    let exp_sign = if exp < 0 { '-' } else { '+' };
    format!("{first}{fraction}e{exp_sign}{:02}", exp.abs())
}

fn fixed_form(digits: &str, dp: i32) -> String {
    let nd = digits.len() as i32;
    if dp <= 0 {
        return format!("0.{}{digits}", "0".repeat((-dp) as usize));
    }
    if dp >= nd {
        return format!("{digits}{}", "0".repeat((dp - nd) as usize));
    }
    let (int, frac) = digits.split_at(dp as usize);
    format!("{int}.{frac}")
}

/// `FormatOpenMetricsFloat`: `%g`, with `.0` added to whole numbers.
pub(crate) fn open_metrics_float(v: f64) -> String {
    let text = go_g(v, None);
    if v.is_finite() && !text.contains(['e', '.']) {
        return format!("{text}.0");
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn g_verb() {
        assert_eq!(go_g(0.5, None), "0.5");
        assert_eq!(go_g(1e6, None), "1e+06");
        assert_eq!(go_g(123456.0, None), "123456");
        assert_eq!(go_g(0.00001, None), "1e-05");
        assert_eq!(go_g(-2.5, None), "-2.5");
        assert_eq!(go_g(f64::NAN, None), "NaN");
        assert_eq!(go_g(0.0, None), "0");
        assert_eq!(go_g(123.0, Some(2)), "1.2e+02");
        assert_eq!(go_g(10.0, Some(2)), "10");
        assert_eq!(go_g(0.5, Some(2)), "0.5");
    }

    #[test]
    fn open_metrics_and_f_format() {
        assert_eq!(go_g(9.223372036854776e18, None), "9.223372036854776e+18");
        assert_eq!(open_metrics_float(1.0), "1.0");
        assert_eq!(open_metrics_float(0.25), "0.25");
        assert_eq!(go_f(f64::INFINITY), "+Inf");
        assert_eq!(go_f(1e21), "1000000000000000000000");
    }

    #[test]
    fn exact_ties_round_to_even_like_go() {
        // -695717462780334.25 exactly: Go and Python write .2; Rust's Display writes .3.
        let tie = f64::from_bits(14052292977470819698);
        assert_eq!(go_f(tie), "-695717462780334.2");
        assert_eq!(go_g(tie, None), "-6.957174627803342e+14");
        assert_eq!(go_f(-1.25e16), "-12500000000000000");
        assert_eq!(go_f(1.23456789e-10), "0.000000000123456789");
        assert_eq!(go_f(0.0), "0");
        assert_eq!(go_f(-0.0), "-0");
        assert_eq!(go_f(1.5e300).len(), 301);
    }
}
