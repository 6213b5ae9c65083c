"""Segment and multivariate roll-ups equal a direct computation on the raw rows (SQLite and PostgreSQL),
through shadow rows, late and replaced true values, refreshes in pieces and a rebuild."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import pandas as pd
import pytest
from sqlalchemy import select

from core.monitoring.simulator import bulk_log
from storage.db import make_engine, make_sessionmaker, migrate
from storage.log_writer import decode_inputs
from storage.prediction_log import Feedback, Prediction, add_feedback
from storage.rollups import InputPlan, rebuild_rollups, refresh_rollups
from storage.rollups.segments import MISSING, OTHER
from storage.rollups.tables import RollupMultivariate, RollupSegment, RollupSegmentFeature

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
