"""The ASGI factory uvicorn calls in each worker process: settings from the environment.

Process-wide tuning lives here, not in ``create_app`` (which tests call many times in one
process): the garbage collector and uvicorn's per-connection log lines.
"""

from __future__ import annotations

import gc
import logging

from litestar import Litestar

from server.app import create_app
from server.settings import Settings

# Frames fanned out to thousands of sockets allocate many short-lived objects; with the
# default thresholds full collections of the long-lived heap paused delivery for 100-400 ms
# (docs/benchmarks.md). Collect young objects less often and freeze the startup heap so
# full collections have little to walk. It is frozen without a full collection first: one
# found nothing to collect here (the collections during the imports already had) and cost
# 60-110 ms of every start (docs/benchmarks.md, "Start-up").
GC_THRESHOLDS = (10_000, 20, 100)

_CONNECTION_NOISE = ("connection open", "connection closed", '"WebSocket ')


class _QuietConnections(logging.Filter):
    """Drops uvicorn's two INFO lines per websocket handshake (10-20 % of CPU in a
    reconnect storm); warnings and errors still pass."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno > logging.INFO:
            return True
        message = record.getMessage()
        return not any(noise in message for noise in _CONNECTION_NOISE)


def app_from_env() -> Litestar:
    app = create_app(Settings.from_env())
    for name in ("uvicorn.error", "uvicorn.access"):
        logging.getLogger(name).addFilter(_QuietConnections())
    gc.set_threshold(*GC_THRESHOLDS)
    gc.freeze()
    return app
