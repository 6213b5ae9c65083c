from pathlib import Path

import pytest
from pydantic import ValidationError

from core.settings import Settings, get_settings, mask_url, settings_problems


def write_secrets(path: Path, **values: str) -> None:
    path.write_text("".join(f'{key} = "{value}"\n' for key, value in values.items()))


def test_defaults_put_everything_under_loupe_home(tmp_path: Path) -> None:
    settings = get_settings()

    home = tmp_path / "home"
    assert settings.home_dir == home
    assert settings.tracking_uri == f"sqlite:///{home / 'mlflow.db'}"
    assert settings.database_url == f"sqlite:///{home / 'loupe.db'}"
    assert settings.artifact_root == home / "artifacts"
    assert settings.model_name == "diamond-price"
    assert settings.admin_token is None
    assert settings.shadow is True


def test_secrets_file_beats_defaults_and_env_beats_secrets(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    secrets = tmp_path / "secrets.toml"
    write_secrets(
        secrets,
        LOUPE_MODEL_NAME="from-secrets",
        LOUPE_DATABASE_URL="postgresql+psycopg://u:pw@db:5432/loupe",
        LOUPE_ADMIN_TOKEN="s3cret",
    )
    monkeypatch.setenv("LOUPE_SECRETS_FILE", str(secrets))
    monkeypatch.setenv("LOUPE_MODEL_NAME", "from-env")
    get_settings.cache_clear()

    settings = get_settings()

    assert settings.model_name == "from-env"
    assert settings.database_url == "postgresql+psycopg://u:pw@db:5432/loupe"
    assert settings.admin_token is not None and settings.admin_token.get_secret_value() == "s3cret"


def test_http_tracking_uri_is_used_unchanged(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "http://127.0.0.1:5000")
    get_settings.cache_clear()

    settings = get_settings()

    assert settings.tracking_uri == "http://127.0.0.1:5000"
    assert not settings.tracking_is_local


def test_shadow_can_be_switched_off(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LOUPE_SHADOW", "false")
    get_settings.cache_clear()

    assert get_settings().shadow is False


def test_invalid_value_names_the_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LOUPE_SHADOW", "maybe")
    get_settings.cache_clear()

    with pytest.raises(ValueError, match="LOUPE_SHADOW"):
        get_settings()


def test_mask_url_hides_only_the_password() -> None:
    assert mask_url("postgresql+psycopg://loupe:pw@host:5432/db") == "postgresql+psycopg://loupe:***@host:5432/db"
    assert mask_url("sqlite:////tmp/x.db") == "sqlite:////tmp/x.db"


@pytest.mark.parametrize("variable", ["LOUPE_ADMIN_TOKEN", "LOUPE_INGEST_TOKEN"])
def test_an_empty_token_is_a_configuration_error_naming_the_variable(monkeypatch, variable) -> None:
    monkeypatch.setenv(variable, "   ")

    with pytest.raises(ValidationError) as refused:
        Settings()

    assert settings_problems(refused.value) == (
        f"{variable} is set but empty: give it a value (a long random string) or unset it"
    )


def test_a_badly_typed_setting_is_named_by_its_variable(monkeypatch) -> None:
    monkeypatch.setenv("LOUPE_SERVER_PORT", "eighty")

    with pytest.raises(ValidationError) as refused:
        Settings()

    assert settings_problems(refused.value).startswith("LOUPE_SERVER_PORT: Input should be a valid integer")
