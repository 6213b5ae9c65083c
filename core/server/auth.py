"""The bearer token that guards the server's writes (feedback, predictions made elsewhere)."""

from __future__ import annotations

import hmac

from fastapi import HTTPException, Request, status

from core.settings import Settings


def require_write_token(request: Request) -> None:
    """Refuse a write without ``Authorization: Bearer <LOUPE_INGEST_TOKEN>`` when that token is set.

    The app keeps its :class:`Settings` in ``app.state.settings``; with no token configured writes are open,
    as reads are (the server is meant to sit behind the team's own network rules).
    """
    settings: Settings = request.app.state.settings
    if settings.ingest_token is None:
        return
    expected = settings.ingest_token.get_secret_value()
    scheme, _, given = request.headers.get("authorization", "").partition(" ")
    # compare_digest: the time taken must not tell how much of a guessed token was right.
    if scheme.lower() != "bearer" or not hmac.compare_digest(given.strip().encode(), expected.encode()):
        raise HTTPException(
            status_code=status.HTTP_401_UNAUTHORIZED,
            detail="this write needs 'Authorization: Bearer <token>' with the server's LOUPE_INGEST_TOKEN",
            headers={"WWW-Authenticate": "Bearer"},
        )
