"""A team's classifier runs (plain MLflow, mlflow.evaluate's metric names) are ranked the right way round."""

import pytest

from core.experiments.charts import (
    BEST_COLOR,
    OTHER_COLOR,
    metric_bar_figures,
    parallel_coordinates_figure,
    param_metric_scatter,
)
from core.experiments.comparison import leaderboard, most_logged_metric
from core.experiments.runs import load_runs, narrow
from tests.experiment_runs import log_classifier_run
from tests.team_store import team_home


@pytest.fixture
def classifier_runs(tmp_path, monkeypatch):
    settings = team_home(tmp_path, monkeypatch, model="tumour-triage")
    logged = [
        log_classifier_run(experiment_id="0", c=1.0),
        log_classifier_run(experiment_id="0", c=0.01),
        log_classifier_run(experiment_id="0", shuffled=True),
    ]
    return load_runs(settings, experiment_id="0"), logged


def test_classifier_metrics_come_first_and_the_default_is_a_holdout_figure(classifier_runs) -> None:
    runs, _ = classifier_runs

    assert runs.metrics[:6] == ("roc_auc", "f1_score", "accuracy_score", "log_loss", "precision_score", "recall_score")
    assert runs.metrics[-1] == "training_accuracy_score"
    assert most_logged_metric(runs) == "roc_auc"  # every run logged training_accuracy_score too: not a holdout figure


def test_the_leaderboard_ranks_scores_high_first_and_losses_low_first(classifier_runs) -> None:
    runs, logged = classifier_runs

    by_auc = leaderboard(runs, metric="roc_auc")
    by_loss = leaderboard(runs, metric="log_loss")

    best_auc = sorted(logged, key=lambda run: -run.metrics["roc_auc"])
    best_loss = sorted(logged, key=lambda run: run.metrics["log_loss"])
    assert list(by_auc["run_id"]) == [run.run_id for run in best_auc]
    assert list(by_loss["run_id"]) == [run.run_id for run in best_loss]
    assert by_auc.iloc[-1]["run_id"] == logged[2].run_id  # the model that learned nothing is last either way
    assert by_loss.iloc[-1]["run_id"] == logged[2].run_id


def test_thresholds_and_charts_follow_each_metrics_direction(classifier_runs) -> None:
    runs, logged = classifier_runs
    ids = [run.run_id for run in logged]

    kept = narrow(runs, metric="accuracy_score", threshold=0.8)
    figures = metric_bar_figures(runs, run_ids=ids, metrics=["accuracy_score", "log_loss"])

    assert set(kept.frame.index) == {run.run_id for run in logged if run.metrics["accuracy_score"] >= 0.8}
    assert figures["accuracy_score"].layout.title.text == "accuracy_score (higher is better)"
    assert figures["log_loss"].layout.title.text == "log_loss (lower is better)"
    best_loss = min(range(3), key=lambda index: logged[index].metrics["log_loss"])
    colours = figures["log_loss"].data[0].marker.color
    assert colours[best_loss] != colours[(best_loss + 1) % 3] == colours[(best_loss + 2) % 3]
    scatter = param_metric_scatter(runs, runs.frame, param="C", metric="roc_auc")
    assert scatter.layout.yaxis.title.text == "roc_auc (higher is better)"
    parcoords = parallel_coordinates_figure(runs.frame, params=["C"], metric="log_loss")
    assert "lower is better" in parcoords.layout.title.text and parcoords.data[0].line.reversescale


def test_a_metric_none_of_the_compared_runs_logged_gets_no_bar_chart() -> None:
    import pandas as pd

    from core.experiments.runs import RunSet

    frame = pd.DataFrame(
        {
            "run_id": ["clf-a", "clf-b", "reg"],
            "run_name": ["a", "b", "regressor"],
            "estimator": ["unknown"] * 3,
            "registered": [""] * 3,
            "metrics.rmse": [None, None, 3.0],  # a mixed experiment: only the regressor logged rmse
            "metrics.log_loss": [0.2, 0.4, None],
        }
    ).set_index("run_id", drop=False)
    runs = RunSet("1", frame, (), ("rmse", "log_loss"), ("unknown",), False, "")

    figures = metric_bar_figures(runs, run_ids=["clf-a", "clf-b"])

    assert list(figures) == ["log_loss"]
    assert list(figures["log_loss"].data[0].marker.color) == [BEST_COLOR, OTHER_COLOR]  # the lower log loss
    assert figures["log_loss"].data[0].y == (0.2, 0.4)
