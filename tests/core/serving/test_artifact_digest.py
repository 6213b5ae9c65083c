"""What is served is what was promoted: a version whose model files changed since is refused until promoted again.

A team model registered with plain MLflow code is promoted through Loupe (the ledger and the version
record the digest of its files), then its files are changed in the artifact store behind Loupe's back.
A host that already holds the promoted copy keeps serving it; a new host refuses the changed files,
saying why; promoting the version again accepts them.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import mlflow
import pytest

from core import mlflow_io
from core.mlflow_io import DIGEST_TAG
from core.registry.guards import InvalidRequest
from core.registry.promotion import promote
from core.serving.model_cache import ServingError, clear_memory_caches, serve
from storage.ledger import list_alias_changes
from tests.team_classifiers import register_binary_text_labels
from tests.team_store import prediction_log, team_home

MODEL = "team-tumours"


def _ledger_digests(settings, sessions) -> list[str | None]:
    with sessions() as session:
        return [entry.artifact_digest for entry in list_alias_changes(session, model_name=settings.model_name)]


def _new_host(settings) -> None:
    clear_memory_caches()
    shutil.rmtree(settings.model_cache_dir, ignore_errors=True)


@pytest.mark.slow
def test_changed_model_files_are_not_served_until_promoted_again(tmp_path, monkeypatch) -> None:
    settings = team_home(tmp_path, monkeypatch, model=MODEL)
    team = register_binary_text_labels(MODEL)
    with prediction_log(settings) as sessions:
        promote(
            settings,
            sessions=sessions,
            version=team.version,
            alias="champion",
            reason="first",
            actor="ana",
            override=True,
        )
        (promoted,) = _ledger_digests(settings, sessions)
        assert promoted is not None and len(promoted) == 64
        assert mlflow_io.get_version(settings, version=team.version).tags[DIGEST_TAG] == promoted
        served, _ = serve(settings)
        assert served.artifact_digest == promoted

        # Someone rewrites the version's files in the artifact store, behind the registry's back.
        source = mlflow.MlflowClient().get_model_version(MODEL, str(team.version)).source  # models:/m-…
        stored = mlflow.MlflowClient().get_logged_model(source.removeprefix("models:/")).artifact_location
        requirements = Path(stored.removeprefix("file://")) / "requirements.txt"
        requirements.write_text(requirements.read_text() + "numpy\n")

        clear_memory_caches()  # a restart on a host that holds the promoted copy: it keeps answering with it
        assert serve(settings)[0].artifact_digest == promoted

        _new_host(settings)  # a host without a copy must not serve files nobody promoted
        with pytest.raises(ServingError, match="its model files changed since it was promoted"):
            serve(settings)

        promote(
            settings,
            sessions=sessions,
            version=team.version,
            alias="champion",
            reason="checked",
            actor="ana",
            override=True,
        )
        first, again = _ledger_digests(settings, sessions)
        assert first == promoted and again is not None and again != promoted
        _new_host(settings)
        assert serve(settings)[0].artifact_digest == again

        with pytest.raises(InvalidRequest, match="already holds champion"):  # unchanged files: nothing to accept
            promote(
                settings,
                sessions=sessions,
                version=team.version,
                alias="champion",
                reason="x",
                actor="ana",
                override=True,
            )
