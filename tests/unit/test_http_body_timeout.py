"""The control plane's own deadlines, driven as an ASGI app under virtual time."""

from __future__ import annotations

from typing import Any

import orjson
import trio
import trio.testing

from quizd.config import Config, DefinitionSet
from quizd.http.app import BODY_TIMEOUT_S, ControlPlane
from quizd.placement import LocalPlacement
from quizd.service import DefinitionCatalog, QuizService


async def call(app: ControlPlane, scope: dict[str, Any], receive: Any) -> tuple[int, bytes]:
    sent: list[dict[str, Any]] = []

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    await app(scope, receive, send)
    return sent[0]["status"], sent[1]["body"]


def control_plane() -> ControlPlane:
    config = Config()
    service = QuizService(LocalPlacement(config), DefinitionCatalog(DefinitionSet(definitions={}, problems=())))
    return ControlPlane(service, admin_token="t", ready=lambda: None, ws_url=lambda: "ws://x/ws")


SCOPE = {
    "type": "http",
    "method": "POST",
    "path": "/api/quizzes",
    "query_string": b"",
    "headers": [(b"authorization", b"Bearer t"), (b"content-length", b"100")],
    "client": ("127.0.0.1", 5),
}


async def test_a_body_that_never_arrives_is_refused_after_the_deadline(autojump_clock: trio.testing.MockClock) -> None:
    app = control_plane()
    start = trio.current_time()

    async def receive() -> dict[str, Any]:
        await trio.sleep_forever()
        raise AssertionError

    status, body = await call(app, SCOPE, receive)
    assert status == 408
    assert orjson.loads(body)["error"]["code"] == "invalid_body"
    assert trio.current_time() - start == BODY_TIMEOUT_S


async def test_a_body_that_trickles_in_past_the_deadline_is_refused(autojump_clock: trio.testing.MockClock) -> None:
    app = control_plane()

    async def receive() -> dict[str, Any]:
        await trio.sleep(1)
        return {"type": "http.request", "body": b" ", "more_body": True}

    status, _ = await call(app, SCOPE, receive)
    assert status == 408
