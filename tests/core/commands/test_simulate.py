"""``python -m core simulate``: traffic through the serving path (or straight to the log with --bulk)."""

from dataclasses import replace

from sqlalchemy import func, select

from core import mlflow_io
from core.serving.model_cache import clear_memory_caches
from storage.db import make_engine, make_sessionmaker
from storage.prediction_log import Feedback, Prediction


def counts(settings) -> tuple[int, int, int]:
    """Answers, shadow answers and true values in the log."""
    engine = make_engine(settings.database_url)
    try:
        with make_sessionmaker(engine)() as session:
            answers = session.scalar(select(func.count()).where(Prediction.is_shadow.is_(False)))
            shadows = session.scalar(select(func.count()).where(Prediction.is_shadow.is_(True)))
            feedback = session.scalar(select(func.count()).select_from(Feedback))
    finally:
        engine.dispose()
    return answers, shadows, feedback


def test_simulate_goes_through_serving_with_shadow_and_feedback(cli, registry_home) -> None:
    clear_memory_caches()
    ran = cli("simulate", "--rows", "40", "--days", "1", "--shift", "cut=Fair", "--label-share", "0.5", "--seed", "2")
    clear_memory_caches()

    assert ran.code == 0, ran.err
    assert "done via serving" in ran.out and "answered by v1" in ran.out
    answers, shadows, feedback = counts(registry_home)
    assert f"{answers:,} answered by v1" in ran.out and f"{shadows:,} shadow" in ran.out
    assert f"{feedback:,} with feedback" in ran.out
    assert 30 <= answers <= 40 and shadows == answers and 0 < feedback < answers


def test_bulk_writes_straight_to_the_log_without_shadow(cli, registry_home) -> None:
    clear_memory_caches()
    ran = cli("simulate", "--bulk", "--rows", "300", "--days", "2", "--label-share", "0.2")
    clear_memory_caches()

    assert ran.code == 0, ran.err
    assert "done via bulk: 300 answered by v1, 0 rejected, 0 shadow" in ran.out
    assert "relations between inputs are lost" not in ran.out  # whole reference rows
    answers, shadows, feedback = counts(registry_home)
    assert (answers, shadows) == (300, 0) and f"{feedback:,} with feedback" in ran.out


def test_bad_options_are_refused_before_any_traffic(cli, registry_home) -> None:
    bad_shift = cli("simulate", "--rows", "10", "--shift", "carat")
    no_rows = cli("simulate", "--rows", "0")
    unknown_feature = cli("simulate", "--rows", "10", "--shift", "weight=2")

    assert bad_shift.code == 1 and "FEATURE=FACTOR" in bad_shift.err
    assert no_rows.code == 1 and "--rows and --days must be positive" in no_rows.err
    assert unknown_feature.code == 1 and "'weight' is not an input of this model" in unknown_feature.err
    assert counts(registry_home) == (0, 0, 0)


def test_a_reference_without_a_row_sample_still_simulates_and_says_what_is_lost(cli, registry_home) -> None:
    # A reference attached before references kept a sample of their rows: only per-feature summaries.
    info = mlflow_io.get_version(registry_home, version=1)
    profile = mlflow_io.load_version_profile(registry_home, run_id=info.run_id, reference_run=None)
    assert profile is not None and profile.sample is not None
    mlflow_io.attach_reference_profile(registry_home, version=1, profile=replace(profile, sample=None), note="old")
    clear_memory_caches()
    ran = cli("simulate", "--bulk", "--rows", "200", "--days", "1")
    clear_memory_caches()

    assert ran.code == 0, ran.err
    assert "each input was drawn on its own and relations between inputs are lost" in ran.out
    assert "Attach the reference again (python -m core reference)" in ran.out
    assert counts(registry_home)[0] == 200
