"""Loupe's ``"predictions"`` are what ``mlflow models serve`` answers, for every kind of model a team logs.

Six kinds, registered with plain MLflow code as versions of one model, each behind its own alias (one
Loupe server answers them all with ``?alias=``): two are compared with a real ``mlflow models serve``
process (the ``predict_proba`` classifier and a regressor), the others with what MLflow's server would
write for them: the pyfunc's own ``predict`` through MLflow's ``predictions_to_json``.
"""

from __future__ import annotations

import functools
import io
import json
import os
import signal
import subprocess
import sys
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any

import mlflow
import numpy as np
import pandas as pd
import pytest
from mlflow.models import infer_signature
from mlflow.pyfunc.scoring_server import predictions_to_json
from sklearn.datasets import load_diabetes
from sklearn.linear_model import Ridge
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from core.server.protocol import mlflow_predictions, predictions_body
from core.serving.answers import Answers
from tests import team_classifiers
from tests.core.server.server_process import Server
from tests.e2e.servers import ROOT, VENV_BIN, free_port, wait_until_healthy
from tests.team_store import champion, team_home

MODEL = "team-model"
# Up to 16 rows Loupe answers record by record (compiled forms); more go through one predict() call.
SIZES = (1, 10, 40)


class RegressionFrame(mlflow.pyfunc.PythonModel):
    """A team's pyfunc regressor answering a one-column frame (MLflow's server sends it as records)."""

    def __init__(self, estimator) -> None:
        self.estimator = estimator

    def predict(self, context, model_input, params=None):
        return pd.DataFrame({"progression": self.estimator.predict(model_input)})


def diabetes() -> tuple[pd.DataFrame, pd.Series, Any]:
    data = load_diabetes(as_frame=True, scaled=False)
    features, target = data.data.astype("float64"), data.target
    return features, target, make_pipeline(StandardScaler(), Ridge(alpha=1.0)).fit(features, target)


def register_regressor() -> tuple[int, pd.DataFrame]:
    features, _, estimator = diabetes()
    with mlflow.start_run() as run:
        mlflow.sklearn.log_model(
            estimator,
            name="model",
            signature=infer_signature(features, estimator.predict(features)),
            pip_requirements=team_classifiers.PIP,
            skops_trusted_types=[*team_classifiers.SKOPS_TYPES, "sklearn.linear_model._ridge.Ridge"],
        )
    return int(mlflow.register_model(f"runs:/{run.info.run_id}/model", MODEL).version), features


def register_regression_frame() -> tuple[int, pd.DataFrame]:
    features, _, estimator = diabetes()
    wrapper = RegressionFrame(estimator)
    with mlflow.start_run() as run:
        mlflow.pyfunc.log_model(
            name="model",
            python_model=wrapper,
            signature=infer_signature(features, wrapper.predict(None, features)),
            pip_requirements=team_classifiers.PIP,
        )
    return int(mlflow.register_model(f"runs:/{run.info.run_id}/model", MODEL).version), features


def register_all() -> dict[str, pd.DataFrame]:
    """Alias → the rows to send, one version per kind of model."""
    kinds: dict[str, tuple[int, pd.DataFrame]] = {}
    for alias, register in (
        ("proba-fn", team_classifiers.register_predict_proba_fn),
        ("int-labels", team_classifiers.register_multiclass_int_labels),
        ("text-labels", team_classifiers.register_binary_text_labels),
        ("proba-frame", team_classifiers.register_probability_frame_pyfunc),
    ):
        registered = register(MODEL)
        kinds[alias] = (registered.version, registered.features)
    kinds["regressor"] = register_regressor()
    kinds["regression-frame"] = register_regression_frame()
    client = mlflow.MlflowClient()
    for alias, (version, _) in kinds.items():
        client.set_registered_model_alias(MODEL, alias, str(version))
    champion(MODEL, kinds["regressor"][0])
    return {alias: features.sample(max(SIZES), random_state=3) for alias, (_, features) in kinds.items()}


def split_body(rows: pd.DataFrame) -> dict[str, Any]:
    return {"dataframe_split": json.loads(rows.to_json(orient="split", index=False))}


@functools.cache
def pyfunc(alias: str) -> mlflow.pyfunc.PyFuncModel:
    return mlflow.pyfunc.load_model(f"models:/{MODEL}@{alias}")


def mlflow_would_send(alias: str, rows: pd.DataFrame) -> list[Any]:
    """What MLflow's server writes for this model: its pyfunc's ``predict``, through ``predictions_to_json``."""
    raw = pyfunc(alias).predict(rows)
    written = io.StringIO()
    predictions_to_json(raw, written)
    return json.loads(written.getvalue())["predictions"]


def assert_same(given: Any, expected: Any, where: str) -> None:
    """Equal structure, keys and types; floats to rounding (Loupe may answer through a compiled form)."""
    assert type(given) is type(expected), f"{where}: {given!r} is not like {expected!r}"
    if isinstance(expected, list):
        assert len(given) == len(expected), where
        for position, (one, other) in enumerate(zip(given, expected, strict=True)):
            assert_same(one, other, f"{where}[{position}]")
    elif isinstance(expected, dict):
        assert list(given) == list(expected), where
        for key in expected:
            assert_same(given[key], expected[key], f"{where}[{key!r}]")
    elif isinstance(expected, float):
        assert given == pytest.approx(expected, rel=1e-9, abs=1e-12), where
    else:
        assert given == expected, where


def mlflow_command(alias: str, port: int) -> list[str]:
    command = [str(VENV_BIN / "mlflow"), "models", "serve", "-m", f"models:/{MODEL}@{alias}", "--env-manager"]
    return [*command, "local", "-h", "127.0.0.1", "-p", str(port), "--workers", "1"]


def loupe_command(port: int) -> list[str]:
    return [sys.executable, "-m", "core", "serve", "--port", str(port), "--workers", "1"]


@contextmanager
def all_running(commands: dict[str, list[str]], *, ports: dict[str, int], env: dict[str, str], log_dir: Path):
    """Every server started at once, then each waited for (one at a time, they take ~30 s each here)."""
    with ExitStack() as stack:
        servers, processes = {}, {}
        for name, command in commands.items():
            log = log_dir / f"serve-{name}.log"
            sink = stack.enter_context(open(log, "w"))
            processes[name] = process = subprocess.Popen(
                command, cwd=ROOT, env=env, stdout=sink, stderr=subprocess.STDOUT, start_new_session=True
            )
            stack.callback(stop, process)
            servers[name] = Server(url=f"http://127.0.0.1:{ports[name]}", port=ports[name], log=log)
        for name, server in servers.items():
            wait_until_healthy(f"{server.url}/ping", process=processes[name], log=server.log)
        yield servers


def stop(process: subprocess.Popen) -> None:
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=5)


RAW_OUTPUTS = {
    "numbers": np.array([1.5, 2.25, 3.0, 4.75]),
    "text labels": np.array(["benign", "malignant", "benign", "benign"], dtype=object),
    "integer labels": np.array([0, 2, 1, 0]),
    "probability rows": np.array([[0.9, 0.1], [0.2, 0.8], [0.5, 0.5], [0.3, 0.7]]),
    "probability frame": pd.DataFrame({"benign": [0.9, 0.2, 0.5, 0.3], "malignant": [0.1, 0.8, 0.5, 0.7]}),
    "one-column frame": pd.DataFrame({"progression": [1.5, 2.25, 3.0, 4.75]}),
    "named series": pd.Series([1.5, 2.25, 3.0, 4.75], name="progression"),
    "unnamed series": pd.Series([1.5, 2.25, 3.0, 4.75]),
}


def written_by_mlflow(raw: Any) -> list[Any]:
    written = io.StringIO()
    predictions_to_json(raw, written)
    return json.loads(written.getvalue())["predictions"]


def written_by_loupe(answers: Answers) -> list[Any]:
    body = predictions_body(mlflow_predictions(answers, predict_method="predict"), ids=[], version=1)
    return json.loads(body)["predictions"]


@pytest.mark.parametrize("kind", list(RAW_OUTPUTS))
def test_a_raw_output_is_written_as_mlflow_writes_it_whole_in_parts_and_picked(kind: str) -> None:
    raw = RAW_OUTPUTS[kind]
    whole = Answers(values=np.zeros(4), raw_output=raw)
    assert written_by_loupe(whole) == written_by_mlflow(raw)
    # Batch scoring answers in chunks and the server may pick rows: MLflow's shape survives both.
    halves = Answers.concat([whole.take([0, 1]), whole.take([2, 3])], task="regression")
    assert written_by_loupe(halves) == written_by_mlflow(raw)
    picked = raw.iloc[[3, 1]] if isinstance(raw, pd.DataFrame | pd.Series) else raw[[3, 1]]
    assert written_by_loupe(whole.take([3, 1])) == written_by_mlflow(picked)


@pytest.mark.slow
def test_predictions_are_what_mlflow_models_serve_answers_for_every_kind_of_model(tmp_path, monkeypatch) -> None:
    settings = team_home(tmp_path, monkeypatch, model=MODEL)
    pyfunc.cache_clear()  # another test's store may have held a model of this name
    sent = register_all()
    # MLflow's server reads the same store; it execs uvicorn by name, so the venv's bin goes first on PATH.
    env = {
        **os.environ,
        "MLFLOW_TRACKING_URI": settings.tracking_uri,
        "MLFLOW_REGISTRY_URI": settings.tracking_uri,
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
    }
    ports = {name: free_port() for name in ("loupe", "proba-fn", "regressor")}
    commands = {"loupe": loupe_command(ports["loupe"])}
    commands |= {alias: mlflow_command(alias, ports[alias]) for alias in ("proba-fn", "regressor")}
    with all_running(commands, ports=ports, env=env, log_dir=tmp_path) as servers:
        ours = servers.pop("loupe")
        theirs = servers
        for alias, rows in sent.items():
            for size in SIZES:
                body = split_body(rows.head(size))
                answer = ours.post(f"/invocations?alias={alias}", body)
                assert answer.status == 200, (alias, answer.body)
                where = f"{alias}, {size} row(s)"
                if alias in theirs:
                    reply = theirs[alias].post("/invocations", body)
                    assert reply.status == 200, (alias, reply.body)
                    expected = reply.body["predictions"]
                    assert_same(expected, mlflow_would_send(alias, rows.head(size)), f"{where} (MLflow itself)")
                else:
                    expected = mlflow_would_send(alias, rows.head(size))
                assert_same(answer.body["predictions"], expected, where)
                # Loupe's extras stay beside MLflow's answer: ids, version, a classifier's labels.
                assert len(answer.body["prediction_ids"]) == size, where
                assert ("labels" in answer.body) == (alias not in ("regressor", "regression-frame")), where

    # The shapes themselves, as MLflow's server sends them (read in its predictions_to_json).
    last = {alias: mlflow_would_send(alias, rows.head(2)) for alias, rows in sent.items()}
    assert all(isinstance(value, float) for value in last["regressor"])
    assert all(isinstance(row, list) and len(row) == 3 for row in last["proba-fn"])
    assert all(list(row) == ["benign", "malignant"] for row in last["proba-frame"])
    assert all(list(row) == ["progression"] for row in last["regression-frame"])
    assert all(isinstance(value, int) for value in last["int-labels"])
    assert all(value in ("benign", "malignant") for value in last["text-labels"])
