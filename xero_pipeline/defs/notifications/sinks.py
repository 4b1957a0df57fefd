"""Where notifications go, chosen by environment variables:

- `XERO_NOTIFY_WEBHOOK_URL`: each message is POSTed as JSON, with an `Idempotency-Key` header.
  Transient failures (timeouts, dropped connections, 408, 429, 5xx) are retried with exponential
  backoff; a message still not taken is logged and left for the next run. Webhook URLs
  often carry a token (Slack's and Teams' do), so the URL is never logged or shown: only its
  scheme and host are.
- `XERO_NOTIFY_LOG_FILE`: each message is appended to the file as one JSON line.

A sink never raises: `deliver` answers what became of the message — taken, refused for good
(a 4xx other than 408 and 429: asking again would get the same answer, so it is recorded as
failed and the next message goes on), or not taken this time (tried again by a later run) — so a
failing receiver can never fail or block the pipeline.
"""

from __future__ import annotations

import json
import logging
import os
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import urlsplit

import requests

from xero_pipeline.xero.errors import ConfigError
from xero_pipeline.xero.secret import Secret
from xero_pipeline.xero.settings import LOOPBACK_HOSTS

WEBHOOK_VARIABLE = "XERO_NOTIFY_WEBHOOK_URL"
LOG_FILE_VARIABLE = "XERO_NOTIFY_LOG_FILE"
LOOKBACK_VARIABLE = "XERO_NOTIFY_LOOKBACK_DAYS"
DEFAULT_LOOKBACK_DAYS = 14
RETRYABLE_STATUSES = frozenset({408, 429, 500, 502, 503, 504})

logger = logging.getLogger(__name__)


def to_json(message: Mapping[str, Any]) -> str:
    """Amounts stay exact: a Decimal goes out as its string ("1234.50")."""
    return json.dumps(
        message,
        ensure_ascii=False,
        sort_keys=True,
        default=lambda v: str(v) if isinstance(v, Decimal) else v.isoformat(),
    )


TAKEN, REFUSED, NOT_TAKEN = "taken", "refused", "not_taken"


@dataclass(frozen=True)
class Delivery:
    """What became of one message: TAKEN, REFUSED (for good; `detail` says how) or NOT_TAKEN."""

    outcome: str
    detail: str = ""


class Sink(Protocol):
    name: str  # recorded in notifications_sent: one announcement per invoice and sink

    def deliver(self, message: Mapping[str, Any], log: logging.Logger | Any) -> Delivery:
        """Send one message and say what became of it. Never raises."""
        ...

    def describe(self) -> str:
        """Where messages go, safe to log."""
        ...


@dataclass
class WebhookSink:
    url: Secret = field(repr=False)
    timeout_seconds: float = 10.0
    attempts: int = 3
    backoff_seconds: float = 0.5
    name: str = "webhook"

    def describe(self) -> str:
        parts = urlsplit(self.url.reveal())
        return f"webhook {parts.scheme}://{parts.netloc.rpartition('@')[2]}"

    def __repr__(self) -> str:
        return f"WebhookSink({self.describe()!r})"

    def deliver(self, message: Mapping[str, Any], log: logging.Logger | Any = logger) -> Delivery:
        body = to_json(message).encode()
        headers = {
            "Content-Type": "application/json; charset=utf-8",
            "Idempotency-Key": str(message["idempotency_key"]),
            "User-Agent": "xero-pipeline-notifications",
        }
        problem = ""
        for attempt in range(1, self.attempts + 1):
            try:
                response = requests.post(
                    self.url.reveal(), data=body, headers=headers, timeout=self.timeout_seconds
                )
            except requests.RequestException as exc:
                problem = f"{type(exc).__name__} (no answer)"
            else:
                if 200 <= response.status_code < 300:
                    return Delivery(TAKEN)
                problem = f"HTTP {response.status_code}"
                if response.status_code not in RETRYABLE_STATUSES:
                    # A refusal: asking again will not change its mind. Recorded, and the next
                    # message goes on.
                    log.warning(
                        f"{self.describe()} refused the message for "
                        f"{message['idempotency_key']} ({problem}); recorded as failed"
                    )
                    return Delivery(REFUSED, f"{problem}: {response.text[:200]}")
            if attempt < self.attempts:
                time.sleep(self.backoff_seconds * 2 ** (attempt - 1))
        log.warning(
            f"{self.describe()} did not take the message for {message['idempotency_key']} "
            f"({problem}, after {attempt} attempt(s)); it is sent again by the next run"
        )
        return Delivery(NOT_TAKEN, problem)


@dataclass
class LogFileSink:
    path: Path
    name: str = "log_file"

    def describe(self) -> str:
        return f"log file {self.path}"

    def deliver(self, message: Mapping[str, Any], log: logging.Logger | Any = logger) -> Delivery:
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with self.path.open("a", encoding="utf-8") as file:
                file.write(to_json(message) + "\n")
                file.flush()
                os.fsync(file.fileno())
        except OSError as exc:
            log.warning(f"could not append to {self.describe()}: {exc}; tried again next run")
            return Delivery(NOT_TAKEN, str(exc))
        return Delivery(TAKEN)


def sinks_from_env(env: Mapping[str, str] | None = None) -> list[Sink]:
    """The configured sinks (none, one or both); a bad value is a ConfigError naming it."""
    env = os.environ if env is None else env
    sinks: list[Sink] = []
    url = (env.get(WEBHOOK_VARIABLE) or "").strip()
    if url:
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            # The value is not repeated: webhook URLs usually embed a secret token.
            raise ConfigError(WEBHOOK_VARIABLE, "must be an http(s) URL such as https://host/path")
        if parts.scheme == "http" and parts.hostname not in LOOPBACK_HOSTS:
            raise ConfigError(
                WEBHOOK_VARIABLE, "must use https unless it points at this machine (loopback)"
            )
        sinks.append(WebhookSink(Secret(url)))
    path = (env.get(LOG_FILE_VARIABLE) or "").strip()
    if path:
        sinks.append(LogFileSink(Path(path).expanduser()))
    return sinks


def lookback_days(env: Mapping[str, str] | None = None) -> int:
    env = os.environ if env is None else env
    raw = (env.get(LOOKBACK_VARIABLE) or str(DEFAULT_LOOKBACK_DAYS)).strip()
    if not raw.isdigit() or int(raw) < 1:
        raise ConfigError(LOOKBACK_VARIABLE, f"must be a whole number of days, not {raw!r}")
    return int(raw)
