"""Behaviour of the demo model itself, apart from the code that trains it.

These need the real demo models (minutes of training, once per session), so they are all ``slow``.
"""

from pathlib import Path

import mlflow
import numpy as np
import pandas as pd
import pytest

from core import mlflow_io
from core.dataset import load_diamonds, split_diamonds
from core.serving.compiled_pipeline import compile_pipeline
from core.training.train import evaluate
from tests.conftest import use_home

pytestmark = pytest.mark.slow
BASE = {"carat": 1.0, "cut": "Ideal", "color": "G", "clarity": "VS1", "depth": 61.8, "table": 57.0}


def case(**changes) -> dict:
    row = {**BASE, **changes}
    size = 6.4 * row["carat"] ** (1 / 3)
    return {**row, "x": size, "y": size, "z": size * 0.62}


@pytest.fixture
def champion(demo_models_home: Path, monkeypatch: pytest.MonkeyPatch):
    settings = use_home(monkeypatch, demo_models_home)
    mlflow_io.configure(settings)
    return mlflow.sklearn.load_model(f"models:/{settings.model_name}@champion")


def test_default_model_meets_the_quality_bar(champion) -> None:
    split = split_diamonds(load_diamonds())
    features = split.X_test.astype({column: str for column in ("cut", "color", "clarity")})

    metrics = evaluate(split.y_test, champion.predict(features))

    assert metrics["rmse"] <= 540
    assert metrics["r2"] >= 0.98


def test_bigger_stones_cost_more(champion) -> None:
    prices = champion.predict(pd.DataFrame([case(carat=carat) for carat in (0.5, 1.0, 1.5, 2.0)]))

    assert list(prices) == sorted(prices)


def test_better_clarity_costs_more_on_average(champion) -> None:
    worst = champion.predict(pd.DataFrame([case(clarity="I1")]))[0]
    best = champion.predict(pd.DataFrame([case(clarity="IF")]))[0]

    assert best > worst * 1.3


def test_the_compiled_champion_answers_every_holdout_diamond_like_the_pipeline(champion) -> None:
    split = split_diamonds(load_diamonds())
    features = split.X_test.astype({column: str for column in ("cut", "color", "clarity")})

    compiled = compile_pipeline(champion)
    answers = [compiled.predict(record) for record in features.to_dict("records")]

    assert len(answers) == 10_788
    np.testing.assert_allclose(answers, champion.predict(features), rtol=1e-9, atol=0)
