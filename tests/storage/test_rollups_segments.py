"""Segment and multivariate roll-ups equal a direct computation on the raw rows (SQLite and PostgreSQL),
through shadow rows, late and replaced true values, refreshes in pieces and a rebuild — for a regressor's
errors and a classifier's correct and expected-correct counts."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import numpy as np
import pandas as pd
import pytest
from sqlalchemy import select

from core.monitoring.estimation import Estimator, fit_cbpe, per_row_estimates
from core.monitoring.estimators import estimate_source
from core.monitoring.simulator import bulk_log
from storage.db import make_engine, make_sessionmaker, migrate
from storage.log_writer import decode_inputs, encode_inputs
from storage.prediction_log import Feedback, Prediction, add_feedback, log_predictions
from storage.rollups import InputPlan, rebuild_rollups, refresh_rollups
from storage.rollups.estimates import load_estimator, save_estimator
from storage.rollups.segments import MISSING, OTHER
from storage.rollups.tables import RollupMultivariate, RollupSegment, RollupSegmentFeature
from tests.core.monitoring.classification_log import probabilities_for

START = datetime(2026, 3, 1, 20, tzinfo=UTC)  # the log spans midnight: two UTC days of segment bins
EDGES = {"size": np.array([-np.inf, 0.0, 1.0, 2.0, 5.0, np.inf]), "colour": None, "shape": None}


def binning(model_name: str, version: int):
    return EDGES


def size_error(frame: pd.DataFrame) -> np.ndarray:
    """A stand-in for the PCA's reconstruction error: any per-row function of the inputs will do."""
    return pd.to_numeric(frame["size"], errors="coerce").fillna(0.0).to_numpy() * 2.0 + 1.0


def plan(model_name: str, version: int) -> InputPlan:
    # teal is not a reference level: it counts as (other); rows without a colour as (missing).
    return InputPlan(binning=EDGES, segments={"colour": frozenset({"red", "blue"})}, errors=size_error)


@pytest.fixture(params=["sqlite", "postgresql"])
def sessions(request, tmp_path):
    url = f"sqlite:///{tmp_path / 'log.db'}" if request.param == "sqlite" else request.getfixturevalue("pg_url")
    engine = make_engine(url)
    migrate(engine)
    yield make_sessionmaker(engine)
    engine.dispose()


def seed(sessions, *, rows: int, seed: int) -> list[int]:
    rng = np.random.default_rng(seed)
    colour = rng.choice(["red", "blue", "teal"], rows).astype(object)
    colour[::13] = None
    features = pd.DataFrame(
        {"size": rng.lognormal(0.3, 0.8, rows), "colour": colour, "shape": rng.choice(["round", "oval"], rows)}
    )
    stamps = [START + timedelta(seconds=float(s)) for s in np.sort(rng.random(rows)) * 8 * 3600]
    predicted = rng.normal(1000, 300, rows)
    with sessions.begin() as session:
        answered = bulk_log(
            session,
            features=features,
            predictions=predicted,
            timestamps=stamps,
            model_name="m",
            model_version=1,
            latency_ms=np.full(rows, 5.0),
            actuals=rng.normal(1000, 300, rows),
            label_share=0.3,
            seed=seed,
        )
    with sessions.begin() as session:  # a challenger in shadow on half the answers: it takes their inputs
        half = answered[::2]
        bulk_log(
            session,
            features=pd.DataFrame(index=range(len(half))),
            predictions=predicted[::2] + 25,
            timestamps=stamps[::2],
            model_name="m",
            model_version=2,
            latency_ms=np.full(len(half), 7.0),
            is_shadow=True,
            shadow_of=half,
            alias="challenger",
        )
    return answered


def direct(session) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """(segments, day bins, multivariate sums) computed from the raw rows."""
    rows = pd.DataFrame(
        list(
            session.execute(
                select(
                    Prediction.id,
                    Prediction.created_at,
                    Prediction.model_version,
                    Prediction.is_shadow,
                    Prediction.prediction,
                    Prediction.inputs,
                    Prediction.shadow_of,
                )
            )
        ),
        columns=["id", "created_at", "model_version", "is_shadow", "prediction", "inputs", "shadow_of"],
    )
    answer = rows["shadow_of"].fillna(rows["id"]).astype(int)
    inputs = rows.set_index("id")["inputs"]
    wide = pd.DataFrame.from_records([decode_inputs(inputs[i]) for i in answer])
    actuals = dict(session.execute(select(Feedback.prediction_id, Feedback.actual)).all())
    rows["actual"] = answer.map(actuals).astype(float)
    rows["hour"] = pd.to_datetime(rows["created_at"], utc=True).dt.floor("h")
    rows["day"] = rows["hour"].dt.floor("D")
    colour = wide["colour"]
    rows["value"] = np.where(colour.isna(), MISSING, np.where(colour.isin(["red", "blue"]), colour, OTHER))
    rows["error"] = rows["actual"] - rows["prediction"]
    rows["mv"] = size_error(wide)
    keys = ["hour", "model_version", "is_shadow", "value"]
    grouped = rows.groupby(keys)
    segments = pd.DataFrame(
        {
            "predictions": grouped.size(),
            "feedback": grouped["actual"].count(),
            "abs_error_sum": grouped["error"].apply(lambda e: e.abs().sum()),
            "sq_error_sum": grouped["error"].apply(lambda e: (e**2).sum()),
            "mv_error_sum": grouped["mv"].sum(),
        }
    ).sort_index()
    size = pd.to_numeric(wide["size"], errors="coerce")
    bucket = np.clip(np.searchsorted(EDGES["size"], size, side="right") - 1, 0, 4).astype(str)
    sized = rows.assign(feature="size", bucket=bucket, size=size)[size.notna().to_numpy()]
    shaped = rows.assign(feature="shape", bucket=wide["shape"], size=0.0)
    bins = pd.concat([sized, shaped]).groupby(["day", "model_version", "is_shadow", "value", "feature", "bucket"])
    day_bins = pd.DataFrame({"count": bins.size(), "value_sum": bins["size"].sum()}).sort_index()
    mv = rows.groupby(["hour", "model_version", "is_shadow"]).agg(rows=("mv", "size"), error_sum=("mv", "sum"))
    return segments, day_bins, mv.sort_index()


def stored(session) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    def table(model, keys: list[str]) -> pd.DataFrame:
        columns = list(model.__table__.columns)
        frame = pd.DataFrame(list(session.execute(select(*columns))), columns=[c.name for c in columns])
        for key in ("hour", "day"):
            if key in frame:
                frame[key] = pd.to_datetime(frame[key], utc=True)
        frame["is_shadow"] = frame["is_shadow"].astype(bool)
        return frame.set_index(keys).sort_index()

    segments = table(RollupSegment, ["hour", "model_version", "is_shadow", "value"])
    bins = table(RollupSegmentFeature, ["day", "model_version", "is_shadow", "split_value", "feature", "bucket"])
    bins.index = bins.index.rename("value", level="split_value")
    return segments, bins, table(RollupMultivariate, ["hour", "model_version", "is_shadow"])


def assert_equal_to_raw(session) -> None:
    segments, bins, mv = direct(session)
    got_segments, got_bins, got_mv = stored(session)
    pd.testing.assert_frame_equal(got_segments[segments.columns], segments, check_dtype=False, rtol=1e-9)
    pd.testing.assert_frame_equal(got_bins[bins.columns], bins, check_dtype=False, rtol=1e-9)
    pd.testing.assert_frame_equal(got_mv[mv.columns], mv, check_dtype=False, rtol=1e-9)


def test_segment_and_multivariate_rollups_equal_the_raw_rows(sessions) -> None:
    answered = seed(sessions, rows=2_000, seed=1)
    with sessions.begin() as session:
        refresh_rollups(session, binning=binning, plan=plan, chunk_rows=700)
    with sessions.begin() as session:  # late true values, some replacing earlier ones
        add_feedback(session, actuals={prediction_id: 900.0 for prediction_id in answered[100:400]})
    with sessions.begin() as session:
        refresh_rollups(session, binning=binning, plan=plan)
        assert_equal_to_raw(session)
        segments, bins, _ = stored(session)
        before = {name: frame.copy() for name, frame in (("segments", segments), ("bins", bins))}
        rebuild_rollups(session, binning=binning, plan=plan)
        segments, bins, _ = stored(session)

    values = set(before["segments"].index.get_level_values("value"))
    assert values == {"red", "blue", OTHER, MISSING}
    assert before["segments"]["predictions"].sum() == 3_000  # 2,000 answers and 1,000 shadow rows
    assert before["bins"].index.get_level_values("day").nunique() == 2
    pd.testing.assert_frame_equal(before["segments"], segments, check_dtype=False, rtol=1e-9)
    pd.testing.assert_frame_equal(before["bins"], bins, check_dtype=False, rtol=1e-9)


def test_without_a_plan_nothing_is_segmented(sessions) -> None:
    seed(sessions, rows=300, seed=2)
    with sessions.begin() as session:
        refresh_rollups(session, binning=binning)
        segments, bins, mv = stored(session)
    assert segments.empty and bins.empty and mv.empty


CLASSES = ["no", "yes", "maybe"]


def classifier_rows(rng, *, stamps: list[datetime], version: int, shadow_of: list[int] | None = None) -> list[dict]:
    """A classifier's log rows (answers with inputs, or shadow rows of ``shadow_of`` without)."""
    rows = len(stamps)
    probabilities = probabilities_for(rng, rng.choice(CLASSES, rows), CLASSES, 0.3)
    colour = rng.choice(["red", "blue", "teal"], rows).astype(object)
    colour[::11] = None
    return [
        {
            "created_at": stamps[index],
            "model_name": "clf",
            "model_version": version,
            "alias": "champion" if shadow_of is None else "challenger",
            "prediction": float(probabilities[index].max()),
            "label": CLASSES[int(probabilities[index].argmax())],
            "probabilities": json.dumps(dict(zip(CLASSES, probabilities[index].tolist(), strict=True))),
            "latency_ms": 5.0,
            "source": "batch",
            "request_id": f"c{version}-{index}",
            "is_ood": False,
            "is_shadow": shadow_of is not None,
            "shadow_of": None if shadow_of is None else shadow_of[index],
            "inputs": None
            if shadow_of is not None
            else encode_inputs({"size": float(rng.lognormal(0.3, 0.8)), "colour": colour[index]}),
        }
        for index in range(rows)
    ]


def log_classified(sessions, *, rows: int, seed: int) -> tuple[list[int], list[datetime]]:
    """Version 1 of a classifier (with a CBPE estimator) answering ``rows`` times, true labels for 60%."""
    rng = np.random.default_rng(seed)
    stamps = [START + timedelta(seconds=float(s)) for s in np.sort(rng.random(rows)) * 8 * 3600]
    holdout = rng.choice(CLASSES, 600)
    estimator = fit_cbpe(probabilities_for(rng, holdout, CLASSES, 0.3), CLASSES, list(holdout))
    payload_json, model_bytes = estimator.to_record()
    with sessions.begin() as session:
        save_estimator(
            session,
            model_name="clf",
            model_version=1,
            method=estimator.method,
            payload_json=payload_json,
            model_bytes=model_bytes,
            rows=int(estimator.payload["rows"]),
        )
        ids = log_predictions(session, records=classifier_rows(rng, stamps=stamps, version=1))
        chosen = rng.random(rows) < 0.6
        add_feedback(session, labels={ids[i]: str(rng.choice(CLASSES)) for i in range(rows) if chosen[i]})
    return ids, stamps


def classified_direct(session) -> pd.DataFrame:
    """Per (hour, version, shadow, value): predictions, labelled rows, correct ones and CBPE's expected
    correctness (version 1 has an estimator), recounted from the raw rows with the stored estimator."""
    columns = [Prediction.id, Prediction.created_at, Prediction.model_version, Prediction.is_shadow]
    columns += [Prediction.shadow_of, Prediction.label, Prediction.probabilities, Prediction.inputs]
    raw = pd.DataFrame(list(session.execute(select(*columns))), columns=[column.key for column in columns])
    answer = raw["shadow_of"].fillna(raw["id"]).astype(int)
    truths = dict(session.execute(select(Feedback.prediction_id, Feedback.actual_label)).all())
    raw["truth"] = answer.map(truths)
    raw["hour"] = pd.to_datetime(raw["created_at"], utc=True).dt.floor("h")
    inputs = raw.set_index("id")["inputs"]
    colour = pd.Series([decode_inputs(inputs[key]).get("colour") for key in answer])
    raw["value"] = np.where(colour.isna(), MISSING, np.where(colour.isin(["red", "blue"]), colour, OTHER))
    stored_estimator = load_estimator(session, model_name="clf", model_version=1)
    assert stored_estimator is not None
    estimator = Estimator.from_record(stored_estimator.method, stored_estimator.payload_json, None)
    found = per_row_estimates(estimator, raw)
    assert found.calibrated is not None and found.predicted is not None
    has_estimator = (raw["model_version"] == 1).to_numpy()
    raw["estimated"] = has_estimator.astype(int)
    raw["expected"] = np.where(has_estimator, found.calibrated[np.arange(len(raw)), found.predicted], 0.0)
    raw["labelled"] = raw["truth"].notna()
    raw["right"] = raw["labelled"] & (raw["truth"] == raw["label"])
    grouped = raw.groupby(["hour", "model_version", "is_shadow", "value"])
    return pd.DataFrame(
        {
            "predictions": grouped.size(),
            "feedback": grouped["labelled"].sum(),
            "correct": grouped["right"].sum(),
            "estimated_rows": grouped["estimated"].sum(),
            "estimated_sum": grouped["expected"].sum(),
        }
    ).sort_index()


def test_classifier_segments_count_correct_and_expected_correct_as_the_raw_rows(sessions) -> None:
    ids, stamps = log_classified(sessions, rows=1_200, seed=3)
    with sessions.begin() as session:
        refresh_rollups(session, binning=binning, plan=plan, chunk_rows=500, estimates=estimate_source(session))
    with sessions.begin() as session:  # true labels replaced (moved to another class), late ones added
        truths = dict(session.execute(select(Feedback.prediction_id, Feedback.actual_label)).all())
        replaced = {key: CLASSES[(CLASSES.index(value) + 1) % 3] for key, value in list(truths.items())[:150]}
        late = {key: "yes" for key in ids[-200:] if key not in truths}
        add_feedback(session, labels={**replaced, **late})
        # A challenger in shadow logged after the labels came: its rows are scored against them on roll-up.
        rng = np.random.default_rng(4)
        log_predictions(session, records=classifier_rows(rng, stamps=stamps[:400], version=2, shadow_of=ids[:400]))
    with sessions.begin() as session:
        refresh_rollups(session, binning=binning, plan=plan, estimates=estimate_source(session))
        expected = classified_direct(session)
        got, _, _ = stored(session)

    pd.testing.assert_frame_equal(got[expected.columns], expected, check_dtype=False, rtol=1e-9)
    assert set(got.index.get_level_values("value")) == {"red", "blue", OTHER, MISSING}
    shadow = got.xs((2, True), level=["model_version", "is_shadow"])
    assert 0 < shadow["correct"].sum() < shadow["feedback"].sum() < shadow["predictions"].sum() == 400
    assert 0 < got["correct"].sum() < got["feedback"].sum() < got["predictions"].sum() == 1_600
    assert got["estimated_rows"].sum() == 1_200 and got["estimated_sum"].sum() > 0
    assert (got[["error_sum", "abs_error_sum", "sq_error_sum"]] == 0).all().all()  # no regression error
