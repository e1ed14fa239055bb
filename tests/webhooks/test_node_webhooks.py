"""Webhooks from real nodes: a delivery pending when a node is killed (SIGKILL) is made
after its restart, and two nodes on one PostgreSQL send each event once.

Until the node records its quizzes through the batch writer (the storewire work of
issue 13), the events are written here the way that writer writes them (the real
``BatchWriter`` with the real ``Outbox``) into the node's database; everything after
that (claims, signing, sending, retries, restart) is the node's own.  The node's retry
schedule and poll interval are shortened through the documented module constants.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest
import trio
from sqlalchemy import Engine

from quizd.config import StorageSection
from quizd.config.model import WebhookEndpoint, WebhookEvent
from quizd.store.engine import engine_from_settings
from quizd.store.migrate import upgrade
from quizd.webhooks.outbox import event_id
from tests.webhooks.quizkit import a_quiz, outbox_rows
from tests.webhooks.receiver import SECRET, STALL, Receiver, serve
from tests.webhooks.webhookkit import write

pytestmark = pytest.mark.e2e

FAST = {
    "quizd.webhooks.sender.POLL_INTERVAL_S": 0.2,
    "quizd.webhooks.schedule.DELAYS_S": (1.0,),
    "quizd.webhooks.schedule.REPEAT_S": 1.0,
}


def patched(constants: dict[str, Any]) -> Sequence[str]:
    """``python -m quizd`` with ``module.NAME`` constants set first."""
    lines = [f"import {d.rsplit('.', 1)[0]}; {d} = {v!r}" for d, v in constants.items()]
    lines.append("from quizd.cli import main; raise SystemExit(main())")
    return [sys.executable, "-c", "\n".join(lines)]


def migrated(url: str) -> Engine:
    engine = engine_from_settings(StorageSection(url=url), None)
    upgrade(engine)
    return engine


def record_quizzes(engine: Engine, endpoint: WebhookEndpoint, quizzes: int) -> None:
    """What a node's batch writer writes for ``quizzes`` quizzes that just ended."""
    events = [e for i in range(quizzes) for e in a_quiz(f"quiz{i}", t0=int(time.time() * 1000) - 60_000)]
    trio.run(write, engine, events, (endpoint,))


def wait_until(condition: Any, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


def test_a_delivery_pending_when_the_node_is_killed_is_made_after_its_restart(
    node_factory: Any, tmp_path: Path
) -> None:
    db = tmp_path / "quizd.db"
    engine = migrated(f"sqlite:///{db}")
    # The first attempt fails, the second is held unanswered when the node is killed.
    with serve(Receiver(plan=(500, STALL))) as receiver:
        endpoint = WebhookEndpoint(url=receiver.url, secret=SECRET, events=(WebhookEvent.QUIZ_ENDED,))
        record_quizzes(engine, endpoint, 1)
        node = node_factory(
            command=patched(FAST),
            storage={"url": f"sqlite:///{db}"},
            webhooks=[{"url": receiver.url, "secret": SECRET, "events": ["quiz.ended"]}],
        )
        wait_until(lambda: len(receiver.received) == 2)
        (row,) = outbox_rows(engine)
        assert (row.attempts, row.claimed_by) == (1, node.node_id)  # mid-delivery: claimed
        node.kill()
        node.start(20)  # the same node id and database: takes back its claim at once
        received = receiver.wait_for(1)
    msg_id = event_id(WebhookEvent.QUIZ_ENDED, "quiz0")
    assert [(r.msg_id, r.status) for r in received] == [(msg_id, 500), (msg_id, STALL), (msg_id, 200)]
    assert all(r.verified for r in received)
    wait_until(lambda: outbox_rows(engine)[0].delivered_at is not None)
    assert outbox_rows(engine)[0].attempts == 2  # the attempt cut off by the crash was never settled
    assert "took back 1 deliveries claimed before a restart" in node.log()
    assert SECRET not in node.log() and SECRET.removeprefix("whsec_") not in node.log()
    engine.dispose()


def test_two_nodes_on_one_postgresql_send_each_event_once(node_factory: Any, pg_url: str) -> None:
    engine = migrated(pg_url)
    with serve(Receiver()) as receiver:
        hook = {"url": receiver.url, "secret": SECRET}
        nodes = [node_factory(command=patched(FAST), storage={"url": pg_url}, webhooks=[hook]) for _ in range(2)]
        record_quizzes(engine, WebhookEndpoint(url=receiver.url, secret=SECRET), 10)
        received = receiver.wait_for(30)
        time.sleep(1)  # a second send of any event would arrive by now
        received = receiver.received
    assert len(received) == 30 and all(r.verified and r.status == 200 for r in received)
    assert len({r.msg_id for r in received}) == 30  # 10 quizzes x 3 events, each once
    assert all(row.delivered_at is not None for row in outbox_rows(engine))
    assert all(n.running for n in nodes)
    engine.dispose()
