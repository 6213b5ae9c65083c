from datetime import UTC, datetime

from core.mlflow_io import VersionInfo
from core.registry.version_task import pair_task, version_task
from core.task import TASK_TAG
from storage.evidence import VersionEvidence


def version(*, tags: dict[str, str] | None = None, metrics: dict[str, float] | None = None) -> VersionInfo:
    return VersionInfo(
        name="m",
        version=3,
        run_id=None,
        source="models:/x",
        created_at=datetime(2026, 1, 1, tzinfo=UTC),
        aliases=(),
        tags=tags or {},
        metrics=metrics or {},
    )


def logged(*, predictions: int, labelled: int) -> VersionEvidence:
    return VersionEvidence(
        version=3,
        predictions=predictions,
        shadow_predictions=0,
        feedback_count=0,
        realised_mae=None,
        realised_rmse=None,
        labelled_predictions=labelled,
    )


def test_the_tag_wins_then_the_log_then_the_metric_names() -> None:
    regression_names = {"rmse": 3.0}

    assert version_task(version(tags={TASK_TAG: " Classification "}, metrics=regression_names)) == "classification"
    assert version_task(version(tags={TASK_TAG: "regression"}), logged(predictions=5, labelled=5)) == "regression"
    assert version_task(version(metrics=regression_names), logged(predictions=5, labelled=5)) == "classification"
    assert version_task(version(metrics={"accuracy": 0.9}), logged(predictions=5, labelled=0)) == "regression"
    assert version_task(version(metrics={"accuracy": 0.9}), logged(predictions=0, labelled=0)) == "classification"
    assert version_task(version(tags={TASK_TAG: "ranking"}, metrics=regression_names)) == "regression"
    assert version_task(version()) is None


def test_a_pair_is_compared_as_the_candidates_task_else_the_holders() -> None:
    assert pair_task("classification", "regression") == "classification"
    assert pair_task(None, "classification") == "classification"
    assert pair_task(None, None) == "regression"
