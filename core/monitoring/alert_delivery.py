"""Alert messages and their delivery: a generic JSON webhook and a Slack-compatible one, signed, retried.

Channels come from the settings: ``LOUPE_ALERT_WEBHOOK_URL`` gets the generic JSON body,
``LOUPE_ALERT_SLACK_URL`` gets ``{"text", "blocks"}`` in Slack's mrkdwn. With
``LOUPE_ALERT_WEBHOOK_SECRET`` set, every request carries ``X-Loupe-Timestamp`` (Unix seconds) and
``X-Loupe-Signature: sha256=<hex HMAC-SHA256 of "<timestamp>.<body>">``, so a receiver can check that
Loupe sent it and that it is fresh. ``X-Loupe-Delivery`` is the delivery's id: the same message is
never queued twice, but a process killed between the receiver's answer and the record of it sends it
once more, and the id lets a receiver drop that repeat.

A request is tried ``1 + LOUPE_ALERT_DELIVERY_RETRIES`` times with exponential backoff (bounded) and a
short timeout: no receiver can hang a watcher or the scoring server's maintenance thread.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from datetime import datetime, timedelta
from urllib.parse import urlsplit

from core.settings import Settings

WEBHOOK, SLACK = "webhook", "slack"
TIMEOUT_S = 5.0  # per request: a receiver that does not answer in this time is down for this try
BACKOFF_S = 1.0  # the first wait between tries; doubled each time
MAX_BACKOFF_S = 30.0
SLACK_TEXT_LIMIT = 2_900  # Slack refuses a section text over 3,000 characters
# Answers no retry can mend: a redirect (a POST is not followed: urllib would resend it as a bodiless GET),
# a client error (a wrong URL, a refused body). 408 and 429 are worth another try.
FINAL_STATUSES = frozenset(range(300, 500)) - {408, 429}


@dataclass(frozen=True)
class Channel:
    """Where messages go: ``webhook`` (generic JSON) or ``slack`` (Slack-compatible body)."""

    name: str
    url: str


def channels(settings: Settings) -> list[Channel]:
    """The configured channels; ``ValueError`` naming the setting when a URL is not http(s)."""
    found = []
    for name, setting, url in (
        (WEBHOOK, "LOUPE_ALERT_WEBHOOK_URL", settings.alert_webhook_url),
        (SLACK, "LOUPE_ALERT_SLACK_URL", settings.alert_slack_url),
    ):
        if url is None or not url.strip():
            continue
        parts = urlsplit(url.strip())
        if parts.scheme not in {"http", "https"} or not parts.hostname:
            raise ValueError(f"{setting} must be an http:// or https:// URL with a host")
        found.append(Channel(name, url.strip()))
    return found


@dataclass(frozen=True)
class Message:
    """One firing or resolved message about one incident."""

    event: str  # firing | resolved
    delivery_id: int
    incident_id: int
    model_name: str
    model_version: int  # 0: no version could be named
    rule: str
    severity: str
    text: str  # the rule's own sentence (as Home and Monitoring show it)
    value: float
    threshold: float
    opened_at: datetime
    resolved_at: datetime | None

    @property
    def subject(self) -> str:
        version = f" v{self.model_version}" if self.model_version else ""
        return f"{self.model_name}{version}: {self.rule}"


def generic_body(message: Message) -> bytes:
    """The generic webhook's JSON body (a stable layout, documented in the README)."""
    payload = {
        "source": "loupe",
        "event": message.event,
        "delivery_id": message.delivery_id,
        "incident_id": message.incident_id,
        "model_name": message.model_name,
        "model_version": message.model_version or None,
        "rule": message.rule,
        "severity": message.severity,
        "message": message.text,
        "value": message.value,
        "threshold": message.threshold,
        "opened_at": message.opened_at.isoformat(),
        "resolved_at": None if message.resolved_at is None else message.resolved_at.isoformat(),
    }
    return json.dumps(payload, ensure_ascii=False).encode("utf-8")


def slack_escape(text: str) -> str:
    """Text from data made inert in Slack mrkdwn: ``&``, ``<`` and ``>`` are its only control characters
    (``<...>`` would become a link or a mention)."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def slack_body(message: Message) -> bytes:
    """A Slack-compatible body: ``text`` (the notification's fallback) and one mrkdwn section."""
    firing = message.event == "firing"
    headline = f"{'Alert firing' if firing else 'Resolved'}: {message.subject}"
    if firing:
        detail = message.text
    else:
        lasted = _duration((message.resolved_at or message.opened_at) - message.opened_at)
        detail = f"Cleared after {lasted}. It was: {message.text}"
    icon = ":rotating_light:" if firing else ":white_check_mark:"
    section = f"{icon} *{slack_escape(headline)}*\n{slack_escape(detail)}"[:SLACK_TEXT_LIMIT]
    payload = {
        "text": slack_escape(headline),
        "blocks": [{"type": "section", "text": {"type": "mrkdwn", "text": section}}],
    }
    return json.dumps(payload, ensure_ascii=False).encode("utf-8")


def _duration(span: timedelta) -> str:
    seconds = int(span.total_seconds())
    if seconds < 3600:
        return f"{max(seconds // 60, 1)} min"
    if seconds < 86_400:
        return f"{seconds / 3600:.1f} h"
    return f"{seconds / 86_400:.1f} days"


def signature(secret: str, timestamp: str, body: bytes) -> str:
    """``sha256=<hex>`` of HMAC-SHA256 over ``<timestamp>.<body>`` with ``secret``."""
    mac = hmac.new(secret.encode("utf-8"), timestamp.encode("ascii") + b"." + body, hashlib.sha256)
    return f"sha256={mac.hexdigest()}"


def request_headers(message: Message, body: bytes, *, secret: str | None, now: float | None = None) -> dict[str, str]:
    """Content type, event, delivery id and (with a secret) the timestamp and signature."""
    headers = {
        "Content-Type": "application/json; charset=utf-8",
        "User-Agent": "loupe-alerts",
        "X-Loupe-Event": message.event,
        "X-Loupe-Delivery": str(message.delivery_id),
    }
    if secret:
        timestamp = str(int(time.time() if now is None else now))
        headers["X-Loupe-Timestamp"] = timestamp
        headers["X-Loupe-Signature"] = signature(secret, timestamp, body)
    return headers


@dataclass(frozen=True)
class Outcome:
    """What the tries of one request came to: ``error`` is ``None`` when the receiver took it (2xx)."""

    attempts: int
    error: str | None


def deliver(
    channel: Channel,
    message: Message,
    *,
    secret: str | None,
    retries: int,
    backoff_s: float = BACKOFF_S,
    timeout_s: float = TIMEOUT_S,
) -> Outcome:
    """Send ``message`` to ``channel``: up to ``1 + retries`` tries, waiting ``backoff_s``, 2×, 4×… between them."""
    body = slack_body(message) if channel.name == SLACK else generic_body(message)
    error: str | None = None
    attempts = 0
    for attempt in range(retries + 1):
        if attempt:
            time.sleep(min(backoff_s * 2 ** (attempt - 1), MAX_BACKOFF_S))
        attempts += 1
        # Signed afresh on every try: the timestamp tells the receiver how old this try is.
        headers = request_headers(message, body, secret=secret)
        error, final = _post(channel.url, body, headers, timeout_s=timeout_s)
        if error is None or final:
            break
    return Outcome(attempts=attempts, error=error)


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: object, **kwargs: object) -> None:
        return None  # urllib then raises the 3xx as an HTTPError


_OPENER = urllib.request.build_opener(_NoRedirect)


def _post(url: str, body: bytes, headers: dict[str, str], *, timeout_s: float) -> tuple[str | None, bool]:
    """(error or ``None``, whether retrying is pointless). The URL is never quoted: a Slack URL is a secret."""
    request = urllib.request.Request(url, data=body, headers=headers, method="POST")
    try:
        with _OPENER.open(request, timeout=timeout_s) as answer:
            answer.read(1_024)
            return None, False
    except urllib.error.HTTPError as failure:
        detail = failure.read(300).decode("utf-8", "replace").strip()
        text = f"HTTP {failure.code} {failure.reason}" + (f": {detail}" if detail else "")
        return text, failure.code in FINAL_STATUSES
    except urllib.error.URLError as failure:
        return f"could not reach the receiver: {failure.reason}", False
    except (TimeoutError, OSError) as failure:
        return f"could not reach the receiver: {failure or type(failure).__name__}", False
