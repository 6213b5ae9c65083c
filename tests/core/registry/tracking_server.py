"""A real ``mlflow server`` process on loopback (SQLite in a temp folder) that a test can hang or kill.

The server runs in its own process group: SIGSTOP on the group hangs it (connections are accepted by
the kernel, never answered), SIGKILL ends it; whatever state it is left in, the group is ended after.
"""

from __future__ import annotations

import os
import signal
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from tests.e2e.servers import VENV_BIN, free_port, wait_until_healthy


@dataclass
class TrackingServer:
    url: str
    process: subprocess.Popen
    log: Path

    def hang(self) -> None:
        os.killpg(self.process.pid, signal.SIGSTOP)

    def kill(self) -> None:
        os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=30)


@contextmanager
def tracking_server(folder: Path, **variables: str) -> Iterator[TrackingServer]:
    """``mlflow server`` with its backend and artifacts under ``folder``, plus environment ``variables``."""
    folder.mkdir(parents=True, exist_ok=True)
    port = free_port()
    command = [str(VENV_BIN / "mlflow"), "server", "--host", "127.0.0.1", "--port", str(port), "--workers", "1"]
    command += ["--backend-store-uri", f"sqlite:///{folder / 'mlflow.db'}"]
    command += ["--artifacts-destination", str(folder / "artifacts")]
    log = folder / "mlflow-server.log"
    with open(log, "w") as log_file:
        process = subprocess.Popen(
            command,
            cwd=folder,
            env={**os.environ, **variables},
            stdout=log_file,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        wait_until_healthy(f"http://127.0.0.1:{port}/health", process=process, log=log, timeout_s=150)
        yield TrackingServer(url=f"http://127.0.0.1:{port}", process=process, log=log)
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)  # a stopped group would ignore SIGTERM until continued
            process.wait(timeout=30)


def seed_registry(url: str, *, model_name: str, versions: int, aliases: dict[str, int]) -> None:
    """Register ``versions`` versions of ``model_name`` (each with a run and an RMSE) and set ``aliases``, with plain MLflow."""
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri=url, registry_uri=url)
    experiment_id = client.create_experiment(f"seed-{model_name}")
    client.create_registered_model(model_name)
    for number in range(1, versions + 1):
        run = client.create_run(experiment_id)
        client.log_metric(run.info.run_id, "rmse", 500.0 + number)
        client.set_terminated(run.info.run_id)
        client.create_model_version(model_name, source=f"{run.info.artifact_uri}/model", run_id=run.info.run_id)
    for alias, version in aliases.items():
        client.set_registered_model_alias(model_name, alias, str(version))
