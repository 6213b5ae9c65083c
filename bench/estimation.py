"""Estimated performance at scale, with NannyML on the same data as the baseline.

DLE: a diamonds champion (ridge) whose holdout is split in two — the estimator is fitted on one half, and 1M
answers are logged from the other half (resampled; days 4–7 from its larger-carat stones only: a covariate
shift), 30 % of them with their real price as feedback — then the log is grown to 10M rows. CBPE: a team's
binary classifier (plain MLflow) whose holdout is attached as reference with its target (which fits CBPE),
then ``CBPE_ROWS`` simulated answers (true labels drawn from the model's own probabilities).

Figures (seconds unless named otherwise):

- ``dle_generate_1m_s`` / ``dle_rollup_1m_s``: writing the log and rolling it up once with per-row estimates;
- ``dle_estimate_read_1m_s``: the 7-day window's estimated MAE/RMSE and their daily series (median of 5);
  ``snapshot_read_1m_s``: Monitoring's whole window read with estimated performance, multivariate drift and a
  segment split by ``cut`` (median of 3; target ≤ 0.5 s);
- ``dle_mae_estimated`` / ``dle_mae_realised`` / ``dle_mae_reference`` (the same for RMSE): the window's
  estimate, the realised figure from the rows with a true value, and the reference's (what a naive estimate says);
  ``dle_daily_error_loupe`` / ``dle_daily_error_nannyml``: mean absolute relative error of the daily estimated
  MAE against the daily realised MAE; ``nannyml_dle_s``: NannyML's DLE fit + estimate on the same reference
  and the same logged rows (``bench/.venv-nannyml``, created with pip if missing);
- ``*_10m*``: after copying the 1M rows 9 times in SQL; ``scaling_10m_vs_1m`` the ratio of the snapshot reads
  (target ≤ 2×). Rolling up the 9M copies costs what the first 1M did, nine times (per-row error models:
  ~100 s per 1M rows on a busy 2-core machine); ``BENCH_ESTIMATION_SCALE_ROWS=0`` skips this stage;
- ``cbpe_*``: estimated, realised and NannyML's accuracy / F1 / ROC AUC of the classifier's window.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path

from bench.monitoring import _timed  # one median-of-N timer for every benchmark

ROWS = int(os.environ.get("BENCH_ESTIMATION_ROWS", 1_000_000))
SCALE_ROWS = int(os.environ.get("BENCH_ESTIMATION_SCALE_ROWS", 10_000_000))
CBPE_ROWS = 200_000
DAYS = 7
SHIFT = "carat=1.1"
NANNYML_VENV = Path(__file__).parent / ".venv-nannyml"
NANNYML_REQUIREMENTS = ["nannyml==0.13.1", "statsmodels", "pandas==2.3.3"]  # pip leaves statsmodels out, takes pandas 3
ROOT = Path(__file__).resolve().parents[1]
CLASSIFIER = "churn-risk"


def _say(message: str) -> None:
    print(f"  · {message}", flush=True)


@contextmanager
def _home(workdir: Path, **variables: str) -> Iterator[None]:
    from core.settings import get_settings

    saved = dict(os.environ)
    os.environ["LOUPE_HOME"] = str(workdir)
    os.environ.update(variables)
    for name in ("MLFLOW_TRACKING_URI", "LOUPE_DATABASE_URL"):
        os.environ.pop(name, None)
    get_settings.cache_clear()
    try:
        yield
    finally:
        os.environ.clear()
        os.environ.update(saved)
        get_settings.cache_clear()


def _ensure_nannyml() -> Path | None:
    python = NANNYML_VENV / "bin" / "python"
    probe = [str(python), "-c", "import nannyml, pandas; assert pandas.__version__ == '2.3.3'"]
    if python.exists() and subprocess.run(probe, capture_output=True).returncode == 0:
        return python
    _say(f"creating {NANNYML_VENV.relative_to(ROOT)} with {' '.join(NANNYML_REQUIREMENTS)}")
    try:
        subprocess.run([sys.executable, "-m", "venv", str(NANNYML_VENV)], check=True)
        subprocess.run([str(python), "-m", "pip", "install", "--quiet", *NANNYML_REQUIREMENTS], check=True)
    except subprocess.CalledProcessError:
        return None
    return python if subprocess.run(probe, capture_output=True).returncode == 0 else None


def _nannyml(python: Path, kind: str, reference, analysis, features: list[str], workdir: Path) -> dict:
    reference.to_parquet(workdir / f"{kind}_reference.parquet")
    analysis.to_parquet(workdir / f"{kind}_analysis.parquet")
    completed = subprocess.run(
        [
            str(python),
            str(Path(__file__).parent / "_nannyml_estimate.py"),
            kind,
            str(workdir / f"{kind}_reference.parquet"),
            str(workdir / f"{kind}_analysis.parquet"),
            ",".join(features),
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(completed.stdout.strip().splitlines()[-1])


def _logged(sessions, *, model_name: str):
    """Every logged answer: its day, inputs, prediction, label, probabilities and true value (None if none)."""
    import pandas as pd
    from sqlalchemy import select

    from storage.log_writer import decode_inputs
    from storage.prediction_log import Feedback, Prediction

    with sessions() as session:
        query = (
            select(
                Prediction.created_at,
                Prediction.inputs,
                Prediction.prediction,
                Prediction.label,
                Feedback.actual,
                Feedback.actual_label,
            )
            .outerjoin(Feedback, Feedback.prediction_id == Prediction.id)
            .where(Prediction.model_name == model_name, Prediction.is_shadow.is_(False))
        )
        rows = session.execute(query).all()
    features = pd.DataFrame.from_records([decode_inputs(row[1]) for row in rows])
    frame = pd.DataFrame(rows, columns=["timestamp", "inputs", "prediction", "label", "actual", "actual_label"]).drop(
        columns="inputs"
    )
    return pd.concat([features, frame], axis=1)


def _daily_error(estimated: dict, realised: dict) -> float:
    days = [day for day in realised if day in estimated]
    return sum(abs(estimated[day] / realised[day] - 1) for day in days) / max(len(days), 1)


def _diamond_traffic(rows: int, seed: int = 0):
    """The diamonds holdout split in two: a reference half, and ``rows`` logged answers resampled from the other
    half — days 1–3 as it is, days 4–7 from its larger-carat half only (the covariate shift). True values are real."""
    import numpy as np

    from core.dataset import CATEGORICAL_FEATURES, load_diamonds, split_diamonds

    split = split_diamonds(load_diamonds())
    features = split.X_test.astype({name: str for name in CATEGORICAL_FEATURES}).reset_index(drop=True)
    actual = split.y_test.to_numpy(float)
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(features))
    reference, pool = order[: len(order) // 2], order[len(order) // 2 :]
    large = pool[features["carat"].to_numpy()[pool] > np.median(features["carat"])]
    seconds = np.sort(rng.random(rows)) * DAYS * 86_400
    shifted = seconds >= 3 * 86_400
    picked = np.where(shifted, rng.choice(large, rows), rng.choice(pool, rows))
    return features, actual, reference, picked, seconds


def _regressor(workdir: Path, figures: dict, nannyml: Path | None) -> None:
    import mlflow
    import numpy as np
    import pandas as pd

    from core import mlflow_io
    from core.monitoring.estimated_view import estimated_performance
    from core.monitoring.estimators import fit_on_holdout, store
    from core.monitoring.references import refresh
    from core.monitoring.simulator import bulk_log, simulated_latencies
    from core.monitoring.snapshot import snapshot
    from core.monitoring.windows import Window, floor_hour
    from core.settings import get_settings
    from core.training.train import train
    from storage.base import utcnow
    from storage.db import make_engine, make_sessionmaker, migrate

    settings = get_settings()
    settings.ensure_home()
    _say("training a champion (ridge: quick; its errors grow with carat, which DLE has to learn)")
    result = train(settings, estimator="ridge", progress=_say)
    assert result.version is not None
    mlflow_io.set_alias(settings, alias="champion", version=result.version)
    champion = mlflow.sklearn.load_model(f"models:/{settings.model_name}@champion")
    features, actual, reference, picked, seconds = _diamond_traffic(ROWS)
    predictions = champion.predict(features)
    # Training fitted DLE on the whole holdout; refit it on the reference half so the logged half is unseen.
    estimator = fit_on_holdout(
        features=features.iloc[reference], actual=actual[reference], predictions=predictions[reference]
    )
    store(settings, version=result.version, estimator=estimator)
    engine = make_engine(settings.database_url)
    migrate(engine)
    sessions = make_sessionmaker(engine)
    start = floor_hour(utcnow()) - timedelta(days=DAYS)
    stamps = pd.Timestamp(start) + pd.to_timedelta(seconds, unit="s")
    started = time.perf_counter()
    rng = np.random.default_rng(1)
    with sessions.begin() as session:
        bulk_log(
            session,
            features=features.iloc[picked].reset_index(drop=True),
            predictions=predictions[picked],
            timestamps=list(stamps.to_pydatetime()),
            model_name=settings.model_name,
            model_version=result.version,
            latency_ms=simulated_latencies(len(picked), rng=rng),
            actuals=actual[picked],
            label_share=0.3,
        )
    figures["dle_generate_1m_s"] = round(time.perf_counter() - started, 1)
    figures["dle_rows_1m"] = len(picked)
    started = time.perf_counter()
    refresh(settings, sessions=sessions)
    figures["dle_rollup_1m_s"] = round(time.perf_counter() - started, 1)
    _say(
        f"{len(picked):,} rows logged in {figures['dle_generate_1m_s']} s, rolled up in {figures['dle_rollup_1m_s']} s"
    )

    window = Window(start, start + timedelta(days=DAYS))

    def estimates() -> object:
        with sessions() as session:
            return estimated_performance(
                session,
                model_name=settings.model_name,
                window=window,
                version=None,
                include_shadow=False,
                estimator_version=result.version,
            )

    def read() -> object:
        return snapshot(settings, sessions=sessions, window=window, split_by="cut")

    view = read()
    estimated = view.estimated
    assert estimated is not None and estimated.method == "dle", estimated
    figures["dle_estimate_read_1m_s"] = round(_timed(estimates, repeat=5), 4)
    figures["snapshot_read_1m_s"] = round(_timed(read, repeat=3), 4)
    for metric in ("mae", "rmse"):
        item = estimated.figure(metric)
        assert item is not None and item.value is not None and item.low is not None and item.high is not None
        figures[f"dle_{metric}_estimated"] = round(item.value, 1)
        figures[f"dle_{metric}_band"] = f"{item.low:,.1f} – {item.high:,.1f}"
        figures[f"dle_{metric}_realised"] = round(item.realised or float("nan"), 1)
        figures[f"dle_{metric}_reference"] = round(estimator.payload[f"reference_{metric}"], 1)
    series = estimated.over_time[estimated.over_time["metric"] == "mae"]
    loupe_daily = {str(row.period.date()): row.value for row in series.itertuples()}
    realised_daily = {str(row.period.date()): row.realised for row in series.itertuples() if pd.notna(row.realised)}
    figures["dle_daily_error_loupe"] = round(_daily_error(loupe_daily, realised_daily), 4)
    _say(
        f"estimated MAE {figures['dle_mae_estimated']} [{figures['dle_mae_band']}], realised "
        f"{figures['dle_mae_realised']}, reference {figures['dle_mae_reference']}; daily error "
        f"{figures['dle_daily_error_loupe']}; estimate read {figures['dle_estimate_read_1m_s']} s, "
        f"snapshot {figures['snapshot_read_1m_s']} s"
    )

    if nannyml is not None:
        reference_frame = features.iloc[reference].assign(y_pred=predictions[reference], y_true=actual[reference])
        analysis = features.iloc[picked].reset_index(drop=True).assign(y_pred=predictions[picked], timestamp=stamps)
        found = _nannyml(nannyml, "dle", reference_frame, analysis, list(features.columns), workdir)
        figures["nannyml_dle_s"] = round(found["seconds"], 1)
        nannyml_daily = {chunk["start"][:10]: chunk["mae"] for chunk in found["chunks"]}
        figures["dle_daily_error_nannyml"] = round(_daily_error(nannyml_daily, realised_daily), 4)
        days = pd.Series(stamps.strftime("%Y-%m-%d")).value_counts()
        figures["dle_mae_nannyml"] = round(
            float(np.average([nannyml_daily.get(day, np.nan) for day in days.index], weights=days.to_numpy())), 1
        )
        _say(
            f"NannyML DLE {figures['nannyml_dle_s']} s, window MAE {figures['dle_mae_nannyml']}, daily error "
            f"{figures['dle_daily_error_nannyml']}"
        )
        del analysis

    if SCALE_ROWS <= ROWS:  # BENCH_ESTIMATION_SCALE_ROWS=0: no growth stage (it takes the longest by far)
        return
    _say(f"growing the log to {SCALE_ROWS:,} rows")
    from bench.monitoring import _grow_log

    _grow_log(sessions, copies=SCALE_ROWS // ROWS - 1)
    started = time.perf_counter()
    refresh(settings, sessions=sessions)
    figures["dle_rollup_add_9m_s"] = round(time.perf_counter() - started, 1)
    figures["snapshot_read_10m_s"] = round(_timed(read, repeat=3), 4)
    figures["dle_estimate_read_10m_s"] = round(_timed(estimates, repeat=5), 4)
    figures["scaling_10m_vs_1m"] = round(figures["snapshot_read_10m_s"] / figures["snapshot_read_1m_s"], 2)
    _say(f"10M: snapshot {figures['snapshot_read_10m_s']} s ({figures['scaling_10m_vs_1m']}× the 1M read)")


def _classifier(workdir: Path, figures: dict, nannyml: Path | None) -> None:
    import mlflow
    import numpy as np
    import pandas as pd
    from mlflow.models import infer_signature
    from sklearn.datasets import make_classification
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import train_test_split

    from core.monitoring.reference_data import attach_reference
    from core.monitoring.references import refresh
    from core.monitoring.simulator import simulate_bulk
    from core.monitoring.snapshot import snapshot
    from core.monitoring.windows import Window
    from core.settings import get_settings
    from storage.db import make_engine, make_sessionmaker, migrate

    settings = get_settings()
    settings.ensure_home()
    x, y = make_classification(n_samples=8_000, n_features=5, n_informative=3, random_state=0, flip_y=0.05)
    features = pd.DataFrame(x, columns=[f"signal_{index}" for index in range(5)])
    labels = pd.Series(np.asarray(["leave", "stay"])[y], name="outcome")
    x_train, x_test, y_train, y_test = train_test_split(features, labels, test_size=0.3, random_state=0)
    model = LogisticRegression(max_iter=500).fit(x_train, y_train)
    mlflow.set_tracking_uri(settings.tracking_uri)
    mlflow.set_registry_uri(settings.tracking_uri)
    with mlflow.start_run() as run:
        mlflow.sklearn.log_model(
            model,
            name="model",
            signature=infer_signature(x_train, model.predict(x_train)),
            pip_requirements=["scikit-learn", "pandas"],
            skops_trusted_types=["sklearn.linear_model._logistic.LogisticRegression"],
        )
    version = int(mlflow.register_model(f"runs:/{run.info.run_id}/model", CLASSIFIER).version)
    mlflow.MlflowClient().set_registered_model_alias(CLASSIFIER, "champion", str(version))
    attached = attach_reference(
        settings, version=version, data=x_test.assign(outcome=y_test), source="the holdout", target="outcome"
    )
    _say("; ".join(attached.notes))
    engine = make_engine(settings.database_url)
    migrate(engine)
    sessions = make_sessionmaker(engine)
    simulate_bulk(settings, sessions=sessions, rows=CBPE_ROWS, days=DAYS, label_share=0.3)
    started = time.perf_counter()
    refresh(settings, sessions=sessions)
    figures["cbpe_rollup_s"] = round(time.perf_counter() - started, 1)
    view = snapshot(settings, sessions=sessions, window=Window.last(timedelta(days=DAYS + 1)))
    estimated = view.estimated
    assert estimated is not None and estimated.method == "cbpe", estimated
    for metric in ("accuracy", "f1", "roc_auc"):
        item = estimated.figure(metric)
        assert item is not None and item.value is not None
        figures[f"cbpe_{metric}_estimated"] = round(item.value, 4)
        figures[f"cbpe_{metric}_realised"] = round(item.realised or float("nan"), 4)
    _say(
        f"CBPE accuracy {figures['cbpe_accuracy_estimated']} vs realised {figures['cbpe_accuracy_realised']}, "
        f"F1 {figures['cbpe_f1_estimated']} vs {figures['cbpe_f1_realised']}, "
        f"ROC AUC {figures['cbpe_roc_auc_estimated']} vs {figures['cbpe_roc_auc_realised']}"
    )
    if nannyml is not None:
        probabilities = model.predict_proba(x_test)[:, 1]
        reference = x_test.assign(
            y_pred_proba=probabilities, y_pred=(probabilities >= 0.5).astype(int), y_true=(y_test == "stay").astype(int)
        )
        rows = _logged(sessions, model_name=CLASSIFIER)
        analysis = rows[list(x_test.columns)].assign(
            y_pred_proba=rows["prediction"],
            y_pred=(rows["label"] == "stay").astype(int),
            timestamp=rows["timestamp"],
        )
        found = _nannyml(nannyml, "cbpe", reference, analysis, list(x_test.columns), workdir)
        figures["nannyml_cbpe_s"] = round(found["seconds"], 1)
        weights = rows.assign(day=pd.to_datetime(rows["timestamp"]).dt.strftime("%Y-%m-%d")).groupby("day").size()
        for metric in ("accuracy", "f1", "roc_auc"):
            daily = {chunk["start"][:10]: chunk[metric] for chunk in found["chunks"]}
            figures[f"cbpe_{metric}_nannyml"] = round(
                float(np.average([daily.get(day, np.nan) for day in weights.index], weights=weights)), 4
            )
        _say(
            f"NannyML CBPE {figures['nannyml_cbpe_s']} s, accuracy {figures['cbpe_accuracy_nannyml']}, F1 "
            f"{figures['cbpe_f1_nannyml']}, ROC AUC {figures['cbpe_roc_auc_nannyml']}"
        )


def run(workdir: Path) -> dict[str, float | int | str]:
    figures: dict[str, float | int | str] = {}
    nannyml = _ensure_nannyml()
    figures["nannyml"] = "not installable here" if nannyml is None else "0.13.1 (bench/.venv-nannyml)"
    with _home(workdir / "classifier", LOUPE_MODEL_NAME=CLASSIFIER):
        _classifier(workdir, figures, nannyml)
    with _home(workdir / "regressor"):
        _regressor(workdir, figures, nannyml)
    return figures
