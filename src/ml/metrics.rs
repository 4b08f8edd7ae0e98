//! Model-quality metrics with scikit-learn's definitions, over plain slices.
//!
//! Hand-written because there is no Rust crate that promises scikit-learn's
//! edge cases: `zero_division` (a 0/0 precision, recall or F1 counts as 0), the
//! label set (classes in `y_true` ∪ `y_pred` unless the caller fixes it), the
//! F1 formula of scikit-learn ≥ 1.3 (`2tp / (2tp + fp + fn)`), ROC AUC with
//! tied scores averaged, `log_loss` clipping probabilities to
//! `[ε, 1 − ε]` with ε = f64 machine epsilon, and `r2_score`'s
//! `force_finite` (a constant `y_true` gives 1.0 when predicted exactly, else 0.0).
//! `tests/ml_sklearn.rs` checks the values against scikit-learn itself.

/// Accuracy, precision, recall and F1 of a multi-class (or binary) classifier.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ClassificationScores {
    pub accuracy: f64,
    pub precision: Averaged,
    pub recall: Averaged,
    pub f1: Averaged,
}

/// One per-class metric averaged two ways (scikit-learn's `average=`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Averaged {
    pub macro_avg: f64,
    pub weighted: f64,
}

/// Scores of `pred` against `truth` (class ids). `labels` fixes the label set;
/// `None` takes every class present in either slice. `None` when empty.
pub fn classification(truth: &[u32], pred: &[u32], labels: Option<&[u32]>) -> Option<ClassificationScores> {
    if truth.is_empty() || truth.len() != pred.len() {
        return None;
    }
    let label_set = match labels {
        Some(labels) => labels.to_vec(),
        None => {
            let mut all: Vec<u32> = truth.iter().chain(pred).copied().collect();
            all.sort_unstable();
            all.dedup();
            all
        }
    };
    let counts = confusion_counts(truth, pred, &label_set);
    let correct = truth.iter().zip(pred).filter(|(t, p)| t == p).count();
    let per_class = |f: fn(&ClassCounts) -> f64| -> Averaged { average(&counts, f) };
    Some(ClassificationScores {
        accuracy: correct as f64 / truth.len() as f64,
        precision: per_class(|c| zero_division(c.tp, c.tp + c.fp)),
        recall: per_class(|c| zero_division(c.tp, c.tp + c.fn_)),
        f1: per_class(|c| zero_division(2 * c.tp, 2 * c.tp + c.fp + c.fn_)),
    })
}

#[derive(Debug, Default, Clone, Copy)]
struct ClassCounts {
    tp: u64,
    fp: u64,
    fn_: u64,
}

fn confusion_counts(truth: &[u32], pred: &[u32], labels: &[u32]) -> Vec<ClassCounts> {
    let position = |class: u32| labels.iter().position(|&l| l == class);
    let mut counts = vec![ClassCounts::default(); labels.len()];
    for (&t, &p) in truth.iter().zip(pred) {
        let (ti, pi) = (position(t), position(p));
        if t == p {
            if let Some(i) = ti {
                counts[i].tp += 1;
            }
            continue;
        }
        if let Some(i) = ti {
            counts[i].fn_ += 1;
        }
        if let Some(i) = pi {
            counts[i].fp += 1;
        }
    }
    counts
}

/// scikit-learn's `zero_division="warn"`: 0/0 is 0.
fn zero_division(numerator: u64, denominator: u64) -> f64 {
    if denominator == 0 {
        0.0
    } else {
        numerator as f64 / denominator as f64
    }
}

/// Macro (plain mean) and weighted (by support = true count) averages.
fn average(counts: &[ClassCounts], metric: fn(&ClassCounts) -> f64) -> Averaged {
    if counts.is_empty() {
        return Averaged {
            macro_avg: 0.0,
            weighted: 0.0,
        };
    }
    let values: Vec<f64> = counts.iter().map(metric).collect();
    let macro_avg = values.iter().sum::<f64>() / values.len() as f64;
    let support: Vec<f64> = counts.iter().map(|c| (c.tp + c.fn_) as f64).collect();
    let total: f64 = support.iter().sum();
    let weighted = if total == 0.0 {
        0.0
    } else {
        values.iter().zip(&support).map(|(v, w)| v * w).sum::<f64>() / total
    };
    Averaged { macro_avg, weighted }
}

/// Area under the ROC curve for `positive` outcomes scored by `score`
/// (the Mann–Whitney statistic with tied scores sharing their mean rank, which
/// equals scikit-learn's trapezoidal area). `None` when a class is absent.
pub fn roc_auc(positive: &[bool], score: &[f64]) -> Option<f64> {
    let n_pos = positive.iter().filter(|&&p| p).count();
    let n_neg = positive.len() - n_pos;
    if n_pos == 0 || n_neg == 0 || positive.len() != score.len() || score.iter().any(|s| !s.is_finite()) {
        return None;
    }
    let mut order: Vec<usize> = (0..score.len()).collect();
    order.sort_by(|&a, &b| score[a].total_cmp(&score[b]));
    let mut positive_rank_sum = 0.0;
    let mut start = 0;
    while start < order.len() {
        let mut end = start;
        while end + 1 < order.len() && score[order[end + 1]] == score[order[start]] {
            end += 1;
        }
        // Ranks start..=end (1-based: start+1..=end+1) share their mean.
        let mean_rank = (start + end) as f64 / 2.0 + 1.0;
        let tied_positives = order[start..=end].iter().filter(|&&i| positive[i]).count();
        positive_rank_sum += mean_rank * tied_positives as f64;
        start = end + 1;
    }
    let (p, n) = (n_pos as f64, n_neg as f64);
    Some((positive_rank_sum - p * (p + 1.0) / 2.0) / (p * n))
}

/// Mean binary cross-entropy of `p_positive` against `positive`, with
/// probabilities clipped to `[ε, 1 − ε]`. `None` when empty or not finite.
pub fn log_loss(positive: &[bool], p_positive: &[f64]) -> Option<f64> {
    if positive.is_empty() || positive.len() != p_positive.len() || p_positive.iter().any(|p| !p.is_finite())
    {
        return None;
    }
    let eps = f64::EPSILON;
    let total: f64 = positive
        .iter()
        .zip(p_positive)
        .map(|(&is_positive, &p)| {
            let p = p.clamp(eps, 1.0 - eps);
            // scikit-learn renormalises the two-column row [1 - p, p]; its sum is 1 already.
            if is_positive {
                -p.ln()
            } else {
                -(1.0 - p).ln()
            }
        })
        .sum();
    Some(total / positive.len() as f64)
}

/// Mean absolute error, root mean squared error and R² of a regressor.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RegressionScores {
    pub mae: f64,
    pub rmse: f64,
    /// `None` with fewer than two samples (scikit-learn returns NaN).
    pub r2: Option<f64>,
}

/// Regression scores of `pred` against `truth`; `None` when empty.
pub fn regression(truth: &[f64], pred: &[f64]) -> Option<RegressionScores> {
    if truth.is_empty() || truth.len() != pred.len() {
        return None;
    }
    let n = truth.len() as f64;
    let abs_sum: f64 = truth.iter().zip(pred).map(|(t, p)| (t - p).abs()).sum();
    let squared_sum: f64 = truth.iter().zip(pred).map(|(t, p)| (t - p) * (t - p)).sum();
    let mean = truth.iter().sum::<f64>() / n;
    let total_sum: f64 = truth.iter().map(|t| (t - mean) * (t - mean)).sum();
    let r2 = (truth.len() >= 2).then(|| match (squared_sum == 0.0, total_sum == 0.0) {
        (true, _) => 1.0,
        (false, true) => 0.0,
        (false, false) => 1.0 - squared_sum / total_sum,
    });
    Some(RegressionScores {
        mae: abs_sum / n,
        rmse: (squared_sum / n).sqrt(),
        r2,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() <= 1e-12 * b.abs().max(1.0)
    }

    #[test]
    fn classification_matches_sklearn_hand_computed_example() {
        // y_true = [0,1,2,2,1], y_pred = [0,2,2,2,1]:
        // class 0: tp1 fp0 fn0; class 1: tp1 fp0 fn1; class 2: tp2 fp1 fn0.
        let scores = classification(&[0, 1, 2, 2, 1], &[0, 2, 2, 2, 1], None).unwrap_or_else(|| panic!());
        assert!(close(scores.accuracy, 0.8));
        assert!(close(scores.precision.macro_avg, (1.0 + 1.0 + 2.0 / 3.0) / 3.0));
        assert!(close(scores.recall.macro_avg, (1.0 + 0.5 + 1.0) / 3.0));
        assert!(close(
            scores.precision.weighted,
            (1.0 + 2.0 + 2.0 * 2.0 / 3.0) / 5.0
        ));
        assert!(close(scores.f1.macro_avg, (1.0 + 2.0 / 3.0 + 0.8) / 3.0));
    }

    #[test]
    fn zero_division_counts_as_zero_and_fixed_labels_widen_the_macro_mean() {
        // Class 1 is never predicted: its precision is 0/0 → 0.
        let s = classification(&[0, 1], &[0, 0], None).unwrap_or_else(|| panic!());
        assert!(close(s.precision.macro_avg, 0.25));
        // A configured class absent from both sides adds a zero to the macro mean only.
        let s = classification(&[0, 1], &[0, 1], Some(&[0, 1, 2])).unwrap_or_else(|| panic!());
        assert!(close(s.f1.macro_avg, 2.0 / 3.0));
        assert!(close(s.f1.weighted, 1.0));
    }

    #[test]
    fn roc_auc_averages_ties() {
        let auc = roc_auc(&[false, false, true, true], &[0.1, 0.4, 0.35, 0.8]).unwrap_or_else(|| panic!());
        assert!(close(auc, 0.75));
        let tied = roc_auc(&[false, true], &[0.5, 0.5]).unwrap_or_else(|| panic!());
        assert!(close(tied, 0.5));
        assert_eq!(roc_auc(&[true, true], &[0.1, 0.2]), None);
    }

    #[test]
    fn log_loss_clips_certain_mistakes() {
        let loss = log_loss(&[true, false], &[0.9, 0.2]).unwrap_or_else(|| panic!());
        assert!(close(loss, (-(0.9f64).ln() - (0.8f64).ln()) / 2.0));
        let clipped = log_loss(&[true], &[0.0]).unwrap_or_else(|| panic!());
        assert!(close(clipped, -(f64::EPSILON).ln()));
    }

    #[test]
    fn regression_scores_and_constant_truth() {
        let s = regression(&[3.0, -0.5, 2.0, 7.0], &[2.5, 0.0, 2.0, 8.0]).unwrap_or_else(|| panic!());
        assert!(close(s.mae, 0.5));
        assert!(close(s.rmse, 0.375f64.sqrt()));
        assert!(close(s.r2.unwrap_or(f64::NAN), 0.948_608_137_044_967_9));
        let constant = regression(&[1.0, 1.0], &[1.0, 2.0]).unwrap_or_else(|| panic!());
        assert_eq!(constant.r2, Some(0.0));
        assert_eq!(regression(&[1.0], &[1.0]).map(|s| s.r2), Some(None));
    }
}
