"""A classifier's roll-ups equal a recount from the raw rows, on SQLite and PostgreSQL, however refreshed."""

from __future__ import annotations

import json
import math
from datetime import timedelta

import numpy as np
import pandas as pd
import pytest
from sqlalchemy import select, text

from storage import rollups
from storage.db import make_engine, make_sessionmaker, migrate
from storage.prediction_log import Feedback, Prediction, add_feedback, log_predictions
from tests.core.monitoring.classification_log import START, log_classifier

END = START + timedelta(days=3)
EPS = float(np.finfo(float).eps)


@pytest.fixture(params=["sqlite", "postgresql"])
def sessions(request, tmp_path):
    url = f"sqlite:///{tmp_path / 'log.db'}" if request.param == "sqlite" else request.getfixturevalue("pg_url")
    engine = make_engine(url)
    migrate(engine)
    yield make_sessionmaker(engine)
    engine.dispose()


def refresh(sessions, chunk_rows: int = rollups.CHUNK_ROWS) -> rollups.RefreshResult:
    with sessions.begin() as session:
        return rollups.refresh_rollups(session, binning=lambda name, version: None, chunk_rows=chunk_rows)


def raw(sessions) -> pd.DataFrame:
    """Every prediction with its own or its answer's true label, as the roll-ups should count it."""
    with sessions.begin() as session:
        columns = [Prediction.id, Prediction.created_at, Prediction.model_version, Prediction.is_shadow]
        columns += [Prediction.label, Prediction.probabilities, Prediction.shadow_of, Prediction.prediction]
        frame = pd.DataFrame(list(session.execute(select(*columns))), columns=[c.key for c in columns])
        truths = dict(session.execute(select(Feedback.prediction_id, Feedback.actual_label)).all())
    frame["truth"] = [
        truths.get(shadow if shadow == shadow and shadow else own)
        for own, shadow in zip(frame["id"], frame["shadow_of"].fillna(0).astype(int), strict=True)
    ]
    frame["hour"] = pd.to_datetime(frame["created_at"], utc=True).dt.floor("h")
    labels = dict(zip(frame["id"], frame["label"], strict=True))
    frame["answer_label"] = [labels.get(int(s)) if s == s and s else None for s in frame["shadow_of"]]
    return frame


def stored(sessions, start=START, end=END) -> dict[str, pd.DataFrame]:
    with sessions.begin() as session:
        keys = {"model_name": "clf", "start": start, "end": end}
        return {
            "predicted": rollups.label_counts(session, kind="predicted", by_hour=True, **keys),
            "confusion": rollups.label_counts(session, kind="confusion", by_hour=True, **keys),
            "scores": rollups.score_counts(session, **keys),
            "totals": rollups.hour_totals(session, **keys),
        }


def _sorted(frame: pd.DataFrame) -> pd.DataFrame:
    frame = frame.assign(is_shadow=frame["is_shadow"].astype(bool))
    return frame.sort_values(list(frame.columns)).reset_index(drop=True)


def expected(frame: pd.DataFrame) -> dict[str, pd.DataFrame]:
    keys = ["hour", "model_version", "is_shadow"]
    predicted = frame.groupby([*keys, "label"]).size().rename("count").reset_index()
    predicted = predicted.rename(columns={"label": "predicted"}).assign(actual="")
    labelled = frame[frame["truth"].notna()]
    confusion = labelled.groupby([*keys, "label", "truth"]).size().rename("count").reset_index()
    confusion = confusion.rename(columns={"label": "predicted", "truth": "actual"})
    loss, scores = [], []
    for row in labelled.itertuples():
        probabilities = json.loads(row.probabilities)
        loss.append(-math.log(min(max(probabilities[row.truth], EPS), 1 - EPS)))
        items = list(probabilities.items())
        for name, p in items[1:] if len(items) == 2 else items:  # binary: the second class only
            scores.append(
                (
                    row.hour.floor("D"),
                    row.model_version,
                    row.is_shadow,
                    name,
                    name == row.truth,
                    min(math.floor(p * 1000), 999),
                )
            )
    for row in frame[frame["prediction"].notna()].itertuples():  # every prediction's score: class ""
        scores.append(
            (
                row.hour.floor("D"),
                row.model_version,
                row.is_shadow,
                "",
                False,
                min(math.floor(row.prediction * 1000), 999),
            )
        )
    losses = labelled.assign(loss=loss).groupby(keys)["loss"].agg(["size", "sum"])
    score_frame = pd.DataFrame(scores, columns=["day", "model_version", "is_shadow", "class_name", "is_true", "bucket"])
    score_frame = score_frame.value_counts().rename("count").reset_index()
    shadows = frame[frame["is_shadow"].astype(bool)]
    agreement = (
        shadows.assign(same=shadows["label"] == shadows["answer_label"]).groupby(keys)["same"].agg(["size", "sum"])
    )
    return {
        "predicted": predicted,
        "confusion": confusion,
        "scores": score_frame,
        "losses": losses,
        "agreement": agreement,
    }


def assert_equal_to_raw(sessions) -> None:
    got, want = stored(sessions), expected(raw(sessions))
    columns = ["hour", "model_version", "is_shadow", "predicted", "actual", "count"]
    for name in ("predicted", "confusion"):
        left = _sorted(got[name][columns]).assign(hour=lambda f: pd.to_datetime(f["hour"], utc=True))
        right = _sorted(want[name][columns])
        pd.testing.assert_frame_equal(left, right, check_dtype=False)
    score_columns = ["day", "model_version", "is_shadow", "class_name", "is_true", "bucket", "count"]
    left = _sorted(got["scores"][score_columns].assign(is_true=got["scores"]["is_true"].astype(bool)))
    pd.testing.assert_frame_equal(left, _sorted(want["scores"][score_columns]), check_dtype=False)
    totals = got["totals"].assign(is_shadow=got["totals"]["is_shadow"].astype(bool))
    totals = totals.set_index(["hour", "model_version", "is_shadow"]).sort_index()
    losses = want["losses"]
    labelled = totals.loc[totals["log_loss_count"] > 0]
    assert labelled["log_loss_count"].to_numpy().tolist() == losses["size"].to_numpy().tolist()
    assert np.allclose(labelled["log_loss_sum"].to_numpy(), losses["sum"].to_numpy(), rtol=1e-12)
    compared = totals.loc[totals["compared"] > 0]
    assert compared["compared"].tolist() == want["agreement"]["size"].tolist()
    assert compared["agreed"].tolist() == want["agreement"]["sum"].astype(int).tolist()
    assert int(totals["feedback"].sum()) == 0  # a classifier's true labels are no regression feedback


def test_labels_scores_and_log_loss_equal_a_recount_and_pieces_equal_one_refresh(sessions) -> None:
    with sessions.begin() as session:
        answers = log_classifier(session, classes=["no", "yes"], rows=400, seed=1)
    refresh(sessions, chunk_rows=37)
    with sessions.begin() as session:
        # The challenger shadows every answer; some true labels arrive after its rows were logged.
        log_classifier(session, classes=["no", "yes"], rows=400, seed=2, version=2, shadow_of=answers.ids)
        late = [prediction_id for prediction_id in answers.ids if prediction_id not in answers.truths][:50]
        add_feedback(session, labels={prediction_id: "yes" for prediction_id in late})
    refresh(sessions, chunk_rows=53)
    assert_equal_to_raw(sessions)
    before = stored(sessions)
    assert refresh(sessions).rows == 0  # nothing new: nothing changes
    after = stored(sessions)
    for name in before:
        pd.testing.assert_frame_equal(_sorted(before[name]), _sorted(after[name]))
    with sessions.begin() as session:
        rollups.rebuild_rollups(session, binning=lambda name, version: None)
    assert_equal_to_raw(sessions)


def test_a_window_reads_whole_days_from_day_rows_and_its_ends_from_hours(sessions) -> None:
    with sessions.begin() as session:
        log_classifier(session, classes=["a", "b", "c"], rows=600, seed=9, hours=70)
    refresh(sessions)
    frame = raw(sessions)
    columns = ["day", "model_version", "is_shadow", "class_name", "is_true", "bucket", "count"]
    for start, end in [
        (START + timedelta(hours=5), START + timedelta(days=2, hours=7)),  # two ends and a whole day between
        (START + timedelta(hours=5), START + timedelta(hours=9)),  # hours of one day
        (START + timedelta(hours=20), START + timedelta(days=1, hours=3)),  # across midnight, no whole day
        (START, START + timedelta(days=2)),  # whole days only
    ]:
        inside = frame[(frame["hour"] >= start) & (frame["hour"] < end)]
        got = stored(sessions, start, end)["scores"]
        got = _sorted(got[columns].assign(is_true=got["is_true"].astype(bool)))
        pd.testing.assert_frame_equal(got, _sorted(expected(inside)["scores"][columns]), check_dtype=False)


def test_a_replaced_true_label_is_recounted_for_the_answer_and_its_shadow(sessions) -> None:
    with sessions.begin() as session:
        answers = log_classifier(session, classes=["a", "b", "c"], rows=120, seed=4)
        log_classifier(session, classes=["a", "b", "c"], rows=120, seed=6, version=2, shadow_of=answers.ids)
    refresh(sessions)
    with sessions.begin() as session:
        add_feedback(session, labels={prediction_id: "a" for prediction_id in list(answers.truths)[:30]})
    result = refresh(sessions)
    assert result.recounted_hours > 0
    assert_equal_to_raw(sessions)


def test_regression_rows_beside_a_classifier_keep_their_realised_error(sessions) -> None:
    with sessions.begin() as session:
        log_classifier(session, classes=["no", "yes"], rows=50, seed=7)
        ids = log_predictions(
            session,
            records=[
                {
                    "created_at": START + timedelta(minutes=i),
                    "model_name": "reg",
                    "model_version": 1,
                    "prediction": 10.0 + i,
                    "label": None,  # one executemany: every record names the same columns
                    "latency_ms": 1.0,
                    "source": "cli",
                    "request_id": f"g{i}",
                }
                for i in range(10)
            ]
            + [
                # A classifier that gives no probabilities: a label and no score.
                {
                    "created_at": START,
                    "model_name": "reg",
                    "model_version": 2,
                    "prediction": None,
                    "label": "x",
                    "latency_ms": 1.0,
                    "source": "cli",
                    "request_id": "n",
                }
            ],
        )
        add_feedback(session, actuals={prediction_id: 12.0 for prediction_id in ids[:10]})
        add_feedback(session, labels={ids[10]: "x"})
    refresh(sessions)
    with sessions.begin() as session:
        totals = rollups.hour_totals(session, model_name="reg", start=START, end=END)
        confusion = rollups.label_counts(session, model_name="reg", kind="confusion", start=START, end=END)
    one = totals[totals["model_version"] == 1]
    assert int(one["feedback"].sum()) == 10
    assert float(one["abs_error_sum"].sum()) == pytest.approx(sum(abs(12.0 - (10.0 + i)) for i in range(10)))
    assert float(one["prediction_sum"].sum()) == pytest.approx(sum(10.0 + i for i in range(10)))
    two = totals[totals["model_version"] == 2]
    assert int(two["predictions"].sum()) == 1 and int(two["feedback"].sum()) == 0
    assert float(two["prediction_sum"].sum()) == 0.0  # no score: nothing summed, nothing NaN
    assert confusion[["predicted", "actual", "count"]].values.tolist() == [["x", "x", 1]]


def test_score_buckets_cover_zero_to_one() -> None:
    assert rollups.score_bucket(np.array([0.0, 0.0005, 0.001, 0.5, 0.9999, 1.0])).tolist() == [0, 0, 1, 500, 999, 999]
    low, high = rollups.score_bounds(np.array([0, 999]))
    assert low.tolist() == [0.0, 0.999] and high.tolist() == [0.001, 1.0]


@pytest.mark.parametrize("label", ["yes", None])
def test_migrating_a_log_with_classifier_rows_starts_its_roll_ups_again(tmp_path, label) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'old.db'}")
    migrate(engine, revision="0007")
    with engine.begin() as connection:
        connection.execute(
            text(
                "INSERT INTO predictions (id, created_at, model_name, model_version, prediction, label, latency_ms, "
                "source, request_id, is_ood, is_shadow) VALUES (1, '2026-03-01 10:00:00', 'clf', 1, 0.7, :label, 1.0, "
                "'cli', 'r', 0, 0)"
            ),
            {"label": label},
        )
        connection.execute(text("INSERT INTO rollup_state (name, last_id) VALUES ('predictions', 1)"))
    migrate(engine)
    with engine.begin() as connection:
        state = connection.execute(text("SELECT count(*) FROM rollup_state")).scalar()
    engine.dispose()
    assert state == (0 if label else 1)  # only a log holding classifier rows is rolled up again
