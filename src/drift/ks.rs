//! Two-sample Kolmogorov-Smirnov test, two-sided, with the p-value SciPy's
//! `scipy.stats.ks_2samp(method="auto")` gives: exact when both samples hold at
//! most 10,000 values, otherwise the distribution of the one-sample statistic
//! `kstwo` at the effective size `round(n1·n2/(n1+n2))` (see `kolmogorov.rs`).
//!
//! The exact path follows the same recursions SciPy uses (Hodges' "inside"
//! lattice-path count in the 1 − p form of Viehmann 2021 for n1 ≠ n2, and the
//! alternating Horner sum for n1 = n2), in the same floating-point order, so the
//! p-values agree to rounding.

use super::kolmogorov::kstwo_sf;

/// Both samples up to this size: exact p-value (SciPy's `MAX_AUTO_N`).
const MAX_EXACT_N: usize = 10_000;

/// Statistic and p-value of the two-sided test.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct KsResult {
    pub statistic: f64,
    pub p_value: f64,
}

/// Two-sided two-sample KS test on two **sorted** samples without NaN.
/// Returns `None` when either sample is empty.
pub fn ks_2samp_sorted(a: &[f64], b: &[f64]) -> Option<KsResult> {
    let (n1, n2) = (a.len(), b.len());
    if n1 == 0 || n2 == 0 {
        return None;
    }
    let d = ks_statistic_sorted(a, b);
    let g = gcd(n1 as u64, n2 as u64);
    if n1.max(n2) <= MAX_EXACT_N {
        if let Some((d_exact, p)) = exact_p_value(n1 as u64, n2 as u64, g, d) {
            return Some(KsResult {
                statistic: d_exact,
                p_value: p,
            });
        }
    }
    let (m, n) = if n1 >= n2 {
        (n1 as f64, n2 as f64)
    } else {
        (n2 as f64, n1 as f64)
    };
    let effective_n = (m * n / (m + n)).round_ties_even();
    Some(KsResult {
        statistic: d,
        p_value: kstwo_sf(d, effective_n as u64).clamp(0.0, 1.0),
    })
}

/// Largest absolute difference of the two empirical CDFs, evaluated at every
/// observed value (after all ties), as `cdf1 - cdf2` in the same float form
/// (`i/n1 - j/n2`) SciPy evaluates.
pub fn ks_statistic_sorted(a: &[f64], b: &[f64]) -> f64 {
    let (n1, n2) = (a.len() as f64, b.len() as f64);
    let (mut i, mut j) = (0usize, 0usize);
    let (mut max_diff, mut min_diff) = (f64::NEG_INFINITY, f64::INFINITY);
    while i < a.len() || j < b.len() {
        let next = match (a.get(i), b.get(j)) {
            (Some(&x), Some(&y)) => x.min(y),
            (Some(&x), None) => x,
            (None, Some(&y)) => y,
            (None, None) => break,
        };
        while i < a.len() && a[i] <= next {
            i += 1;
        }
        while j < b.len() && b[j] <= next {
            j += 1;
        }
        let diff = i as f64 / n1 - j as f64 / n2;
        max_diff = max_diff.max(diff);
        min_diff = min_diff.min(diff);
    }
    let min_s = (-min_diff).clamp(0.0, 1.0);
    if min_s > max_diff {
        min_s
    } else {
        max_diff
    }
}

fn gcd(mut a: u64, mut b: u64) -> u64 {
    while b != 0 {
        (a, b) = (b, a % b);
    }
    a
}

/// SciPy's `_attempt_exact_2kssamp` (two-sided): the statistic rounded to the
/// lattice `h / lcm`, and its p-value; `None` when the recursion leaves [0, 1].
fn exact_p_value(n1: u64, n2: u64, g: u64, d: f64) -> Option<(f64, f64)> {
    let lcm = (n1 / g) * n2;
    let h = (d * lcm as f64).round_ties_even() as u64;
    let d = h as f64 / lcm as f64;
    if h == 0 {
        return Some((d, 1.0));
    }
    let p = if n1 == n2 {
        prob_outside_square(n1, h)
    } else {
        outer_prob_inside_method(n1, n2, g, h)?
    };
    (p.is_finite() && (0.0..=1.0).contains(&p)).then_some((d, p))
}

/// Pr(D_{n,n} ≥ h/n) as `2·A0·(1 − A1·(1 − A2·(…)))`, each `Ai` a ratio of
/// binomials written as h simple factors (no subtractive cancellation).
fn prob_outside_square(n: u64, h: u64) -> f64 {
    let (n, h) = (n as i64, h as i64);
    let mut p = 0.0;
    let mut k = n / h;
    while k >= 0 {
        let mut p1 = 1.0;
        for j in 0..h {
            p1 = (n - k * h - j) as f64 * p1 / (n + k * h + j + 1) as f64;
        }
        p = p1 * (1.0 - p);
        k -= 1;
    }
    2.0 * p
}

/// 1 − (proportion of lattice paths from (0,0) to (m,n) staying strictly
/// inside |x/m − y/n| < h/lcm), computed directly as the complement over a
/// sliding window of one column (Hodges 1958; Viehmann 2021).
fn outer_prob_inside_method(m: u64, n: u64, g: u64, h: u64) -> Option<f64> {
    let (m, n) = if m < n { (n, m) } else { (m, n) };
    let (m, n, g, h) = (m as i64, n as i64, g as i64, h as i64);
    let (mg, ng) = (m / g, n / g);
    let mut minj: i64 = 0;
    let mut maxj: i64 = ((h as f64 / mg as f64).ceil() as i64).min(n + 1);
    let mut curlen = maxj - minj;
    let len_a = (2 * maxj + 2).min(n + 1) as usize;
    let mut column = vec![1.0f64; len_a];
    for slot in column.iter_mut().take(maxj as usize) {
        *slot = 0.0;
    }
    for i in 1..=m {
        let (last_minj, last_len) = (minj, curlen);
        minj = ((((ng * i - h) as f64 / mg as f64).floor() as i64) + 1)
            .max(0)
            .min(n);
        maxj = (((ng * i + h) as f64 / mg as f64).ceil() as i64).min(n + 1);
        if maxj <= minj {
            return Some(1.0);
        }
        let mut val = if minj == 0 { 0.0 } else { 1.0 };
        for jj in 0..(maxj - minj) {
            let j = jj + minj;
            let carried = *column.get((jj + minj - last_minj) as usize)?;
            val = (carried * i as f64 + val * j as f64) / (i + j) as f64;
            *column.get_mut(jj as usize)? = val;
        }
        curlen = maxj - minj;
        if last_len > curlen {
            let start = (maxj - minj) as usize;
            let end = (start + (last_len - curlen) as usize).min(column.len());
            for slot in &mut column[start.min(end)..end] {
                *slot = 1.0;
            }
        }
    }
    column.get((maxj - minj - 1) as usize).copied()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() <= 1e-12 * b.abs().max(1e-300)
    }

    #[test]
    fn statistic_counts_ties_on_both_sides() {
        let a = [1.0, 2.0, 2.0, 3.0];
        let b = [2.0, 2.0, 4.0];
        // after 1: 1/4 - 0; after 2: 3/4 - 2/3; after 3: 1 - 2/3.
        assert!(close(ks_statistic_sorted(&a, &b), 1.0 - 2.0 / 3.0));
    }

    #[test]
    fn identical_samples_have_p_one() {
        let a = [1.0, 2.0, 3.0];
        let r = ks_2samp_sorted(&a, &a).unwrap();
        assert_eq!(r.statistic, 0.0);
        assert_eq!(r.p_value, 1.0);
    }

    #[test]
    fn exact_matches_scipy_values() {
        // scipy.stats.ks_2samp([1,2,3,4,5], [6,7,8,9,10]) -> D=1, p=0.007936507936507936
        let a = [1.0, 2.0, 3.0, 4.0, 5.0];
        let b = [6.0, 7.0, 8.0, 9.0, 10.0];
        let r = ks_2samp_sorted(&a, &b).unwrap();
        assert_eq!(r.statistic, 1.0);
        assert!(close(r.p_value, 0.007936507936507936), "{}", r.p_value);
        // scipy.stats.ks_2samp([1,2,3], [1.5,2.5,3.5,4.5]) -> D=0.5, p=0.6571428571428571
        let r = ks_2samp_sorted(&[1.0, 2.0, 3.0], &[1.5, 2.5, 3.5, 4.5]).unwrap();
        assert!(close(r.statistic, 0.5));
        assert!(close(r.p_value, 0.6571428571428571), "{}", r.p_value);
    }

    #[test]
    fn empty_sample_has_no_result() {
        assert!(ks_2samp_sorted(&[], &[1.0]).is_none());
    }
}
