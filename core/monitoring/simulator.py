"""Realistic traffic for demos and benchmarks: rows sampled from the training data, optional drift and feedback.

Two ways in:

- :func:`simulate` scores the rows through the real serving path (``core.serving.score_frame``), with
  timestamps spread over the past days; this is what ``python -m core simulate`` and the Monitoring
  page's empty state run.
- :func:`bulk_log` writes an already-scored frame straight into the prediction log tables in large
  batches — for seeding tests and for the million-row benchmark, where going request by request
  would take hours. Predictions still come from the caller (the benchmark uses the real model).
"""

from __future__ import annotations

import re
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

import numpy as np
import pandas as pd
from sqlalchemy import func, insert, select
from sqlalchemy.orm import Session, sessionmaker
from threadpoolctl import threadpool_limits

from core.dataset import TARGET, load_diamonds
from core.settings import Settings
from storage.base import table_of, utcnow
from storage.prediction_log import Feedback, Prediction, PredictionFeature

BULK_BATCH = 50_000
SHIFT_PATTERN = re.compile(r"^(?P<feature>[A-Za-z_][\w.\-]*)=(?P<value>.+)$")


@dataclass(frozen=True)
class Shift:
    """A drift to inject: multiply a numeric feature, or move a share of rows to one level of a categorical."""

    feature: str
    factor: float | None = None  # numeric: value × factor
    level: str | None = None  # categorical: this level for ``share`` of the rows
    share: float = 0.5

    @classmethod
    def parse(cls, text: str) -> Shift:
        """``carat=1.2`` (numeric factor) or ``cut=Fair`` / ``cut=Fair:0.4`` (categorical level and share)."""
        match = SHIFT_PATTERN.match(text.strip())
        if not match:
            raise ValueError(f"--shift must look like FEATURE=FACTOR or FEATURE=LEVEL[:SHARE], not {text!r}")
        feature, value = match["feature"], match["value"]
        try:
            factor = float(value)
        except ValueError:
            return cls._level_shift(feature, value, text)
        if not np.isfinite(factor) or factor <= 0:
            raise ValueError(f"--shift {text!r}: the factor must be a positive number")
        return cls(feature=feature, factor=factor)

    @classmethod
    def _level_shift(cls, feature: str, value: str, text: str) -> Shift:
        level, _, share = value.partition(":")
        try:
            share_value = float(share) if share else 0.5
        except ValueError:
            share_value = -1.0
        if not 0 < share_value <= 1:
            raise ValueError(f"--shift {text!r}: the share after ':' must be a number in (0, 1]")
        return cls(feature=feature, level=level, share=share_value)

    def apply(self, frame: pd.DataFrame, *, rng: np.random.Generator) -> pd.DataFrame:
        """The frame with this shift applied (a copy)."""
        if self.feature not in frame:
            raise ValueError(f"--shift: {self.feature} is not a feature (features: {', '.join(frame.columns)})")
        shifted = frame.copy()
        column = shifted[self.feature]
        if self.factor is not None:
            if not pd.api.types.is_numeric_dtype(column):
                raise ValueError(f"--shift: {self.feature} is categorical; give a level, e.g. {self.feature}=LEVEL")
            shifted[self.feature] = column * self.factor
        else:
            chosen = rng.random(len(shifted)) < self.share
            shifted[self.feature] = column.astype(str).where(~chosen, self.level)
        return shifted


@dataclass(frozen=True)
class Traffic:
    """Sampled inputs with their true values and the timestamps they will be logged at."""

    features: pd.DataFrame
    actuals: np.ndarray
    timestamps: np.ndarray  # datetime64[ns], UTC


def sample_traffic(
    *, rows: int, days: float, shifts: tuple[Shift, ...] = (), seed: int = 0, now: datetime | None = None
) -> Traffic:
    """``rows`` diamonds drawn with replacement (true price kept), shifted, spread over the past ``days``."""
    if rows <= 0:
        raise ValueError("--rows must be a positive number")
    if days <= 0:
        raise ValueError("--days must be a positive number")
    rng = np.random.default_rng(seed)
    data = load_diamonds()
    picked = data.iloc[rng.integers(0, len(data), rows)].reset_index(drop=True)
    features = picked.drop(columns=[TARGET])
    features = features.astype({column: str for column in features.columns if not _is_numeric(features[column])})
    for shift in shifts:
        features = shift.apply(features, rng=rng)
    end = pd.Timestamp(now or utcnow())
    offsets = np.sort(rng.random(rows)) * days * 86_400
    timestamps = (end - pd.to_timedelta(offsets[::-1], unit="s")).to_numpy()
    return Traffic(features=features, actuals=picked[TARGET].to_numpy(float), timestamps=timestamps)


def _is_numeric(column: pd.Series) -> bool:
    return pd.api.types.is_numeric_dtype(column) and not pd.api.types.is_bool_dtype(column)


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
    label_share: float = 0.0,
    labelled: np.ndarray | None = None,
    is_ood: np.ndarray | None = None,
    shadow_of: list[int] | None = None,
    seed: int = 0,
    progress: Callable[[int, int], None] | None = None,
) -> list[int]:
    """Write scored rows into the prediction log in batches (flushed, not committed); returns their ids.

    ``progress`` gets (rows written, rows in all) after each batch.

    Shadow rows (``shadow_of`` given: the answered ids, in order) get no feature rows, as in serving.
    """
    rows = len(features)
    first = (session.scalar(select(func.max(Prediction.id))) or 0) + 1
    ids = np.arange(first, first + rows)
    stamps = pd.to_datetime(pd.Series(timestamps), utc=True)
    rng = np.random.default_rng(seed)
    if labelled is None:  # feedback for a random ``label_share`` of the rows
        labelled = rng.random(rows) < label_share if actuals is not None else np.zeros(rows, dtype=bool)
    flags = np.zeros(rows, dtype=bool) if is_ood is None else np.asarray(is_ood, dtype=bool)
    numeric = {column: _is_numeric(features[column]) for column in features.columns}
    request_prefix = uuid.uuid4().hex[:12]
    for start in range(0, rows, BULK_BATCH):
        stop = min(start + BULK_BATCH, rows)
        batch_ids = ids[start:stop].tolist()
        columns = {
            "id": batch_ids,
            "created_at": list(stamps.iloc[start:stop].dt.to_pydatetime()),
            "prediction": np.asarray(predictions[start:stop], dtype=float).tolist(),
            "latency_ms": np.asarray(latency_ms[start:stop], dtype=float).tolist(),
            "request_id": [f"{request_prefix}-{i}" for i in range(start, stop)],
            "is_ood": flags[start:stop].tolist(),
            "shadow_of": [None] * (stop - start) if shadow_of is None else [int(i) for i in shadow_of[start:stop]],
        }
        constant = {"model_name": model_name, "model_version": model_version, "alias": alias, "source": source}
        constant |= {"ood_fields": None, "is_shadow": is_shadow}
        names = list(columns)
        session.execute(
            insert(table_of(Prediction)),
            [constant | dict(zip(names, row, strict=True)) for row in zip(*columns.values(), strict=True)],
        )
        values: list[dict] = []
        for column, is_number in numeric.items() if shadow_of is None else ():
            chunk = features[column].iloc[start:stop]
            present = chunk.notna().tolist()
            if is_number:
                numbers = chunk.astype(float).tolist()
                values += [
                    {"prediction_id": i, "feature": column, "num_value": v if ok else None, "cat_value": None}
                    for i, v, ok in zip(batch_ids, numbers, present, strict=True)
                ]
            else:
                texts = chunk.astype(str).tolist()
                values += [
                    {"prediction_id": i, "feature": column, "num_value": None, "cat_value": v if ok else None}
                    for i, v, ok in zip(batch_ids, texts, present, strict=True)
                ]
        if values:
            session.execute(insert(table_of(PredictionFeature)), values)
        if labelled[start:stop].any():
            assert actuals is not None, "feedback needs the true values (actuals)"
            received = utcnow()
            session.execute(
                insert(table_of(Feedback)),
                [
                    {"prediction_id": int(ids[i]), "actual": float(actuals[i]), "received_at": received}
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


def _request_sizes(rows: int, *, rng: np.random.Generator, mean: int) -> list[int]:
    # Mostly single rows with the odd batch, like a mix of form submissions and small CSV uploads.
    sizes: list[int] = []
    while sum(sizes) < rows:
        sizes.append(int(min(rng.geometric(1 / mean), rows - sum(sizes))))
    return sizes


def _with_invalid_rows(features: pd.DataFrame, *, share: float, rng: np.random.Generator) -> pd.DataFrame:
    # A negative value breaks the first numeric feature's "must be > 0" rule, so rejections show up too.
    numeric = [column for column in features.columns if _is_numeric(features[column])]
    if not share or not numeric:
        return features
    broken = features.copy()
    chosen = rng.random(len(broken)) < share
    broken.loc[chosen, numeric[0]] = -broken.loc[chosen, numeric[0]].abs() - 1
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
    """Score sampled traffic through the real serving path (champion answers, challenger shadows).

    Requests of a few rows each, timestamps spread over the past ``days``; afterwards true prices are
    sent back as feedback for ``label_share`` of the answered rows.
    """
    from core.serving.scoring import score_frame
    from storage.prediction_log import add_feedback

    if not 0 <= label_share <= 1:
        raise ValueError("--label-share must be between 0 and 1")
    started = time.perf_counter()
    rng = np.random.default_rng(seed)
    traffic = sample_traffic(rows=rows, days=days, shifts=shifts, seed=seed)
    features = _with_invalid_rows(traffic.features, share=invalid_share, rng=rng)
    stamps = pd.Series(pd.to_datetime(traffic.timestamps, utc=True))
    report = progress or (lambda fraction, message: None)
    accepted = rejected = shadow = 0
    version: int | None = None
    truths: dict[int, float] = {}
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
            actual = traffic.actuals[start:stop]
            labelled = rng.random(len(result.accepted)) < label_share
            positions = result.accepted.index.to_numpy()
            for prediction_id, position in zip(
                result.accepted["prediction_id"].to_numpy()[labelled], positions[labelled], strict=True
            ):
                truths[int(prediction_id)] = float(actual[position])
            start = stop
            if number % 10 == 0 or stop == rows:
                report(stop / rows, f"scored {stop:,} of {rows:,} rows in {number:,} requests")
    if truths:
        with sessions.begin() as session:
            add_feedback(session, actuals=truths)
        report(1.0, f"sent {len(truths):,} true values back as feedback")
    return SimulationResult(
        requests=len(sizes),
        accepted=accepted,
        rejected_rows=rejected,
        shadow_scored=shadow,
        feedback=len(truths),
        model_version=version,
        seconds=time.perf_counter() - started,
        via="serving",
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
    from core.serving.model_cache import serve

    started = time.perf_counter()
    rng = np.random.default_rng(seed)
    traffic = sample_traffic(rows=rows, days=days, shifts=shifts, seed=seed)
    served, _ = serve(settings, alias="champion")
    report = progress or (lambda fraction, message: None)
    check = served.schema.validate_frame(traffic.features)
    kept = np.flatnonzero(check.accepted_mask)
    model_input = served.model_input(check.clean)
    predictions = np.concatenate(
        [served.predict(model_input.iloc[low : low + 100_000]) for low in range(0, len(model_input), 100_000)]
    )
    report(0.2, f"{served.name} v{served.version} scored {len(kept):,} rows")
    labelled = rng.random(len(kept)) < label_share
    with sessions.begin() as session:
        bulk_log(
            session,
            features=traffic.features.iloc[kept].reset_index(drop=True),
            predictions=predictions,
            timestamps=traffic.timestamps[kept],
            model_name=settings.model_name,
            model_version=served.version,
            latency_ms=simulated_latencies(len(kept), rng=rng),
            actuals=traffic.actuals[kept],
            labelled=labelled,
            is_ood=np.array([bool(fields) for fields in check.ood_fields]),
            seed=seed,
            progress=lambda written, total: report(
                0.2 + 0.8 * written / max(total, 1), f"logged {written:,} of {total:,} predictions"
            ),
        )
    return SimulationResult(
        requests=1,
        accepted=len(kept),
        rejected_rows=rows - len(kept),
        shadow_scored=0,
        feedback=int(labelled.sum()),
        model_version=served.version,
        seconds=time.perf_counter() - started,
        via="bulk",
    )
