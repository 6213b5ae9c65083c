"""Processes that start together on a fresh home: the log is migrated once, each version copied once, nobody dies.

The console, the CLI and a server's workers often start at the same moment on a new host. Each then
migrates the SQLite log and copies the champion (and challenger) into the local model cache; without
serialising that work they crashed each other (FileNotFoundError on half-moved files, Alembic's
"expected to match one row", MLflow's "No such artifact").
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import func, select

from core.settings import Settings
from storage.db import migrated_sessions
from storage.prediction_log import Prediction

PROCESSES = 8
REQUESTS = 3
TRIALS = 5  # one start-up race passing proves little; five fresh homes in a row make a lucky pass unlikely

# Each process: migrate the log, load champion and challenger, answer REQUESTS records with shadow scoring.
WORKER = f"""
import json
from core.settings import get_settings
from core.serving.model_cache import serve
from core.serving.scoring import predict_one
from storage.db import migrated_sessions

settings = get_settings()
with migrated_sessions(settings.database_url) as sessions:
    served, _ = serve(settings)
    record = served.schema.probe_frame().iloc[0].to_dict()
    ids = [predict_one(settings, record, sessions=sessions, source="cli").prediction_id for _ in range({REQUESTS})]
print(json.dumps(ids))
"""


def _start_together(settings: Settings) -> list[subprocess.CompletedProcess[str]]:
    environment = {**os.environ, "LOUPE_HOME": str(settings.home_dir), "LOUPE_SHADOW": "true"}
    processes = [
        subprocess.Popen(
            [sys.executable, "-c", WORKER],
            env=environment,
            cwd=Path(__file__).resolve().parents[3],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(PROCESSES)
    ]
    results = []
    for process in processes:
        stdout, stderr = process.communicate(timeout=300)
        results.append(subprocess.CompletedProcess(process.args, process.returncode, stdout, stderr))
    return results


@pytest.mark.slow
@pytest.mark.parametrize("trial", range(1, TRIALS + 1))
def test_eight_processes_on_a_fresh_home_all_answer_and_log_every_shadow(registry_home: Settings, trial: int) -> None:
    (registry_home.home_dir / "loupe.db").unlink()  # a fresh log: every process finds it unmigrated
    assert not registry_home.model_cache_dir.exists()  # and an empty model cache

    results = _start_together(registry_home)

    failures = [result.stderr[-2000:] for result in results if result.returncode != 0]
    with migrated_sessions(registry_home.database_url) as sessions, sessions() as session:
        shadows_logged = session.scalar(select(func.count()).where(Prediction.is_shadow.is_(True)))
    # One line per trial (pytest -s shows it) so the counts over all trials can be quoted.
    print(
        f"trial {trial}/{TRIALS}: {len(failures)} of {PROCESSES} processes died, "
        f"{shadows_logged} of {PROCESSES * REQUESTS} shadow rows"
    )
    assert failures == []
    answered = [prediction_id for result in results for prediction_id in json.loads(result.stdout.splitlines()[-1])]
    assert len(answered) == len(set(answered)) == PROCESSES * REQUESTS
    with migrated_sessions(registry_home.database_url) as sessions, sessions() as session:
        answers = session.scalar(select(func.count()).where(Prediction.is_shadow.is_(False)))
        shadows = session.scalar(select(func.count()).where(Prediction.is_shadow.is_(True)))
    assert answers == PROCESSES * REQUESTS
    assert shadows == PROCESSES * REQUESTS  # the challenger shadowed every answer, none lost
    leftovers = [path.name for path in registry_home.model_cache_dir.rglob(".*") if not path.name.endswith(".lock")]
    assert leftovers == []  # no staging or retired copies left behind
