from pathlib import Path

import pytest

from core import mlflow_io
from core.experiments import charts as experiment_charts
from core.experiments.comparison import Holdout, load_holdouts
from core.experiments.runs import RunSet, load_runs
from core.training.classifier import classifier_settings
from tests.conftest import settings_at, use_home
from tests.experiment_runs import LoggedRun, log_runs


@pytest.fixture(scope="module")
def synthetic(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[LoggedRun]]:
    """12 param/metric-only runs (4 per estimator) logged once for the module; read only."""
    home = tmp_path_factory.mktemp("charts") / "home"
    with settings_at(home) as settings:
        logged = log_runs(settings, 12)
    return home, logged


@pytest.fixture
def runs(synthetic, monkeypatch) -> RunSet:
    settings = use_home(monkeypatch, synthetic[0])
    return load_runs(settings, experiment_id=mlflow_io.ensure_experiment(settings))


def test_one_bar_chart_per_metric_with_the_best_run_highlighted(runs, synthetic) -> None:
    _, logged = synthetic
    chosen = [logged[3].run_id, logged[0].run_id, logged[1].run_id]  # hgb, hgb (best), rf

    figures = experiment_charts.metric_bar_figures(runs, run_ids=chosen)

    assert list(figures) == ["rmse", "mae", "r2", "mape"]
    rmse = figures["rmse"].data[0]
    assert list(rmse.x) == [runs.labels()[run_id] for run_id in chosen]
    assert list(rmse.y) == [logged[3].metrics["rmse"], 500.0, logged[1].metrics["rmse"]]
    assert list(rmse.marker.color) == [
        experiment_charts.OTHER_COLOR,
        experiment_charts.BEST_COLOR,
        experiment_charts.OTHER_COLOR,
    ]
    # r2: higher is better, so the same run wins
    assert list(figures["r2"].data[0].marker.color).index(experiment_charts.BEST_COLOR) == 1
    assert figures["r2"].layout.title.text == "r2 (higher is better)"
    assert figures["rmse"].layout.title.text == "rmse (lower is better)"


def test_parallel_coordinates_has_an_axis_per_param_and_the_metric_last(runs, synthetic) -> None:
    _, logged = synthetic

    figure = experiment_charts.parallel_coordinates_figure(runs.frame, params=["seed", "alpha"], metric="rmse")

    order = list(runs.frame.index)  # newest first
    by_id = {run.run_id: run for run in logged}
    seed, alpha, rmse = figure.data[0].dimensions
    assert (seed.label, alpha.label, rmse.label) == ("seed", "alpha", "rmse")
    assert list(seed.values) == [float(by_id[run_id].params["seed"]) for run_id in order]
    assert list(rmse.values) == [by_id[run_id].metrics["rmse"] for run_id in order]
    assert list(figure.data[0].line.color) == list(rmse.values)
    assert figure.data[0].line.reversescale  # lower rmse is better: brightest
    # alpha exists on ridge runs only: a categorical axis with "—" for the others
    assert list(alpha.ticktext) == ["0.5", "1", "1.5", "—"]
    shown = [alpha.ticktext[code] for code in alpha.values]
    assert shown == [
        by_id[run_id].params["alpha"].removesuffix(".0") if "alpha" in by_id[run_id].params else "—" for run_id in order
    ]


def test_compare_bars_zoom_to_the_datas_range(runs, synthetic) -> None:
    _, logged = synthetic
    chosen = [logged[0].run_id, logged[1].run_id, logged[3].run_id]
    rmse = [runs.frame.at[run_id, "metrics.rmse"] for run_id in chosen]

    figure = experiment_charts.metric_bar_figures(runs, run_ids=chosen)["rmse"]

    low, high = figure.layout.yaxis.range
    assert 0 < low < min(rmse) and max(rmse) < high  # not from zero: close values do not look equal
    assert (max(rmse) - min(rmse)) / (high - low) >= 0.5  # the differences fill at least half the axis


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        ([529.0, 543.0], [525.5, 546.5]),  # the case: 14 apart on a 21-wide axis, not on 0–543
        ([0.5], [0.475, 0.525]),  # one value: 5% either side
        ([0.02, 0.9], [0.0, 1.12]),  # close to zero: the axis stops at zero, no bar below a missing axis
        ([-3.0, -1.0], [-3.5, -0.5]),
        ([-3.0, -0.2], [-3.7, 0.0]),
        ([0.0, 0.0], [0.0, 1.0]),
    ],
)
def test_bar_range(values: list[float], expected: list[float]) -> None:
    assert experiment_charts.bar_range(values) == pytest.approx(expected)


def test_parallel_coordinates_ticks_are_readable(runs) -> None:
    trace = experiment_charts.parallel_coordinates_figure(runs.frame, params=["seed", "alpha"], metric="rmse").data[0]

    assert trace.tickfont.size >= 12 and trace.labelfont.size >= 14 and trace.rangefont.size >= 11
    assert trace.tickfont.shadow == "none"  # plotly's default halo blurs ticks on a dark background
    assert trace.labelangle == 0  # three axes: names stay level

    crowded = experiment_charts.parallel_coordinates_figure(
        runs.frame, params=["seed", "alpha", "seed", "alpha"], metric="rmse"
    ).data[0]
    assert crowded.labelangle == -20  # five axes: names tilted so they do not run into each other


def test_parallel_coordinates_leaves_out_runs_without_the_metric(runs) -> None:
    frame = runs.frame.copy()
    frame.loc[frame.index[0], "metrics.rmse"] = float("nan")

    figure = experiment_charts.parallel_coordinates_figure(frame, params=["seed"], metric="rmse")

    assert len(figure.data[0].dimensions[0].values) == len(frame) - 1
    assert figure.layout.title.text == f"params → rmse (lower is better; {len(frame) - 1} runs)"


def test_scatter_of_a_param_against_a_metric_per_estimator(runs, synthetic) -> None:
    _, logged = synthetic

    figure = experiment_charts.param_metric_scatter(runs, runs.frame, param="learning_rate", metric="mae")

    assert [trace.name for trace in figure.data] == ["hgb"]  # only hgb runs have a learning rate
    trace = figure.data[0]
    hgb = {runs.labels()[run.run_id]: run for run in logged if run.estimator == "hgb"}
    assert sorted(trace.text) == sorted(hgb)
    for label, x, y in zip(trace.text, trace.x, trace.y, strict=True):
        assert x == pytest.approx(float(hgb[label].params["learning_rate"]))
        assert y == hgb[label].metrics["mae"]


def test_scatter_of_a_text_param_uses_a_category_axis(runs) -> None:
    figure = experiment_charts.param_metric_scatter(runs, runs.frame, param="estimator", metric="rmse")

    assert [trace.name for trace in figure.data] == ["hgb", "rf", "ridge"]
    assert all(set(trace.x) == {trace.name} for trace in figure.data)
    assert figure.layout.xaxis.type == "category"
    assert list(figure.layout.xaxis.categoryarray) == ["hgb", "rf", "ridge"]
    assert sum(len(trace.y) for trace in figure.data) == len(runs.frame)


def test_predicted_vs_actual_side_by_side_skips_runs_without_predictions() -> None:
    holdouts = [
        Holdout(label="a", actual=[1.0, 2.0, 3.0], predicted=[1.5, 2.5, 2.0]),
        Holdout(label="b", missing_reason="no holdout_predictions.json artifact"),
        Holdout(label="c", actual=[10.0], predicted=[0.5]),
    ]

    figure = experiment_charts.predicted_vs_actual_grid(holdouts)

    points = [trace for trace in figure.data if trace.mode == "markers"]
    lines = [trace for trace in figure.data if trace.mode == "lines"]
    assert [trace.name for trace in points] == ["a", "c"]
    assert list(points[0].x) == [1.0, 2.0, 3.0] and list(points[0].y) == [1.5, 2.5, 2.0]
    assert list(points[1].x) == [10.0] and list(points[1].y) == [0.5]
    assert all(list(line.x) == [0.5, 10.0] == list(line.y) for line in lines)  # one shared identity line
    assert (points[0].xaxis, points[1].xaxis) == ("x", "x2")  # side by side
    assert [annotation.text for annotation in figure.layout.annotations] == ["a", "c"]


def test_predicted_vs_actual_of_real_trained_runs(bootstrapped_home, monkeypatch) -> None:
    settings = use_home(monkeypatch, bootstrapped_home)
    runs = load_runs(settings, experiment_id=mlflow_io.ensure_experiment(settings))
    run_ids = list(runs.frame.index)

    holdouts = load_holdouts(settings, runs, run_ids=run_ids)
    figure = experiment_charts.predicted_vs_actual_grid(holdouts)

    points = [trace for trace in figure.data if trace.mode == "markers"]
    assert [trace.name for trace in points] == [runs.labels()[run_id] for run_id in run_ids]
    for trace, holdout in zip(points, holdouts, strict=True):
        assert list(trace.x) == holdout.actual and list(trace.y) == holdout.predicted
        assert len(trace.x) == 2000


def test_a_classifiers_holdout_labels_get_confusion_matrices_never_a_scatter() -> None:
    holdouts = [
        Holdout(
            label="logreg",
            actual=["benign", "malignant", "malignant", "benign"],
            predicted=["benign", "malignant", "benign", "benign"],
            classes=["benign", "malignant"],
        ),
        Holdout(label="team run", actual=["b", "a"], predicted=["a", "a"]),  # labels, no classes: sorted
        Holdout(label="ridge", actual=[1.0, 2.0], predicted=[1.5, 2.5]),
        Holdout(label="metrics only", missing_reason="no holdout_predictions.json artifact"),
    ]

    figure = experiment_charts.confusion_grid(holdouts)
    scatter = experiment_charts.predicted_vs_actual_grid(holdouts)

    assert [holdout.holds_labels for holdout in holdouts] == [True, True, False, False]
    first, second = figure.data
    assert (first.name, second.name) == ("logreg", "team run")
    assert list(first.x) == list(first.y) == ["benign", "malignant"] and first.text.tolist() == [[2, 0], [1, 1]]
    assert list(second.x) == ["a", "b"] and second.text.tolist() == [[1, 0], [1, 0]]
    assert first.z.tolist() == [[1.0, 0.0], [0.5, 0.5]]  # coloured by the share of each true class
    assert (first.xaxis, second.xaxis) == ("x", "x2")  # side by side
    assert (figure.layout.yaxis.title.text, figure.layout.yaxis2.title.text) == ("true", None)  # not over "benign"
    assert [trace.name for trace in scatter.data if trace.mode == "markers"] == ["ridge"]


def test_the_scatters_metric_axis_zooms_to_the_data(runs) -> None:
    figure = experiment_charts.param_metric_scatter(runs, runs.frame, param="estimator", metric="r2")
    one = experiment_charts.param_metric_scatter(runs, runs.frame.iloc[:1], param="estimator", metric="r2")

    values = runs.frame["metrics.r2"].dropna()
    low, high = figure.layout.yaxis.range
    assert low < values.min() and high > values.max() and high - low < 1.3 * (values.max() - values.min())
    single = float(runs.frame["metrics.r2"].iloc[0])
    low, high = one.layout.yaxis.range
    assert low < single < high and high - low <= 0.05 * abs(single) + 0.01  # not plotly's ±0.5 around one point


def test_the_demo_classifiers_runs_get_confusion_matrices(classifier_home, monkeypatch) -> None:
    settings = use_home(monkeypatch, classifier_home)
    experiment = mlflow_io.ensure_experiment(classifier_settings(settings))
    runs = load_runs(settings, experiment_id=experiment)
    run_ids = list(runs.frame.index)

    holdouts = load_holdouts(settings, runs, run_ids=run_ids)
    figure = experiment_charts.confusion_grid(holdouts)

    assert len(run_ids) == 2 and all(holdout.holds_labels for holdout in holdouts)
    assert all(holdout.classes == ["benign", "malignant"] for holdout in holdouts)
    for trace, holdout in zip(figure.data, holdouts, strict=True):
        assert list(trace.x) == ["benign", "malignant"] and trace.text.sum() == len(holdout.actual) > 100
    assert not [trace for trace in experiment_charts.predicted_vs_actual_grid(holdouts).data if trace.mode == "markers"]
