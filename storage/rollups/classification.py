"""A classifier's rows in the roll-ups: predicted labels, shadow agreement, and — once true labels arrive —
confusion counts, per-class score histograms and log loss.

Every count is additive per (model, hour, version, shadow flag), so any window is a sum of hours:

- predicted labels (``RollupLabel`` kind ``predicted``) for every prediction with a label;
- the score (``Prediction.prediction``: the positive class's probability, or the predicted class's for
  a multiclass model) on :data:`SCORE_BINS` fixed bins of [0, 1] (``RollupBucket`` metric ``score``);
- shadow rows compared with the answer they shadow: ``compared`` and ``agreed`` (same label);
- labelled rows: predicted × true label (``confusion``); each class's probability on the same fixed bins,
  split by whether it is the true class (``RollupScore``: ROC AUC one-vs-rest and reliability curves);
  ``−log p(true class)`` clipped to [ε, 1 − ε] as scikit-learn's ``log_loss`` does (``log_loss_sum``,
  ``log_loss_count``).
"""

from __future__ import annotations

import json
import math
from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session

from storage.base import table_of
from storage.prediction_log import Prediction
from storage.rollups.sql import bucket_rows, read_frame, to_records, upsert
from storage.rollups.tables import RollupBucket, RollupHour, RollupLabel, RollupScore

SCORE_BINS = 1_000  # bins of width 0.001 on [0, 1]: ROC AUC within ~1e-3 of the exact value, usually far less
PREDICTED, CONFUSION = "predicted", "confusion"
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
        bins = bucket_rows(scored, groups, "score", score_bucket(scored["prediction"].to_numpy(float)))
        upsert(session, RollupBucket, bins, added=["count"])
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


def add_labels(session: Session, rows: pd.DataFrame) -> None:
    """Confusion counts, per-class score bins and log loss for rows of (keys, label, probabilities, actual_label)."""
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
        for name, probability in probabilities.items():
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
    counted = scores.value_counts().rename("count").reset_index().join(groups, on="group")
    records = to_records(counted, [*KEYS, "class_name", "is_true", "bucket", "count"])
    for record in records:
        record["is_true"] = bool(record["is_true"])
        record["bucket"] = int(record["bucket"])
    upsert(session, RollupScore, records, added=["count"])


def zero_labels(session: Session, model_name: str, hour: Any) -> None:
    """Forget one hour's labelled counts (before they are recounted from the raw log)."""
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
    session.execute(delete(RollupScore).where(RollupScore.model_name == model_name, RollupScore.hour == hour))
