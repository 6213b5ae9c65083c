"""The champion's simulated traffic: whole reference rows, shifted, with a simulated truth, a chunk at a time.

Shared by both ways into the simulator (:mod:`core.monitoring.simulator`): the serving path takes the
whole traffic (:func:`champion_traffic`), the bulk path a chunk at a time (:func:`champion_chunks`) so
memory stays bounded on millions of rows.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace

import numpy as np
import pandas as pd

from core import mlflow_io
from core.errors import InvalidInput
from core.monitoring.reference_sample import DRAW_CHUNK, traffic_chunks
from core.monitoring.traffic import Shift, Traffic, simulated_labels, simulated_truth
from core.registry.holdout import HoldoutMetric, holdout_metrics
from core.serving.answers import Answers
from core.serving.model_cache import serve
from core.serving.served_model import ServedModel
from core.settings import Settings


def champion_traffic(
    settings: Settings, *, rows: int, days: float, shifts: tuple[Shift, ...] = (), seed: int = 0
) -> tuple[ServedModel, Traffic, np.ndarray]:
    """Inputs drawn from the champion's reference, shifted, and a simulated truth for every row.

    Whole reference rows (see :mod:`core.monitoring.reference_sample`), so relations between features
    hold and only a shift shows as drift. The truth is a float per row for a regressor; for a classifier
    a class (as text) per row, drawn from the champion's own probabilities on the unshifted inputs
    (``None`` where none could be drawn). :class:`InvalidInput` saying what to attach when the champion
    has no reference to draw from.
    """
    served = champion(settings)
    parts = list(champion_chunks(settings, served, rows=rows, days=days, shifts=shifts, seed=seed))
    traffic = Traffic(
        drawn=pd.concat([part.drawn for part, _ in parts], ignore_index=True),
        features=pd.concat([part.features for part, _ in parts], ignore_index=True),
        timestamps=np.concatenate([part.timestamps for part, _ in parts]),
    )
    return served, traffic, np.concatenate([truth for _, truth in parts])


def champion(settings: Settings) -> ServedModel:
    served, _ = serve(settings, alias="champion")
    if served.profile is None:
        raise InvalidInput(
            f"version {served.version} of {served.name} has no reference data to draw traffic from: attach it with "
            f"python -m core reference --version {served.version} --input TRAINING_DATA.csv"
        )
    dates = [spec.name for spec in served.schema.fields if spec.dtype == "datetime"]
    unknown = [
        name for name in served.schema.required_names if name not in served.profile.features and name not in dates
    ]
    if unknown:
        raise InvalidInput(
            f"the reference of version {served.version} lacks input(s) {', '.join(unknown[:8])}: attach a reference "
            "with every input the model takes"
        )
    return served


def champion_chunks(
    settings: Settings,
    served: ServedModel,
    *,
    rows: int,
    days: float,
    shifts: tuple[Shift, ...],
    seed: int,
    chunk: int = DRAW_CHUNK,
) -> Iterator[tuple[Traffic, np.ndarray]]:
    """The champion's traffic a chunk at a time, each with its simulated truth (memory bounded by the chunk)."""
    assert served.profile is not None  # checked by champion()
    dates = [spec.name for spec in served.schema.fields if spec.dtype == "datetime"]
    holdouts = holdout_metrics(mlflow_io.get_version(settings, version=served.version).metrics)
    chunks = traffic_chunks(
        served.profile,
        rows=rows,
        days=days,
        shifts=shifts,
        seed=seed,
        complete=served.schema.required_names,
        chunk=chunk,
    )
    for number, traffic in enumerate(chunks):
        # Date and time inputs are never profiled: each row carries the moment it is logged at.
        stamps = [stamp.isoformat() for stamp in pd.to_datetime(traffic.timestamps, utc=True)]
        traffic = replace(
            traffic,
            drawn=traffic.drawn.assign(**dict.fromkeys(dates, stamps)),
            features=traffic.features.assign(**dict.fromkeys(dates, stamps)),
        )
        rng = np.random.default_rng([seed, number, 1])
        yield traffic, _truth(served, traffic.drawn, holdouts=holdouts, rng=rng)


def _truth(
    served: ServedModel, drawn: pd.DataFrame, *, holdouts: dict[str, HoldoutMetric], rng: np.random.Generator
) -> np.ndarray:
    # The truth follows the inputs as drawn: a shift then moves the answers away from it, as real drift does.
    rows = len(drawn)
    check = served.schema.validate_frame(drawn)
    if not check.accepted_mask.any():
        return np.full(rows, None if served.task == "classification" else np.nan)
    if served.task == "classification":
        labels = np.full(rows, None, dtype=object)
        accuracy = holdouts.get("accuracy")
        labels[check.accepted_mask] = simulated_labels(
            answer_all(served, check.clean), rng=rng, accuracy=None if accuracy is None else accuracy.value
        )
        return labels
    truth = np.full(rows, np.nan)
    answers = served.predict(served.model_input(check.clean))
    holdout = holdouts.get("rmse")
    truth[check.accepted_mask] = simulated_truth(answers, spread=None if holdout is None else holdout.value, rng=rng)
    return truth


def answer_all(served: ServedModel, clean: pd.DataFrame, *, chunk: int = 100_000) -> Answers:
    """The model's answers for validated rows, a chunk at a time (memory stays bounded on millions of rows)."""
    model_input = served.model_input(clean)
    parts = [served.answer(model_input.iloc[low : low + chunk]) for low in range(0, len(model_input), chunk)]
    return Answers.concat(parts, task=served.task, classes=served.classes)
