"""``python -m core reference`` for classifiers: the target's class counts and the model's scores on the reference.

The demo classifier and classifiers a team registered with plain MLflow code are treated alike; a
regressor's target and predictions are recorded as numbers.
"""

import re

import numpy as np
import pytest

from core import mlflow_io
from core.dataset import load_diamonds
from core.monitoring.simulator import simulate_bulk
from core.profile import CategoricalProfile, NumericProfile
from core.serving.model_cache import clear_memory_caches
from core.training.classifier import load_tumours
from storage.db import migrated_sessions
from tests.team_classifiers import register_multiclass_int_labels, register_probability_frame_pyfunc
from tests.team_store import team_home


def attached_profile(settings, out: str):
    (run_id,) = re.findall(r"stored in run (\w+);", out)
    return mlflow_io.load_profile(settings, run_id=run_id)


def test_a_classifiers_reference_records_class_counts_and_scores(cli, classifier_registry, tmp_path) -> None:
    features, diagnosis = load_tumours()
    source = tmp_path / "validation.csv"
    features.assign(diagnosis=diagnosis).sample(300, random_state=2).to_csv(source, index=False)
    wanted = diagnosis.sample(300, random_state=2).value_counts().sort_index()

    ran = cli("reference", "--version", "1", "--input", str(source), "--target", "diagnosis")

    assert ran.code == 0, ran.err
    assert "the model's scores on 300 reference rows recorded" in ran.out
    assert "target 'diagnosis' recorded as 2 classes (benign, malignant)" in ran.out
    assert "does not answer with" not in ran.out
    profile = attached_profile(classifier_registry, ran.out)
    assert profile.row_count == 300 and "diagnosis" not in profile.features
    assert isinstance(profile.target_profile, CategoricalProfile)
    assert dict(zip(profile.target_profile.levels, profile.target_profile.counts, strict=True)) == wanted.to_dict()
    scores = profile.prediction_profile
    assert isinstance(scores, NumericProfile) and scores.name == "score" and 0 <= scores.min < scores.max <= 1
    # the score is P(malignant): on average about the share of malignant tumours in the file
    assert scores.mean == pytest.approx(wanted["malignant"] / 300, abs=0.05)


def test_a_target_in_other_classes_than_the_models_is_recorded_and_said(cli, classifier_registry, tmp_path) -> None:
    features, diagnosis = load_tumours()
    source = tmp_path / "coded.csv"
    features.assign(diagnosis=(diagnosis == "benign").astype(int)).to_csv(source, index=False)

    ran = cli("reference", "--version", "2", "--input", str(source), "--target", "diagnosis")

    assert ran.code == 0, ran.err
    assert "target 'diagnosis' recorded as 2 classes (0, 1)" in ran.out
    assert "classes the model does not answer with: 0, 1" in ran.out
    assert attached_profile(classifier_registry, ran.out).classes == ("0", "1")


def test_a_teams_integer_classifier_gets_its_classes_as_the_log_writes_them(cli, tmp_path, monkeypatch) -> None:
    settings = team_home(tmp_path, monkeypatch, model="iris-species")
    team = register_multiclass_int_labels()
    source = tmp_path / "iris.csv"
    # A CSV column with a gap is read as floats: 1.0 is class "1"
    labels = team.labels.astype(float).where(team.labels.index % 50 != 7)
    team.features.assign(species=labels).to_csv(source, index=False)

    ran = cli("reference", "--version", str(team.version), "--input", str(source), "--target", "species")

    assert ran.code == 0, ran.err
    profile = attached_profile(settings, ran.out)
    assert profile.classes == ("0", "1", "2") and sum(profile.target_profile.counts) == 147
    assert "does not answer with" not in ran.out
    # multiclass: the score is the predicted class's probability
    assert profile.prediction_profile is not None and 1 / 3 <= profile.prediction_profile.min
    assert profile.prediction_profile.max <= 1


def test_a_pyfunc_classifier_without_a_known_task_still_gets_its_scores(cli, tmp_path, monkeypatch) -> None:
    settings = team_home(tmp_path, monkeypatch, model="tumour-pyfunc")
    team = register_probability_frame_pyfunc()
    source = tmp_path / "tumours.csv"
    team.features.assign(diagnosis=team.labels).to_csv(source, index=False)

    ran = cli("reference", "--version", str(team.version), "--input", str(source), "--target", "diagnosis")

    assert ran.code == 0, ran.err
    profile = attached_profile(settings, ran.out)
    assert set(profile.classes) == {"benign", "malignant"}
    assert profile.prediction_profile is not None and profile.prediction_profile.max <= 1


def test_a_regressors_reference_records_its_target_and_predictions_as_numbers(cli, registry_home, tmp_path) -> None:
    source = tmp_path / "validation.csv"
    sample = load_diamonds().sample(400, random_state=3)
    sample.to_csv(source, index=False)

    ran = cli("reference", "--version", "1", "--input", str(source), "--target", "price")

    assert ran.code == 0, ran.err
    assert "the model's predictions on 400 reference rows recorded" in ran.out
    profile = attached_profile(registry_home, ran.out)
    assert isinstance(profile.target_profile, NumericProfile)
    assert profile.target_profile.mean == pytest.approx(sample["price"].mean())
    predictions = profile.prediction_profile
    assert isinstance(predictions, NumericProfile)
    assert predictions.mean == pytest.approx(sample["price"].mean(), rel=0.1)  # a real price model


def test_a_missing_target_column_is_refused(cli, classifier_registry, tmp_path) -> None:
    features, _ = load_tumours()
    source = tmp_path / "no-target.csv"
    features.to_csv(source, index=False)

    ran = cli("reference", "--version", "1", "--input", str(source), "--target", "diagnosis")

    assert ran.code == 1 and ran.err == "error: the reference data has no target column 'diagnosis'\n"


def test_a_classifiers_traffic_reference_takes_its_logged_scores_and_true_labels(cli, classifier_registry) -> None:
    clear_memory_caches()
    with migrated_sessions(classifier_registry.database_url) as sessions:
        simulate_bulk(classifier_registry, sessions=sessions, rows=400, days=1, label_share=0.5, seed=1)

    ran = cli("reference", "--version", "1", "--from-traffic", "2")
    clear_memory_caches()

    assert ran.code == 0, ran.err
    assert "the scores it logged recorded" in ran.out
    assert "target 'actual' recorded as 2 classes (benign, malignant)" in ran.out
    profile = attached_profile(classifier_registry, ran.out)
    assert profile.row_count == 400 and 150 < sum(profile.target_profile.counts) < 250
    assert 0 <= profile.prediction_profile.min < profile.prediction_profile.max <= 1
    assert np.isclose(sum(profile.prediction_profile.bin_counts), 400)
