"""Reference drift results for `tests/drift_reference.rs` and `benches/drift_compare.rs`.

Usage: drift_reference.py REFERENCE.csv CURRENT.csv [--timing]

Prints one JSON object:
  evidently: Evidently 0.7 DataDriftPreset on the two CSVs (pandas.read_csv, types
             inferred by Evidently): per column {type, method, score, threshold, drift},
             and {drifted, share, drift} for the dataset;
  scipy:     per numerical column, scipy.stats.ks_2samp (auto) and
             wasserstein_distance; per column chi2_contingency(correction=False)
             on reference vs current counts (the `sound` preset's test);
  seconds:   with --timing, the wall time of the Evidently report alone.
"""

import json
import sys
import time
import warnings

import numpy as np
import pandas as pd
from scipy import stats

warnings.filterwarnings("ignore")

from evidently import Dataset, Report  # noqa: E402
from evidently.presets import DataDriftPreset  # noqa: E402

METHODS = {
    "K-S p_value": "ks",
    "chi-square p_value": "chisquare",
    "Z-test p_value": "z",
    "Wasserstein distance (normed)": "wasserstein",
    "Jensen-Shannon distance": "jensenshannon",
    "PSI": "psi",
    "Kullback-Leibler divergence": "kl_div",
}
P_VALUE_METHODS = {"ks", "chisquare", "z"}


def evidently_results(ref, cur):
    definition = Dataset.from_pandas(ref).data_definition
    types = {c: "numerical" for c in definition.numerical_columns or []}
    types.update({c: "categorical" for c in definition.categorical_columns or []})
    started = time.perf_counter()
    snapshot = Report([DataDriftPreset()]).run(cur, ref)
    seconds = time.perf_counter() - started
    columns, dataset = {}, {}
    for metric in snapshot.dict()["metrics"]:
        config = metric["config"]
        if config["type"].endswith("ValueDrift"):
            method = METHODS.get(config["method"], config["method"])
            score = float(metric["value"])
            threshold = float(config["threshold"])
            drift = score < threshold if method in P_VALUE_METHODS else score >= threshold
            columns[config["column"]] = {
                "type": types.get(config["column"]),
                "method": method,
                "score": score,
                "threshold": threshold,
                "drift": bool(drift),
            }
        elif config["type"].endswith("DriftedColumnsCount"):
            value = metric["value"]
            dataset = {
                "drifted": int(value["count"]),
                "share": float(value["share"]),
                "drift": bool(value["share"] >= config["drift_share"]),
            }
    return {"columns": columns, "dataset": dataset}, seconds


def scipy_results(ref, cur):
    out = {}
    for name in ref.columns:
        r = ref[name].replace([np.inf, -np.inf], np.nan).dropna()
        c = cur[name].replace([np.inf, -np.inf], np.nan).dropna()
        if len(r) == 0 or len(c) == 0:
            continue
        entry = {}
        if pd.api.types.is_numeric_dtype(r) and not pd.api.types.is_bool_dtype(r):
            ks = stats.ks_2samp(r.to_numpy(float), c.to_numpy(float))
            entry["ks_statistic"] = float(ks.statistic)
            entry["ks_p_value"] = float(ks.pvalue)
            entry["wasserstein"] = float(stats.wasserstein_distance(r, c))
        keys = sorted(set(r.unique()) | set(c.unique()), key=str)
        table = np.array([[float((r == k).sum()) for k in keys], [float((c == k).sum()) for k in keys]])
        if len(keys) >= 2:
            chi2 = stats.chi2_contingency(table, correction=False)
            entry["chi2_independence_p_value"] = float(chi2.pvalue)
        out[name] = entry
    return out


def main():
    args = [a for a in sys.argv[1:] if not a.startswith("--")]
    if len(args) != 2:
        sys.exit(__doc__)
    ref, cur = pd.read_csv(args[0]), pd.read_csv(args[1])
    evidently, seconds = evidently_results(ref, cur)
    result = {"evidently": evidently}
    if "--timing" in sys.argv:
        result["seconds"] = seconds
    else:
        result["scipy"] = scipy_results(ref, cur)
    json.dump(result, sys.stdout)


if __name__ == "__main__":
    main()
