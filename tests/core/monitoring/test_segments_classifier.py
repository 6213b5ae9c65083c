"""A classifier split by a categorical feature: each segment's realised accuracy (correct / true labels) and
CBPE's estimated accuracy equal a recount on the raw rows, the least accurate segment first."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import numpy as np
import pandas as pd
import pytest

from core.monitoring.estimation import fit_cbpe, per_row_estimates
from core.monitoring.estimators import estimate_source
from core.monitoring.monitor_report import report_text
from core.monitoring.references import binning_of
from core.monitoring.segment_charts import segment_figure
from core.monitoring.segments import input_plan, segment_view
from core.monitoring.windows import Window
from core.profile import build_profile
from storage.db import make_engine, make_sessionmaker, migrate
from storage.log_writer import encode_inputs
from storage.prediction_log import add_feedback, log_predictions
from storage.rollups import refresh_rollups
from storage.rollups.estimates import save_estimator
from tests.core.monitoring.classification_log import probabilities_for

DAY = datetime(2026, 6, 1, tzinfo=UTC)
CLASSES = ["cat", "dog", "bird"]
# How often the true label is the predicted one, per colour: teal is the worst segment, red the best.
RIGHT = {"red": 0.9, "blue": 0.7, "teal": 0.4, "green": 0.6}


@pytest.fixture
def sessions(tmp_path):
    engine = make_engine(f"sqlite:///{tmp_path / 'log.db'}")
    migrate(engine)
    yield make_sessionmaker(engine)
    engine.dispose()


def test_a_classifier_split_shows_accuracy_per_segment_worst_first(sessions, settings) -> None:
    rng = np.random.default_rng(8)
    reference = pd.DataFrame(
        {"size": rng.lognormal(0.3, 0.6, 2_000), "colour": rng.choice(["red", "blue", "teal"], 2_000)}
    )
    profile = build_profile(reference)
    holdout = rng.choice(CLASSES, 800)
    estimator = fit_cbpe(probabilities_for(rng, holdout, CLASSES, 0.5), CLASSES, list(holdout))
    rows = 1_500
    colour = rng.choice(list(RIGHT), rows, p=[0.3, 0.3, 0.3, 0.1])  # green is no reference level: (other)
    probabilities = probabilities_for(rng, rng.choice(CLASSES, rows), CLASSES, 0.5)
    predicted = [CLASSES[index] for index in probabilities.argmax(axis=1)]
    right = rng.random(rows) < np.array([RIGHT[value] for value in colour])
    truths = [p if ok else CLASSES[(CLASSES.index(p) + 1) % 3] for p, ok in zip(predicted, right, strict=True)]
    stamps = [DAY + timedelta(seconds=float(s)) for s in np.sort(rng.random(rows)) * 20 * 3600]
    records = [
        {
            "created_at": stamps[i],
            "model_name": settings.model_name,
            "model_version": 1,
            "alias": "champion",
            "prediction": float(probabilities[i].max()),
            "label": predicted[i],
            "probabilities": json.dumps(dict(zip(CLASSES, probabilities[i].tolist(), strict=True))),
            "latency_ms": 5.0,
            "source": "batch",
            "request_id": f"r{i}",
            "is_ood": False,
            "is_shadow": False,
            "shadow_of": None,
            "inputs": encode_inputs({"size": float(rng.lognormal(0.3, 0.6)), "colour": str(colour[i])}),
        }
        for i in range(rows)
    ]
    labelled = rng.random(rows) < 0.5
    payload_json, model_bytes = estimator.to_record()
    with sessions.begin() as session:
        save_estimator(
            session,
            model_name=settings.model_name,
            model_version=1,
            method=estimator.method,
            payload_json=payload_json,
            model_bytes=model_bytes,
            rows=int(estimator.payload["rows"]),
        )
        ids = log_predictions(session, records=records)
        add_feedback(session, labels={ids[i]: truths[i] for i in range(rows) if labelled[i]})
    with sessions.begin() as session:
        refresh_rollups(
            session,
            binning=lambda name, version: binning_of(profile),
            plan=lambda name, version: input_plan(settings, profile),
            estimates=estimate_source(session),
        )
        view = segment_view(
            settings,
            session=session,
            window=Window(DAY, DAY + timedelta(days=1)),
            feature="colour",
            version=None,
            drift_version=None,
            profile=profile,
            include_shadow=False,
        )

    raw = pd.DataFrame({"value": np.where(colour == "green", "(other)", colour), "predicted": predicted})
    raw["truth"] = np.where(labelled, truths, None)
    found = per_row_estimates(
        estimator, pd.DataFrame({"label": predicted, "probabilities": [r["probabilities"] for r in records]})
    )
    assert found.calibrated is not None and found.predicted is not None
    raw["expected"] = found.calibrated[np.arange(rows), found.predicted]
    mine = raw[raw["truth"].notna()]
    accuracy = (mine["truth"] == mine["predicted"]).groupby(mine["value"]).mean()
    estimated = raw.groupby("value")["expected"].mean()

    assert view.classifier
    table = view.table.set_index("value")
    for value in accuracy.index:
        assert table.loc[value, "accuracy"] == pytest.approx(accuracy[value], rel=1e-12)
        assert table.loc[value, "estimated_accuracy"] == pytest.approx(estimated[value], rel=1e-9)
        assert table.loc[value, "feedback"] == int((mine["value"] == value).sum())
    assert table[["mae", "rmse", "estimated"]].isna().all().all()  # no regression error for a classifier
    # Worst first: the table (no drift here) and each accuracy figure start with the least accurate segment.
    assert list(view.table["value"]) == list(accuracy.sort_values().index)
    assert view.table.iloc[0]["value"] == "teal"
    assert list(view.worst("accuracy")["accuracy"]) == sorted(accuracy)
    assert list(view.worst("estimated_accuracy")["estimated_accuracy"]) == pytest.approx(sorted(estimated), rel=1e-9)
    figure = segment_figure(view, "accuracy")
    assert list(figure.data[0].x) == list(accuracy.sort_values().index)
    assert list(figure.data[0].y) == pytest.approx(sorted(accuracy))
    # The CLI's text report reads accuracy for a classifier's segments.
    segments = {"feature": "colour", "performance": "accuracy", "rows": view.table.to_dict(orient="records")}
    assert f"teal: {table.loc['teal', 'predictions']:,} predictions, accuracy {accuracy['teal'] * 100:.1f} %" in (
        _segment_lines(segments)
    )


def _segment_lines(segments: dict) -> str:
    """The segment lines of the monitor's text report for ``segments`` (the rest of the report left empty)."""
    window = {"start": "s", "end": "e", "hours": 24}
    volume = {"predictions": 0, "previous_predictions": 0, "rejected_rate": None, "ood_share": None}
    report = {
        "model_name": "m",
        "window": window,
        "version": None,
        "drift_version": None,
        "volume": volume,
        "latency_ms": {},
        "drift": None,
        "multivariate_drift": None,
        "performance": {"realised": {}, "estimated": None},
        "segments": segments,
        "alerts": [],
    }
    return report_text(report)
