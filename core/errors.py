"""Loupe's own errors: each says, in words, what failed and what to do about it.

Entry points (pages, commands) show a :class:`LoupeError`'s message as it is; anything else is a bug
and is shown with its first line while the full trace goes to the log.
"""

from __future__ import annotations


class LoupeError(Exception):
    """An error a person can act on: a backend that is down, a missing version, a model that failed, bad input."""


class RegistryUnavailable(LoupeError):
    """The tracking server or registry could not be reached, or answered with a server error."""


class VersionNotFound(LoupeError):
    """A model version (or the registered model itself) does not exist in the registry."""


class ArtifactMissing(LoupeError):
    """A run or version lacks an artifact Loupe needs (a model, a profile); the message says which."""


class ModelFailed(LoupeError):
    """A model raised, or answered with something unusable, while predicting."""


class RegistryRefused(LoupeError):
    """The registry answered but refused the request (an invalid name, a value it does not accept)."""


class InvalidInput(LoupeError, ValueError):
    """A value a person gave (an option, a field, a file) breaks a rule; the message names both."""


def first_line(error: BaseException, *, limit: int = 300) -> str:
    """The first line of an error's message (its type when the message is empty), cut to ``limit`` characters."""
    lines = str(error).strip().splitlines()
    return lines[0][:limit] if lines else type(error).__name__
