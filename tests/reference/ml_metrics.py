"""scikit-learn's model-quality metrics on the data tests/e2e_ml_sklearn.rs sends to Sightline.

Reads one JSON document on stdin:
  {"classification": [{"name", "y_true", "y_pred", "labels" (or null), "p" (or null)}],
   "regression": [{"name", "y_true", "y_pred"}]}
and writes {name: {metric: value}} on stdout, each metric named as the Sightline
series (model_accuracy, model_precision/macro, ...). Run in the pinned venv.
"""
import json
import sys

import numpy as np
from sklearn import metrics


def classification(case):
    y_true, y_pred = case["y_true"], case["y_pred"]
    labels = case.get("labels")
    out = {"model_accuracy": metrics.accuracy_score(y_true, y_pred)}
    for average in ("macro", "weighted"):
        kw = dict(average=average, labels=labels, zero_division=0)
        out[f"model_precision/{average}"] = metrics.precision_score(y_true, y_pred, **kw)
        out[f"model_recall/{average}"] = metrics.recall_score(y_true, y_pred, **kw)
        out[f"model_f1_score/{average}"] = metrics.f1_score(y_true, y_pred, **kw)
    if case.get("p") is not None:
        p = np.asarray(case["p"], dtype=float)
        out["model_roc_auc"] = metrics.roc_auc_score(y_true, p)
        out["model_log_loss"] = metrics.log_loss(y_true, p, labels=labels)
    return out


def regression(case):
    y_true, y_pred = case["y_true"], case["y_pred"]
    return {
        "model_mae": metrics.mean_absolute_error(y_true, y_pred),
        "model_rmse": metrics.root_mean_squared_error(y_true, y_pred),
        "model_r2": metrics.r2_score(y_true, y_pred),
    }


def main():
    data = json.load(sys.stdin)
    result = {}
    for case in data.get("classification", []):
        result[case["name"]] = {k: float(v) for k, v in classification(case).items()}
    for case in data.get("regression", []):
        result[case["name"]] = {k: float(v) for k, v in regression(case).items()}
    json.dump(result, sys.stdout)


if __name__ == "__main__":
    main()
