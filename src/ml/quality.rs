//! Model quality over windows of labelled predictions: the last N joined
//! predictions and each configured time window (by join time).
//!
//! Owns the window bookkeeping and turning `metrics` results into the
//! `model_accuracy`, `model_precision`, `model_recall`, `model_f1_score`,
//! `model_roc_auc`, `model_log_loss`, `model_mae`, `model_rmse` and
//! `model_r2` samples (labels `window`, and `average` where scikit-learn has
//! one). A time window keeps at most [`MAX_KEPT`] outcomes, the newest, so
//! memory stays bounded at any feedback rate.

use crate::ml::counters::series;
use crate::ml::metrics;
use crate::storage::{Label, SeriesSamples};
use std::collections::VecDeque;

/// Most outcomes one group keeps for its time windows.
pub const MAX_KEPT: usize = 100_000;

/// The probability a classifier gave, when it gave one.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum ScoreOf {
    None,
    /// Probability of this class (a binary model's two probabilities name it).
    Class(u32, f64),
    /// `score`: the probability of the greater of the two classes.
    Greater(f64),
}

/// A prediction with its ground truth.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Labelled {
    Class {
        truth: u32,
        predicted: u32,
        score: ScoreOf,
    },
    Value {
        truth: f64,
        predicted: f64,
    },
}

/// What a window needs from the model to score: classes as text, for the positive class.
pub struct Classes<'a> {
    pub names: &'a [String],
    /// Configured classes as ids (`labels=`), if any.
    pub fixed: Option<&'a [u32]>,
}

/// One group's labelled outcomes, newest last, with their join times.
#[derive(Debug, Default)]
pub struct QualityWindow {
    outcomes: VecDeque<(i64, Labelled)>,
    /// Whether an outcome arrived since the last samples.
    pub dirty: bool,
}

impl QualityWindow {
    pub fn push(&mut self, joined_ms: i64, outcome: Labelled) {
        self.outcomes.push_back((joined_ms, outcome));
        self.dirty = true;
    }

    /// Drops outcomes outside every window.
    pub fn trim(&mut self, now_ms: i64, last_n: usize, longest_ms: i64) {
        let keep_from = now_ms.saturating_sub(longest_ms);
        while self.outcomes.len() > last_n.max(1) {
            let too_old = self.outcomes.front().is_some_and(|(t, _)| *t < keep_from);
            if too_old || self.outcomes.len() > MAX_KEPT.max(last_n) {
                self.outcomes.pop_front();
            } else {
                break;
            }
        }
    }

    /// Samples for the last-`last_n` window and each time window.
    pub fn samples(
        &self,
        classes: &Classes<'_>,
        last_n: usize,
        windows: &[(String, i64)],
        base: &[Label],
        now_ms: i64,
        out: &mut Vec<SeriesSamples>,
    ) {
        let count_from = self.outcomes.len().saturating_sub(last_n);
        let newest: Vec<Labelled> = self.outcomes.iter().skip(count_from).map(|(_, o)| *o).collect();
        window_samples(&newest, classes, &format!("last_{last_n}"), base, now_ms, out);
        for (name, length_ms) in windows {
            let since = now_ms.saturating_sub(*length_ms);
            let recent: Vec<Labelled> = self
                .outcomes
                .iter()
                .filter(|(t, _)| *t >= since)
                .map(|(_, o)| *o)
                .collect();
            window_samples(&recent, classes, name, base, now_ms, out);
        }
    }
}

fn window_samples(
    outcomes: &[Labelled],
    classes: &Classes<'_>,
    window: &str,
    base: &[Label],
    t: i64,
    out: &mut Vec<SeriesSamples>,
) {
    let mut labels = base.to_vec();
    labels.push(Label {
        name: "window".into(),
        value: window.into(),
    });
    let mut emit = |name: &str, average: Option<&str>, v: f64| {
        out.push(series(name, &labels, average.map(|a| ("average", a)), t, v));
    };
    if let Some(scores) = regression_scores(outcomes) {
        emit("model_mae", None, scores.mae);
        emit("model_rmse", None, scores.rmse);
        if let Some(r2) = scores.r2 {
            emit("model_r2", None, r2);
        }
        return;
    }
    let (truth, predicted): (Vec<u32>, Vec<u32>) = outcomes
        .iter()
        .filter_map(|o| match o {
            Labelled::Class { truth, predicted, .. } => Some((*truth, *predicted)),
            Labelled::Value { .. } => None,
        })
        .unzip();
    let Some(scores) = metrics::classification(&truth, &predicted, classes.fixed) else {
        return;
    };
    emit("model_accuracy", None, scores.accuracy);
    for (name, averaged) in [
        ("model_precision", scores.precision),
        ("model_recall", scores.recall),
        ("model_f1_score", scores.f1),
    ] {
        emit(name, Some("macro"), averaged.macro_avg);
        emit(name, Some("weighted"), averaged.weighted);
    }
    if let Some((positive, p)) = binary_scores(outcomes, &truth, classes) {
        if let Some(auc) = metrics::roc_auc(&positive, &p) {
            emit("model_roc_auc", None, auc);
        }
        if let Some(loss) = metrics::log_loss(&positive, &p) {
            emit("model_log_loss", None, loss);
        }
    }
}

fn regression_scores(outcomes: &[Labelled]) -> Option<metrics::RegressionScores> {
    let (truth, predicted): (Vec<f64>, Vec<f64>) = outcomes
        .iter()
        .filter_map(|o| match o {
            Labelled::Value { truth, predicted } => Some((*truth, *predicted)),
            Labelled::Class { .. } => None,
        })
        .unzip();
    metrics::regression(&truth, &predicted)
}

/// For a binary problem where every outcome has a probability: whether each
/// truth is the positive class, and the positive class's probability.
/// The positive class is the greater of the two (scikit-learn's `np.unique` order).
fn binary_scores(
    outcomes: &[Labelled],
    truth: &[u32],
    classes: &Classes<'_>,
) -> Option<(Vec<bool>, Vec<f64>)> {
    let (negative, positive) = binary_pair(truth, classes)?;
    let mut is_positive = Vec::with_capacity(outcomes.len());
    let mut p = Vec::with_capacity(outcomes.len());
    for outcome in outcomes {
        let Labelled::Class { truth, score, .. } = outcome else {
            return None;
        };
        let p_positive = match *score {
            ScoreOf::None => return None,
            ScoreOf::Greater(s) => s,
            ScoreOf::Class(c, s) if c == positive => s,
            ScoreOf::Class(c, s) if c == negative => 1.0 - s,
            ScoreOf::Class(..) => return None,
        };
        is_positive.push(*truth == positive);
        p.push(p_positive);
    }
    Some((is_positive, p))
}

/// The (negative, positive) classes: the configured two, else the two in `truth`.
fn binary_pair(truth: &[u32], classes: &Classes<'_>) -> Option<(u32, u32)> {
    let mut pair: Vec<u32> = match classes.fixed {
        Some(fixed) => fixed.to_vec(),
        None => {
            let mut seen = truth.to_vec();
            seen.sort_unstable();
            seen.dedup();
            seen
        }
    };
    if pair.len() != 2 {
        return None;
    }
    let name = |id: u32| classes.names.get(id as usize).map_or("", String::as_str);
    pair.sort_by(|a, b| crate::ml::model::class_order(name(*a), name(*b)));
    Some((pair[0], pair[1]))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn value_of(out: &[SeriesSamples], name: &str, window: &str, average: &str) -> Option<f64> {
        out.iter()
            .find(|s| {
                s.labels.metric_name() == name
                    && s.labels.get("window") == window
                    && s.labels.get("average") == average
            })
            .map(|s| s.samples[0].v)
    }

    #[test]
    fn last_n_and_time_windows_differ() {
        let mut window = QualityWindow::default();
        let names = vec!["0".to_string(), "1".to_string()];
        let classes = Classes {
            names: &names,
            fixed: None,
        };
        // Old: two wrong; recent: two right.
        window.push(
            0,
            Labelled::Class {
                truth: 0,
                predicted: 1,
                score: ScoreOf::Class(1, 0.8),
            },
        );
        window.push(
            0,
            Labelled::Class {
                truth: 1,
                predicted: 0,
                score: ScoreOf::Class(1, 0.3),
            },
        );
        window.push(
            9_000,
            Labelled::Class {
                truth: 1,
                predicted: 1,
                score: ScoreOf::Greater(0.9),
            },
        );
        window.push(
            9_500,
            Labelled::Class {
                truth: 0,
                predicted: 0,
                score: ScoreOf::Class(0, 0.6),
            },
        );
        let mut out = Vec::new();
        window.samples(&classes, 4, &[("5s".into(), 5_000)], &[], 10_000, &mut out);
        assert_eq!(value_of(&out, "model_accuracy", "last_4", ""), Some(0.5));
        assert_eq!(value_of(&out, "model_accuracy", "5s", ""), Some(1.0));
        // Positive scores 0.8, 0.3, 0.9, 0.4 against truths 0, 1, 1, 0.
        assert_eq!(value_of(&out, "model_roc_auc", "last_4", ""), Some(0.5));
        assert_eq!(value_of(&out, "model_roc_auc", "5s", ""), Some(1.0));
        assert!(value_of(&out, "model_f1_score", "last_4", "macro").is_some());
    }

    #[test]
    fn trim_keeps_the_last_n_even_when_old() {
        let mut window = QualityWindow::default();
        for t in 0..10 {
            window.push(
                t,
                Labelled::Value {
                    truth: 1.0,
                    predicted: 1.0,
                },
            );
        }
        window.trim(1_000_000, 3, 1_000);
        assert_eq!(window.outcomes.len(), 3);
    }
}
