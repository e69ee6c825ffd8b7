"""Which real services this test run uses, from the environment.

Unset: the embedded default (a SQLite file per test, in-process fan-out, memory counters).
``TANDEM_TEST_DATABASE_URL``: a PostgreSQL *maintenance* URL such as
``postgresql+asyncpg://postgres@127.0.0.1:5432/test``; each test gets a fresh database
created on that server from a migrated template. ``TANDEM_TEST_REDIS_URL``: the Redis the
app under test uses (flushed before each test).
"""

from __future__ import annotations

import os

TEST_DATABASE_URL = os.environ.get("TANDEM_TEST_DATABASE_URL") or None
TEST_REDIS_URL = os.environ.get("TANDEM_TEST_REDIS_URL") or None
SECRET_KEY = "tandem-test-signing-key-0123456789abcdef0123456789"
