"""Run NannyML's DLE or CBPE on two parquet files; print the time and each daily chunk's estimates as JSON.

Executed by ``bench/estimation.py`` with the interpreter of ``bench/.venv-nannyml`` (NannyML pins its own
pandas and scikit-learn, so it does not share Loupe's environment). Columns: the features, ``y_pred`` (a
classifier's: 0/1), ``y_pred_proba`` (classifier), ``y_true`` (reference) and ``timestamp`` (analysis).
"""

import json
import os
import sys
import time

os.environ["NML_DISABLE_USAGE_LOGGING"] = "1"  # offline: NannyML would otherwise report usage over the network

import nannyml as nml
import pandas as pd


def main(kind: str, reference_path: str, analysis_path: str, features: str) -> None:
    reference = pd.read_parquet(reference_path)
    analysis = pd.read_parquet(analysis_path)
    names = features.split(",")
    for name in names:  # text features as plain objects: NannyML encodes them itself
        if not pd.api.types.is_numeric_dtype(reference[name]):
            reference[name] = reference[name].astype(str).astype(object)
            analysis[name] = analysis[name].astype(str).astype(object)
    if "timestamp" not in reference.columns:  # NannyML chunks the reference by time too: any times will do
        reference["timestamp"] = pd.date_range("2000-01-01", periods=len(reference), freq="min")
    started = time.perf_counter()
    if kind == "dle":
        estimator = nml.DLE(
            feature_column_names=names,
            y_pred="y_pred",
            y_true="y_true",
            timestamp_column_name="timestamp",
            metrics=["mae", "rmse"],
            chunk_period="D",
        )
        metrics = ["mae", "rmse"]
    else:
        estimator = nml.CBPE(
            y_pred_proba="y_pred_proba",
            y_pred="y_pred",
            y_true="y_true",
            timestamp_column_name="timestamp",
            metrics=["roc_auc", "f1", "accuracy"],
            chunk_period="D",
            problem_type="classification_binary",
        )
        metrics = ["roc_auc", "f1", "accuracy"]
    estimator.fit(reference)
    results = estimator.estimate(analysis).filter(period="analysis").to_df()
    seconds = time.perf_counter() - started
    chunks = []
    for _, row in results.iterrows():
        chunk = {"start": str(row[("chunk", "start_date")])}
        for metric in metrics:
            chunk[metric] = float(row[(metric, "value")])
            chunk[f"{metric}_sampling_error"] = float(row[(metric, "sampling_error")])
        chunks.append(chunk)
    print(json.dumps({"seconds": seconds, "version": nml.__version__, "chunks": chunks}))


if __name__ == "__main__":
    main(*sys.argv[1:5])
