"""Every signature type reaches the model as the dtype it expects: datetime64, bool, int, float, string."""

from __future__ import annotations

import mlflow
import numpy as np
import pandas as pd
import pytest
from mlflow.models import infer_signature

from core.serving.model_cache import serve
from core.serving.scoring import predict_one, score_frame
from tests.team_store import champion, prediction_log, team_home

MODEL = "typed-model"


class TypedModel(mlflow.pyfunc.PythonModel):
    """Fails unless each column arrives with its signature's dtype (as a team's model would)."""

    def predict(self, context, model_input, params=None):
        hours = model_input["ordered at"].dt.hour  # AttributeError if the datetimes arrived as text
        if model_input["express"].dtype != bool or model_input["items"].dtype.kind != "i":
            raise TypeError(f"wrong dtypes: {dict(model_input.dtypes)}")
        express = model_input["express"]
        return (
            model_input["weight"] * 2.0
            + model_input["items"] * 1.0
            + hours
            + np.where(express, 100.0, 0.0)
            + np.where(model_input["city"] == "Zürich", 1000.0, 0.0)
        )


def frame() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "ordered at": pd.to_datetime(["2026-11-30 08:00", "2026-11-30 17:30", "2026-12-01 23:59"]),
            "express": [True, False, True],
            "items": np.array([1, 2, 3], dtype="int64"),
            "weight": [0.5, 1.5, 2.5],
            "city": ["Zürich", "Basel", "Bern"],
        }
    )


@pytest.fixture
def typed(tmp_path, monkeypatch):
    settings = team_home(tmp_path, monkeypatch, model=MODEL)
    model = TypedModel()
    with mlflow.start_run():
        info = mlflow.pyfunc.log_model(
            name="model",
            python_model=model,
            signature=infer_signature(frame(), model.predict(None, frame())),
            pip_requirements=["mlflow"],
        )
    mlflow.register_model(info.model_uri, MODEL)
    champion(MODEL, 1)
    with prediction_log(settings) as sessions:
        yield settings, sessions, model


def as_text(data: pd.DataFrame) -> pd.DataFrame:
    """What a CSV upload or a form sends: every value as text."""
    return data.astype(str)


def test_schema_types_come_from_the_signature(typed) -> None:
    settings, _, _ = typed

    served, _ = serve(settings)

    assert {spec.name: spec.dtype for spec in served.schema.fields} == {
        "ordered at": "datetime",
        "express": "boolean",
        "items": "integer",
        "weight": "float",
        "city": "string",
    }
    assert served.schema.get("express").levels == ("False", "True")


def test_text_inputs_are_typed_before_the_model_sees_them(typed) -> None:
    settings, sessions, model = typed

    batch = score_frame(settings, as_text(frame()), sessions=sessions, source="cli")
    one = predict_one(settings, as_text(frame()).iloc[1].to_dict(), sessions=sessions)

    expected = model.predict(None, frame()).to_numpy()
    np.testing.assert_allclose(batch.accepted["prediction"].to_numpy(), expected)
    assert one.prediction == pytest.approx(expected[1])


def test_a_bad_date_is_refused_naming_the_field_and_the_rule(typed) -> None:
    settings, sessions, _ = typed
    rows = as_text(frame())
    rows.loc[1, "ordered at"] = "yesterday"

    batch = score_frame(settings, rows, sessions=sessions, source="cli")
    one = predict_one(settings, rows.iloc[1].to_dict(), sessions=sessions)

    assert len(batch.accepted) == 2
    assert batch.rejected[["row", "field", "rule"]].values.tolist() == [[2, "ordered at", "datetime"]]
    assert "'yesterday' is not a date and time (rule: datetime" in batch.rejected["message"].iloc[0]
    assert [(problem.field, problem.rule) for problem in one.errors] == [("ordered at", "datetime")]


def test_booleans_come_as_files_write_them_and_anything_else_is_refused(typed) -> None:
    settings, sessions, model = typed
    rows = as_text(frame())
    rows["express"] = ["true", "0", "maybe"]

    batch = score_frame(settings, rows, sessions=sessions, source="cli")
    one = predict_one(settings, {**rows.iloc[0].to_dict(), "express": "Yes"}, sessions=sessions)

    expected = model.predict(None, frame().assign(express=[True, False, True])).to_numpy()
    np.testing.assert_allclose(batch.accepted["prediction"].to_numpy(), expected[:2])
    assert batch.rejected[["row", "field", "rule"]].values.tolist() == [[3, "express", "boolean"]]
    assert "'maybe' is not true or false (rule: boolean" in batch.rejected["message"].iloc[0]
    assert one.prediction == pytest.approx(expected[0])
