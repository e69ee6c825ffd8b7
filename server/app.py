"""``create_app(settings)``: the one composition root of a Tandem process.

Everything a process holds (database, Redis client, rate limiter, services) is built here
from :class:`Settings`, handed to routes by dependency injection, and closed on shutdown.
Nothing is created at import time.
"""

from __future__ import annotations

import asyncio
import gc
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Any

from litestar import Litestar
from litestar.config.cors import CORSConfig
from litestar.di import Provide
from litestar.openapi import OpenAPIConfig

from realtime import periodic
from realtime.redis_client import connect
from realtime.routes import realtime_socket
from server.auth.routes import AuthController
from server.auth.service import AuthService
from server.auth.signing_key import resolve_secret_key
from server.auth.throttle import LoginThrottle
from server.board.cache import BoardCache, MemoryBoardCache, RedisBoardCache
from server.board.reads import BoardReads
from server.board.routes import ProgressBoard
from server.board.service import BoardService
from server.board.stamps import board_stamps
from server.classrooms.learners import LearnerService
from server.classrooms.roster import RosterService
from server.classrooms.roster_routes import Lessons, Students
from server.classrooms.routes import LearnerClassrooms, TeacherClassrooms
from server.classrooms.service import ClassroomService
from server.http.api_docs import SwaggerUI
from server.http.client_address import trust_proxies
from server.http.edge import EdgeMiddleware
from server.http.errors import exception_to_response
from server.http.health import health, ready
from server.http.join_links import join_origin, join_qr
from server.http.methods import Methods
from server.http.observe import Observe
from server.http.openapi import COMPONENTS, BearerSecurity, ClosedStructs, ErrorResponses
from server.http.pages import web_router
from server.http.security_headers import SecurityHeaders
from server.http.strict_input import strict_input
from server.loop.routes import Assignments, Overview
from server.loop.service import LoopService
from server.metrics import PrometheusMetrics, metrics_route
from server.progress.routes import ProgressController
from server.progress.service import ProgressService
from server.ratelimit.base import RateLimiter, Window
from server.ratelimit.redis import rate_limiter
from server.realtime_wiring import build_realtime
from server.settings import Settings
from server.words.routes import Decks, TeacherWords
from server.words.service import WordService
from storage.database import Database

if TYPE_CHECKING:
    from redis.asyncio import Redis

log = logging.getLogger("tandem")

VERSION = "0.1.0"
LOCK_SWEEP_SECONDS = 1.0
POOL_GAUGE_SECONDS = 1.0


def _provide(value: Any) -> Provide:
    return Provide(lambda: value, use_cache=True, sync_to_thread=False)


def _budget(windows: tuple[Window, ...], redis: Redis | None, concern: str) -> RateLimiter | None:
    """Request limits on ``windows`` (None when off): in Redis if configured, else memory."""
    return rate_limiter(windows, redis, prefix="tandem:rl:", concern=concern) if windows else None


def _keep_startup_heap() -> None:
    """Everything built by start-up (modules, the app, its services) lives as long as the
    process: moved out of the collector's sight, a full collection no longer walks it. One
    took about 50 ms during a 3,000-card board read and held the GIL meanwhile, stalling
    every request of the process, moves holding their board's lock among them
    (docs/benchmarks.md, eighth round)."""
    gc.freeze()


def _pool_gauge(metrics: PrometheusMetrics | None) -> asyncio.Task[None] | None:
    """With several workers, each writes its own share of the pool gauge: other workers
    cannot be asked at scrape time."""
    if metrics is None or not metrics.multiprocess:
        return None

    async def refresh_pool() -> None:
        metrics.refresh_pool()

    return periodic.run_every(POOL_GAUGE_SECONDS, refresh_pool, "pool-gauge")


def create_app(settings: Settings) -> Litestar:
    settings = resolve_secret_key(settings)
    assert settings.secret_key is not None
    database = Database(settings.database_url)
    # The process's one Redis client (one pool, one timeout policy), given to everything that
    # uses Redis and closed last: realtime/redis_client.py.
    redis = connect(settings.redis_url) if settings.redis_url else None

    user_limiter = _budget(settings.rate_limits, redis, "user rate limits")
    anonymous_limiter = _budget(settings.anonymous_rate_limits, redis, "anonymous rate limits")
    login_throttle = LoginThrottle(
        redis,
        limit=settings.login_failure_limit,
        limit_all_addresses=settings.login_failure_limit_all_addresses,
        minutes=settings.login_failure_minutes,
    )
    auth_service = AuthService(
        database,
        secret_key=settings.secret_key,
        access_ttl=settings.access_token_ttl_seconds,
        refresh_ttl=settings.refresh_token_ttl_seconds,
        login_throttle=login_throttle,
    )

    metrics = (
        PrometheusMetrics(database.engine.pool.checkedout)  # type: ignore[attr-defined]
        if settings.metrics
        else None
    )
    realtime = build_realtime(settings, database, redis, meters=metrics)
    stamps = board_stamps(redis)
    progress_service = ProgressService(database, realtime.hub.publish, stamps)
    classroom_service = ClassroomService(database, realtime.hub.publish, stamps)
    roster_service = RosterService(database, realtime.hub.publish, stamps)
    learner_service = LearnerService(database, realtime.hub.publish, stamps)
    word_service = WordService(database)
    loop_service = LoopService(database)
    board_service = BoardService(
        database, realtime.hub.publish, stamps, lock_ttl=settings.lock_ttl_seconds
    )
    board_cache: BoardCache = RedisBoardCache(redis) if redis else MemoryBoardCache()
    board_reads = BoardReads(database, board_cache, stamps)

    @asynccontextmanager
    async def lifespan(_: Litestar) -> AsyncIterator[None]:
        await realtime.start(database, settings.event_retention_days)
        # Lock leases end on their own; the sweeper announces each expiry (card.unlocked,
        # reason "expired") within about a second, on whichever process gets to it first.
        sweeper = periodic.run_every(
            LOCK_SWEEP_SECONDS, board_service.release_expired_locks, "lock-sweeper"
        )
        pool_gauge = _pool_gauge(metrics)
        _keep_startup_heap()
        try:
            yield
        finally:
            await periodic.cancel(sweeper)
            await periodic.cancel(pool_gauge)
            if metrics is not None:
                metrics.process_stopped()
            await realtime.stop()
            for limiter in (user_limiter, anonymous_limiter):
                if limiter is not None:
                    await limiter.aclose()
            await login_throttle.aclose()
            if redis is not None:
                await redis.aclose()
            await database.dispose()

    app = Litestar(
        route_handlers=[
            health,
            ready,
            AuthController,
            ProgressController,
            TeacherClassrooms,
            Students,
            Lessons,
            LearnerClassrooms,
            Assignments,
            Overview,
            Decks,
            TeacherWords,
            ProgressBoard,
            realtime_socket,
            web_router(),
            join_origin,
            join_qr,
            *([metrics_route(metrics, settings.metrics_allow)] if metrics is not None else []),
        ],
        dependencies={
            "settings": _provide(settings),
            "database": _provide(database),
            "redis": _provide(redis),
            "auth_service": _provide(auth_service),
            "realtime": _provide(realtime.endpoint),
            "progress_service": _provide(progress_service),
            "classroom_service": _provide(classroom_service),
            "roster_service": _provide(roster_service),
            "learner_service": _provide(learner_service),
            "word_service": _provide(word_service),
            "loop_service": _provide(loop_service),
            "board_service": _provide(board_service),
            "board_reads": _provide(board_reads),
        },
        exception_handlers={Exception: exception_to_response},
        request_max_body_size=settings.max_body_bytes,
        before_request=strict_input,
        cors_config=CORSConfig(allow_origins=list(settings.allowed_origins))
        if settings.allowed_origins
        else None,
        openapi_config=OpenAPIConfig(
            title="Tandem",
            version=VERSION,
            description="Learner progress and the teacher progress board, live.",
            path="/schema",
            render_plugins=[SwaggerUI(path="/swagger")],
            components=COMPONENTS,
        ),
        plugins=[ErrorResponses(), BearerSecurity(), ClosedStructs()],
        lifespan=[lifespan],
        logging_config=None,
    )
    # These wrap Litestar's whole handler rather than being middleware, so they also see the
    # answers the router gives itself (404, 405); server/http/edge.py says more. The proxy layer
    # goes outside them all, so that every client address is the one it settles.
    methods = Methods(app.asgi_handler, app, cors=bool(settings.allowed_origins))
    edge = EdgeMiddleware(
        methods,
        secret_key=settings.secret_key,
        user_limiter=user_limiter,
        anonymous_limiter=anonymous_limiter,
    )
    observed = Observe(SecurityHeaders(edge), metrics=metrics, log_requests=settings.access_log)
    app.asgi_handler = trust_proxies(observed, settings.trusted_proxies)
    app.state.settings = settings
    app.state.redis = redis
    # For tools and tests that append events the way services do.
    app.state.publish = realtime.hub.publish
    return app
