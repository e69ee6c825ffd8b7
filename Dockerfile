# Tandem server image: `docker compose up --build` (see compose.yaml) or
#   docker build -t tandem . && docker run -p 8000:8000 -e TANDEM_DATABASE_URL=... tandem
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    UV_COMPILE_BYTECODE=1 \
    UV_LINK_MODE=copy \
    UV_PYTHON_DOWNLOADS=never \
    UV_PROJECT_ENVIRONMENT=/app/.venv \
    PATH=/app/.venv/bin:$PATH

RUN python -m pip install --no-cache-dir uv

WORKDIR /app

# Dependencies first, in their own layer: it is rebuilt only when the lock file changes.
COPY pyproject.toml uv.lock README.md ./
RUN uv sync --frozen --no-dev --no-install-project

COPY server ./server
COPY realtime ./realtime
COPY storage ./storage
COPY web ./web
RUN uv sync --frozen --no-dev
# UV_COMPILE_BYTECODE compiles the dependencies only; the project's own modules are compiled
# here, since PYTHONDONTWRITEBYTECODE keeps the server from caching them: uncompiled, every
# start compiled them again (docs/benchmarks.md, "Start-up").
RUN python -m compileall -q server realtime storage

# Run as an unprivileged user. Its working directory /data is where the default SQLite
# database and its key file go when no TANDEM_DATABASE_URL is given.
RUN useradd --system --create-home --home-dir /data --shell /usr/sbin/nologin tandem
USER tandem
WORKDIR /data
VOLUME ["/data"]

EXPOSE 8000
CMD ["tandem", "serve", "--host", "0.0.0.0"]
