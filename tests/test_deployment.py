"""The deployment files cannot be run here (no container engine): check they agree with the code."""

import re
from pathlib import Path

import yaml

from core.settings import Settings

ROOT = Path(__file__).resolve().parents[1]


def settings_variables() -> set[str]:
    names: set[str] = set()
    for field in Settings.model_fields.values():
        names.update(choice for choice in field.validation_alias.choices if choice.isupper())
    return names


def test_compose_wires_loupe_to_the_tracking_server_and_postgres() -> None:
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    services = compose["services"]

    assert {"postgres", "mlflow", "loupe"} <= set(services)
    environment = services["loupe"]["environment"]
    assert set(environment) <= settings_variables(), "compose sets a variable Loupe does not read"
    assert environment["MLFLOW_TRACKING_URI"] == "http://mlflow:5000"
    assert environment["LOUPE_DATABASE_URL"].startswith("postgresql+psycopg://")
    assert "postgresql+psycopg://" in services["mlflow"]["command"]
    assert "--artifacts-destination" in services["mlflow"]["command"]
    # compose refuses to start without an admin token (``${VAR:?message}``): promotion is never left open.
    assert environment["LOUPE_ADMIN_TOKEN"].startswith("${LOUPE_ADMIN_TOKEN:?")


def test_dockerfile_copies_only_what_exists_and_runs_bootstrap() -> None:
    dockerfile = (ROOT / "Dockerfile").read_text()

    for source in re.findall(r"^COPY (\S+) ", dockerfile, flags=re.MULTILINE):
        assert (ROOT / source).exists(), f"Dockerfile copies {source}, which is not in the repo"
    assert "python -m core bootstrap" in dockerfile
    assert "streamlit run Home.py" in dockerfile


def test_readme_documents_every_setting() -> None:
    readme = (ROOT / "README.md").read_text()

    for name in settings_variables() - {"LOUPE_SECRETS_FILE"}:
        assert f"`{name}`" in readme, f"{name} is missing from the README's configuration table"
