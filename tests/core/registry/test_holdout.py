import pytest

from core.registry.holdout import holdout_metrics, primary_holdout, same_measure


def test_usual_names_are_read_and_training_scores_are_not() -> None:
    logged = {
        "training_root_mean_squared_error": 1.0,  # autolog's fit on the training data: not a holdout figure
        "root_mean_squared_error": 55.0,
        "r2_score": 0.41,
        "val_mae": 44.0,
    }

    found = holdout_metrics(logged)

    assert list(found) == ["rmse", "mae", "r2"]
    assert found["rmse"].value == 55.0 and found["rmse"].label == "RMSE (root_mean_squared_error)"
    assert found["mae"].logged_as == "val_mae"
    assert found["r2"].label == "R² (r2_score)" and not found["r2"].lower_is_better
    assert primary_holdout(logged).measures == "rmse"


def test_a_plain_name_wins_over_a_prefixed_one() -> None:
    found = holdout_metrics({"test_rmse": 3.0, "rmse": 2.0})

    assert found["rmse"].logged_as == "rmse" and found["rmse"].label == "RMSE"


def test_the_chosen_metric_decides_and_unknown_names_keep_their_own() -> None:
    logged = {"rmse": 2.0, "pinball_loss": 0.7}

    chosen = primary_holdout(logged, chosen="pinball_loss")

    assert (chosen.measures, chosen.value, chosen.lower_is_better) == ("pinball_loss", 0.7, True)
    assert primary_holdout(logged, chosen="absent") is None
    assert primary_holdout({"training_mae": 1.0}) is None


def test_the_holder_is_compared_on_the_same_measure() -> None:
    candidate = primary_holdout({"root_mean_squared_error": 50.0})

    assert same_measure({"test_rmse": 52.0}, candidate).value == pytest.approx(52.0)
    assert same_measure({"root_mean_squared_error": 51.0, "rmse": 9.0}, candidate).value == 51.0
    assert same_measure({"mae": 1.0}, candidate) is None


def test_a_classifiers_figures_under_evaluate_and_scikit_learn_names() -> None:
    # What mlflow.evaluate logs for a binary classifier, plus autolog's fitted-data scores.
    logged = {
        "accuracy_score": 0.95,
        "f1_score": 0.93,
        "precision_score": 0.94,
        "recall_score": 0.92,
        "roc_auc": 0.99,
        "precision_recall_auc": 0.98,
        "log_loss": 0.12,
        "example_count": 171.0,
        "true_positives": 59.0,
        "training_accuracy_score": 1.0,
        "training_roc_auc": 1.0,
    }

    found = holdout_metrics(logged)

    assert list(found) == ["roc_auc", "f1", "accuracy", "log_loss", "precision", "recall", "pr_auc"]
    assert found["accuracy"].value == 0.95 and found["accuracy"].label == "accuracy (accuracy_score)"
    assert found["roc_auc"].label == "ROC AUC" and not found["roc_auc"].lower_is_better
    assert found["log_loss"].lower_is_better and found["log_loss"].label == "log loss"
    assert not any(found[name].lower_is_better for name in ("f1", "accuracy", "precision", "recall", "pr_auc"))
    assert primary_holdout(logged).logged_as == "roc_auc"


def test_a_classifiers_preference_is_auc_then_f1_then_accuracy_then_log_loss() -> None:
    assert primary_holdout({"val_accuracy": 0.9, "val_f1": 0.8, "val_log_loss": 0.3}).logged_as == "val_f1"
    assert primary_holdout({"test_accuracy": 0.9, "test_log_loss": 0.3}).logged_as == "test_accuracy"
    assert primary_holdout({"eval_logloss": 0.3, "holdout_recall_score": 0.7}).logged_as == "eval_logloss"
    assert primary_holdout({"roc_auc_score": 0.7, "accuracy": 0.9}).measures == "roc_auc"


def test_a_regression_figure_wins_unless_the_task_says_classifier() -> None:
    logged = {"mse": 0.08, "accuracy": 0.9}  # a classifier that also logged a Brier-style squared error

    assert primary_holdout(logged).measures == "mse"
    assert primary_holdout(logged, task="classification").measures == "accuracy"
    assert primary_holdout({"rmse": 3.0}, task="classification").measures == "rmse"  # its only figure
    assert primary_holdout(logged, chosen="mse", task="classification").measures == "mse"  # the setting wins


def test_a_chosen_classification_metric_points_the_way_its_name_says() -> None:
    logged = {"roc_auc": 0.9, "balanced_accuracy": 0.8, "brier_score_loss": 0.1, "test_accuracy_score": 0.85}

    assert not primary_holdout(logged, chosen="balanced_accuracy").lower_is_better
    assert primary_holdout(logged, chosen="brier_score_loss").lower_is_better
    chosen = primary_holdout(logged, chosen="test_accuracy_score")
    assert (chosen.measures, chosen.lower_is_better) == ("accuracy", False)
