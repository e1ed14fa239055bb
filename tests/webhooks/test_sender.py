"""The sender against a real receiver on a loopback port and a real database.

Every request's signature is verified with the ``standardwebhooks`` library.  The
schedule is injected short (the contract's is tested on a MockClock in test_schedule).
"""

from __future__ import annotations

import time

import trio
from sqlalchemy import Engine, update

from quizd.config import StorageSection
from quizd.config.model import WebhookEndpoint, WebhookEvent
from quizd.ops import metrics
from quizd.store import schema
from quizd.store.engine import Database, engine_from_settings
from quizd.webhooks.outbox import event_id
from quizd.webhooks.schedule import RetrySchedule
from quizd.webhooks.sender import WebhookSender
from tests.webhooks.quizkit import a_quiz, outbox_rows
from tests.webhooks.receiver import SECRET, Receiver, serve
from tests.webhooks.webhookkit import write

# Over a second apart, so that each attempt's webhook-timestamp (Unix seconds) differs.
SHORT = RetrySchedule(delays_s=(1.1,), repeat_s=1.1, give_up_after_s=3600)


def ended_only(url: str) -> WebhookEndpoint:
    return WebhookEndpoint(url=url, secret=SECRET, events=(WebhookEvent.QUIZ_ENDED,))


def now_ms() -> int:
    return int(time.time() * 1000)


def just_ended() -> int:
    """A quiz start time whose end (a minute later) is now."""
    return now_ms() - 60_000


async def run_until(condition: object, senders: list[WebhookSender], timeout: float = 20) -> None:
    async with trio.open_nursery() as nursery:
        for sender in senders:
            nursery.start_soon(sender.run)
        with trio.fail_after(timeout):
            while not condition():  # type: ignore[operator]
                await trio.sleep(0.05)
        nursery.cancel_scope.cancel()


async def test_500_twice_then_200_is_one_event_delivered_once_after_three_fresh_signatures(engine: Engine) -> None:
    with serve(Receiver(plan=(500, 500))) as receiver:
        endpoint = ended_only(receiver.url)
        await write(engine, a_quiz("quiz1", t0=just_ended()), endpoints=(endpoint,))
        before = metrics.WEBHOOK_DELIVERIES.labels(result="delivered")._value.get()
        sender = WebhookSender(Database(engine), (endpoint,), "node-a", schedule=SHORT)
        await run_until(lambda: any(r.delivered_at for r in outbox_rows(engine)), [sender])
        received = receiver.received
    assert [r.status for r in received] == [500, 500, 200]
    assert all(r.verified for r in received)
    assert {r.msg_id for r in received} == {event_id(WebhookEvent.QUIZ_ENDED, "quiz1")}
    assert len({r.timestamp for r in received}) == 3 and len({r.signature for r in received}) == 3
    assert received[0].body == received[1].body == received[2].body
    assert received[2].json["type"] == "quiz.ended" and received[2].json["data"]["quizId"] == "quiz1"  # type: ignore[index]
    (row,) = outbox_rows(engine)
    assert (row.attempts, row.claimed_by, row.last_error) == (3, None, None)
    assert metrics.WEBHOOK_DELIVERIES.labels(result="delivered")._value.get() == before + 1


async def test_an_unreachable_endpoint_is_given_up_after_the_day_and_removed(engine: Engine) -> None:
    with serve(Receiver(default=503)) as receiver:
        endpoint = ended_only(receiver.url)
        await write(engine, a_quiz("quiz1", t0=just_ended()), endpoints=(endpoint,))
        before = metrics.WEBHOOK_DELIVERIES.labels(result="gave_up")._value.get()
        # An event from long ago: the next retry would fall past the day, so the first failure gives up.
        o = schema.webhook_outbox
        with engine.begin() as connection:
            connection.execute(update(o).values(created_at=now_ms() - 86_398_000))
        sender = WebhookSender(Database(engine), (endpoint,), "node-a", schedule=RetrySchedule())
        await run_until(lambda: not outbox_rows(engine), [sender])
        assert [r.status for r in receiver.received] == [503]
    assert metrics.WEBHOOK_DELIVERIES.labels(result="gave_up")._value.get() == before + 1


async def test_two_senders_on_one_postgresql_send_each_event_once(pg_url: str) -> None:
    engines = [engine_from_settings(StorageSection(url=pg_url), None) for _ in range(2)]
    from quizd.store.migrate import upgrade

    upgrade(engines[0])
    with serve(Receiver()) as receiver:
        endpoint = WebhookEndpoint(url=receiver.url, secret=SECRET)
        events = [e for i in range(20) for e in a_quiz(f"quiz{i}", t0=just_ended())]
        await write(engines[0], events, endpoints=(endpoint,))
        senders = [WebhookSender(Database(e), (endpoint,), f"node-{i}", schedule=SHORT) for i, e in enumerate(engines)]
        await run_until(lambda: all(r.delivered_at for r in outbox_rows(engines[0])), senders)
        await trio.sleep(0.5)  # a second send would arrive now
        received = receiver.received
    assert len(received) == 60 and all(r.verified and r.status == 200 for r in received)
    assert len({r.msg_id for r in received}) == 60  # 20 quizzes x 3 events, each once
    for e in engines:
        e.dispose()


async def test_a_node_sends_only_to_its_own_endpoints_and_gives_up_strangers_after_the_day(engine: Engine) -> None:
    with serve(Receiver()) as mine, serve(Receiver()) as theirs:
        endpoints = (ended_only(mine.url), ended_only(theirs.url))
        await write(engine, a_quiz("quiz1", t0=just_ended()), endpoints=endpoints)
        await write(engine, a_quiz("quiz0", t0=now_ms() - 2 * 86_400_000), endpoints=endpoints)  # two days old
        sender = WebhookSender(Database(engine), endpoints[:1], "node-a", schedule=RetrySchedule())

        def settled() -> bool:
            rows = outbox_rows(engine)
            return len(rows) == 3 and all(r.delivered_at for r in rows if r.url == mine.url)

        await run_until(settled, [sender])
        assert sorted(r.msg_id for r in mine.received) == sorted(
            event_id(WebhookEvent.QUIZ_ENDED, q) for q in ("quiz0", "quiz1")
        )
        assert theirs.received == []  # not this node's endpoint: never sent by it
    # quiz0's row for the other endpoint, past its day, was given up; quiz1's waits for a node that knows it.
    (pending,) = [r for r in outbox_rows(engine) if r.delivered_at is None]
    assert pending.url == theirs.url and pending.id == event_id(WebhookEvent.QUIZ_ENDED, "quiz1")


def test_logs_name_an_endpoint_without_its_path_or_query() -> None:
    from quizd.webhooks.sender import endpoint_origin

    assert endpoint_origin("https://hooks.example.com/services/T0/B0/tok3n?x=1") == "https://hooks.example.com"
    assert endpoint_origin("http://user:pw@127.0.0.1:9000/h") == "http://127.0.0.1:9000"
    assert endpoint_origin("http://[::1]:8080/h") == "http://[::1]:8080"
