"""The batch writer under Trio with a real database: batches, idempotent re-flush, a
PostgreSQL stopped mid-stream and started again, the bound, and ``drain``."""

from __future__ import annotations

import orjson
import pytest
import trio
from sqlalchemy import Engine, func, select

from quizd.config.model import StorageSection
from quizd.store import schema
from quizd.store.engine import Database, engine_from_settings, make_engine
from quizd.store.events import AnswerRecorded, PlayerResult, QuestionClosed, QuizCreated, QuizEnded, QuizStarted
from quizd.store.migrate import upgrade
from quizd.store.rows import write_batch
from quizd.store.writer import BatchWriter
from quizd.testing.procs import PostgresServer


def answer(quiz: str, pid: str, q: int = 0, choice: int = 1) -> AnswerRecorded:
    return AnswerRecorded(
        quiz_id=quiz,
        participant_id=pid,
        question_id=f"q{q}",
        question_index=q,
        answer={"choice": choice},
        correct=choice == 1,
        points=500 if choice == 1 else 0,
        elapsed_ms=1200,
        arrived_at=1_700_000_000_000,
    )


def a_quiz(quiz: str, n_players: int) -> list[object]:
    events: list[object] = [
        QuizCreated(
            quiz_id=quiz,
            definition_id="capitals",
            definition_version=1,
            title="Capitals",
            node="n1",
            questions=1,
            created_at=1_700_000_000_000,
        ),
        QuizStarted(quiz_id=quiz, started_at=1_700_000_001_000),
    ]
    events += [answer(quiz, f"p{i}") for i in range(n_players)]
    events.append(
        QuestionClosed(
            quiz_id=quiz,
            question_id="q0",
            question_index=0,
            kind="single",
            text="Capital of France?",
            payload={"correctChoice": 1, "distribution": [0, 3]},
        )
    )
    events.append(
        QuizEnded(
            quiz_id=quiz,
            ended_at=1_700_000_060_000,
            players=tuple(
                PlayerResult(participant_id=f"p{i}", name=f"P{i}", score=500, rank=1, correct_count=1)
                for i in range(n_players)
            ),
        )
    )
    return events


def count(engine: Engine, table: object) -> int:
    with engine.connect() as connection:
        return int(connection.execute(select(func.count()).select_from(table)).scalar_one())  # type: ignore[arg-type]


def migrated(engine: Engine) -> Engine:
    upgrade(engine)
    return engine


async def test_a_quiz_is_written_in_batches_and_drain_waits(engine: Engine) -> None:
    migrated(engine)
    writer = BatchWriter(Database(engine), flush_interval_s=0.05, batch_size=7)
    async with trio.open_nursery() as nursery:
        await nursery.start(writer.run)
        for event in a_quiz("quiz1", 20):
            writer.record(event)  # type: ignore[arg-type]
        assert writer.pending == 24
        assert await writer.drain(10)
        nursery.cancel_scope.cancel()
    assert writer.pending == 0 and writer.written == 24
    assert count(engine, schema.answers) == 20
    assert count(engine, schema.players) == 20
    with engine.connect() as connection:
        row = connection.execute(select(schema.quizzes)).one()
        closed = connection.execute(select(schema.question_results.c.closed)).scalar_one()
        stored = connection.execute(select(schema.answers.c.answer, schema.answers.c.correct)).first()
    assert (row.started_at, row.ended_at, row.players, row.title) == (
        1_700_000_001_000,
        1_700_000_060_000,
        20,
        "Capitals",
    )
    assert closed == '{"correctChoice":1,"distribution":[0,3]}'
    assert stored == ('{"choice":1}', True)


async def test_the_end_of_a_quiz_is_written_at_once_not_at_the_interval(engine: Engine) -> None:
    """A QuizEnded wakes the writer: with an interval of an hour, the quiz and its
    answers are in the database well within the 30 s this test waits."""
    migrated(engine)
    writer = BatchWriter(Database(engine), flush_interval_s=3600)
    async with trio.open_nursery() as nursery:
        await nursery.start(writer.run)
        events = a_quiz("quiz-end", 10)
        for event in events[:-1]:
            writer.record(event)  # type: ignore[arg-type]
        await trio.sleep(0.2)
        assert writer.written == 0  # nothing wakes the writer before the interval
        writer.record(events[-1])  # type: ignore[arg-type]
        with trio.move_on_after(30):
            while writer.pending:
                await trio.sleep(0.01)
        nursery.cancel_scope.cancel()
    assert writer.written == len(events)
    with engine.connect() as connection:
        assert connection.execute(select(schema.quizzes.c.ended_at)).scalar_one() == 1_700_000_060_000
    assert count(engine, schema.answers) == 10 and count(engine, schema.players) == 10


def test_a_batch_written_twice_is_written_once(engine: Engine) -> None:
    migrated(engine)
    events = a_quiz("quiz2", 5)
    for _ in range(2):
        with engine.begin() as connection:
            write_batch(connection, events)  # type: ignore[arg-type]
    assert count(engine, schema.answers) == 5
    assert count(engine, schema.players) == 5
    assert count(engine, schema.quizzes) == 1
    assert count(engine, schema.question_results) == 1


def test_every_value_comes_back_as_it_was_recorded(engine: Engine) -> None:
    """The rows travel as one JSON array (rows.py): text that JSON escapes, a poll's null,
    integers beyond 32 bits and a JSON echo object all come back exactly, with the
    columns' types."""
    migrated(engine)
    text = 'Quote " back\\slash \\u00e9 tab\there, new\nline, é, 漢字, 🦊, NULL, {x}'
    poll = AnswerRecorded(
        quiz_id="quiz-v",
        participant_id="p-poll",
        question_id="q1",
        question_index=1,
        answer={"text": text, "choices": [0, 2], "value": 2.5},
        correct=None,
        points=0,
        elapsed_ms=0,
        arrived_at=2**53 - 1,
    )
    events = [
        QuizCreated(
            quiz_id="quiz-v",
            definition_id="d",
            definition_version=3,
            title=text,
            node="n1",
            questions=2,
            created_at=1_700_000_000_123,
        ),
        answer("quiz-v", "p-wrong", choice=0),
        poll,
        QuestionClosed(
            quiz_id="quiz-v", question_id="q1", question_index=1, kind="poll", text=text, payload={"text": text}
        ),
        QuizEnded(
            quiz_id="quiz-v",
            ended_at=1_700_000_060_000,
            players=(PlayerResult(participant_id="p-poll", name=text, score=-1, rank=2, correct_count=0),),
        ),
    ]
    with engine.begin() as connection:
        write_batch(connection, events)  # type: ignore[arg-type]
    a = schema.answers
    with engine.connect() as connection:
        stored = connection.execute(select(a).order_by(a.c.participant_id)).all()
        quiz = connection.execute(select(schema.quizzes)).one()
        closed = connection.execute(select(schema.question_results)).one()
        player = connection.execute(select(schema.players)).one()
    assert [tuple(row) for row in stored] == [
        ("quiz-v", "p-poll", "q1", 1, orjson.dumps(poll.answer).decode(), None, 0, 0, 2**53 - 1),
        ("quiz-v", "p-wrong", "q0", 0, '{"choice":0}', False, 0, 1200, 1_700_000_000_000),
    ]
    assert (quiz.title, quiz.definition_version, quiz.created_at, quiz.players, quiz.questions) == (
        text,
        3,
        1_700_000_000_123,
        1,
        2,
    )
    assert (closed.text, orjson.loads(closed.closed)) == (text, {"text": text})
    assert tuple(player) == ("quiz-v", "p-poll", text, -1, 2, 0)


async def test_postgres_stopped_mid_stream_loses_nothing_and_drain_waits(
    postgres_server: PostgresServer, pg_url: str
) -> None:
    engine = migrated(engine_from_settings(StorageSection(url=pg_url), None))
    writer = BatchWriter(
        Database(engine),
        flush_interval_s=0.05,
        batch_size=50,
        max_pending=10_000,
        backoff_min_s=0.05,
        backoff_max_s=0.2,
    )
    try:
        async with trio.open_nursery() as nursery:
            await nursery.start(writer.run)
            for i in range(100):
                writer.record(answer("quiz3", f"a{i}"))
            assert await writer.drain(10)
            await trio.to_thread.run_sync(postgres_server.stop)  # pg_ctl stop -m fast
            for i in range(300):
                writer.record(answer("quiz3", f"b{i}"))
                if i % 50 == 0:
                    await trio.sleep(0.02)
            assert not await writer.drain(0.5)  # the database is down: kept, not written
            assert writer.pending == 300 and writer.dropped == 0
            await trio.to_thread.run_sync(postgres_server.start)
            assert await writer.drain(20)
            nursery.cancel_scope.cancel()
        assert count(engine, schema.answers) == 400
    finally:
        if postgres_server.process is None:
            postgres_server.start()
        engine.dispose()


async def test_the_bound_drops_oldest_answers_but_never_a_quiz_end(
    postgres_server: PostgresServer, pg_url: str
) -> None:
    engine = migrated(engine_from_settings(StorageSection(url=pg_url), None))
    writer = BatchWriter(
        Database(engine), flush_interval_s=0.05, batch_size=50, max_pending=100, backoff_min_s=0.05, backoff_max_s=0.2
    )
    try:
        postgres_server.stop()
        events = a_quiz("quiz4", 150)  # created, started, 150 answers, closed, ended
        for event in events:
            writer.record(event)  # type: ignore[arg-type]
        assert writer.pending == 100 and writer.dropped == len(events) - 100
        async with trio.open_nursery() as nursery:
            await nursery.start(writer.run)
            for i in range(20):  # more answers while failed attempts put their batches back
                writer.record(answer("quiz4", f"p{i}", q=1))
                await trio.sleep(0.02)
            assert writer.pending <= 100
            assert writer.dropped == len(events) - 100 + 20
            await trio.to_thread.run_sync(postgres_server.start)
            assert await writer.drain(20)
            nursery.cancel_scope.cancel()
        assert count(engine, schema.quizzes) == 1
        assert count(engine, schema.question_results) == 1
        assert count(engine, schema.players) == 150  # the results are all there
        assert count(engine, schema.answers) == 170 - writer.dropped
        with engine.connect() as connection:  # the oldest answers went first
            kept = set(
                connection.execute(
                    select(schema.answers.c.participant_id).where(schema.answers.c.question_index == 0)
                ).scalars()
            )
        assert kept.isdisjoint({f"p{i}" for i in range(54)})
    finally:
        if postgres_server.process is None:
            postgres_server.start()
        engine.dispose()


@pytest.mark.parametrize("interval", [0.05])
async def test_record_never_waits_for_the_database(interval: float, sqlite_url: str) -> None:
    engine = migrated(make_engine(sqlite_url))
    writer = BatchWriter(Database(engine), flush_interval_s=interval)
    for i in range(1000):
        assert writer.record(answer("quiz5", f"p{i}")) is None  # type: ignore[func-returns-value]
    assert writer.pending == 1000  # nothing happened yet: no task has run
    async with trio.open_nursery() as nursery:
        await nursery.start(writer.run)
        assert await writer.drain(10)
        nursery.cancel_scope.cancel()
    assert count(engine, schema.answers) == 1000
    engine.dispose()


async def test_an_event_the_database_refuses_does_not_block_the_others(pg_url: str) -> None:
    engine = migrated(engine_from_settings(StorageSection(url=pg_url), None))
    writer = BatchWriter(Database(engine), flush_interval_s=0.05)
    async with trio.open_nursery() as nursery:
        await nursery.start(writer.run)
        writer.record(answer("quiz6", "p1"))
        writer.record(answer("quiz6", "x" * 100))  # longer than a participant id column holds
        writer.record(answer("quiz6", "p2"))
        assert await writer.drain(10)
        nursery.cancel_scope.cancel()
    with engine.connect() as connection:
        kept = set(connection.execute(select(schema.answers.c.participant_id)).scalars())
    assert kept == {"p1", "p2"}
    engine.dispose()
