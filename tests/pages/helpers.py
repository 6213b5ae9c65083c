"""Helpers for the page tests: open a page the way a user does (from Home), read what it says, break a store."""

from __future__ import annotations

import re
import socket
import sqlite3
from pathlib import Path

from streamlit.testing.v1 import AppTest

ROOT = Path(__file__).resolve().parents[2]
TIMEOUT = 60  # seconds per run; a loaded 2-core machine needs well over 10 for a page's first run

FAILING_MODEL = "failing-model"
BOOM = "boom: the model could not score"
LOG_NOTE = "The full trace is in the app's log"
REDACTED = "This app has encountered an error"


def open_page(page: str | None = None) -> AppTest:
    """The app from ``Home.py``, switched to ``page`` (``"pages/1_Predict.py"``) when given; not run yet."""
    app = AppTest.from_file(str(ROOT / "Home.py"), default_timeout=TIMEOUT)
    return app if page is None else app.switch_page(page)


_ESCAPED = re.compile(r"\\([!-/:-@\[-`{-~])")


def readable(markdown: str) -> str:
    """Markdown as a reader sees its text: escapes resolved, hard line breaks as newlines, invisible joiners gone."""
    return _ESCAPED.sub(r"\1", markdown.replace("  \n", "\n")).replace("\u2060", "").replace("\u00a0", " ")


def failures(app: AppTest) -> list[str]:
    """Each error box on the page as read: its title, a newline, its body."""
    return [
        readable(f"{error.proto.title}\n{error.value}" if error.proto.title else error.value) for error in app.error
    ]


def page_text(app: AppTest) -> str:
    """Every text element of the last run, as read (for what must never show: tracebacks, the redacted box)."""
    parts: list[str] = []
    for kind in ("title", "header", "subheader", "markdown", "caption", "text", "code", "info", "warning", "success"):
        parts += [readable(str(element.value)) for element in app.get(kind)]
    parts += failures(app)
    parts += [f"{element.message}\n{element.stack_trace}" for element in app.exception]
    return "\n".join(parts)


def closed_port() -> int:
    """A loopback port nothing listens on (it was free a moment ago)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def refuse_writes(database: Path, *, table: str, message: str) -> None:
    """Make a SQLite store refuse every insert and update of ``table`` with ``message`` (reads keep working)."""
    with sqlite3.connect(database) as connection:
        for event in ("INSERT", "UPDATE"):
            connection.execute(
                f"CREATE TRIGGER refuse_{event.lower()}_{table} BEFORE {event} ON {table} "
                f"BEGIN SELECT RAISE(ABORT, '{message}'); END"
            )
    connection.close()


def register_failing_model(tracking_uri: str, *, artifacts: Path, message: str) -> None:
    """With plain MLflow: a pyfunc whose ``predict`` raises ``ValueError(message)``, registered twice, ``champion`` → 2.

    The run also holds the profile of the data the model would have been trained on (Loupe's profile format),
    so serving has ranges and defaults and the traffic simulator has inputs to draw.
    """
    import mlflow
    import numpy as np
    import pandas as pd
    from mlflow.models import infer_signature
    from mlflow.tracking import MlflowClient

    from core.profile import PROFILE_ARTIFACT, build_profile

    class FailingModel(mlflow.pyfunc.PythonModel):  # defined here, so cloudpickle stores it by value
        def predict(self, context, model_input, params=None):
            raise ValueError(message)

    # MLflow's tracking and registry URIs are process-wide: point both here, and put them back afterwards.
    previous = mlflow.get_tracking_uri(), mlflow.get_registry_uri()
    mlflow.set_tracking_uri(tracking_uri)
    mlflow.set_registry_uri(tracking_uri)
    try:
        client = MlflowClient(tracking_uri=tracking_uri, registry_uri=tracking_uri)
        experiment_id = client.create_experiment("loupe", artifact_location=artifacts.as_uri())
        rng = np.random.default_rng(0)
        features = pd.DataFrame({"carat": rng.uniform(0.2, 3.0, 500).round(2), "depth": rng.normal(61.7, 1.4, 500)})
        with mlflow.start_run(experiment_id=experiment_id, run_name="failing-pyfunc"):
            mlflow.log_text(build_profile(features).to_json(), PROFILE_ARTIFACT)
            info = mlflow.pyfunc.log_model(
                name="model",
                python_model=FailingModel(),
                signature=infer_signature(features.head(2), np.array([1.0, 2.0])),
                pip_requirements=["mlflow"],
            )
        for _ in range(2):
            version = mlflow.register_model(info.model_uri, FAILING_MODEL).version
        client.set_registered_model_alias(FAILING_MODEL, "champion", version)
    finally:
        mlflow.set_tracking_uri(previous[0])
        mlflow.set_registry_uri(previous[1])
