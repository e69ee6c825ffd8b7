"""Pre-framed text sends: one websocket frame per event, written to every socket as is.

A fan-out writes the same event to a thousand sockets. A server's frames are not masked,
so the frame (header and payload) is the same bytes for every socket. Where the ASGI server
offers the ``FRAMED_SEND`` extension (``realtime/uvicorn_protocol.py`` adds it to uvicorn), the
endpoint frames an event once and each connection writes those bytes, instead of encoding
and framing the same text again per socket (7 % of the server's CPU per delivered frame
in an A/B run, docs/benchmarks.md). Elsewhere (the test client, another server) it sends ordinary
``websocket.send`` messages.
"""

from __future__ import annotations

from functools import lru_cache

from websockets.frames import Frame, Opcode

FRAMED_SEND = "tandem.websocket.send_framed"


@lru_cache(maxsize=256)
def text_frame(text: str) -> bytes:
    """``text`` as one unmasked, uncompressed websocket text frame (RFC 6455 §5.2).

    Cached: every socket of a fan-out sends the same string, framed once.
    """
    return Frame(Opcode.TEXT, text.encode()).serialize(mask=False, extensions=[])
