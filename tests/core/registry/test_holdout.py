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
