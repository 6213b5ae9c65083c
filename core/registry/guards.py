"""What every alias move must satisfy before anything is checked: the admin token, a valid alias, a reason and an operator."""

from __future__ import annotations

import hmac
import re

from core.errors import LoupeError
from core.settings import Settings

SUGGESTED_ALIASES = ("champion", "challenger")
# Who may claim a move: the Registry page, the command line, and CI jobs (the train workflow).
OPERATOR_ORIGINS = ("page", "cli", "ci")
# MLflow's own alias rule, checked here so the operator gets a sentence instead of a server error.
ALIAS_PATTERN = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
RESERVED_ALIAS = re.compile(r"^(latest|v\d+)$", re.IGNORECASE)


class PromotionRefused(LoupeError):
    """An alias move that was not made; the message is for the operator."""


class InvalidRequest(PromotionRefused):
    """A field of the request is missing or breaks a rule."""


class TokenRefused(PromotionRefused):
    """The admin token is set and was not given, or was wrong."""


def promotion_is_protected(settings: Settings) -> bool:
    """Whether alias moves need the admin token."""
    return settings.admin_token is not None and bool(settings.admin_token.get_secret_value())


def check_token(settings: Settings, token: str | None) -> None:
    """Raise :class:`TokenRefused` unless promotion is open or ``token`` matches (constant-time)."""
    if not promotion_is_protected(settings):
        return
    if not token:
        raise TokenRefused("the admin token is required (LOUPE_ADMIN_TOKEN is set) and was not given")
    expected = settings.admin_token.get_secret_value().encode() if settings.admin_token else b""
    if not hmac.compare_digest(token.encode(), expected):
        raise TokenRefused("the admin token is wrong")


def valid_alias(alias: str | None) -> str:
    """The alias, stripped, or :class:`InvalidRequest` naming the rule it breaks."""
    alias = (alias or "").strip()
    if not ALIAS_PATTERN.match(alias):
        raise InvalidRequest("alias must be 1–64 letters, digits, '_' or '-'")
    if RESERVED_ALIAS.match(alias):
        raise InvalidRequest(f"alias {alias!r} is reserved by MLflow (latest, v1, v2, …)")
    return alias


def required_text(value: str | None, field_name: str) -> str:
    """The text, stripped, or :class:`InvalidRequest` saying the field is required."""
    value = (value or "").strip()
    if not value:
        raise InvalidRequest(f"{field_name} is required")
    return value


def operator_origin(origin: str) -> str:
    """The origin a caller may claim for its move (page, cli, ci)."""
    # "rollback", "external" and "bootstrap" are written by Loupe itself, never claimed by a caller.
    if origin not in OPERATOR_ORIGINS:
        raise ValueError(f"origin must be one of {', '.join(OPERATOR_ORIGINS)}, not {origin!r}")
    return origin
