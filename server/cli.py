"""The ``tandem`` command: ``serve``, ``db upgrade`` / ``db current`` / ``db revision``.

What only one command needs (the demo data, the importer) is imported by that command:
``tandem serve`` starts in a fresh process, and every import is on its way to ``/health``.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import logging.config
import os
import shutil
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import uvicorn

from realtime.uvicorn_protocol import UVICORN_OPTIONS
from server.auth.signing_key import resolve_secret_key
from server.http.errors import TandemError
from server.logs import logging_config
from server.metrics import MULTIPROC_ENV
from server.settings import Settings, SettingsError
from storage import migrate

if TYPE_CHECKING:
    from server.demo import DemoLogins

log = logging.getLogger("tandem")
GRACEFUL_STOP_SECONDS = 30


def _settings() -> Settings:
    try:
        return Settings.from_env()
    except SettingsError as exc:
        raise SystemExit(f"tandem: {exc}") from None


def serve(args: argparse.Namespace) -> int:
    if args.lan:
        args.host = _open_to_network(args.port)
    settings = _settings()
    if args.lan and not (settings.rate_limits and settings.anonymous_rate_limits):
        raise SystemExit(
            "tandem: --lan needs rate limits on (TANDEM_RATE_LIMITS and "
            "TANDEM_ANONYMOUS_RATE_LIMITS must not be off): anyone on the network can reach it"
        )
    if args.workers > 1 and not settings.redis_url:
        raise SystemExit(
            "tandem: --workers above 1 needs TANDEM_REDIS_URL: the in-process broker and "
            "rate-limit counters cannot span processes"
        )
    try:
        # Resolved once here, before any worker starts, so all workers share one key file.
        settings = resolve_secret_key(settings)
    except SettingsError as exc:
        raise SystemExit(f"tandem: {exc}") from None
    asyncio.run(migrate.upgrade(settings.database_url))
    log.info("database at revision %s", migrate.script_head())
    if args.demo:
        _fill_demo(settings, quiet_if_filled=True)
    if args.access_log:
        os.environ["TANDEM_ACCESS_LOG"] = "on"  # read by every worker's Settings.from_env
    if args.lan:
        from server import lan  # noqa: PLC0415 - not imported by a plain serve

        assert settings.public_url is not None  # set by _open_to_network
        lan.print_banner(settings.public_url, sys.stdout)
    metrics_dir = None
    if settings.metrics and args.workers > 1:
        # Workers share their metrics through files (prometheus-client's multiprocess
        # mode): a fresh private directory, set before any worker imports the client.
        metrics_dir = tempfile.mkdtemp(prefix="tandem-metrics-")
        os.environ[MULTIPROC_ENV] = metrics_dir
    try:
        _run_uvicorn(args, settings)
    finally:
        if metrics_dir is not None:
            shutil.rmtree(metrics_dir, ignore_errors=True)
    return 0


def _open_to_network(port: int) -> str:
    """``--lan``: the address to listen on. Its origin becomes an allowed one and the origin
    of join links (unless TANDEM_PUBLIC_URL names another, such as a DNS name), through the
    environment every worker's settings are read from."""
    from server import lan  # noqa: PLC0415 - not imported by a plain serve

    address = lan.network_address()
    if address is None:
        raise SystemExit(
            "tandem: --lan found no network address on this machine (only loopback): "
            "connect to the Wi-Fi or network the class uses, or name an address with --host instead"
        )
    origin = f"http://{address}:{port}"
    settings = _settings()  # the environment over .env, as every worker will read it
    if settings.public_url is None:
        os.environ["TANDEM_PUBLIC_URL"] = origin
    os.environ["TANDEM_ALLOWED_ORIGINS"] = ",".join([*settings.allowed_origins, origin])
    log.info("serving the network at %s", origin)
    return address


def _run_uvicorn(args: argparse.Namespace, settings: Settings) -> None:
    uvicorn.run(
        "server.asgi:app_from_env",
        factory=True,
        host=args.host,
        port=args.port,
        workers=args.workers,
        loop="uvloop" if sys.platform != "win32" else "asyncio",
        **UVICORN_OPTIONS,
        backlog=4096,
        lifespan="on",
        # A stop waits for requests in flight, not forever: a rolling restart must end even
        # when a client never reads its socket (docs/operations.md, "Stopping a process").
        timeout_graceful_shutdown=GRACEFUL_STOP_SECONDS,
        # The app reads X-Forwarded-For itself, trusting TANDEM_TRUSTED_PROXIES only
        # (server/http/client_address.py); uvicorn's copy would first rewrite the client
        # address from its own FORWARDED_ALLOW_IPS list, which the setting must replace, not
        # add to.
        proxy_headers=False,
        log_config=logging_config(settings.log_format),
        log_level=args.log_level,
        # Ours replaces uvicorn's (server/http/observe.py): one line a request, in either format.
        access_log=False,
    )


def demo(_: argparse.Namespace) -> int:
    settings = _settings()
    try:
        settings = resolve_secret_key(settings)
    except SettingsError as exc:
        raise SystemExit(f"tandem: {exc}") from None
    asyncio.run(migrate.upgrade(settings.database_url))
    _fill_demo(settings, quiet_if_filled=False)
    return 0


def _fill_demo(settings: Settings, *, quiet_if_filled: bool) -> None:
    from server import demo as demo_data  # noqa: PLC0415 - not imported by a plain serve

    try:
        logins = asyncio.run(demo_data.fill(settings))
    except demo_data.NotEmpty as exc:
        if quiet_if_filled and exc.logins is not None:
            # A restart with --demo: the logins again, so nobody has to scroll back for them.
            print("The demo classroom is already here.", end=" ")
            _print_logins(exc.logins)
            return
        if quiet_if_filled:
            log.info("the database has accounts already: demo data not added")
            return
        raise SystemExit(
            "tandem: the database has accounts already; the demo fills an empty one"
        ) from None
    print(f"Demo classroom {logins.classroom!r} is ready.", end=" ")
    _print_logins(logins)


def _print_logins(logins: DemoLogins) -> None:
    print(f"Sign in with password {logins.password!r}:")
    for name, email in logins.teachers:
        print(f"  teacher  {email:<22} {name}")
    print(f"  learner  {logins.learner[1]:<22} {logins.learner[0]}")


def db_upgrade(_: argparse.Namespace) -> int:
    settings = _settings()
    asyncio.run(migrate.upgrade(settings.database_url))
    print(f"database upgraded to {migrate.head_revision()}")
    return 0


def db_current(_: argparse.Namespace) -> int:
    settings = _settings()
    current = asyncio.run(migrate.current_revision(settings.database_url))
    head = migrate.head_revision()
    print(f"current: {current or '(empty)'}  head: {head}")
    return 0 if current == head else 1


def db_revision(args: argparse.Namespace) -> int:
    settings = _settings()
    asyncio.run(migrate.make_revision(settings.database_url, args.message))
    return 0


def import_progress(args: argparse.Namespace) -> int:
    from server.progress import importer  # noqa: PLC0415 - not imported by a plain serve

    settings = _settings()
    try:
        settings = resolve_secret_key(settings)
    except SettingsError as exc:
        raise SystemExit(f"tandem: {exc}") from None
    path = Path(args.file)
    try:
        body = path.read_bytes()
    except OSError as exc:
        raise SystemExit(f"tandem: cannot read {path}: {exc.strerror}") from None
    content_type = "text/csv" if path.suffix.lower() == ".csv" else "application/json"
    try:
        report = asyncio.run(importer.import_file(settings, args.email, body, content_type))
    except importer.UnknownUser:
        raise SystemExit(f"tandem: no account with the email {args.email}") from None
    except TandemError as exc:
        raise SystemExit(f"tandem: {path}: {exc.message}") from None
    print(
        f"imported {report.imported}, merged {report.merged}, unchanged {report.unchanged}, "
        f"rejected {len(report.rejected)}"
    )
    for rejected in report.rejected:
        print(f"  rejected {rejected.word_id!r}: {rejected.reason}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="tandem", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)

    serve_cmd = commands.add_parser(
        "serve",
        help="serve the web app, the API and live updates",
        description="Serve the web app, the API and live updates (settings: TANDEM_* "
        "variables or .env; see README). Stop with Ctrl+C.",
    )
    where = serve_cmd.add_mutually_exclusive_group()
    where.add_argument(
        "--host",
        default="127.0.0.1",
        help="address to listen on (default: %(default)s, this computer only; 0.0.0.0: "
        "every network interface)",
    )
    where.add_argument(
        "--lan",
        action="store_true",
        help="listen on this computer's network address so phones and tablets on the same "
        "Wi-Fi can join; prints the address and a QR code of it",
    )
    serve_cmd.add_argument(
        "--port", type=int, default=8000, help="port to listen on (default: %(default)s)"
    )
    serve_cmd.add_argument(
        "--workers",
        type=int,
        default=1,
        help="worker processes sharing the port (default: %(default)s; above 1 needs "
        "TANDEM_REDIS_URL)",
    )
    serve_cmd.add_argument(
        "--log-level",
        default="info",
        choices=["critical", "error", "warning", "info", "debug", "trace"],
        help="how much the server logs (default: %(default)s)",
    )
    serve_cmd.add_argument(
        "--access-log",
        action=argparse.BooleanOptionalAction,
        default=False,
        help="log one line per request (default: off)",
    )
    serve_cmd.add_argument(
        "--demo",
        action="store_true",
        help="fill an empty database with a demo classroom first and print its logins "
        "(printed again on later starts)",
    )
    serve_cmd.set_defaults(handler=serve)

    db_cmd = commands.add_parser("db", help="database schema migrations")
    db_commands = db_cmd.add_subparsers(dest="db_command", required=True)
    db_commands.add_parser("upgrade", help="apply pending migrations").set_defaults(
        handler=db_upgrade
    )
    db_commands.add_parser("current", help="show the schema revision").set_defaults(
        handler=db_current
    )
    revision_cmd = db_commands.add_parser("revision", help="autogenerate a migration")
    revision_cmd.add_argument("-m", "--message", required=True)
    revision_cmd.set_defaults(handler=db_revision)
    commands.add_parser("demo", help="fill an empty database with a demo classroom").set_defaults(
        handler=demo
    )

    import_cmd = commands.add_parser(
        "import-progress", help="import a learner's old localStorage JSON or CSV progress"
    )
    import_cmd.add_argument("--email", required=True, help="the learner's account")
    import_cmd.add_argument("file", help="a .json localStorage export or a .csv file")
    import_cmd.set_defaults(handler=import_progress)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    try:
        log_format = Settings.from_env().log_format
    except SettingsError:
        log_format = "text"  # the command itself reports the bad setting
    logging.config.dictConfig(logging_config(log_format))
    args = build_parser().parse_args(argv)
    return int(args.handler(args))


if __name__ == "__main__":
    sys.exit(main())
