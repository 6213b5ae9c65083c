"""A classifier's rows in the roll-ups: predicted labels, shadow agreement, and — once true labels arrive —
confusion counts, per-class score histograms and log loss.

Every count is additive per (model, hour, version, shadow flag), so any window is a sum of hours:

- predicted labels (``RollupLabel`` kind ``predicted``) for every prediction with a label;
- the score (``Prediction.prediction``: the positive class's probability, or the predicted class's for
  a multiclass model) on :data:`SCORE_BINS` fixed bins of [0, 1] (``RollupScore`` with class ``""``);
- shadow rows compared with the answer they shadow: ``compared`` and ``agreed`` (same label);
- labelled rows: predicted × true label (``confusion``); each class's probability on the same fixed bins,
  split by whether it is the true class (``RollupScore``: ROC AUC one-vs-rest and reliability curves; a
  binary model's second class only, in the model's order: the first's is its mirror image);
  ``−log p(true class)`` clipped to [ε, 1 − ε] as scikit-learn's ``log_loss`` does (``log_loss_sum``,
  ``log_loss_count``).

Score bins are many (up to 1,000 per class and hour), so ``RollupScore`` also keeps each UTC day's sum
(``whole_day``): a week's window reads 7 day rows per bin plus the hours at its two ends, not 168 hours.
A recount (replaced true labels) recounts the hour, then sums its day again from the hours.
"""

from __future__ import annotations

import json
import math
from datetime import timedelta
from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy import delete, func, insert, select, update
from sqlalchemy.orm import Session

from storage.base import table_of
from storage.prediction_log import Prediction
from storage.rollups.sql import read_frame, to_records, upsert
from storage.rollups.tables import RollupHour, RollupLabel, RollupScore

SCORE_BINS = 1_000  # bins of width 0.001 on [0, 1]: ROC AUC within ~1e-3 of the exact value, usually far less
PREDICTED, CONFUSION = "predicted", "confusion"
ALL_SCORES = ""  # RollupScore.class_name of every prediction's score (Prediction.prediction)
LOG_LOSS_EPS = float(np.finfo(np.float64).eps)  # scikit-learn clips probabilities to [eps, 1 − eps]
KEYS = ["model_name", "hour", "model_version", "is_shadow"]


def score_bucket(scores: np.ndarray) -> np.ndarray:
    """The fixed [0, 1] bin of each score: ``floor(score · 1000)``, 1.0 in the last bin."""
    scores = np.asarray(scores, dtype=float)
    return np.clip(np.floor(scores * SCORE_BINS), 0, SCORE_BINS - 1).astype(np.int64)


def score_bounds(bucket: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Lower and upper score of each bin."""
    bucket = np.asarray(bucket, dtype=float)
    return bucket / SCORE_BINS, (bucket + 1) / SCORE_BINS


def add_predicted(session: Session, rows: pd.DataFrame, groups: pd.DataFrame, low: int, high: int) -> None:
    """Predicted labels, score bins and shadow agreement of freshly rolled-up predictions.

    ``rows`` holds the chunk's predictions (with ``group``, ``label``, ``prediction``, ``shadow_of``)."""
    labelled = rows[rows["label"].notna()]
    if labelled.empty:
        return
    counts = labelled.groupby(["group", "label"]).size().rename("count").reset_index().join(groups, on="group")
    counts = counts.rename(columns={"label": "predicted"}).assign(kind=PREDICTED, actual="")
    upsert(session, RollupLabel, to_records(counts, [*KEYS, "kind", "predicted", "actual", "count"]), added=["count"])
    scored = labelled[labelled["prediction"].notna()]
    if not scored.empty:
        bins = pd.DataFrame(
            {
                "group": scored["group"].to_numpy(),
                "class_name": ALL_SCORES,
                "is_true": False,
                "bucket": score_bucket(scored["prediction"].to_numpy(float)),
            }
        )
        _add_scores(session, bins, groups)
    shadows = labelled[labelled["is_shadow"] & labelled["shadow_of"].notna()]
    if shadows.empty:
        return
    answer, shadow = table_of(Prediction), table_of(Prediction).alias("shadow")
    query = (
        select(shadow.c.id, answer.c.label)
        .select_from(shadow)
        .join(answer, answer.c.id == shadow.c.shadow_of)
        .where(shadow.c.id > low, shadow.c.id <= high, answer.c.label.is_not(None))
    )
    answers = read_frame(session, query, ["id", "answer_label"])
    if answers.empty:
        return
    compared = shadows.merge(answers, on="id")
    compared = compared.assign(same=(compared["label"] == compared["answer_label"]).astype(int))
    grouped = compared.groupby("group")
    summary = pd.DataFrame({"compared": grouped.size(), "agreed": grouped["same"].sum()}).join(groups)
    upsert(session, RollupHour, to_records(summary, [*KEYS, "compared", "agreed"]), added=["compared", "agreed"])


def add_labels(session: Session, rows: pd.DataFrame, *, daily: bool = True) -> None:
    """Confusion counts, per-class score bins and log loss for rows of (keys, label, probabilities, actual_label).

    ``daily`` off: the day sums of the score bins are left alone (a recount sums them again afterwards)."""
    rows = rows[rows["label"].notna() & rows["actual_label"].notna()]
    if rows.empty:
        return
    rows = rows.assign(is_shadow=rows["is_shadow"].astype(bool)).reset_index(drop=True)
    rows["group"] = rows.groupby(KEYS, sort=False).ngroup()
    groups = rows.drop_duplicates("group").set_index("group")[KEYS].sort_index()

    confusion = rows.groupby(["group", "label", "actual_label"]).size().rename("count").reset_index()
    confusion = confusion.join(groups, on="group").rename(columns={"label": "predicted", "actual_label": "actual"})
    confusion["kind"] = CONFUSION
    columns = [*KEYS, "kind", "predicted", "actual", "count"]
    upsert(session, RollupLabel, to_records(confusion, columns), added=["count"])

    with_probabilities = rows[rows["probabilities"].notna()]
    if with_probabilities.empty:
        return
    parsed = [json.loads(text) for text in with_probabilities["probabilities"]]
    truths = with_probabilities["actual_label"].tolist()
    group_of = with_probabilities["group"].tolist()
    score_group: list[int] = []
    score_class: list[str] = []
    score_true: list[bool] = []
    score_value: list[float] = []
    losses: list[float] = []
    for group, truth, probabilities in zip(group_of, truths, parsed, strict=True):
        p_true = float(probabilities.get(truth, 0.0))
        losses.append(-math.log(min(max(p_true, LOG_LOSS_EPS), 1 - LOG_LOSS_EPS)))
        items = list(probabilities.items())
        # Binary: the second class's probability (the score) says it all — the first's is its mirror image,
        # with the same ROC AUC — so one class is kept, halving what a window reads.
        for name, probability in items[1:] if len(items) == 2 else items:
            score_group.append(group)
            score_class.append(name)
            score_true.append(name == truth)
            score_value.append(float(probability))
    loss = pd.DataFrame({"group": group_of, "loss": losses}).groupby("group")["loss"]
    summary = pd.DataFrame({"log_loss_count": loss.size(), "log_loss_sum": loss.sum()}).join(groups)
    added = ["log_loss_count", "log_loss_sum"]
    upsert(session, RollupHour, to_records(summary, [*KEYS, *added]), added=added)
    scores = pd.DataFrame(
        {
            "group": score_group,
            "class_name": score_class,
            "is_true": score_true,
            "bucket": score_bucket(np.asarray(score_value, dtype=float)),
        }
    )
    _add_scores(session, scores, groups, daily=daily)


def _add_scores(session: Session, scores: pd.DataFrame, groups: pd.DataFrame, *, daily: bool = True) -> None:
    """Add score rows (group, class_name, is_true, bucket) to their hours and, unless ``daily`` is off, days."""
    counted = scores.value_counts().rename("count").reset_index().join(groups, on="group")
    frames = [counted.assign(whole_day=False)]
    if daily:
        days = counted.assign(hour=counted["hour"].dt.floor("D"), whole_day=True)
        keys = [*KEYS, "whole_day", "class_name", "is_true", "bucket"]
        frames.append(days.groupby(keys, as_index=False)["count"].sum())
    records = to_records(
        pd.concat(frames, ignore_index=True), [*KEYS, "whole_day", "class_name", "is_true", "bucket", "count"]
    )
    for record in records:
        record["is_true"] = bool(record["is_true"])
        record["whole_day"] = bool(record["whole_day"])
        record["bucket"] = int(record["bucket"])
    upsert(session, RollupScore, records, added=["count"])


def zero_labels(session: Session, model_name: str, hour: Any) -> None:
    """Forget one hour's labelled counts (before they are recounted from the raw log, then its day summed)."""
    session.execute(
        update(RollupHour)
        .where(RollupHour.model_name == model_name, RollupHour.hour == hour)
        .values({"log_loss_count": 0, "log_loss_sum": 0.0})
    )
    session.execute(
        delete(RollupLabel).where(
            RollupLabel.model_name == model_name, RollupLabel.hour == hour, RollupLabel.kind == CONFUSION
        )
    )
    session.execute(
        delete(RollupScore).where(
            RollupScore.model_name == model_name,
            RollupScore.hour == hour,
            RollupScore.whole_day.is_(False),
            RollupScore.class_name != ALL_SCORES,
        )
    )


def sum_day(session: Session, model_name: str, hour: Any) -> None:
    """Sum the labelled score bins of the day holding ``hour`` again from its hours (after a recount)."""
    day = hour.replace(hour=0)
    labelled = (RollupScore.model_name == model_name) & (RollupScore.class_name != ALL_SCORES)
    session.execute(delete(RollupScore).where(labelled, RollupScore.hour == day, RollupScore.whole_day.is_(True)))
    keys: list[Any] = [RollupScore.model_version, RollupScore.is_shadow, RollupScore.class_name]
    keys += [RollupScore.is_true, RollupScore.bucket]
    hours = (
        select(*keys, func.sum(RollupScore.count))
        .where(
            labelled,
            RollupScore.whole_day.is_(False),
            RollupScore.hour >= day,
            RollupScore.hour < day + timedelta(days=1),
        )
        .group_by(*keys)
    )
    names = ["model_version", "is_shadow", "class_name", "is_true", "bucket", "count"]
    rows = [
        {"model_name": model_name, "hour": day, "whole_day": True, **dict(zip(names, row, strict=True))}
        for row in session.execute(hours)
    ]
    for row in rows:  # PostgreSQL sums BIGINT into NUMERIC
        row["count"] = int(row["count"])
    if rows:
        session.execute(insert(table_of(RollupScore)), rows)
