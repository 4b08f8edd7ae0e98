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
    special(v).unwrap_or_else(|| format!("{v}"))
}

/// Go's `%g` (and `%v`) with `precision: None` (shortest), or `%.Ng`.
pub(crate) fn go_g(v: f64, precision: Option<usize>) -> String {
    if let Some(s) = special(v) {
        return s;
    }
    let sci = match precision {
        Some(p) => format!("{:.*e}", p.max(1) - 1, v.abs()),
        None => format!("{:e}", v.abs()),
    };
    let (mantissa, exp) = sci.split_once('e').unwrap_or((sci.as_str(), "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    let digits: String = mantissa.chars().filter(char::is_ascii_digit).collect();
    let digits = match digits.trim_end_matches('0') {
        "" => "0".to_string(),
        d => d.to_string(),
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
}
