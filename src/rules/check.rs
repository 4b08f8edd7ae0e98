//! `sightline check rules FILE...`: promtool's rule check, plus lints that help.
//!
//! Owns the report (`Checking FILE`, `SUCCESS: N rules found`, `FAILED:` with
//! `file:line:column` errors), promtool's duplicate-rule lint and Sightline's
//! own lint for `histogram_quantile` over something that is neither a
//! `_bucket` series nor a rate, and the exit code (0 ok, 1 invalid, 3 lint
//! problems with `--lint-fatal`, as promtool). Must not evaluate rules.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::PathBuf;

use promql_parser::parser::Expr;

use super::file::{self, GroupSpec, LoadOptions};

/// How one `check rules` run went.
pub struct CheckReport {
    pub text: String,
    pub exit_code: u8,
}

/// Which lints run (`--lint`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lint {
    None,
    DuplicateRules,
    All,
}

/// Checks every file and renders promtool's report.
pub fn check_rules(files: &[PathBuf], opts: LoadOptions, lint: Lint, lint_fatal: bool) -> CheckReport {
    let mut text = String::new();
    let (mut failed, mut lint_problems) = (false, false);
    for path in files {
        let _ = writeln!(text, "Checking {}", path.display());
        match file::load_files(std::slice::from_ref(path), opts) {
            Err(e) => {
                failed = true;
                let _ = writeln!(text, "  FAILED:\n{e}\n");
            }
            Ok(groups) => {
                let count: usize = groups.iter().map(|g| g.rules.len()).sum();
                let _ = writeln!(text, "  SUCCESS: {count} rules found");
                let warnings = lints(&groups, lint);
                lint_problems |= !warnings.is_empty();
                for w in warnings {
                    let _ = writeln!(text, "  WARNING: {w}");
                }
                text.push('\n');
            }
        }
    }
    let exit_code = if failed {
        1
    } else if lint_problems && lint_fatal {
        3
    } else {
        0
    };
    CheckReport { text, exit_code }
}

fn lints(groups: &[GroupSpec], lint: Lint) -> Vec<String> {
    let mut out = Vec::new();
    if lint == Lint::None {
        return out;
    }
    out.extend(duplicates(groups));
    if lint == Lint::All {
        for g in groups {
            for r in &g.rules {
                if let Some(w) = histogram_quantile_lint(&r.expr) {
                    out.push(format!("group {:?}, rule {:?}: {w}", g.name, r.name()));
                }
            }
        }
    }
    out
}

/// A rule's identity for the duplicate check: name, expression, labels.
type RuleIdentity = (String, String, Vec<(String, String)>);

/// promtool's duplicate check: same name, expression and labels.
fn duplicates(groups: &[GroupSpec]) -> Vec<String> {
    let mut counts: BTreeMap<RuleIdentity, usize> = BTreeMap::new();
    for r in groups.iter().flat_map(|g| &g.rules) {
        let labels = r.labels.iter().map(|(k, v)| (k.clone(), v.clone())).collect();
        *counts
            .entry((r.name().to_string(), r.expr.clone(), labels))
            .or_insert(0) += 1;
    }
    let dups: Vec<_> = counts.into_iter().filter(|(_, n)| *n > 1).collect();
    if dups.is_empty() {
        return Vec::new();
    }
    let mut text = format!("{} duplicate rule(s) found.", dups.len());
    for ((name, _, labels), _) in dups {
        let _ = write!(text, "\nMetric: {name}\nLabel(s):");
        for (k, v) in labels {
            let _ = write!(text, "\n\t{k}: {v}");
        }
    }
    text.push_str("\nMight cause inconsistency while recording expressions.");
    vec![text]
}

const RATE_FUNCTIONS: &[&str] = &["rate", "irate", "increase", "delta", "idelta"];

/// A warning for `histogram_quantile(φ, X)` where X has neither a rate nor a
/// `_bucket` series in it (`histogram_quantile(0.95, latency_seconds)`), or takes
/// raw `_bucket` counters without a rate (a quantile over all time since start).
pub fn histogram_quantile_lint(expr: &str) -> Option<String> {
    let ast = crate::promql::parse(expr).ok()?;
    let mut warning = None;
    visit(&ast, &mut |e| {
        let Expr::Call(call) = e else { return };
        if call.func.name != "histogram_quantile" || warning.is_some() {
            return;
        }
        let Some(input) = call.args.args.get(1) else {
            return;
        };
        let (mut names, mut has_rate) = (Vec::new(), false);
        visit(input, &mut |inner| match inner {
            Expr::VectorSelector(vs) => names.push(vs.name.clone().unwrap_or_default()),
            Expr::MatrixSelector(ms) => names.push(ms.vs.name.clone().unwrap_or_default()),
            Expr::Call(c) if RATE_FUNCTIONS.contains(&c.func.name) => has_rate = true,
            _ => {}
        });
        let has_bucket = names.iter().any(|n| n.contains("_bucket"));
        // A recorded series (`job:latency_bucket:rate5m`) was aggregated by a rule already.
        let recorded = names.iter().any(|n| n.contains(':'));
        warning = match (has_bucket, has_rate || recorded) {
            (_, true) => None,
            (true, false) => Some(format!(
                "histogram_quantile over raw bucket counters {names:?}: wrap them in rate(...[5m]) \
                 so the quantile covers a recent window, not all time"
            )),
            (false, false) => Some(format!(
                "histogram_quantile over {names:?}, which is neither a _bucket series nor a rate: \
                 use histogram_quantile(φ, sum by (le) (rate(<name>_bucket[5m])))"
            )),
        };
    });
    warning
}

/// Calls `f` on `e` and every expression under it.
fn visit(e: &Expr, f: &mut dyn FnMut(&Expr)) {
    f(e);
    match e {
        Expr::Aggregate(a) => {
            visit(&a.expr, f);
            if let Some(p) = &a.param {
                visit(p, f);
            }
        }
        Expr::Unary(u) => visit(&u.expr, f),
        Expr::Binary(b) => {
            visit(&b.lhs, f);
            visit(&b.rhs, f);
        }
        Expr::Paren(p) => visit(&p.expr, f),
        Expr::Subquery(s) => visit(&s.expr, f),
        Expr::Call(c) => c.args.args.iter().for_each(|a| visit(a, f)),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_histogram_quantile_over_a_plain_gauge() {
        let w = histogram_quantile_lint("histogram_quantile(0.95, prediction_latency_seconds)");
        assert!(w.unwrap().contains("neither a _bucket series nor a rate"));
    }

    #[test]
    fn flags_raw_bucket_counters() {
        let w = histogram_quantile_lint("histogram_quantile(0.95, sum by (le) (x_bucket))");
        assert!(w.unwrap().contains("raw bucket counters"));
    }

    #[test]
    fn accepts_the_usual_form() {
        let expr =
            "histogram_quantile(0.95, sum by (le, model) (rate(prediction_latency_seconds_bucket[5m])))";
        assert_eq!(histogram_quantile_lint(expr), None);
        assert_eq!(
            histogram_quantile_lint("histogram_quantile(0.9, job:lat_bucket:rate5m)"),
            None
        );
    }
}
