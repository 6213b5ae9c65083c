"""Roll-ups equal a recomputation from the raw rows, on SQLite and PostgreSQL, however often refreshed."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import pandas as pd
import pytest
from sqlalchemy import select

from core.monitoring.simulator import bulk_log, simulated_latencies
from storage.base import utcnow
from storage.db import make_engine, make_sessionmaker, migrate
from storage.log_writer import decode_inputs
from storage.prediction_log import (
    Feedback,
    Prediction,
    Rejection,
    add_feedback,
    log_predictions,
)
from storage.rollups import (
    ALL,
    RollupBucket,
    RollupFeature,
    RollupGap,
    RollupHour,
    bucket_counts,
    feature_counts,
    hour_totals,
    latency_bounds,
    latency_bucket,
    rebuild_rollups,
    refresh_rollups,
    rejection_counts,
    signed_log_bounds,
    signed_log_bucket,
)

START = datetime(2026, 3, 1, tzinfo=UTC)
EDGES = {
    "size": np.array([-np.inf, 0.0, 1.0, 2.0, 5.0, np.inf]),
    "colour": None,
}


def binning(model_name: str, version: int):
    return EDGES if version != 99 else None  # version 99: its profile is unavailable


@pytest.fixture(params=["sqlite", "postgresql"])
def sessions(request, tmp_path):
    url = f"sqlite:///{tmp_path / 'log.db'}" if request.param == "sqlite" else request.getfixturevalue("pg_url")
    engine = make_engine(url)
    migrate(engine)
    yield make_sessionmaker(engine)
    engine.dispose()


def seed(sessions, *, rows: int, version: int, seed: int, shadow: bool = False, hours: int = 5) -> None:
    rng = np.random.default_rng(seed)
    features = pd.DataFrame(
        {"size": rng.lognormal(0.3, 0.8, rows), "colour": rng.choice(["red", "blue", "teal"], rows)}
    )
    features.loc[::17, "size"] = np.nan  # missing values are not counted
    stamps = [START + timedelta(seconds=float(s)) for s in rng.random(rows) * hours * 3600]
    with sessions.begin() as session:
        bulk_log(
            session,
            features=features,
            predictions=rng.normal(1000, 300, rows),
            timestamps=stamps,
            model_name="m",
            model_version=version,
            latency_ms=simulated_latencies(rows, rng=rng),
            is_shadow=shadow,
            actuals=rng.normal(1000, 300, rows),
            label_share=0.4,
            is_ood=rng.random(rows) < 0.1,
            seed=seed,
        )


def raw(session) -> pd.DataFrame:
    columns = [Prediction.id, Prediction.created_at, Prediction.model_version, Prediction.is_shadow]
    columns += [Prediction.latency_ms, Prediction.prediction, Prediction.is_ood]
    frame = pd.DataFrame(list(session.execute(select(*columns))), columns=[c.key for c in columns])
    feedback = pd.DataFrame(
        list(session.execute(select(Feedback.prediction_id, Feedback.actual))), columns=["id", "actual"]
    )
    frame = frame.merge(feedback, on="id", how="left")
    frame["hour"] = pd.to_datetime(frame["created_at"], utc=True).dt.floor("h")
    return frame


def expected_totals(frame: pd.DataFrame) -> pd.DataFrame:
    frame = frame.assign(error=frame["actual"] - frame["prediction"])
    grouped = frame.groupby(["hour", "model_version", "is_shadow"])
    return pd.DataFrame(
        {
            "predictions": grouped.size(),
            "ood": grouped["is_ood"].sum(),
            "latency_sum": grouped["latency_ms"].sum(),
            "feedback": grouped["actual"].count(),
            "abs_error_sum": grouped["error"].apply(lambda e: e.abs().sum()),
            "sq_error_sum": grouped["error"].apply(lambda e: (e**2).sum()),
        }
    ).sort_index()


def stored_totals(session) -> pd.DataFrame:
    frame = hour_totals(session, model_name="m", start=START - timedelta(days=1), end=START + timedelta(days=1))
    frame["hour"] = pd.to_datetime(frame["hour"], utc=True)
    frame["is_shadow"] = frame["is_shadow"].astype(bool)
    return frame.set_index(["hour", "model_version", "is_shadow"]).sort_index()


def test_rollups_equal_a_recomputation_from_raw_rows(sessions) -> None:
    seed(sessions, rows=3_000, version=1, seed=1)
    seed(sessions, rows=1_000, version=2, seed=2, shadow=True)

    with sessions.begin() as session:
        result = refresh_rollups(session, binning=binning)
    with sessions.begin() as session:
        frame = raw(session)
        stored = stored_totals(session)
        expected = expected_totals(frame)
        sizes = pd.DataFrame(
            list(
                (prediction_id, decode_inputs(inputs)["size"])
                for prediction_id, inputs in session.execute(
                    select(Prediction.id, Prediction.inputs).where(Prediction.inputs.is_not(None))
                )
            ),
            columns=["id", "size"],
        ).merge(frame[["id", "model_version"]], on="id")
        bins = feature_counts(
            session, model_name="m", model_version=1, start=START, end=START + timedelta(hours=5), include_shadow=True
        )
        latency = bucket_counts(session, model_name="m", metric="latency", start=START, end=START + timedelta(hours=5))

    assert result.predictions == 4_000 and result.feedback == int(frame["actual"].notna().sum())
    pd.testing.assert_frame_equal(stored[expected.columns], expected, check_dtype=False, rtol=1e-9)
    size = sizes.loc[sizes["model_version"] == 1, "size"].dropna().to_numpy()
    numeric = bins[bins["feature"] == "size"].assign(bucket=lambda b: b["bucket"].astype(int)).set_index("bucket")
    expected_bins = np.bincount(np.searchsorted(EDGES["size"], size, side="right") - 1, minlength=5)
    assert numeric["count"].reindex(range(5), fill_value=0).tolist() == expected_bins.tolist()
    assert numeric["value_sum"].sum() == pytest.approx(size.sum())
    colours = bins[bins["feature"] == "colour"].set_index("bucket")["count"]
    assert colours.sum() == 3_000 and set(colours.index) == {"red", "blue", "teal"}
    v1 = frame[frame["model_version"] == 1]
    expected_latency = pd.Series(latency_bucket(v1["latency_ms"].to_numpy())).value_counts()
    got = latency[latency["model_version"] == 1].set_index("bucket")["count"]
    assert got.sort_index().to_dict() == expected_latency.sort_index().to_dict()


def test_refreshing_in_pieces_equals_one_refresh_and_is_idempotent(sessions, tmp_path) -> None:
    seed(sessions, rows=1_500, version=1, seed=3)
    with sessions.begin() as session:
        refresh_rollups(session, binning=binning, chunk_rows=400)
    seed(sessions, rows=700, version=1, seed=4)  # lands in hours already rolled up (backfilled times)
    with sessions.begin() as session:
        refresh_rollups(session, binning=binning, chunk_rows=400)
    with sessions.begin() as session:
        again = refresh_rollups(session, binning=binning)  # nothing new
        pieces = _snapshot(session)
        rebuild_rollups(session, binning=binning)
        whole = _snapshot(session)

    assert again.rows == 0
    for name in pieces:
        pd.testing.assert_frame_equal(pieces[name], whole[name], check_dtype=False, rtol=1e-9)
    assert pieces["hours"]["predictions"].sum() == 2_200


def _snapshot(session) -> dict[str, pd.DataFrame]:
    out = {}
    for name, table in (("hours", RollupHour), ("buckets", RollupBucket), ("features", RollupFeature)):
        columns = [column for column in table.__table__.columns]
        frame = pd.DataFrame(list(session.execute(select(*columns))), columns=[c.name for c in columns])
        keys = [c.name for c in table.__table__.primary_key.columns]
        out[name] = frame.sort_values(keys).reset_index(drop=True)
    return out


def test_late_feedback_is_added_to_the_hour_of_its_prediction(sessions) -> None:
    seed(sessions, rows=500, version=1, seed=5)
    with sessions.begin() as session:
        refresh_rollups(session, binning=binning)
        first = session.scalars(select(Prediction).order_by(Prediction.id)).first()
        labelled = {row for row in session.scalars(select(Feedback.prediction_id))}
        target = next(p for p in session.scalars(select(Prediction)) if p.id not in labelled)
        before = stored_totals(session)["feedback"].sum()
    with sessions.begin() as session:
        session.add(Feedback(prediction_id=target.id, actual=target.prediction + 100.0))

    with sessions.begin() as session:
        result = refresh_rollups(session, binning=binning)
        after = stored_totals(session)
        residuals = bucket_counts(
            session, model_name="m", metric="residual", start=START, end=START + timedelta(days=1)
        )

    assert first is not None and result.feedback == 1
    assert after["feedback"].sum() == before + 1
    hour = pd.Timestamp(target.created_at).floor("h")
    assert after.loc[(hour, 1, False), "feedback"] >= 1
    assert residuals["count"].sum() == before + 1


def test_rejections_count_values_and_distinct_rows(sessions) -> None:
    with sessions.begin() as session:
        for row_number, field in ((1, "carat"), (1, "depth"), (2, "carat"), (3, "cut")):
            session.add(
                Rejection(
                    created_at=START + timedelta(minutes=row_number),
                    model_name="m",
                    source="batch",
                    request_id="r1",
                    row_number=row_number,
                    field=field,
                    rule="gt" if field != "cut" else "level",
                    message="bad",
                )
            )
    with sessions.begin() as session:
        refresh_rollups(session, binning=binning)
        frame = rejection_counts(session, model_name="m", start=START, end=START + timedelta(hours=1))

    counts = frame.set_index(["field", "rule"])["count"]
    assert counts[(ALL, ALL)] == 3  # three distinct rows
    assert counts[("carat", "gt")] == 2 and counts[("cut", "level")] == 1


def test_a_version_without_a_profile_still_counts_its_predictions(sessions) -> None:
    seed(sessions, rows=300, version=99, seed=6)

    with sessions.begin() as session:
        result = refresh_rollups(session, binning=binning)
        bins = feature_counts(
            session, model_name="m", model_version=99, start=START, end=START + timedelta(days=1), include_shadow=True
        )

    assert result.unbinned_versions == {("m", 99)} and bins.empty
    with sessions.begin() as session:
        assert stored_totals(session)["predictions"].sum() == 300


def test_window_edges_are_half_open_hours(sessions) -> None:
    stamps = [START + timedelta(hours=1) - timedelta(microseconds=1), START + timedelta(hours=1)]
    with sessions.begin() as session:
        bulk_log(
            session,
            features=pd.DataFrame({"size": [1.5, 2.5], "colour": ["red", "red"]}),
            predictions=np.array([10.0, 20.0]),
            timestamps=stamps,
            model_name="m",
            model_version=1,
            latency_ms=np.array([5.0, 6.0]),
        )
    with sessions.begin() as session:
        refresh_rollups(session, binning=binning)
        first = hour_totals(session, model_name="m", start=START, end=START + timedelta(hours=1))
        second = hour_totals(session, model_name="m", start=START + timedelta(hours=1), end=START + timedelta(hours=2))

    assert first["predictions"].sum() == 1 and first["prediction_sum"].sum() == 10.0
    assert second["predictions"].sum() == 1 and second["prediction_sum"].sum() == 20.0


def test_buckets_round_trip_their_bounds() -> None:
    latencies = np.array([0.001, 0.5, 3.0, 12.0, 250.0, 9e9])
    low, high = latency_bounds(latency_bucket(latencies))
    inside = latencies[1:-1]
    assert np.all((low[1:-1] <= inside) & (inside < high[1:-1]))
    assert np.all(high / low == pytest.approx(10 ** (1 / 40)))

    values = np.array([-12_345.0, -1.0, 0.0, 0.4, 326.0, 18_823.0])
    low, high = signed_log_bounds(signed_log_bucket(values))
    assert np.all((low <= values) & (values < high))


def log_challenger(session, *, features: pd.DataFrame, predictions, stamps, answered: list[int]) -> None:
    """Shadow rows of the challenger (version 2, 9 ms each) for the ``answered`` ids, in order."""
    bulk_log(
        session,
        features=features,
        predictions=predictions,
        timestamps=stamps,
        model_name="m",
        model_version=2,
        latency_ms=np.full(len(features), 9.0),
        alias="challenger",
        is_shadow=True,
        shadow_of=answered,
    )


def test_shadow_rows_take_the_answers_inputs_and_feedback(sessions) -> None:
    rng = np.random.default_rng(9)
    rows = 400
    features = pd.DataFrame({"size": rng.lognormal(0.3, 0.8, rows), "colour": rng.choice(["red", "blue"], rows)})
    stamps = [START + timedelta(seconds=float(s)) for s in np.sort(rng.random(rows)) * 7200]
    actual = rng.normal(1000, 300, rows)
    with sessions.begin() as session:
        answered = bulk_log(
            session,
            features=features,
            predictions=actual + 50,  # the champion is 50 off everywhere
            timestamps=stamps,
            model_name="m",
            model_version=1,
            latency_ms=np.full(rows, 5.0),
        )
        session.add_all(
            Feedback(prediction_id=i, actual=float(a)) for i, a in zip(answered[:200], actual[:200], strict=True)
        )
    with sessions.begin() as session:
        refresh_rollups(session, binning=binning)  # the first half's feedback is rolled up before its shadows exist
    with sessions.begin() as session:
        log_challenger(session, features=features, predictions=actual - 20, stamps=stamps, answered=answered)  # 20 off
    with sessions.begin() as session:
        session.add_all(
            Feedback(prediction_id=i, actual=float(a)) for i, a in zip(answered[200:300], actual[200:300], strict=True)
        )
    with sessions.begin() as session:
        refresh_rollups(session, binning=binning)
        totals = stored_totals(session).groupby(level=["model_version", "is_shadow"]).sum()
        window = {"start": START, "end": START + timedelta(hours=2)}
        answer_bins = feature_counts(session, model_name="m", model_version=1, include_shadow=True, **window)
        shadow_bins = feature_counts(session, model_name="m", model_version=2, include_shadow=True, **window)
        answered_only = feature_counts(session, model_name="m", model_version=2, include_shadow=False, **window)

    champion, challenger = totals.loc[(1, False)], totals.loc[(2, True)]
    assert champion["feedback"] == 300 and challenger["feedback"] == 300
    assert champion["abs_error_sum"] / 300 == pytest.approx(50) and challenger["abs_error_sum"] / 300 == pytest.approx(
        20
    )
    key = ["feature", "bucket"]
    pd.testing.assert_frame_equal(
        answer_bins.sort_values(key).reset_index(drop=True), shadow_bins.sort_values(key).reset_index(drop=True)
    )
    assert answered_only.empty


def test_a_replaced_true_value_counts_once_with_its_new_value(sessions) -> None:
    rng = np.random.default_rng(12)
    rows = 300
    features = pd.DataFrame({"size": rng.lognormal(0.3, 0.8, rows), "colour": rng.choice(["red", "blue"], rows)})
    stamps = [START + timedelta(seconds=float(s)) for s in np.sort(rng.random(rows)) * 3 * 3600]
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
        )
        log_challenger(session, features=features, predictions=predicted + 30, stamps=stamps, answered=answered)
    with sessions.begin() as session:
        add_feedback(session, actuals={prediction_id: 1000.0 for prediction_id in answered[:100]})
    with sessions.begin() as session:
        refresh_rollups(session, binning=binning)
    with sessions.begin() as session:  # 50 replaced, 50 new
        add_feedback(session, actuals={prediction_id: 2000.0 for prediction_id in answered[50:150]})

    with sessions.begin() as session:
        result = refresh_rollups(session, binning=binning)
        refreshed = _snapshot(session)
        totals = stored_totals(session).groupby(level=["model_version", "is_shadow"]).sum()
        rebuild_rollups(session, binning=binning)
        rebuilt = _snapshot(session)

    actual = np.r_[np.full(50, 1000.0), np.full(100, 2000.0)]
    assert result.feedback == 100 and result.recounted_hours >= 1
    assert totals.loc[(1, False), "feedback"] == 150 and totals.loc[(2, True), "feedback"] == 150
    assert totals.loc[(1, False), "abs_error_sum"] == pytest.approx(np.abs(actual - predicted[:150]).sum())
    assert totals.loc[(2, True), "abs_error_sum"] == pytest.approx(np.abs(actual - predicted[:150] - 30).sum())
    for name in refreshed:
        pd.testing.assert_frame_equal(refreshed[name], rebuilt[name], check_dtype=False, rtol=1e-9)


def one_prediction(at: datetime) -> dict:
    return {
        "created_at": at,
        "model_name": "m",
        "model_version": 1,
        "alias": "champion",
        "prediction": 1000.0,
        "latency_ms": 4.0,
        "source": "form",
        "request_id": "late",
        "is_ood": False,
        "ood_fields": None,
        "is_shadow": False,
        "shadow_of": None,
    }


def test_ids_read_past_are_rolled_up_when_their_rows_appear(sessions) -> None:
    seed(sessions, rows=200, version=1, seed=21)
    with sessions.begin() as session:
        held_back = session.get(Prediction, 50)
        copy = {column.name: getattr(held_back, column.name) for column in Prediction.__table__.columns}
        session.delete(held_back)  # as if its writer had not committed yet
    with sessions.begin() as session:
        first = refresh_rollups(session, binning=binning)
        gaps = session.execute(select(RollupGap.source, RollupGap.first_id, RollupGap.last_id)).all()
    with sessions.begin() as session:
        session.execute(Prediction.__table__.insert(), [copy])

    with sessions.begin() as session:
        second = refresh_rollups(session, binning=binning)
        third = refresh_rollups(session, binning=binning)
        refreshed = _snapshot(session)
        left = session.scalars(select(RollupGap.first_id)).all()
        rebuild_rollups(session, binning=binning)
        rebuilt = _snapshot(session)

    assert first.predictions == 199 and gaps == [("predictions", 50, 50)]
    assert second.predictions == 1 and third.rows == 0 and left == []
    for name in refreshed:
        pd.testing.assert_frame_equal(refreshed[name], rebuilt[name], check_dtype=False, rtol=1e-9)


def test_a_gap_nobody_fills_is_forgotten_after_an_hour(sessions) -> None:
    gaps = [
        {"source": "predictions", "first_id": 5, "last_id": 9, "found_at": utcnow() - timedelta(hours=2)},
        {"source": "predictions", "first_id": 20, "last_id": 20, "found_at": utcnow()},
    ]
    with sessions.begin() as session:
        session.execute(RollupGap.__table__.insert(), gaps)

    with sessions.begin() as session:
        refresh_rollups(session, binning=binning)
        left = session.scalars(select(RollupGap.first_id)).all()

    assert left == [20]


def test_on_postgresql_a_lower_id_committed_late_is_still_rolled_up(pg_url) -> None:
    engine = make_engine(pg_url)
    migrate(engine)
    sessions = make_sessionmaker(engine)
    slow_writer = sessions()
    slow_writer.begin()
    (late_id,) = log_predictions(slow_writer, records=[one_prediction(START)], features=[{"size": 1.5}])
    with sessions.begin() as session:
        (early_id,) = log_predictions(session, records=[one_prediction(START)], features=[{"size": 0.5}])
    with sessions.begin() as session:
        before = refresh_rollups(session, binning=binning)
    slow_writer.commit()
    slow_writer.close()

    with sessions.begin() as session:
        after = refresh_rollups(session, binning=binning)
        totals = stored_totals(session)
        bins = feature_counts(
            session, model_name="m", model_version=1, start=START, end=START + timedelta(hours=1), include_shadow=False
        )
    engine.dispose()

    assert late_id < early_id
    assert before.predictions == 1 and after.predictions == 1
    assert totals["predictions"].sum() == 2
    assert bins.loc[bins["feature"] == "size", "count"].sum() == 2


def test_latency_is_rolled_up_per_kind_and_never_from_rows_loupe_did_not_time(sessions) -> None:
    base = {
        "model_name": "m",
        "model_version": 1,
        "alias": "champion",
        "prediction": 1.0,
        "request_id": "r",
        "is_ood": False,
        "ood_fields": None,
        "is_shadow": False,
        "shadow_of": None,
    }
    records = [
        {**base, "created_at": START, "source": "server", "latency_ms": 2.0},
        {**base, "created_at": START, "source": "server", "latency_ms": 3.0},
        {**base, "created_at": START, "source": "form", "latency_ms": 40.0},
        *({**base, "created_at": START, "source": "ingest", "latency_ms": 0.0} for _ in range(5)),
    ]
    with sessions.begin() as session:
        log_predictions(session, records=records)
        refresh_rollups(session, binning=binning)
    window = {"model_name": "m", "start": START - timedelta(hours=1), "end": START + timedelta(hours=1)}
    with sessions() as session:
        counts = {
            metric: int(bucket_counts(session, metric=metric, **window)["count"].sum())
            for metric in ("latency", "lat_server", "lat_one", "lat_other")
        }
        hours = hour_totals(session, **window)
    assert counts == {"latency": 3, "lat_server": 2, "lat_one": 1, "lat_other": 0}
    assert int(hours["predictions"].sum()) == 8  # ingested rows count as answers, just not as timed ones
