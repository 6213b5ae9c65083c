import pytest

from core.registry.metric_names import direction, lower_is_better, measure_of, task_of_metrics


@pytest.mark.parametrize(
    ("name", "lower"),
    [
        ("rmse", True),
        ("val_mean_absolute_error", True),
        ("r2_score", False),
        ("accuracy", False),
        ("accuracy_score", False),
        ("test_f1_score", False),
        ("roc_auc", False),
        ("precision_recall_auc", False),
        ("log_loss", True),
        ("eval_logloss", True),
        ("training_accuracy_score", False),  # not a holdout figure, but it still points up
        ("training_log_loss", True),
        ("accuracy_score_X_test", False),  # autolog's post-training name
        ("mean_squared_error_X_test", True),
        ("balanced_accuracy", False),
        ("brier_score_loss", True),
        ("neg_log_loss", False),  # scikit-learn's scorer: the negated loss, higher is better
        ("cohen_kappa", False),
        ("explained_variance", False),
        ("pinball_loss", True),
        ("latency_ms", True),  # unknown words read as a cost
    ],
)
def test_which_way_a_metric_points(name: str, lower: bool) -> None:
    assert lower_is_better(name) is lower
    assert direction(name) == ("lower is better" if lower else "higher is better")


def test_known_names_and_what_they_say_about_the_task() -> None:
    assert measure_of("VAL_ACC") == "accuracy" and measure_of("training_accuracy") is None
    assert task_of_metrics(["accuracy_score", "example_count"]) == "classification"
    assert task_of_metrics(["root_mean_squared_error", "training_score"]) == "regression"
    assert task_of_metrics(["mse", "accuracy"]) is None  # both kinds: the names cannot tell
    assert task_of_metrics(["pinball_loss"]) is None
