"""``python -m core simulate`` on the demo classifier: its traffic, shadows and true labels in the log."""

from sqlalchemy import func, select

from core.serving.model_cache import clear_memory_caches
from storage.db import make_engine, make_sessionmaker
from storage.prediction_log import Feedback, Prediction


def counts(settings, model_name: str) -> tuple[int, int, int, int]:
    """Answers with a label, shadow answers with a label, true labels and true values of one model."""
    engine = make_engine(settings.database_url)
    try:
        with make_sessionmaker(engine)() as session:
            rows = select(func.count()).select_from(Prediction).where(Prediction.model_name == model_name)
            labelled = rows.where(Prediction.label.is_not(None), Prediction.probabilities.is_not(None))
            answers = session.scalar(labelled.where(Prediction.is_shadow.is_(False)))
            shadows = session.scalar(labelled.where(Prediction.is_shadow.is_(True)))
            truths = select(func.count()).select_from(Feedback).join(Prediction)
            truths = truths.where(Prediction.model_name == model_name)
            true_labels = session.scalar(truths.where(Feedback.actual_label.is_not(None)))
            true_values = session.scalar(truths.where(Feedback.actual.is_not(None)))
    finally:
        engine.dispose()
    return answers, shadows, true_labels, true_values


def test_simulate_the_classifier_named_with_model(cli, classifier_home, tmp_path, monkeypatch) -> None:
    from tests.conftest import private_copy

    settings = private_copy(classifier_home, tmp_path, monkeypatch)  # LOUPE_MODEL_NAME: the regressor
    clear_memory_caches()
    ran = cli(
        "simulate", "--model", "tumour-triage", "--rows", "40", "--days", "1", "--label-share", "0.5",
        "--shift", "mean_texture=1.3", "--seed", "4",
    )  # fmt: skip
    clear_memory_caches()

    assert ran.code == 0, ran.err
    answers, shadows, true_labels, true_values = counts(settings, "tumour-triage")
    assert f"done via serving: {answers:,} answered by v1" in ran.out
    assert f"{shadows:,} shadow, {true_labels:,} with feedback" in ran.out
    assert f"sent {true_labels:,} true labels back as feedback" in ran.out
    assert 30 <= answers <= 40 and shadows == answers and 0 < true_labels < answers and true_values == 0
    assert counts(settings, "diamond-price") == (0, 0, 0, 0)


def test_bulk_simulation_of_the_classifier(cli, classifier_registry) -> None:
    clear_memory_caches()
    ran = cli("simulate", "--bulk", "--rows", "500", "--days", "2", "--label-share", "0.4")
    clear_memory_caches()

    assert ran.code == 0, ran.err
    answers, shadows, true_labels, true_values = counts(classifier_registry, "tumour-triage")
    assert "done via bulk: 500 answered by v1, 0 rejected, 0 shadow" in ran.out
    assert (answers, shadows, true_values) == (500, 0, 0) and f"{true_labels:,} with feedback" in ran.out
    assert 100 < true_labels < 300
