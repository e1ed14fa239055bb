"""The outbox rows: written by the batch writer in the transaction of the quiz event, one
per subscribed endpoint, with a stable id and the body every attempt sends."""

from __future__ import annotations

import orjson
import trio
from sqlalchemy import Engine, func, select

from quizd.config.model import WebhookEvent
from quizd.store import queries, schema
from quizd.store.engine import Database
from quizd.store.writer import BatchWriter
from quizd.webhooks.outbox import Outbox, event_id
from quizd.webhooks.payloads import report_data
from tests.webhooks.quizkit import T0, a_quiz, outbox_rows
from tests.webhooks.webhookkit import ALL, ENDED, write


async def test_each_quiz_event_is_a_row_per_subscribed_endpoint(engine: Engine) -> None:
    await write(engine, a_quiz("quiz1"), batch_size=3)  # the quiz's events over several batches
    rows = outbox_rows(engine)
    assert [(r.event_type, r.url) for r in rows] == [
        ("quiz.created", ALL.url),
        ("quiz.started", ALL.url),
        ("quiz.ended", ALL.url),
        ("quiz.ended", ENDED.url),
    ]
    assert all(r.attempts == 0 and r.delivered_at is None and r.claimed_by is None for r in rows)
    created, started, ended, ended_too = rows
    assert created.id == event_id(WebhookEvent.QUIZ_CREATED, "quiz1") and created.id.startswith("msg_")
    assert ended.id == ended_too.id == event_id(WebhookEvent.QUIZ_ENDED, "quiz1")  # one event, one id
    assert len({created.id, started.id, ended.id}) == 3
    data = {"quizId": "quiz1", "definitionId": "capitals", "definitionVersion": 3, "node": "node-a"}
    assert orjson.loads(created.payload) == {
        "type": "quiz.created",
        "timestamp": "2023-11-14T22:13:20.000Z",
        "data": data,
    }
    assert orjson.loads(started.payload) == {
        "type": "quiz.started",
        "timestamp": "2023-11-14T22:13:21.000Z",
        "data": data,
    }


async def test_quiz_ended_carries_the_report_as_the_data_api_reads_it(engine: Engine) -> None:
    await write(engine, a_quiz("quiz1", players=3), batch_size=2)
    ended = next(r for r in outbox_rows(engine) if r.event_type == "quiz.ended")
    body = orjson.loads(ended.payload)
    with engine.connect() as connection:
        report = queries.report(connection, "quiz1")
    assert report is not None
    assert body["data"] == orjson.loads(orjson.dumps(report_data(report)))
    data = body["data"]
    assert (data["quizId"], data["title"], data["startedAt"], data["endedAt"]) == (
        "quiz1",
        "Capitals",
        T0 + 1000,
        T0 + 60_000,
    )
    assert data["questions"] == [
        {
            "correct": 1,
            "questionId": "q0",
            "kind": "single",
            "text": "Capital of France?",
            "answered": 3,
            "correctCount": 1,
            "avgElapsedMs": 1501,
        }
    ]
    assert [(p["participantId"], p["rank"], p["score"]) for p in data["players"]] == [
        ("p0", 1, 900),
        ("p1", 2, 0),
        ("p2", 3, 0),
    ]
    assert data["players"][0]["answers"] == [
        {"questionId": "q0", "answer": {"choice": 1}, "correct": True, "points": 900, "elapsedMs": 1500}
    ]


async def test_a_batch_written_again_adds_no_row(engine: Engine) -> None:
    events = a_quiz("quiz1")
    await write(engine, events)
    first = outbox_rows(engine)
    await write(engine, events)  # a commit lost in transit: the batch is written again
    assert outbox_rows(engine) == first


async def test_no_endpoint_no_row(engine: Engine) -> None:
    await write(engine, a_quiz("quiz1"), endpoints=())
    assert outbox_rows(engine) == []


async def test_quiz_ended_commits_with_the_results_or_not_at_all(sqlite_url: str) -> None:
    """With the outbox table gone the end's transaction fails as a whole: no results without
    their webhook; once it is back, the writer's retry commits both."""
    from quizd.config import StorageSection
    from quizd.store.engine import engine_from_settings
    from quizd.store.migrate import upgrade

    engine = engine_from_settings(StorageSection(url=sqlite_url), None)
    upgrade(engine)
    events = a_quiz("quiz1")
    writer = BatchWriter(
        Database(engine), flush_interval_s=0.02, backoff_min_s=0.05, backoff_max_s=0.1, outbox=Outbox((ENDED,))
    )

    def players() -> int:
        with engine.connect() as connection:
            return int(connection.execute(select(func.count()).select_from(schema.players)).scalar_one())

    async with trio.open_nursery() as nursery:
        await nursery.start(writer.run)
        for event in events[:-1]:
            writer.record(event)
        assert await writer.drain(10)
        schema.webhook_outbox.drop(engine)
        writer.record(events[-1])
        assert not await writer.drain(0.5)  # refused: the batch is kept for the retry
        assert players() == 0
        schema.webhook_outbox.create(engine)
        assert await writer.drain(10)
        nursery.cancel_scope.cancel()
    assert players() == 2
    assert [r.event_type for r in outbox_rows(engine)] == ["quiz.ended"]
    engine.dispose()
