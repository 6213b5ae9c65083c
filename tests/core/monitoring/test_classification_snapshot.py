"""The Monitoring snapshot of a multiclass model: metrics per version and day with coverage, agreement, deltas."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
from sklearn import metrics as sk

from core.monitoring.snapshot import snapshot
from core.monitoring.windows import Window
from storage.db import make_engine, make_sessionmaker, migrate
from tests.core.monitoring.classification_log import log_classifier


def test_a_multiclass_snapshot_reads_metrics_per_version_day_and_shadow(settings) -> None:
    engine = make_engine(settings.database_url)
    migrate(engine)
    sessions = make_sessionmaker(engine)
    now = datetime.now(UTC)
    start = now - timedelta(hours=60)
    classes = ["0", "1", "2"]
    with sessions.begin() as session:
        answers = log_classifier(
            session, classes=classes, rows=400, seed=11, model_name=settings.model_name, start=start, hours=59
        )
        shadows = log_classifier(
            session,
            classes=classes,
            rows=400,
            seed=12,
            model_name=settings.model_name,
            version=2,
            start=start,
            hours=59,
            shadow_of=answers.ids,
        )
    window = Window.last(timedelta(days=7), now=now)

    view = snapshot(settings, sessions=sessions, window=window)
    engine.dispose()

    classified = view.classification
    assert classified is not None and classified.classes == classes and classified.positive is None
    assert view.current.mae is None and "Realised MAE" not in [kpi.name for kpi in view.kpis()]
    position = {prediction_id: index for index, prediction_id in enumerate(answers.ids)}
    truths = [answers.truths[i] for i in answers.truths]
    predicted = [answers.labels[position[i]] for i in answers.truths]
    assert classified.current.accuracy == sk.accuracy_score(truths, predicted)
    assert classified.current.coverage == len(truths) / 400
    table = classified.by_version.set_index("role")
    assert table.loc["answered", "version"] == 1 and table.loc["shadow", "version"] == 2
    assert table.loc["shadow", "labelled"] == len(truths)  # shadow rows are scored on their answers' labels
    assert classified.over_time["labelled"].sum() == 2 * len(truths)
    assert set(classified.over_time["series"]) == {"v1", "v2 (shadow)"}
    assert 3 <= classified.over_time["day"].nunique() <= 4  # 60 hours span three or four UTC days
    (agreement,) = classified.agreement.itertuples(index=False)
    shadow_labels = np.asarray(classified.by_version.loc[classified.by_version["role"] == "shadow", "predictions"])
    assert agreement.version == 2 and agreement.compared == 400 == shadow_labels[0]
    same = sum(mine == theirs for mine, theirs in zip(shadows.labels, answers.labels, strict=True))
    assert agreement.agreed == same and agreement.agreement == same / 400
    assert classified.confusion.to_numpy().sum() == len(truths)
    assert classified.label_drift is None and classified.score_drift is None  # no reference data in this home
