"""Registry pre-flight evidence at scale: shadow agreement and realised error in SQL (latency p95 is read off the roll-ups).

A SQLite prediction log holds 100,000 answers of version 1, each shadowed by version 2 (200,000 rows),
with feedback on a fifth of the answers. Figure: the three aggregates the pre-flight runs
(``storage.evidence``). Baseline: reading the same rows into pandas and computing the same numbers,
timed in the same run; the two must agree.
"""

from __future__ import annotations

import math
import time
from pathlib import Path

ANSWERS = 100_000
FEEDBACK_EVERY = 5
REPEATS = 3
MODEL = "bench-model"


def _seed(sessions) -> None:
    import numpy as np

    from storage.base import utcnow
    from storage.prediction_log import add_feedback, log_predictions

    rng = np.random.default_rng(0)
    served = rng.uniform(300, 15_000, ANSWERS)
    now = utcnow()
    common = {"model_name": MODEL, "created_at": now, "source": "simulator", "is_ood": False, "ood_fields": None}
    with sessions.begin() as session:
        answers = log_predictions(
            session,
            records=[
                {
                    **common,
                    "model_version": 1,
                    "alias": "champion",
                    "prediction": float(value),
                    "latency_ms": float(latency),
                    "request_id": f"batch-{index // 1000}",
                    "is_shadow": False,
                    "shadow_of": None,
                }
                for index, (value, latency) in enumerate(zip(served, rng.gamma(2.0, 4.0, ANSWERS), strict=True))
            ],
        )
        log_predictions(
            session,
            records=[
                {
                    **common,
                    "model_version": 2,
                    "alias": "challenger",
                    "prediction": float(value * factor),
                    "latency_ms": float(latency),
                    "request_id": f"batch-{index // 1000}",
                    "is_shadow": True,
                    "shadow_of": answer,
                }
                for index, (value, factor, latency, answer) in enumerate(
                    zip(served, rng.normal(1.0, 0.08, ANSWERS), rng.gamma(2.0, 6.0, ANSWERS), answers, strict=True)
                )
            ],
        )
        add_feedback(
            session,
            actuals={
                answer: float(served[i] * rng.normal(1, 0.1)) for i, answer in enumerate(answers[::FEEDBACK_EVERY])
            },
        )


def _in_sql(sessions) -> tuple:
    from storage import evidence
    from storage.db import reading

    with reading(sessions) as session:
        new = evidence.version_evidence(session, model_name=MODEL, version=2)
        old = evidence.version_evidence(session, model_name=MODEL, version=1)
        agreed = evidence.agreement(session, model_name=MODEL, reference_version=1, candidate_version=2)
    return agreed.within_tolerance, new.realised_rmse, old.realised_rmse


def _in_pandas(engine) -> tuple:
    import numpy as np
    import pandas as pd

    predictions = pd.read_sql(
        "SELECT id, model_version, prediction, shadow_of FROM predictions WHERE model_name = ?",
        engine,
        params=(MODEL,),
    )
    feedback = pd.read_sql("SELECT prediction_id, actual FROM feedback", engine)
    served = predictions[predictions.model_version == 1].set_index("id")
    shadow = predictions[predictions.model_version == 2]
    paired = shadow.join(served["prediction"].rename("reference"), on="shadow_of")
    within = int((np.abs(paired.prediction - paired.reference) <= 0.10 * np.abs(paired.reference)).sum())
    truth = feedback.set_index("prediction_id")["actual"]
    answer_of = predictions.shadow_of.fillna(predictions.id).astype("int64")
    predictions = predictions.assign(actual=answer_of.map(truth)).dropna(subset=["actual"])

    def rmse(version: int) -> float:
        rows = predictions[predictions.model_version == version]
        return math.sqrt(float(((rows.actual - rows.prediction) ** 2).mean()))

    return within, rmse(2), rmse(1)


def _best(action) -> tuple[float, tuple]:
    best, result = math.inf, ()
    for _ in range(REPEATS):
        started = time.perf_counter()
        result = action()
        best = min(best, time.perf_counter() - started)
    return best, result


def run(workdir: Path) -> dict[str, float | int | str]:
    from storage.db import make_engine, make_sessionmaker, migrate

    engine = make_engine(f"sqlite:///{workdir / 'loupe.db'}")
    migrate(engine)
    started = time.perf_counter()
    _seed(make_sessionmaker(engine))
    seeded_s = time.perf_counter() - started
    sessions = make_sessionmaker(engine)
    sql_s, sql = _best(lambda: _in_sql(sessions))
    pandas_s, frame = _best(lambda: _in_pandas(engine))
    engine.dispose()
    if sql[0] != frame[0] or any(not math.isclose(a, b, rel_tol=1e-9) for a, b in zip(sql[1:], frame[1:], strict=True)):
        raise AssertionError(f"SQL and pandas disagree: {sql} vs {frame}")
    return {
        "rows": 2 * ANSWERS,
        "seed_s": round(seeded_s, 2),
        "evidence_sql_s": round(sql_s, 3),
        "evidence_pandas_baseline_s": round(pandas_s, 3),
        "sql_vs_pandas_speedup": round(pandas_s / sql_s, 2),
    }
