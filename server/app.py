"""``create_app(settings)``: the one composition root of a Tandem process.

Everything a process holds (database, Redis client, rate limiter, services) is built here
from :class:`Settings`, handed to routes by dependency injection, and closed on shutdown.
Nothing is created at import time.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from litestar import Litestar
from litestar.config.cors import CORSConfig
from litestar.di import Provide
from litestar.openapi import OpenAPIConfig
from redis.asyncio import Redis

from realtime import periodic
from realtime.routes import realtime_socket
from server.api_docs import SwaggerUI
from server.auth.routes import AuthController
from server.auth.service import AuthService
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
from server.edge import EdgeMiddleware
from server.errors import exception_to_response
from server.health import health, ready
from server.methods import Methods
from server.openapi import COMPONENTS, BearerSecurity, ClosedStructs, ErrorResponses
from server.progress.routes import ProgressController
from server.progress.service import ProgressService
from server.proxies import trust_proxies
from server.ratelimit import MemoryRateLimiter, RateLimiter, Window
from server.realtime_wiring import build_realtime
from server.redis_ratelimit import RedisRateLimiter
from server.security_headers import SecurityHeaders
from server.settings import Settings
from server.signing_key import resolve_secret_key
from server.strict_input import strict_input
from server.web import web_router
from server.words.routes import Decks, TeacherWords
from server.words.service import WordService
from storage.database import Database

log = logging.getLogger("tandem")

VERSION = "0.1.0"
LOCK_SWEEP_SECONDS = 1.0


def _provide(value: Any) -> Provide:
    return Provide(lambda: value, use_cache=True, sync_to_thread=False)


def _limiter(windows: tuple[Window, ...], redis: Redis | None) -> RateLimiter | None:
    """Request limits on ``windows`` (None when off): in Redis if configured, else memory."""
    if not windows:
        return None
    memory = MemoryRateLimiter(windows)
    return RedisRateLimiter(redis, windows, fallback=memory) if redis else memory


def create_app(settings: Settings) -> Litestar:
    settings = resolve_secret_key(settings)
    assert settings.secret_key is not None
    database = Database(settings.database_url)
    # Short timeouts: a Redis that stops answering must cost a fallback, never a hung request.
    redis = (
        Redis.from_url(settings.redis_url, socket_connect_timeout=2, socket_timeout=5)
        if settings.redis_url
        else None
    )

    user_limiter = _limiter(settings.rate_limits, redis)
    anonymous_limiter = _limiter(settings.anonymous_rate_limits, redis)
    login_throttle = LoginThrottle(
        redis_url=settings.redis_url,
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

    realtime = build_realtime(settings, database, redis)
    progress_service = ProgressService(database, realtime.hub.publish)
    stamps = board_stamps(redis)
    classroom_service = ClassroomService(database, realtime.hub.publish, stamps)
    roster_service = RosterService(database, realtime.hub.publish, stamps)
    learner_service = LearnerService(database, realtime.hub.publish, stamps)
    word_service = WordService(database)
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
        try:
            yield
        finally:
            await periodic.cancel(sweeper)
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
            Decks,
            TeacherWords,
            ProgressBoard,
            realtime_socket,
            web_router(),
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
    # answers the router gives itself (404, 405); server/edge.py says more. The proxy layer
    # goes outside them all, so that every client address is the one it settles.
    methods = Methods(app.asgi_handler, app, cors=bool(settings.allowed_origins))
    edge = EdgeMiddleware(
        methods,
        secret_key=settings.secret_key,
        user_limiter=user_limiter,
        anonymous_limiter=anonymous_limiter,
    )
    app.asgi_handler = trust_proxies(SecurityHeaders(edge), settings.trusted_proxies)
    app.state.settings = settings
    # For tools and tests that append events the way services do.
    app.state.publish = realtime.hub.publish
    return app
