"""What a start imports (issue 16, "Start fast"): the time from ``tandem serve`` to the first
200 on ``/health`` is mostly the time to import the app, since every start is a fresh process.

A SQLite install without Redis or metrics must not pay for what only other set-ups, other
commands or later requests use: those modules are imported by the first use that needs them.
The check runs a start in a fresh interpreter (the imports ``tandem serve`` makes, the app
factory uvicorn calls, the lifespan's start-up and one ``/health``), then reads
``sys.modules``.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

NOT_AT_START = {
    "redis": "only a process with TANDEM_REDIS_URL talks to Redis (realtime/redis_client.py)",
    "alembic": "a database at head is not migrated (storage/migrate.py)",
    "segno": "a QR code is drawn when one is asked for (server/http/join_links.py)",
    "prometheus_client": "metrics are off unless TANDEM_METRICS=on (server/metrics.py)",
    "server.demo": "only --demo and `tandem demo` fill a database (server/cli.py)",
    "server.progress.importer": "only `tandem import-progress` imports files (server/cli.py)",
}

START = """
import asyncio, json, sys

from server import cli  # what `tandem serve` imports before it starts uvicorn
from server.asgi import app_from_env  # the factory uvicorn then calls


async def health_once(app):
    sent = []

    async def receive():
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message):
        sent.append(message)

    scope = {
        "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "GET",
        "scheme": "http", "path": "/health", "raw_path": b"/health", "query_string": b"",
        "root_path": "", "headers": [(b"host", b"127.0.0.1")],
        "client": ("127.0.0.1", 50000), "server": ("127.0.0.1", 8000),
    }
    await app(scope, receive, send)
    return sent[0]["status"]


async def main():
    app = app_from_env()
    async with app.lifespan():
        status = await health_once(app)
    print(json.dumps({"status": status, "modules": sorted(sys.modules)}))


asyncio.run(main())
"""


def test_a_plain_start_imports_nothing_health_does_not_need(tmp_path: Path) -> None:
    environment = {
        name: value
        for name, value in os.environ.items()
        if not name.startswith("TANDEM_") and name != "PROMETHEUS_MULTIPROC_DIR"
    }
    environment |= {
        "TANDEM_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'tandem.db'}",
        "TANDEM_SECRET_KEY": "s" * 48,
    }
    # A database at head, as on every restart: migrating is `tandem serve`'s first step.
    subprocess.run(
        [sys.executable, "-m", "server.cli", "db", "upgrade"],
        env=environment,
        cwd=tmp_path,  # no developer's .env
        check=True,
        capture_output=True,
    )
    started = subprocess.run(
        [sys.executable, "-c", START],
        env=environment,
        cwd=tmp_path,
        check=True,
        capture_output=True,
        text=True,
    )
    report = json.loads(started.stdout.splitlines()[-1])
    assert report["status"] == 200
    imported = {
        name: why
        for name, why in NOT_AT_START.items()
        if any(module == name or module.startswith(name + ".") for module in report["modules"])
    }
    assert imported == {}
