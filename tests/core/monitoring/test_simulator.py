"""The simulator: shift parsing, traffic drawn from a reference, the serving path and the bulk path.

Its command is tested in tests/core/commands/test_simulate.py.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import mlflow
import numpy as np
import pandas as pd
import pytest
from mlflow.models import infer_signature
from sklearn.linear_model import Ridge
from sqlalchemy import func, select

from core import mlflow_io
from core.errors import InvalidInput
from core.monitoring.reference_data import attach_reference
from core.monitoring.reference_sample import SAMPLE_ROWS, sample_rows
from core.monitoring.references import reference_profile, refresh
from core.monitoring.segments import segment_view
from core.monitoring.simulator import champion_traffic, simulate, simulate_bulk
from core.monitoring.traffic import Shift, is_numeric, sample_traffic
from core.monitoring.window_drift import current_drift_status, window_drift, window_multivariate
from core.monitoring.windows import Window
from core.profile import build_profile
from core.serving.model_cache import clear_memory_caches
from storage.db import make_engine, make_sessionmaker, migrate
from storage.log_writer import decode_inputs
from storage.prediction_log import Feedback, Prediction, Rejection
from tests.team_store import champion, prediction_log, team_home


def test_shift_parsing_and_clear_errors() -> None:
    assert Shift.parse("carat=1.2") == Shift(feature="carat", factor=1.2)
    assert Shift.parse("cut=Fair") == Shift(feature="cut", level="Fair", share=0.5)
    assert Shift.parse("cut=Very Good:0.3") == Shift(feature="cut", level="Very Good", share=0.3)
    assert Shift.parse("body mass=1.5") == Shift(feature="body mass", factor=1.5)
    assert Shift.parse("größe=0.9") == Shift(feature="größe", factor=0.9)
    assert Shift.parse('"a=b"=2') == Shift(feature="a=b", factor=2.0)
    assert Shift.parse("code=A:B") == Shift(feature="code", level="A:B", share=0.5)
    for bad, message in (
        ("carat", "FEATURE=FACTOR"),
        ("carat=-2", "positive"),
        ("cut=Fair:2", "share"),
        ("=3", "FEATURE"),
    ):
        with pytest.raises(InvalidInput, match=message):
            Shift.parse(bad)


def reference_frame(rows: int = 2_000) -> pd.DataFrame:
    rng = np.random.default_rng(0)
    return pd.DataFrame(
        {
            "size": rng.gamma(2.0, 1.5, rows),
            "rooms": rng.integers(1, 7, rows),
            "flag": rng.choice([0.0, 1.0], rows),
            "colour": rng.choice(["red", "green", "blue"], rows, p=[0.6, 0.3, 0.1]),
        }
    )


def test_traffic_is_drawn_from_the_reference_shifted_and_spread_over_the_days() -> None:
    reference = reference_frame()
    profile = build_profile(reference)
    now = datetime(2026, 3, 8, 12, tzinfo=UTC)

    plain = sample_traffic(profile, rows=5_000, days=3, seed=1, now=now)
    moved = sample_traffic(
        profile, rows=5_000, days=3, seed=1, now=now, shifts=(Shift.parse("size=1.5"), Shift.parse("colour=blue:0.4"))
    )

    stamps = pd.to_datetime(plain.timestamps, utc=True)
    assert stamps.min() >= now - timedelta(days=3) and stamps.max() <= now and stamps.is_monotonic_increasing
    drawn = plain.features
    assert drawn["size"].between(reference["size"].min(), reference["size"].max()).all()
    assert abs(drawn["size"].mean() - reference["size"].mean()) < 0.1 * reference["size"].std()
    assert set(drawn["rooms"]) <= set(range(1, 7)) and (drawn["rooms"] == np.round(drawn["rooms"])).all()
    assert set(drawn["flag"]) == {0.0, 1.0}
    assert drawn["colour"].value_counts(normalize=True)["red"] == pytest.approx(0.6, abs=0.03)
    assert np.allclose(moved.features["size"], moved.drawn["size"] * 1.5)
    assert (moved.features["colour"] == "blue").mean() > 0.4
    with pytest.raises(InvalidInput, match="'weight' is not an input of this model"):
        sample_traffic(profile, rows=10, days=1, shifts=(Shift.parse("weight=2"),))
    with pytest.raises(InvalidInput, match="'colour' is categorical"):
        sample_traffic(profile, rows=10, days=1, shifts=(Shift.parse("colour=2"),))


@pytest.fixture
def sessions(registry_home):
    engine = make_engine(registry_home.database_url)
    migrate(engine)
    yield make_sessionmaker(engine)
    engine.dispose()


def test_simulate_goes_through_serving_with_shadow_feedback_and_rejections(registry_home, sessions) -> None:
    result = simulate(
        registry_home,
        sessions=sessions,
        rows=120,
        days=2,
        shifts=(Shift.parse("carat=1.2"),),
        label_share=0.5,
        invalid_share=0.05,
        seed=3,
    )

    with sessions.begin() as session:
        answered = session.scalar(select(func.count()).where(Prediction.is_shadow.is_(False)))
        shadows = session.scalar(select(func.count()).where(Prediction.is_shadow.is_(True)))
        oldest = session.scalar(select(func.min(Prediction.created_at)))
        sources = set(session.scalars(select(Prediction.source).distinct()))
        feedback = session.scalar(select(func.count()).select_from(Feedback))
        rejected = session.scalar(select(func.count(func.distinct(Rejection.row_number))).select_from(Rejection))
        logged = session.scalars(select(Prediction.inputs).where(Prediction.inputs.is_not(None))).all()
        carats = [decode_inputs(inputs)["carat"] for inputs in logged]

    assert result.via == "serving" and result.model_version == 1 and result.requests > 1
    assert answered == result.accepted and result.accepted + result.rejected_rows == 120
    assert shadows == result.shadow_scored == answered  # the challenger shadows every answer
    assert rejected >= 1 and feedback == result.feedback > 0
    assert sources == {"simulator"} and oldest < datetime.now(UTC) - timedelta(hours=12)
    _, traffic, _ = champion_traffic(registry_home, rows=120, days=2, shifts=(Shift.parse("carat=1.2"),), seed=3)
    assert set(np.round(carats, 9)) <= set(np.round(traffic.features["carat"], 9))  # the shifted values, as drawn


def test_bulk_simulation_uses_the_champions_real_predictions(registry_home, sessions) -> None:
    result = simulate_bulk(registry_home, sessions=sessions, rows=2_000, days=7, label_share=0.3, seed=4)

    with sessions.begin() as session:
        rows = session.execute(
            select(Prediction.prediction, Feedback.actual).join(Feedback, Feedback.prediction_id == Prediction.id)
        ).all()
    predicted, actual = np.array(rows).T
    holdout_rmse = mlflow_io.get_version(registry_home, version=1).metrics["rmse"]

    assert result.via == "bulk" and result.accepted == 2_000 and result.feedback == len(rows)
    # The truth is the unshifted answer plus noise as wide as the holdout error: realised error ≈ holdout.
    realised_rmse = float(np.sqrt(np.mean((predicted - actual) ** 2)))
    assert realised_rmse == pytest.approx(holdout_rmse, rel=0.15)


ODD_NAMES = ["body mass", "größe", "select", "order"]


@pytest.fixture
def team_model(tmp_path, monkeypatch):
    """A team's Ridge over inputs named with spaces, non-ASCII letters and SQL keywords; no Loupe profile."""
    settings = team_home(tmp_path, monkeypatch, model="odd-names")
    rng = np.random.default_rng(1)
    data = pd.DataFrame({name: rng.normal(10 + index, 2, 800) for index, name in enumerate(ODD_NAMES)})
    target = data @ np.array([1.0, -2.0, 0.5, 3.0])
    model = Ridge().fit(data, target)
    with mlflow.start_run():
        info = mlflow.sklearn.log_model(
            model, name="model", signature=infer_signature(data, target), pip_requirements=["scikit-learn"]
        )
    mlflow.register_model(info.model_uri, "odd-names")
    champion("odd-names", 1)
    with prediction_log(settings) as sessions:
        yield settings, sessions, data


def test_any_model_is_simulated_from_its_reference_and_the_shift_shows_as_drift(team_model) -> None:
    settings, sessions, data = team_model
    with pytest.raises(InvalidInput, match="has no reference data to draw traffic from: attach it with python -m core"):
        simulate(settings, sessions=sessions, rows=10, days=1)
    attach_reference(settings, version=1, data=data, source="training frame")
    clear_memory_caches()

    result = simulate(
        settings, sessions=sessions, rows=400, days=1, shifts=(Shift.parse("body mass=1.6"),), label_share=0.2
    )
    status = current_drift_status(settings, sessions=sessions, model_version=1)

    assert result.accepted + result.rejected_rows == 400 and result.feedback > 0
    assert status.drifted is not None and status.report is not None
    drifted = {item.feature for item in status.report.features if item.drifted}
    assert "body mass" in drifted and "größe" not in drifted


def traffic_verdicts(settings, sessions, *, split: str | None = None) -> tuple:
    """(multivariate drift, drifted features, segments with a drifted feature) of the last two days' answers."""
    refresh(settings, sessions=sessions)
    window = Window.last(timedelta(days=2))
    with sessions.begin() as session:
        multivariate, _ = window_multivariate(settings, session=session, window=window, model_version=1)
        report = window_drift(settings, session=session, window=window, model_version=1, include_shadow=False)
        profile = reference_profile(settings, session=session, model_version=1)
        segments = (
            segment_view(
                settings,
                session=session,
                window=window,
                feature=split,
                version=1,
                drift_version=1,
                profile=profile,
                include_shadow=False,
            )
            if split
            else None
        )
    assert multivariate is not None and report is not None
    drifted = {item.feature for item in report.judged if item.drifted}
    segment_drift = {} if segments is None else {name: seg for name, seg in segments.drift.items() if seg.dataset_drift}
    return multivariate, drifted, segments, segment_drift


def other_log(settings, tmp_path):
    engine = make_engine(f"sqlite:///{tmp_path / 'other-log.db'}")
    migrate(engine)
    return engine, make_sessionmaker(engine)


@pytest.mark.slow  # 8,000 rows answered by the demo model, logged and rolled up twice (~10 s)
def test_unshifted_traffic_keeps_the_relations_between_features_and_a_shift_shows(
    registry_home, sessions, tmp_path
) -> None:
    simulate_bulk(registry_home, sessions=sessions, rows=4_000, days=1, seed=11)
    steady, steady_drifted, segments, segment_drift = traffic_verdicts(registry_home, sessions, split="cut")

    # Whole reference rows: carat still matches x, y, z, so the PCA reconstructs them as well as the reference.
    assert steady.rows == 4_000 and steady.drifted is False, steady
    assert steady_drifted == set()
    assert segments is not None and set(segments.drift) >= {"Ideal", "Premium"}  # judged, against their own reference
    # A busy segment's features all stay within its own reference. A rare one (Fair: ~3%, ~120 rows) is as
    # noisy as real unseen diamonds are: 120 held-out rows of Fair drift too, on the same thresholds.
    counts = dict(zip(segments.table["value"], segments.table["predictions"], strict=True))
    busy = [name for name, count in counts.items() if count >= 800]
    assert len(busy) >= 3 and all(not segments.drift[name].drifted_count for name in busy)
    assert all(counts[name] < 300 for name in segment_drift)

    engine, shifted_sessions = other_log(registry_home, tmp_path)
    try:
        simulate_bulk(
            registry_home, sessions=shifted_sessions, rows=4_000, days=1, shifts=(Shift.parse("carat=1.3"),), seed=11
        )
        shifted, shifted_drifted, _, _ = traffic_verdicts(registry_home, shifted_sessions)
    finally:
        engine.dispose()
    # The shifted feature is what per-feature drift sees; carat no longer matching x, y, z breaks a relation too.
    assert shifted_drifted == {"carat"}
    assert shifted.drifted is True and shifted.mean_error is not None and shifted.mean_error > shifted.upper


def test_traffic_is_whole_reference_rows_bootstrapped_from_the_profiles_sample(registry_home) -> None:
    served, traffic, _ = champion_traffic(registry_home, rows=3_000, days=1, seed=2)
    sample = sample_rows(served.profile)

    assert sample is not None and len(sample) == served.profile.sample["rows"] <= SAMPLE_ROWS
    assert served.profile.sample["of"] == served.profile.row_count
    numeric = [name for name in sample.columns if is_numeric(sample[name])]
    # every drawn row is one of the reference's rows, all its values together
    known = set(map(tuple, sample.round(9).astype(str).to_numpy()))
    drawn = traffic.drawn[list(sample.columns)].copy()
    drawn[numeric] = drawn[numeric].astype(float)
    assert set(map(tuple, drawn.round(9).astype(str).to_numpy())) <= known
    assert traffic.drawn.duplicated().any()  # drawn with replacement: a bootstrap
    # ... so carat keeps its relation with x: the correlation is the reference's, not ~0 as drawn feature by feature
    assert traffic.drawn["carat"].corr(traffic.drawn["x"]) == pytest.approx(sample["carat"].corr(sample["x"]), abs=0.02)
    assert traffic.drawn["carat"].corr(traffic.drawn["x"]) > 0.9
