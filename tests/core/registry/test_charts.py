import json
from dataclasses import replace
from datetime import UTC, datetime, timedelta

from core.mlflow_io import ESTIMATOR_TAG, VersionInfo
from core.registry.charts import (
    ROW_COLOURS,
    alias_tenures,
    checklist_markdown,
    failed_check_names,
    ledger_frame,
    timeline_figure,
    versions_frame,
    versions_styler,
)
from core.registry.preflight import Check
from storage.ledger import AliasChange

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def version(number: int, *, rmse: float, aliases=(), hours: int = 0) -> VersionInfo:
    return VersionInfo(
        name="m",
        version=number,
        run_id=f"run{number}",
        source=f"models:/m-{number}",
        created_at=T0 + timedelta(hours=hours),
        aliases=tuple(aliases),
        tags={ESTIMATOR_TAG: "hgb", "validation_status": "validated", "team": "pricing"} if number == 1 else {},
        metrics={"rmse": rmse, "mae": rmse / 2},
    )


def change(entry_id: int, alias: str, from_version, to_version, hours: int, preflight=None) -> AliasChange:
    return AliasChange(
        id=entry_id,
        changed_at=T0 + timedelta(hours=hours),
        model_name="m",
        alias=alias,
        from_version=from_version,
        to_version=to_version,
        actor="ana",
        reason="r",
        origin="page",
        preflight=preflight,
        override=False,
    )


VERSIONS = [version(1, rmse=530.0, aliases=("champion",)), version(2, rmse=540.0, aliases=("challenger",), hours=1)]
LEDGER = [
    change(1, "champion", None, 1, 0),
    change(2, "challenger", None, 2, 1),
    change(3, "champion", 1, 2, 2),
    change(4, "champion", 2, None, 3),
    change(5, "champion", None, 1, 4),
]


def test_tenures_follow_the_ledger_and_leave_gaps_for_removals() -> None:
    tenures = alias_tenures(LEDGER, alias="champion", now=T0 + timedelta(hours=6))

    assert [(t.version, t.start.hour, t.end.hour) for t in tenures] == [(1, 0, 2), (2, 2, 3), (1, 4, 6)]


def test_timeline_holds_versions_metrics_and_champion_bands() -> None:
    figure = timeline_figure(VERSIONS, LEDGER, alias="champion", now=T0 + timedelta(hours=6))

    versions_trace, champion_trace = figure.data
    assert list(versions_trace.y) == [530.0, 540.0] and list(versions_trace.text) == ["v1", "v2"]
    assert list(champion_trace.y) == [530.0, 530.0, None, 540.0, 540.0, None, 530.0, 530.0, None]
    bands = [shape for shape in figure.layout.shapes if shape.type == "rect"]
    assert len(bands) == 3
    assert [annotation.text for annotation in figure.layout.annotations] == ["v1", "v2", "v1"]


def test_timeline_without_history_still_shows_the_versions() -> None:
    figure = timeline_figure(VERSIONS, [], alias="champion")

    assert list(figure.data[0].y) == [530.0, 540.0]
    assert list(figure.data[1].x) == []


def test_versions_frame_and_its_highlighting() -> None:
    frame = versions_frame([*VERSIONS, version(3, rmse=900.0, aliases=("canary",), hours=2)])

    assert list(frame["version"]) == [3, 2, 1]
    assert list(frame["aliases"]) == ["🏷️ canary", "🥊 challenger", "🏆 champion"]
    assert list(frame["validation_status"]) == ["", "", "validated"]
    assert frame.loc[2, "estimator"] == "hgb" and list(frame["other tags"]) == ["", "", "team=pricing"]
    style = versions_styler(frame).to_html().split("</style>")[0]
    assert all(colour in style for colour in ROW_COLOURS.values())
    assert "row1_col0" in style and "row2_col0" in style and "row0_" not in style  # only champion and challenger


def test_ledger_frame_is_newest_first_with_failed_check_names() -> None:
    preflight = json.dumps({"checks": [{"name": "holdout rmse", "status": "fail"}, {"name": "x", "status": "pass"}]})
    entries = [*LEDGER, change(6, "champion", 1, 2, 5, preflight=preflight)]

    frame = ledger_frame(entries)

    assert list(frame["id"]) == [6, 5, 4, 3, 2, 1]
    assert frame.loc[0, "failed checks"] == "holdout rmse"
    assert frame.loc[2, "to"] == "removed" and frame.loc[3, "to"] == "2"  # in words, never "None"
    assert frame.loc[5, "from"] == "none"
    assert failed_check_names(None) == ""


def test_checklist_has_one_line_per_check_with_its_icon() -> None:
    text = checklist_markdown([Check("signature", "pass", "same"), Check("holdout rmse", "fail", "worse")])

    assert text.splitlines() == ["- ✅ **signature** — same", "- ❌ **holdout rmse** — worse"]


def test_timeline_reads_the_metric_under_the_name_each_version_logged() -> None:
    team = [
        replace(version(1, rmse=0.0), metrics={"root_mean_squared_error": 56.0, "r2_score": 0.36}),
        replace(version(2, rmse=0.0, hours=1), metrics={"root_mean_squared_error": 61.0}),
    ]

    figure = timeline_figure(team, [], alias="champion")

    assert list(figure.data[0].y) == [56.0, 61.0]
    assert figure.layout.yaxis.title.text == "holdout RMSE (lower is better)"
    assert list(timeline_figure(team, [], metric="r2_score").data[0].y) == [0.36, None]


def test_a_classifiers_versions_table_and_timeline_use_its_own_figures() -> None:
    team = [
        replace(version(1, rmse=0.0), metrics={"accuracy_score": 0.94, "log_loss": 0.14, "training_score": 1.0}),
        replace(version(2, rmse=0.0, hours=1), metrics={"accuracy_score": 0.62, "roc_auc": 0.54, "log_loss": 0.66}),
    ]

    frame = versions_frame(team)
    figure = timeline_figure(team, [], alias="champion")

    assert [column for column in frame.columns if column in team[1].metrics] == [
        "roc_auc",
        "accuracy_score",
        "log_loss",
    ]
    assert "training_score" not in frame.columns
    assert list(figure.data[0].y) == [0.94, 0.62]  # accuracy: the measure both versions logged
    assert figure.layout.yaxis.title.text == "holdout accuracy (higher is better)"
    assert timeline_figure(team, [], metric="log_loss").layout.yaxis.title.text.endswith("(lower is better)")
