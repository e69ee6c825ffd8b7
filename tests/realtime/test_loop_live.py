"""The learning loop's live path across processes (contract §9, §7): a learner's answer
through one process reaches a teacher's board socket on another within a second, as one
``card.progress`` and then auto-advance's ``card.moved``, each once, in ``seq`` order right
after the board read's ``seq``. Needs Redis: it runs in the PostgreSQL + Redis pass.
"""

from __future__ import annotations

import time
from typing import Any

import httpx
import pytest
from litestar import Litestar

from server.settings import Settings
from tests.backends import SECRET_KEY
from tests.board_helpers import get_board
from tests.live import frame_where, live, subscribe, websocket
from tests.server.loop_helpers import WORDS, loop, put, sums
from tests.servers import served

pytestmark = pytest.mark.needs_redis

DELIVERY_SECONDS = 1.0  # §9: "a learner's answer reaches their teachers' boards within 1 s"


def _environment(settings: Settings) -> dict[str, str]:
    assert settings.redis_url is not None
    return {
        "TANDEM_DATABASE_URL": settings.database_url,
        "TANDEM_REDIS_URL": settings.redis_url,
        "TANDEM_SECRET_KEY": SECRET_KEY,
        "TANDEM_RATE_LIMITS": "off",
        "TANDEM_ANONYMOUS_RATE_LIMITS": "off",
    }


async def _event(socket: Any) -> Any:
    return await frame_where(socket, lambda frame: frame["type"] == "event", timeout=5)


async def test_an_answer_on_one_process_reaches_a_board_socket_on_the_other(
    app: Litestar, settings: Settings
) -> None:
    async with (
        live(app) as first,
        served(_environment(settings)) as second,
        httpx.AsyncClient(base_url=f"http://{first}") as on_first,
        httpx.AsyncClient(base_url=second.url) as on_second,
    ):
        setup = await loop(on_first)
        teacher = setup.place.teacher
        board = await get_board(on_first, teacher, classroom_id=setup.place.id)
        for answering, watching in ((on_second, first), (on_first, second.url[7:])):
            async with websocket(watching, token=teacher.token) as socket:
                answer = await subscribe(socket, setup.place.channel, since=board["seq"])
                assert answer["type"] == "subscribed", answer
                began = time.monotonic()
                word = WORDS[0] if answering is on_second else WORDS[1]
                study = 1 if answering is on_second else 2
                response = await put(answering, setup.learner, word, study, 1)
                assert response.status_code == 201, response.text
                progress = await _event(socket)
                took = time.monotonic() - began
                assert progress["event"] == "card.progress"
                assert progress["seq"] == board["seq"] + 1
                assert progress["actor"] == {"id": setup.learner.id, "name": setup.learner.name}
                assert progress["data"]["id"] == setup.card["id"]
                assert took < DELIVERY_SECONDS  # the request's own time included
                if answering is on_second:
                    moved = await _event(socket)
                    assert (moved["event"], moved["seq"]) == ("card.moved", board["seq"] + 2)
                    assert moved["actor"] == {"id": None, "name": "Tandem"}
                    assert moved["data"]["card"]["status"] == "in_progress"
            board = await get_board(on_first, teacher, classroom_id=setup.place.id)
        shown = [c for column in board["columns"] for c in column["cards"]]
        card = next(c for c in shown if c["id"] == setup.card["id"])
        assert card["progress"] == sums(3, 2, 0, 3, 2, card["progress"]["last_studied_at"])
