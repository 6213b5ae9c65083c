"""Loupe's one settings object: environment variables, then ``.streamlit/secrets.toml``, then defaults.

Nothing else in the project reads ``os.environ``; everything asks :func:`get_settings`.
"""

from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

from pydantic import AliasChoices, Field, SecretStr, ValidationError, ValidationInfo, field_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

PROJECT_ROOT = Path(__file__).resolve().parents[1]
DEFAULT_SECRETS_FILE = PROJECT_ROOT / ".streamlit" / "secrets.toml"


def _secrets_file() -> Path:
    # The one place where the secrets path can be moved (tests point it at tmp_path).
    return Path(os.environ.get("LOUPE_SECRETS_FILE", DEFAULT_SECRETS_FILE))


def _env(name: str) -> AliasChoices:
    return AliasChoices(name, name.lower())


class Settings(BaseSettings):
    """Typed configuration; field aliases are the env var / secrets.toml names documented in the README."""

    model_config = SettingsConfigDict(extra="ignore", case_sensitive=False)

    home: Path = Field(default=Path("runtime"), validation_alias=_env("LOUPE_HOME"))
    tracking_uri_override: str | None = Field(default=None, validation_alias=_env("MLFLOW_TRACKING_URI"))
    database_url_override: str | None = Field(default=None, validation_alias=_env("LOUPE_DATABASE_URL"))
    model_name: str = Field(default="diamond-price", validation_alias=_env("LOUPE_MODEL_NAME"))
    experiment_name: str = Field(default="loupe", validation_alias=_env("LOUPE_EXPERIMENT_NAME"))
    admin_token: SecretStr | None = Field(default=None, validation_alias=_env("LOUPE_ADMIN_TOKEN"))
    shadow: bool = Field(default=True, validation_alias=_env("LOUPE_SHADOW"))
    # One-record answers from a compiled copy of the pipeline (core/compiled_pipeline); off = predict().
    compile_models: bool = Field(default=True, validation_alias=_env("LOUPE_COMPILE_MODELS"))
    # The MLflow UI as the operator's browser reaches it; when set, runs, experiments and versions link to it.
    mlflow_ui_url: str | None = Field(default=None, validation_alias=_env("LOUPE_MLFLOW_UI_URL"))
    mlflow_timeout_s: float = Field(default=3.0, gt=0, validation_alias=_env("LOUPE_MLFLOW_TIMEOUT_S"))
    mlflow_max_retries: int = Field(default=1, ge=0, validation_alias=_env("LOUPE_MLFLOW_MAX_RETRIES"))
    promotion_tolerance: float = Field(default=0.05, ge=0, validation_alias=_env("LOUPE_PROMOTION_TOLERANCE"))
    # The run metric versions are judged by; unset: a regressor's RMSE, MAE…, a classifier's ROC AUC, F1… (core/registry/metric_names).
    holdout_metric: str | None = Field(default=None, validation_alias=_env("LOUPE_HOLDOUT_METRIC"))
    # Drift (Monitoring): Evidently's defaults.
    drift_wasserstein_threshold: float = Field(default=0.1, gt=0, validation_alias=_env("LOUPE_DRIFT_WASSERSTEIN"))
    drift_jensenshannon_threshold: float = Field(default=0.1, gt=0, validation_alias=_env("LOUPE_DRIFT_JENSENSHANNON"))
    drift_ks_p_value: float = Field(default=0.05, gt=0, lt=1, validation_alias=_env("LOUPE_DRIFT_KS_P_VALUE"))
    drift_chisquare_p_value: float = Field(
        default=0.05, gt=0, lt=1, validation_alias=_env("LOUPE_DRIFT_CHISQUARE_P_VALUE")
    )
    drift_share_threshold: float = Field(default=0.5, gt=0, le=1, validation_alias=_env("LOUPE_DRIFT_SHARE"))
    drift_small_reference_rows: int = Field(
        default=1_000, ge=0, validation_alias=_env("LOUPE_DRIFT_SMALL_REFERENCE_ROWS")
    )
    # Below this many current rows for a feature its drift verdict is "not enough data" (no alert).
    drift_min_rows: int = Field(default=100, ge=1, validation_alias=_env("LOUPE_DRIFT_MIN_ROWS"))
    # Alerts (Monitoring and Home); a rule is off when its threshold is unset.
    alert_drift_share: float | None = Field(default=0.5, ge=0, le=1, validation_alias=_env("LOUPE_ALERT_DRIFT_SHARE"))
    alert_p95_latency_ms: float | None = Field(default=250.0, gt=0, validation_alias=_env("LOUPE_ALERT_P95_LATENCY_MS"))
    alert_rejected_rate: float | None = Field(
        default=0.05, ge=0, le=1, validation_alias=_env("LOUPE_ALERT_REJECTED_RATE")
    )
    alert_mae_ratio: float | None = Field(default=1.5, gt=0, validation_alias=_env("LOUPE_ALERT_MAE_RATIO"))
    # Classifiers: alert when a realised metric is this much worse than the version's holdout value.
    alert_metric_margin: float | None = Field(default=0.05, ge=0, validation_alias=_env("LOUPE_ALERT_METRIC_MARGIN"))
    # Alert when the inputs leave the reference's multivariate band (features no longer vary together). Off by
    # default: the band is drawn for chunks of a tenth of the reference, and a smaller window strays by chance.
    alert_multivariate_drift: bool = Field(default=False, validation_alias=_env("LOUPE_ALERT_MULTIVARIATE_DRIFT"))
    alert_window_hours: int = Field(default=24, ge=1, validation_alias=_env("LOUPE_ALERT_WINDOW_HOURS"))
    # Scoring server (python -m core serve): where it listens and how many worker processes answer.
    server_host: str = Field(default="127.0.0.1", validation_alias=_env("LOUPE_SERVER_HOST"))
    server_port: int = Field(default=5050, ge=1, le=65535, validation_alias=_env("LOUPE_SERVER_PORT"))
    server_workers: int = Field(default=1, ge=1, validation_alias=_env("LOUPE_SERVER_WORKERS"))
    # When set, the server's writes (POST /predictions, /feedback) need "Authorization: Bearer <token>".
    ingest_token: SecretStr | None = Field(default=None, validation_alias=_env("LOUPE_INGEST_TOKEN"))
    # Raw log rows older than this many days are pruned (the hourly roll-ups stay); unset keeps everything.
    retention_days: int | None = Field(default=None, ge=1, validation_alias=_env("LOUPE_RETENTION_DAYS"))
    # Inputs: a number beyond the version's training range widened by this many spans on each side is refused.
    input_range_factor: float = Field(default=1.0, ge=0, validation_alias=_env("LOUPE_INPUT_RANGE_FACTOR"))
    # Batches: refused rows kept in the log per batch (the rest are counted), and quoted values cut to this length.
    rejections_per_batch: int = Field(default=1_000, ge=1, validation_alias=_env("LOUPE_REJECTIONS_PER_BATCH"))
    # Monitoring: PCA reconstruction (multivariate drift) keeps components explaining this share of the variance.
    drift_pca_variance: float = Field(default=0.65, gt=0, le=1, validation_alias=_env("LOUPE_DRIFT_PCA_VARIANCE"))
    # Segments: categorical features with at most this many values in the reference can split Monitoring.
    segment_max_values: int = Field(default=20, ge=2, validation_alias=_env("LOUPE_SEGMENT_MAX_VALUES"))
    # Alert delivery (python -m core watch, and hourly in the scoring server): a generic JSON webhook signed
    # with HMAC-SHA256 when a secret is set, and/or a Slack-compatible incoming webhook.
    alert_webhook_url: str | None = Field(default=None, validation_alias=_env("LOUPE_ALERT_WEBHOOK_URL"))
    alert_webhook_secret: SecretStr | None = Field(default=None, validation_alias=_env("LOUPE_ALERT_WEBHOOK_SECRET"))
    alert_slack_url: str | None = Field(default=None, validation_alias=_env("LOUPE_ALERT_SLACK_URL"))
    alert_delivery_retries: int = Field(default=3, ge=0, validation_alias=_env("LOUPE_ALERT_DELIVERY_RETRIES"))
    # Registry events: where an MLflow tracking server reaches this scoring server, and the webhook's secret.
    server_public_url: str | None = Field(default=None, validation_alias=_env("LOUPE_SERVER_PUBLIC_URL"))
    registry_webhook_secret: SecretStr | None = Field(
        default=None, validation_alias=_env("LOUPE_REGISTRY_WEBHOOK_SECRET")
    )

    @field_validator(
        "alert_drift_share",
        "alert_p95_latency_ms",
        "alert_rejected_rate",
        "alert_mae_ratio",
        "alert_metric_margin",
        "retention_days",
        mode="before",
    )
    @classmethod
    def _off(cls, value: object) -> object:
        # LOUPE_ALERT_...=off (or empty, none) switches a rule off.
        return None if isinstance(value, str) and value.strip().lower() in {"", "off", "none", "null"} else value

    @field_validator("admin_token", "ingest_token", mode="before")
    @classmethod
    def _not_empty(cls, value: object, info: ValidationInfo) -> object:
        # An empty token once meant "open": a typo or an unset compose variable silently unguarded writes.
        text = value.get_secret_value() if isinstance(value, SecretStr) else value
        if isinstance(text, str) and not text.strip():
            name = "LOUPE_ADMIN_TOKEN" if info.field_name == "admin_token" else "LOUPE_INGEST_TOKEN"
            raise ValueError(f"{name} is set but empty: give it a value (a long random string) or unset it")
        return value

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        secrets = TomlConfigSettingsSource(settings_cls, toml_file=_secrets_file())
        return (init_settings, env_settings, secrets)

    @property
    def home_dir(self) -> Path:
        """The runtime folder as an absolute path (created on demand by :func:`ensure_home`)."""
        return self.home.expanduser().resolve()

    @property
    def tracking_uri(self) -> str:
        """MLflow tracking URI: the override, or SQLite under the runtime folder."""
        return self.tracking_uri_override or f"sqlite:///{self.home_dir / 'mlflow.db'}"

    @property
    def artifact_root(self) -> Path:
        """Where a local (SQLite) tracking store keeps artifacts."""
        return self.home_dir / "artifacts"

    @property
    def tracking_is_local(self) -> bool:
        return not self.tracking_uri.startswith(("http://", "https://", "databricks"))

    @property
    def database_url(self) -> str:
        """Prediction-log database URL: the override, or SQLite under the runtime folder."""
        return self.database_url_override or f"sqlite:///{self.home_dir / 'loupe.db'}"

    @property
    def model_cache_dir(self) -> Path:
        """Local copies of loaded models, so serving survives a dead registry."""
        return self.home_dir / "model-cache"

    def ensure_home(self) -> Path:
        """Create the runtime folder and return it."""
        self.home_dir.mkdir(parents=True, exist_ok=True)
        return self.home_dir


def settings_problems(error: ValidationError) -> str:
    """A settings error for a person: each variable by the name it is set under, and its rule."""
    lines = []
    for problem in error.errors():
        field = Settings.model_fields.get(str(problem["loc"][0])) if problem["loc"] else None
        alias = field.validation_alias if field is not None else None
        name = alias.choices[0] if isinstance(alias, AliasChoices) else str(problem["loc"][0] if problem["loc"] else "")
        message = str(problem["msg"]).removeprefix("Value error, ")
        lines.append(message if message.startswith(str(name)) else f"{name}: {message}")
    return "; ".join(lines)


def mask_url(url: str) -> str:
    """The URL with any password replaced by ``***``, for display."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.replace(f":{parts.password}@", ":***@", 1)
    return urlunsplit(parts._replace(netloc=netloc))


@lru_cache
def get_settings() -> Settings:
    """The process-wide settings; tests call ``get_settings.cache_clear()`` after changing env vars."""
    return Settings()
