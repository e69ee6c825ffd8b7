"""Pre-framed sends: the bytes are the RFC 6455 text frame, framed once per text.

That served sockets receive events through them is in test_websocket.py.
"""

from __future__ import annotations

import pytest

from realtime.framing import text_frame


@pytest.mark.parametrize(
    ("length", "header"),
    [
        (0, b"\x81\x00"),
        (125, b"\x81\x7d"),  # up to 125: the length is in the second byte
        (126, b"\x81\x7e\x00\x7e"),  # 126 to 65,535: 126, then 16 bits
        (70_000, b"\x81\x7f" + (70_000).to_bytes(8, "big")),  # beyond: 127, then 64 bits
    ],
)
def test_a_text_frame_is_fin_text_unmasked_with_the_payload_length(
    length: int, header: bytes
) -> None:
    text = "é" * (length // 2) + "x" * (length % 2)  # UTF-8: two bytes per é
    assert text_frame(text) == header + text.encode()


def test_the_same_text_is_framed_once() -> None:
    text = '{"type":"event","seq":1}'
    assert text_frame(text) is text_frame(text)
