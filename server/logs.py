"""Log lines (contract §10): today's text, or one JSON object a line; never a secret.

``tandem`` configures the root logger once with :func:`logging_config`, and hands the same
dictionary to uvicorn, which applies it again in every worker process it spawns; uvicorn's
own loggers propagate to the root handler, so every line of every process has one format.
uvicorn's access log is off: :mod:`server.observe` writes one line per request instead, in
either format, with the route template rather than the raw path (so no query string, where a
client may have put a token).

The JSON formatter is ours (a dozen lines on msgspec, which the project already uses for
every wire format) rather than python-json-logger: the record's fields are picked, not
dumped, so nothing attached to a record reaches the log unless it is named here.
"""

from __future__ import annotations

import contextvars
import logging
import re
from datetime import UTC, datetime
from typing import Any

import msgspec

TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
LOG_FORMATS = ("text", "json")
# The request a line was written for (set by server/observe.py), for lines such as a 500's.
REQUEST_ID: contextvars.ContextVar[str | None] = contextvars.ContextVar(
    "tandem_request_id", default=None
)
# Fields an access line carries (server/observe.py passes them as ``extra={"http": ...}``).
HTTP_FIELDS = "http"
# A secret in a URL's query (uvicorn names the target of a bad request or a websocket
# handshake): its value never reaches a handler, whatever the format.
_QUERY_SECRET = re.compile(
    r"([?&](?:token|access_token|refresh_token|password|code|join_code|key)=)[^&\s\"']*",
    re.IGNORECASE,
)


class RedactQuerySecrets(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if "=" in message:
            redacted = _QUERY_SECRET.sub(r"\1[redacted]", message)
            if redacted != message:
                record.msg, record.args = redacted, None
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object a line: ``ts``, ``level``, ``logger``, ``message`` and context."""

    _encode = msgspec.json.Encoder().encode

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            "pid": record.process,  # which worker, with ``--workers N``
        }
        http = getattr(record, HTTP_FIELDS, None)
        if isinstance(http, dict):
            line.update(http)
        elif (request_id := REQUEST_ID.get()) is not None:
            line["request_id"] = request_id
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        return self._encode(line).decode()


def logging_config(log_format: str, level: str = "INFO") -> dict[str, Any]:
    """A :func:`logging.config.dictConfig` dictionary for ``text`` or ``json`` lines."""
    formatter: dict[str, Any] = (
        {"()": JsonFormatter} if log_format == "json" else {"format": TEXT_FORMAT}
    )
    uvicorn = {"handlers": [], "propagate": True}
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "filters": {"redact": {"()": RedactQuerySecrets}},
        "formatters": {"tandem": formatter},
        "handlers": {
            "stderr": {
                "class": "logging.StreamHandler",
                "formatter": "tandem",
                "filters": ["redact"],
                "stream": "ext://sys.stderr",
            }
        },
        "root": {"handlers": ["stderr"], "level": level.upper()},
        "loggers": {"uvicorn": uvicorn, "uvicorn.error": uvicorn, "uvicorn.access": uvicorn},
    }
