"""``score`` and ``feedback`` on a classifier a team registered with plain MLflow code, through ``main``."""

import numpy as np
import pandas as pd
from sqlalchemy import select

from storage.db import make_engine, make_sessionmaker
from storage.prediction_log import Feedback
from tests.team_classifiers import register_binary_text_labels
from tests.team_store import champion, team_home

MODEL = "tumour-triage"


def test_score_writes_the_label_and_one_probability_column_per_class_then_feedback_takes_labels(
    cli, tmp_path, monkeypatch
) -> None:
    settings = team_home(tmp_path, monkeypatch, model=MODEL)
    registered = register_binary_text_labels(MODEL)
    champion(MODEL, registered.version)
    registered.features.head(25).to_csv(tmp_path / "in.csv", index=False)

    ran = cli("score", "--input", str(tmp_path / "in.csv"), "--output", str(tmp_path / "out.csv"))

    assert ran.code == 0, ran.err
    scored = pd.read_csv(tmp_path / "out.csv")
    assert list(scored.columns[-6:]) == [
        "prediction",
        "proba_benign",
        "proba_malignant",
        "prediction_id",
        "model_version",
        "ood_fields",
    ]
    expected = registered.features.head(25)
    assert list(scored["prediction"]) == list(registered.estimator.predict(expected))
    np.testing.assert_allclose(
        scored[["proba_benign", "proba_malignant"]], registered.estimator.predict_proba(expected), rtol=1e-9
    )

    truth = pd.DataFrame({"prediction_id": scored["prediction_id"], "actual": registered.labels.head(25)})
    truth.loc[0, "actual"] = "benign-ish"
    truth.to_csv(tmp_path / "truth.csv", index=False)
    ran = cli("feedback", "--input", str(tmp_path / "truth.csv"))

    assert ran.code == 0, ran.err
    assert "24 actual values stored" in ran.err + ran.out
    assert "row 1: actual: 'benign-ish' is not one of the model's classes ('benign', 'malignant') (rule: class)" in (
        ran.err + ran.out
    )
    engine = make_engine(settings.database_url)
    with make_sessionmaker(engine)() as session:
        stored = dict(session.execute(select(Feedback.prediction_id, Feedback.actual_label)).all())
    engine.dispose()
    assert len(stored) == 24 and set(stored.values()) <= {"benign", "malignant"}
