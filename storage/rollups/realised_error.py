"""Realised error: true values (feedback) scored against the predictions, and shadow rows, they belong to.

A regressor's true value (``Feedback.actual``) gives error sums and residual buckets; a classifier's true
label (``Feedback.actual_label``) gives confusion counts, score bins and log loss
(:mod:`storage.rollups.classification`). Rows without a number on either side add no error.

New feedback is added on top of the hours its predictions were made in. Feedback that *replaces* an
earlier value (``Feedback.revision`` > 1) cannot be: the old value's share is already summed, so the
realised-error columns of the hours it touches are recounted from the raw log instead.
"""

from __future__ import annotations

from datetime import datetime, timedelta

import pandas as pd
from sqlalchemy import delete, func, select, update
from sqlalchemy.orm import Session

from storage.base import table_of
from storage.prediction_log import Feedback, Prediction
from storage.rollups.buckets import signed_log_bucket
from storage.rollups.classification import add_labels, sum_day, zero_labels
from storage.rollups.sql import as_hours, bucket_rows, hour_of, read_frame, to_records, upsert
from storage.rollups.tables import RollupBucket, RollupHour


def _labelled_rows(
    session: Session,
    *,
    after: datetime | None,
    until: datetime,
    newest_prediction: int,
    made_in: tuple[str, datetime] | None = None,
) -> tuple[pd.DataFrame, int]:
    """Predictions with their true value received in (``after``, ``until``], and how many were answers.

    Each true value counts for its prediction and for that prediction's shadow rows up to
    ``newest_prediction`` (later shadow rows pick it up when they are rolled up). ``made_in`` keeps
    predictions of one model made in one hour.
    """
    columns = ["hour", "model_name", "model_version", "is_shadow", "prediction", "actual"]
    columns += ["label", "probabilities", "actual_label", "revision"]
    direct, shadow = table_of(Prediction), table_of(Prediction).alias("shadow")
    frames = []
    for made, joined_on in ((direct, direct.c.id), (shadow, shadow.c.shadow_of)):
        query = (
            select(
                hour_of(session, made.c.created_at),
                made.c.model_name,
                made.c.model_version,
                made.c.is_shadow,
                made.c.prediction,
                Feedback.actual,
                made.c.label,
                made.c.probabilities,
                Feedback.actual_label,
                Feedback.revision,
            )
            .select_from(Feedback)
            .join(made, joined_on == Feedback.prediction_id)
            .where(Feedback.received_at <= until)
        )
        if made is shadow:
            query = query.where(shadow.c.id <= newest_prediction)
        if after is not None:
            query = query.where(Feedback.received_at > after)
        if made_in is not None:
            model_name, hour = made_in
            query = query.where(
                made.c.model_name == model_name,
                made.c.created_at >= hour,
                made.c.created_at < hour + timedelta(hours=1),
            )
        frames.append(read_frame(session, query, columns))
    rows = pd.concat([frame for frame in frames if not frame.empty] or frames[:1], ignore_index=True)
    if not rows.empty:
        rows["hour"] = as_hours(rows["hour"])
    return rows, len(frames[0])


def add_received_feedback(session: Session, after: datetime | None, until: datetime, newest_prediction: int) -> int:
    """Add the true values received in (``after``, ``until``]; returns how many answers (not shadows) got one."""
    rows, answered = _labelled_rows(session, after=after, until=until, newest_prediction=newest_prediction)
    replaced = rows[rows["revision"] > 1] if not rows.empty else rows
    if not replaced.empty:
        # A replacement is normally added here and its hour recounted after; an hour retention has pruned
        # cannot be recounted, so there it is not added: the earlier value stays counted, once.
        hours = set(zip(replaced["model_name"], replaced["hour"], strict=True))
        lost = {
            (model_name, hour)
            for model_name, hour in hours
            if hour_lost_rows(session, model_name, hour.to_pydatetime(), newest_prediction)
        }
        if lost:
            in_lost = pd.Series(list(zip(rows["model_name"], rows["hour"], strict=True)), index=rows.index).isin(lost)
            rows = rows[~(in_lost & (rows["revision"] > 1))]
    if not rows.empty:
        add_errors(session, rows)
        add_labels(session, rows)
    return answered


def hours_with_replaced_feedback(
    session: Session, after: datetime | None, until: datetime, newest_prediction: int
) -> set[tuple[str, datetime]]:
    """(model, UTC hour) of every prediction, and shadow row, whose true value was replaced in the window."""
    replaced = select(Feedback.prediction_id).where(Feedback.revision > 1, Feedback.received_at <= until)
    if after is not None:
        replaced = replaced.where(Feedback.received_at > after)
    touched = select(Prediction.model_name, Prediction.created_at).where(
        Prediction.id.in_(replaced) | (Prediction.shadow_of.in_(replaced) & (Prediction.id <= newest_prediction))
    )
    return {
        (model_name, created_at.replace(minute=0, second=0, microsecond=0))
        for model_name, created_at in session.execute(touched)
    }


def hour_lost_rows(session: Session, model_name: str, hour: datetime, newest_prediction: int) -> bool:
    """Whether retention deleted raw predictions of this hour: fewer are left than the roll-ups counted.

    (Rows the roll-ups have not read yet are not counted; rows they never will, a write that committed
    after its gap was forgotten, only make the raw side larger.)
    """
    raw = session.scalar(
        select(func.count())
        .select_from(Prediction)
        .where(
            Prediction.model_name == model_name,
            Prediction.created_at >= hour,
            Prediction.created_at < hour + timedelta(hours=1),
            Prediction.id <= newest_prediction,
        )
    )
    rolled_up = session.scalar(
        select(func.coalesce(func.sum(RollupHour.predictions), 0)).where(
            RollupHour.model_name == model_name, RollupHour.hour == hour
        )
    )
    return int(raw or 0) < int(rolled_up or 0)


def recount_errors(session: Session, model_name: str, hour: datetime, until: datetime, newest_prediction: int) -> bool:
    """Replace one hour's realised-error (and classifier) counters with a recount from the raw log.

    An hour retention has pruned cannot be recounted (the pruned rows' share would be lost): its
    counters are kept as they are, the replaced value still counted at its earlier figure (its
    replacement was not added, see :func:`add_received_feedback`), and ``False`` is returned.
    Retention prunes whole hours, so only a row logged into a pruned hour afterwards (a backfill)
    can meet this.
    """
    if hour_lost_rows(session, model_name, hour, newest_prediction):
        return False
    zeroed = {"feedback": 0, "error_sum": 0.0, "abs_error_sum": 0.0, "sq_error_sum": 0.0}
    session.execute(
        update(RollupHour).where(RollupHour.model_name == model_name, RollupHour.hour == hour).values(zeroed)
    )
    session.execute(
        delete(RollupBucket).where(
            RollupBucket.model_name == model_name, RollupBucket.metric == "residual", RollupBucket.hour == hour
        )
    )
    zero_labels(session, model_name, hour)
    rows, _ = _labelled_rows(
        session, after=None, until=until, newest_prediction=newest_prediction, made_in=(model_name, hour)
    )
    if not rows.empty:
        add_errors(session, rows)
        add_labels(session, rows, daily=False)
    sum_day(session, model_name, hour)
    return True


def add_errors(session: Session, rows: pd.DataFrame) -> None:
    """Add realised-error sums and residual buckets for rows of (keys, prediction, actual).

    Rows missing either number (a classifier's, or one without a score) are left out."""
    rows = rows[rows["actual"].notna() & rows["prediction"].notna()]
    if rows.empty:
        return
    rows = rows.assign(is_shadow=rows["is_shadow"].astype(bool), error=rows["actual"] - rows["prediction"])
    rows["abs_error"] = rows["error"].abs()
    rows["sq_error"] = rows["error"] ** 2
    keys = ["model_name", "hour", "model_version", "is_shadow"]
    rows["group"] = rows.groupby(keys, sort=False).ngroup()
    groups = rows.drop_duplicates("group").set_index("group")[keys].sort_index()
    grouped = rows.groupby("group")
    summary = pd.DataFrame(
        {
            "feedback": grouped.size(),
            "error_sum": grouped["error"].sum(),
            "abs_error_sum": grouped["abs_error"].sum(),
            "sq_error_sum": grouped["sq_error"].sum(),
        }
    ).join(groups)
    added = ["feedback", "error_sum", "abs_error_sum", "sq_error_sum"]
    upsert(session, RollupHour, to_records(summary, keys + added), added=added)
    residuals = bucket_rows(rows, groups, "residual", signed_log_bucket(rows["error"].to_numpy()))
    upsert(session, RollupBucket, residuals, added=["count"])
