"""``python -m core ingest``: predictions a team made with its own serving, stored once and monitored like the form's.

The models are registered with plain MLflow code (no Loupe training, never served by Loupe): a regressor
with a reference attached through ``reference``, and a binary classifier with text labels.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import mlflow
import numpy as np
import pandas as pd
import pytest
from mlflow.models import infer_signature
from sklearn.datasets import load_diabetes
from sklearn.linear_model import Ridge
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sqlalchemy import select

from core.monitoring.snapshot import snapshot
from core.monitoring.windows import Window
from core.serving.model_cache import clear_memory_caches
from storage.prediction_log import Feedback, Prediction, features_of
from tests.team_classifiers import register_binary_text_labels
from tests.team_store import prediction_log, team_home

pytestmark = pytest.mark.slow  # team models registered with MLflow and files ingested end to end

MODEL = "team-progression"


@pytest.fixture
def regressor(tmp_path, monkeypatch):
    """Version 1 of a diabetes ridge, registered the plain MLflow way (no alias, no reference, never served)."""
    settings = team_home(tmp_path, monkeypatch, model=MODEL)
    data = load_diabetes(as_frame=True, scaled=False)
    pipeline = make_pipeline(StandardScaler(), Ridge(alpha=1.0)).fit(data.data, data.target)
    with mlflow.start_run():
        info = mlflow.sklearn.log_model(
            pipeline,
            name="model",
            signature=infer_signature(data.data, pd.Series(pipeline.predict(data.data), name="progression")),
            pip_requirements=["scikit-learn"],
        )
    mlflow.register_model(info.model_uri, MODEL)
    yield settings, pipeline, data.data, data.target
    clear_memory_caches()


def predictions_file(
    features: pd.DataFrame, answers: np.ndarray, truth: pd.Series | None, *, hours: int = 2
) -> pd.DataFrame:
    """The canonical columns: ids as the team names them, naive ISO timestamps (UTC) over the last hours."""
    now = datetime.now(UTC).replace(tzinfo=None)
    frame = pd.DataFrame(
        {
            "id": [f"req-{number:05d}" for number in range(len(features))],
            "timestamp": [
                (now - timedelta(minutes=int(m))).isoformat() for m in np.linspace(1, hours * 60 - 1, len(features))
            ],
            "model_version": 1,
        }
    )
    frame = pd.concat([frame, features.reset_index(drop=True)], axis=1)
    frame["prediction"] = answers
    if truth is not None:
        frame["actual"] = truth.to_numpy()
    return frame


def test_a_csv_ingested_twice_is_stored_once_and_monitoring_sees_volume_drift_and_error(
    cli, regressor, tmp_path
) -> None:
    settings, pipeline, features, target = regressor
    training = tmp_path / "train.csv"
    features.assign(progression=target).to_csv(training, index=False)
    assert cli("reference", "--version", "1", "--input", str(training), "--target", "progression").code == 0
    rows = features.head(300)
    shifted = rows.assign(bmi=rows["bmi"] * 1.6)  # the team's traffic has drifted on bmi
    source = tmp_path / "predictions.csv"
    predictions_file(shifted, pipeline.predict(shifted), target.head(300)).to_csv(source, index=False)

    first = cli("ingest", "--input", str(source))
    again = cli("ingest", "--input", str(source))

    assert first.code == 0, first.err
    assert "300 row(s) read — 300 stored, 0 already stored, 0 rejected; 300 true value(s) attached" in first.out
    assert again.code == 0, again.err
    assert "300 row(s) read — 0 stored, 300 already stored, 0 rejected" in again.out
    with prediction_log(settings) as sessions:
        with sessions() as session:
            logged = session.scalars(select(Prediction).order_by(Prediction.id)).all()
            assert len(logged) == 300
            assert {row.source for row in logged} == {"ingest"} and {row.latency_ms for row in logged} == {0.0}
            assert logged[0].client_id == "req-00000" and logged[0].alias is None
            assert features_of(session, prediction_id=logged[0].id)["bmi"] == pytest.approx(shifted["bmi"].iloc[0])
            truths = dict(session.execute(select(Feedback.prediction_id, Feedback.actual)).all())
        view = snapshot(settings, sessions=sessions, window=Window.last(timedelta(hours=6)), version=1)

    answers = np.array([row.prediction for row in logged])
    expected_mae = float(np.mean(np.abs([truths[row.id] - row.prediction for row in logged])))
    np.testing.assert_allclose(answers, pipeline.predict(shifted), rtol=1e-9)
    assert view.current.predictions == 300
    assert view.current.feedback == 300
    assert view.current.mae == pytest.approx(expected_mae, rel=1e-6)
    assert view.current.drift is not None
    assert "bmi" in {item.feature for item in view.current.drift.features if item.drifted}


def test_parquet_and_json_lines_with_refusals_capped_and_reasons_named(cli, regressor, tmp_path) -> None:
    settings, pipeline, features, target = regressor
    frame = predictions_file(features, pipeline.predict(features), target)  # 442 rows
    frame["bmi"] = frame["bmi"].astype(object)
    frame.loc[:129, "bmi"] = "heavy"  # 130 rows refused on an input's type
    frame.loc[200, "prediction"] = np.inf
    frame.loc[201, "model_version"] = 9  # not in the registry
    frame.loc[202, "timestamp"] = "yesterday"
    parquet, lines = tmp_path / "a.parquet", tmp_path / "b.jsonl"
    frame.iloc[:300].assign(bmi=frame["bmi"].astype(str)).to_parquet(parquet, index=False)
    frame.iloc[300:].assign(id=frame["id"].iloc[300:] + "-j").to_json(lines, orient="records", lines=True)

    from_parquet = cli("ingest", "--input", str(parquet))
    from_lines = cli("ingest", "--input", str(lines), "--model", MODEL)

    assert from_parquet.code == 0, from_parquet.err
    assert "300 row(s) read — 167 stored, 0 already stored, 133 rejected" in from_parquet.out
    listed = [line for line in from_parquet.out.splitlines() if line.startswith("row ")]
    assert len(listed) == 100
    assert listed[0] == "row 1 (id 'req-00000'): bmi: 'heavy' is not a number (rule: type)"
    assert "… and 33 more reason(s) not listed" in from_parquet.out
    assert "row 201 (id 'req-00200')" not in from_parquet.out
    assert from_lines.code == 0, from_lines.err
    assert "142 row(s) read — 142 stored" in from_lines.out
    with prediction_log(settings) as sessions, sessions() as session:
        assert len(session.scalars(select(Prediction.id)).all()) == 309


def test_every_refusal_names_row_field_and_rule(cli, regressor, tmp_path) -> None:
    _, pipeline, features, target = regressor
    frame = predictions_file(features.head(6), pipeline.predict(features.head(6)), target.head(6)).astype(object)
    frame.loc[0, "id"] = ""
    frame.loc[1, "prediction"] = np.inf
    frame.loc[2, "model_version"] = 9
    frame.loc[3, "timestamp"] = "yesterday"
    frame.loc[4, "actual"] = "n/a"
    source = tmp_path / "p.csv"
    frame.to_csv(source, index=False)

    ran = cli("ingest", "--input", str(source))

    assert ran.code == 0, ran.err
    assert "6 row(s) read — 1 stored, 0 already stored, 5 rejected" in ran.out
    for expected in (
        "row 1 (id ''): id: value is missing (rule: required)",
        "row 2 (id 'req-00001'): prediction: 'inf' is not a finite number (rule: finite)",
        f"row 3 (id 'req-00002'): model_version: version 9 of {MODEL} is not in the registry (rule: version)",
        "row 4 (id 'req-00003'): timestamp: 'yesterday' is not an ISO 8601 date and time (rule: datetime)",
        "row 5 (id 'req-00004'): actual: 'n/a' is not a number (rule: type)",
    ):
        assert expected in ran.out


@pytest.mark.parametrize(
    ("content", "name", "said"),
    [
        ("id,timestamp,prediction\n1,2026-11-30,3\n", "p.csv", "missing column(s): model_version"),
        ("", "p.csv", "p.csv is empty"),
        ("id,timestamp\n", "p.txt", "cannot tell the format from the extension '.txt'"),
        ("not parquet", "p.parquet", "p.parquet could not be read as parquet"),
    ],
)
def test_a_file_that_cannot_be_read_exits_non_zero_saying_why(cli, tmp_path, content, name, said) -> None:
    source = tmp_path / name
    source.write_text(content)

    ran = cli("ingest", "--input", str(source))

    assert ran.code == 1
    assert said in ran.err and "Traceback" not in ran.err


def test_a_classifier_registered_with_plain_mlflow_is_ingested_with_labels_probabilities_and_truth(
    cli, tmp_path, monkeypatch
) -> None:
    settings = team_home(tmp_path, monkeypatch, model="tumour-team")
    team = register_binary_text_labels("tumour-team")
    rows = team.features.head(200)
    probabilities = team.estimator.predict_proba(rows)  # classes_: benign, malignant
    frame = predictions_file(rows, team.estimator.predict(rows), team.labels.head(200)).astype(object)
    frame["proba_benign"], frame["proba_malignant"] = probabilities[:, 0], probabilities[:, 1]
    frame.loc[0, "proba_benign"] = 0.9  # with malignant's, no longer sums to 1
    frame.loc[1, "prediction"] = "unsure"
    frame.loc[2, "actual"] = "maybe"
    source = tmp_path / "tumours.csv"
    frame.to_csv(source, index=False)

    ran = cli("ingest", "--input", str(source))

    assert ran.code == 0, ran.err
    assert "200 row(s) read — 197 stored, 0 already stored, 3 rejected; 197 true value(s) attached" in ran.out
    assert "row 1 (id 'req-00000'): probabilities sum to" in ran.out
    assert "row 2 (id 'req-00001'): prediction: 'unsure' is not one of the classes ('benign', 'malignant')" in ran.out
    assert "row 3 (id 'req-00002'): actual: 'maybe' is not one of the classes" in ran.out
    with prediction_log(settings) as sessions:
        with sessions() as session:
            first = session.scalars(select(Prediction).where(Prediction.client_id == "req-00003")).one()
            labelled = dict(session.execute(select(Feedback.prediction_id, Feedback.actual_label)).all())
        view = snapshot(settings, sessions=sessions, window=Window.last(timedelta(hours=6)), version=1)
    assert first.label == team.estimator.predict(rows.iloc[[3]])[0]
    assert first.prediction == pytest.approx(probabilities[3, 1], abs=1e-6)  # the positive (second) class's
    assert json.loads(first.probabilities) == pytest.approx(
        {"benign": probabilities[3, 0], "malignant": probabilities[3, 1]}, abs=1e-6
    )
    assert len(labelled) == 197
    assert view.current.predictions == 197
    assert view.classification is not None
    kept = frame.drop(index=[0, 1, 2])
    assert view.classification.current.accuracy == pytest.approx(float((kept["prediction"] == kept["actual"]).mean()))
