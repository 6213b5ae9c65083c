"""Run Evidently's DataDriftPreset on two parquet files; print time, memory and per-column verdicts as JSON.

Executed by ``bench/monitoring.py`` with the interpreter of ``bench/.venv-evidently`` (Evidently 0.7.23
needs pandas < 3, so it cannot share Loupe's environment).
"""

import json
import resource
import sys
import time

import pandas as pd
from evidently import DataDefinition, Dataset, Report
from evidently.presets import DataDriftPreset


def main(reference_path: str, current_path: str, numerical: str, categorical: str) -> None:
    reference = pd.read_parquet(reference_path)
    current = pd.read_parquet(current_path)
    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    definition = DataDefinition(numerical_columns=numerical.split(","), categorical_columns=categorical.split(","))
    started = time.perf_counter()
    snapshot = Report([DataDriftPreset()]).run(
        current_data=Dataset.from_pandas(current, data_definition=definition),
        reference_data=Dataset.from_pandas(reference, data_definition=definition),
    )
    seconds = time.perf_counter() - started
    columns = {}
    share = None
    for metric in snapshot.dict()["metrics"]:
        config = metric["config"]
        if config["type"].endswith("ValueDrift"):
            value, threshold, method = float(metric["value"]), float(config["threshold"]), config["method"]
            if "k-s" in method.lower():  # Evidently: KS drifts at p <= threshold, other p-value tests at p < threshold
                drifted = value <= threshold
            elif "p_value" in method.lower():
                drifted = value < threshold
            else:  # distances
                drifted = value >= threshold
            columns[config["column"]] = {
                "method": method,
                "statistic": value,
                "threshold": threshold,
                "drifted": drifted,
            }
        elif config["type"].endswith("DriftedColumnsCount"):
            share = metric["value"]["share"]
    print(
        json.dumps(
            {
                "seconds": seconds,
                "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
                "rss_after_loading_mb": rss_before,
                "share": share,
                "columns": columns,
            }
        )
    )


if __name__ == "__main__":
    main(*sys.argv[1:5])
