"""Realistic traffic for demos and benchmarks: whole rows drawn from the version's reference, optional drift, feedback.

The rows come from :mod:`core.monitoring.champion_traffic` (a bootstrap of the reference's row sample, so the
relations between inputs hold and only a requested shift shows as drift).

Two ways in:

- :func:`simulate` scores the rows through the real serving path (``core.serving.score_frame``), with
  timestamps spread over the past days; this is what ``python -m core simulate`` and the Monitoring
  page's empty state run.
- :func:`bulk_log` writes an already-scored frame straight into the prediction log in large
  batches — for seeding tests and for the million-row benchmark, where going request by request
  would take hours. Predictions still come from the caller (the benchmark uses the real model).
"""

from __future__ import annotations

import math
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime

import numpy as np
import pandas as pd
from sqlalchemy import insert
from sqlalchemy.orm import Session, sessionmaker
from threadpoolctl import threadpool_limits

from core.errors import InvalidInput
from core.monitoring.champion_traffic import answer_all, champion, champion_chunks, champion_traffic
from core.monitoring.reference_sample import keeps_relations
from core.monitoring.traffic import Shift, is_numeric
from core.settings import Settings
from storage.base import table_of, utcnow
from storage.prediction_log import Feedback, log_prediction_frame

BULK_BATCH = 50_000


def simulated_latencies(rows: int, *, rng: np.random.Generator, median_ms: float = 12.0) -> np.ndarray:
    """Log-normal serving latencies with a long tail (p99 ≈ 4× the median)."""
    return rng.lognormal(np.log(median_ms), 0.6, rows)


def bulk_log(
    session: Session,
    *,
    features: pd.DataFrame,
    predictions: np.ndarray,
    timestamps: np.ndarray | list[datetime],
    model_name: str,
    model_version: int,
    latency_ms: np.ndarray,
    alias: str | None = "champion",
    is_shadow: bool = False,
    source: str = "simulator",
    actuals: np.ndarray | None = None,
    labels: Sequence[str | None] | None = None,
    probabilities: Sequence[str | None] | None = None,
    actual_labels: Sequence[str | None] | None = None,
    label_share: float = 0.0,
    labelled: np.ndarray | None = None,
    is_ood: np.ndarray | None = None,
    shadow_of: list[int] | None = None,
    seed: int = 0,
    progress: Callable[[int, int], None] | None = None,
) -> list[int]:
    """Write scored rows into the prediction log in batches (flushed, not committed); returns their ids.

    ``progress`` gets (rows written, rows in all) after each batch.

    A classifier's rows carry ``labels`` (class texts), ``probabilities`` (JSON, see
    :meth:`core.serving.answers.Answers.probability_json`) and the score in ``predictions``; its
    feedback is ``actual_labels`` (class texts) instead of ``actuals``.

    Shadow rows (``shadow_of`` given: the answered ids, in order) log no inputs, as in serving.
    """
    rows = len(features)
    stamps = pd.to_datetime(pd.Series(timestamps), utc=True)
    rng = np.random.default_rng(seed)
    truth_given = actuals is not None or actual_labels is not None
    if labelled is None:  # feedback for a random ``label_share`` of the rows
        labelled = rng.random(rows) < label_share if truth_given else np.zeros(rows, dtype=bool)
    flags = np.zeros(rows, dtype=bool) if is_ood is None else np.asarray(is_ood, dtype=bool)
    # Numbers logged as numbers, anything else as its text (as a form or file sends it); missing stays missing.
    logged = pd.DataFrame(
        {
            column: features[column].astype(float)
            if is_numeric(features[column])
            else features[column].astype(str).where(features[column].notna(), None)
            for column in features.columns
        },
        index=features.index,
    )
    request_prefix = uuid.uuid4().hex[:12]
    all_ids: list[int] = []
    ids = np.empty(0, dtype=np.int64)
    for start in range(0, rows, BULK_BATCH):
        stop = min(start + BULK_BATCH, rows)
        columns = {
            "created_at": list(stamps.iloc[start:stop].dt.to_pydatetime()),
            # A classifier without probabilities has no score: NaN is logged as "no number".
            "prediction": [
                None if math.isnan(value) else value
                for value in np.asarray(predictions[start:stop], dtype=float).tolist()
            ],
            "label": None if labels is None else list(labels[start:stop]),
            "probabilities": None if probabilities is None else list(probabilities[start:stop]),
            "latency_ms": np.asarray(latency_ms[start:stop], dtype=float).tolist(),
            "request_id": [f"{request_prefix}-{i}" for i in range(start, stop)],
            "is_ood": flags[start:stop].tolist(),
            "shadow_of": None if shadow_of is None else [int(i) for i in shadow_of[start:stop]],
            "model_name": model_name,
            "model_version": model_version,
            "alias": alias,
            "source": source,
            "ood_fields": None,
            "is_shadow": is_shadow,
        }
        # Shadow rows (``shadow_of`` given) log no inputs of their own, as in serving.
        inputs = None if shadow_of is not None else logged.iloc[start:stop]
        all_ids += log_prediction_frame(session, columns=columns, inputs=inputs, rows=stop - start)
        ids = np.asarray(all_ids)
        if labelled[start:stop].any():
            assert truth_given, "feedback needs the true values (actuals or actual_labels)"
            received = utcnow()
            session.execute(
                insert(table_of(Feedback)),
                [
                    {
                        "prediction_id": int(ids[i]),
                        "actual": None if actuals is None else float(actuals[i]),
                        "actual_label": None if actual_labels is None else actual_labels[i],
                        "received_at": received,
                    }
                    for i in range(start, stop)
                    if labelled[i]
                ],
            )
        if progress:
            progress(stop, rows)
    session.flush()
    return ids.tolist()


@dataclass(frozen=True)
class SimulationResult:
    """What a simulation logged."""

    requests: int
    accepted: int
    rejected_rows: int
    shadow_scored: int
    feedback: int
    model_version: int | None
    seconds: float
    via: str  # "serving" or "bulk"
    # Drawn as whole reference rows (relations between features kept); False: each feature drawn on its own,
    # for a reference attached before references kept a sample of their rows.
    whole_rows: bool = True


def _request_sizes(rows: int, *, rng: np.random.Generator, mean: int) -> list[int]:
    # Mostly single rows with the odd batch, like a mix of form submissions and small CSV uploads.
    sizes: list[int] = []
    while sum(sizes) < rows:
        sizes.append(int(min(rng.geometric(1 / mean), rows - sum(sizes))))
    return sizes


def _with_invalid_rows(features: pd.DataFrame, *, share: float, rng: np.random.Generator) -> pd.DataFrame:
    # Text where a number belongs breaks any model's "type" rule (else a blank breaks "required"),
    # so rejections show up on Monitoring too, whatever the model.
    if not share or features.empty:
        return features
    numeric = [column for column in features.columns if is_numeric(features[column])]
    column = numeric[0] if numeric else features.columns[0]
    broken = features.astype({column: object})
    chosen = rng.random(len(broken)) < share
    broken.loc[chosen, column] = "n/a" if numeric else ""
    return broken


def simulate(
    settings: Settings,
    *,
    sessions: sessionmaker[Session],
    rows: int,
    days: float,
    shifts: tuple[Shift, ...] = (),
    label_share: float = 0.0,
    invalid_share: float = 0.01,
    mean_request_rows: int = 8,
    seed: int = 0,
    progress: Callable[[float, str], None] | None = None,
) -> SimulationResult:
    """Score traffic drawn from the champion's reference through the real serving path (challenger shadows).

    Requests of a few rows each, timestamps spread over the past ``days``; afterwards simulated true
    values are sent back as feedback for ``label_share`` of the answered rows.
    """
    from core.serving.scoring import score_frame
    from storage.prediction_log import add_feedback

    if not 0 <= label_share <= 1:
        raise InvalidInput("--label-share must be between 0 and 1")
    started = time.perf_counter()
    rng = np.random.default_rng(seed)
    served, traffic, truth = champion_traffic(settings, rows=rows, days=days, shifts=shifts, seed=seed)
    features = _with_invalid_rows(traffic.features, share=invalid_share, rng=rng)
    stamps = pd.Series(pd.to_datetime(traffic.timestamps, utc=True))
    report = progress or (lambda fraction, message: None)
    accepted = rejected = shadow = 0
    version: int | None = None
    truths: dict[int, float] = {}
    true_labels: dict[int, str] = {}
    sizes = _request_sizes(rows, rng=rng, mean=mean_request_rows)
    start = 0
    # Small requests: OpenMP's per-tree thread hand-off makes a gradient-boosting predict of a few rows
    # ~30× slower than one thread on a busy 2-core machine.
    with threadpool_limits(limits=1, user_api="openmp"):
        for number, size in enumerate(sizes, start=1):
            stop = start + size
            result = score_frame(
                settings,
                features.iloc[start:stop].reset_index(drop=True),
                sessions=sessions,
                source="simulator",
                timestamps=stamps.iloc[start:stop].reset_index(drop=True),
            )
            version = result.model_version
            accepted += len(result.accepted)
            rejected += result.rejected_row_count
            shadow += result.shadow.scored if result.shadow is not None else 0
            actual = truth[start:stop]
            labelled = rng.random(len(result.accepted)) < label_share
            positions = result.accepted.index.to_numpy()
            for prediction_id, position in zip(
                result.accepted["prediction_id"].to_numpy()[labelled], positions[labelled], strict=True
            ):
                if isinstance(actual[position], str):
                    true_labels[int(prediction_id)] = actual[position]
                elif actual[position] is not None and np.isfinite(actual[position]):
                    truths[int(prediction_id)] = float(actual[position])
            start = stop
            if number % 10 == 0 or stop == rows:
                report(stop / rows, f"scored {stop:,} of {rows:,} rows in {number:,} requests")
    if truths or true_labels:
        with sessions.begin() as session:
            add_feedback(session, actuals=truths, labels=true_labels)
        what = "true values" if truths else "true labels"
        report(1.0, f"sent {len(truths) + len(true_labels):,} {what} back as feedback")
    return SimulationResult(
        requests=len(sizes),
        accepted=accepted,
        rejected_rows=rejected,
        shadow_scored=shadow,
        feedback=len(truths) + len(true_labels),
        model_version=version,
        seconds=time.perf_counter() - started,
        via="serving",
        whole_rows=served.profile is not None and keeps_relations(served.profile),
    )


def simulate_bulk(
    settings: Settings,
    *,
    sessions: sessionmaker[Session],
    rows: int,
    days: float,
    shifts: tuple[Shift, ...] = (),
    label_share: float = 0.0,
    seed: int = 0,
    progress: Callable[[float, str], None] | None = None,
) -> SimulationResult:
    """Millions of rows fast: the champion's real predictions, written straight to the log in batches.

    Skips per-request validation, shadow scoring and measured latency (latencies are drawn from a
    log-normal); meant for benchmarks and load, not for demos of the serving path.
    """
    started = time.perf_counter()
    rng = np.random.default_rng(seed)
    served = champion(settings)
    report = progress or (lambda fraction, message: None)
    classifier = served.task == "classification"
    accepted = labelled_rows = done = 0
    # One transaction: a failure half-way leaves nothing logged. Each chunk is drawn, scored and written
    # before the next is drawn, so memory is bounded by the chunk whatever ``rows`` is.
    with sessions.begin() as session:
        for traffic, truth in champion_chunks(settings, served, rows=rows, days=days, shifts=shifts, seed=seed):
            check = served.schema.validate_frame(traffic.features)
            kept = np.flatnonzero(check.accepted_mask)
            answers = answer_all(served, check.clean)
            known = pd.notna(truth[kept]) if classifier else np.isfinite(truth[kept].astype(float))
            labelled = (rng.random(len(kept)) < label_share) & known
            bulk_log(
                session,
                features=traffic.features.iloc[kept].reset_index(drop=True),
                predictions=answers.values,
                labels=answers.label_texts if classifier else None,
                probabilities=answers.probability_json() if classifier else None,
                timestamps=traffic.timestamps[kept],
                model_name=settings.model_name,
                model_version=served.version,
                latency_ms=simulated_latencies(len(kept), rng=rng),
                actuals=None if classifier else truth[kept],
                actual_labels=list(truth[kept]) if classifier else None,
                labelled=labelled,
                is_ood=np.array([bool(fields) for fields in check.ood_fields]),
                seed=seed,
            )
            accepted += len(kept)
            labelled_rows += int(labelled.sum())
            done += len(traffic.features)
            report(done / rows, f"{served.name} v{served.version}: scored and logged {done:,} of {rows:,} rows")
    return SimulationResult(
        requests=1,
        accepted=accepted,
        rejected_rows=rows - accepted,
        shadow_scored=0,
        feedback=labelled_rows,
        model_version=served.version,
        seconds=time.perf_counter() - started,
        via="bulk",
        whole_rows=served.profile is not None and keeps_relations(served.profile),
    )
