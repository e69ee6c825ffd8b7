"""Who the client is: its address as seen through the proxies we trust (contract §2).

The client address keys the anonymous rate limit and the login throttle, so a client must not
choose it. ``X-Forwarded-For`` is therefore believed only from a peer listed in
``TANDEM_TRUSTED_PROXIES``, and read right to left: each proxy appends the address it saw, so
the rightmost entry that is not itself a trusted proxy is the client (whatever a client wrote
further left is ignored).

The reading is uvicorn's own :class:`ProxyHeadersMiddleware` (kept by uvicorn, handles IPv6,
ports and CIDRs), applied by the app rather than by the server so that the same rule holds
under any ASGI server and in tests; ``tandem serve`` turns uvicorn's copy off so that its
``FORWARDED_ALLOW_IPS`` default cannot rewrite the address first. Everything in the app that
needs the client address asks :func:`client_address`.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence
from typing import Any, cast

from litestar.types import ASGIApp, Scope
from uvicorn.middleware.proxy_headers import ProxyHeadersMiddleware

DEFAULT_TRUSTED_PROXIES = "127.0.0.1"
UNKNOWN_ADDRESS = "unknown"


def parse_trusted_proxies(text: str) -> tuple[str, ...]:
    """Parse ``"127.0.0.1, 10.0.0.0/8"`` into normalised addresses and networks; ``none``: ().

    Raises :class:`ValueError` naming the first entry that is neither. Networks are normalised
    (``10.1.2.3/8`` becomes ``10.0.0.0/8``) because uvicorn would silently take a network with
    host bits set for a literal host name and trust nothing.
    """
    stripped = text.strip()
    if stripped.lower() == "none":
        return ()
    result: list[str] = []
    for entry in (e.strip() for e in stripped.split(",")):
        if not entry:
            continue
        try:
            if "/" in entry:
                result.append(str(ipaddress.ip_network(entry, strict=False)))
            else:
                result.append(str(ipaddress.ip_address(entry)))
        except ValueError:
            raise ValueError(
                f"{entry!r} is neither an IP address nor a network such as 10.0.0.0/8 "
                "(use 'none' to trust no proxy)"
            ) from None
    return tuple(result)


def trust_proxies(app: ASGIApp, trusted: Sequence[str]) -> ASGIApp:
    """``app`` with ``scope["client"]`` (and the scheme) taken from trusted proxies' headers."""
    if not trusted:
        return app
    # uvicorn types its middleware with its own ASGI aliases; the shapes are the same.
    return cast(ASGIApp, ProxyHeadersMiddleware(cast(Any, app), trusted_hosts=list(trusted)))


def client_address(scope: Scope) -> str:
    """The client's address, after :func:`trust_proxies`; ``unknown`` when the server gave none."""
    client = scope.get("client")
    return str(client[0]) if client else UNKNOWN_ADDRESS
