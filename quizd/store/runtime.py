"""The node's store at run time: its ``Database`` and ``BatchWriter``, built from ``[storage]``.

The node (the composition root) builds one ``Store`` (none for ``url = "none"``) and
hands it to the placement (actors record through ``store.writer``, the ``RecordPort``)
and to the control plane (``store.database`` for the data API's reads).  Start-up
checks the schema (:func:`prepare`) before anything listens, and ``results`` reads a
quiz's final results back in the shape ``GET /api/quizzes/{id}/results`` serves, so a
quiz that is no longer live anywhere is still reported by every node.
"""

from __future__ import annotations

from pathlib import Path

import attrs
import orjson
from sqlalchemy import Connection, select

from quizd.config.model import StorageSection
from quizd.store import queries, schema
from quizd.store.engine import Database, engine_from_settings
from quizd.store.migrate import EXIT_FAILED, EXIT_NOT_CURRENT, is_current, upgrade
from quizd.store.writer import BatchWriter, OutboxPort

JsonObject = dict[str, object]


class StoreNotReady(Exception):
    """The node must not start on this database; ``exit_code`` per the operator contract."""

    def __init__(self, message: str, exit_code: int) -> None:
        super().__init__(message)
        self.exit_code = exit_code


@attrs.frozen
class Store:
    """One node's database and the batch writer in front of it."""

    settings: StorageSection
    database: Database
    writer: BatchWriter

    async def prepare(self) -> None:
        """Before the node listens: migrate (``auto_migrate``) or insist the schema is current.

        Raises ``StoreNotReady``: exit 1 when the database cannot be reached or migrated,
        2 when the schema is not current and ``auto_migrate`` is off (``quizd db check``).
        """
        engine = self.database.engine
        try:
            if self.settings.auto_migrate:
                await self.database.run(upgrade, engine)
                return
            current = await self.database.run(is_current, engine)
        except Exception as exc:  # any driver error: say why and refuse to start
            reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            raise StoreNotReady(
                f"[storage] the database cannot be used: {type(exc).__name__}: {reason}", EXIT_FAILED
            ) from None
        if not current:
            raise StoreNotReady(
                "[storage] the database schema is not current and auto_migrate is off: run quizd db upgrade",
                EXIT_NOT_CURRENT,
            )

    async def results(self, quiz_id: str) -> JsonObject | None:
        """An ended quiz's results as the live quiz served them; None when it never ended here."""
        return await self.database.run(queries.read, self.database.engine, stored_results, quiz_id)


def open_store(settings: StorageSection, config_path: Path | None, outbox: OutboxPort | None = None) -> Store | None:
    """The node's ``Store`` for ``[storage]`` (nothing connects yet), or None for ``"none"``.

    ``outbox`` (the webhook outbox) adds its rows in each batch's transaction."""
    if not settings.enabled:
        return None
    database = Database(engine_from_settings(settings, config_path))
    writer = BatchWriter(database, flush_interval_s=settings.answer_flush_ms / 1000, outbox=outbox)
    return Store(settings=settings, database=database, writer=writer)


def stored_results(connection: Connection, quiz_id: str) -> JsonObject | None:
    """``{quizId, definitionId, phase, leaderboard, questions}`` of an ended quiz, or None."""
    quiz = queries.quiz(connection, quiz_id)
    if quiz is None or quiz.ended_at is None:
        return None
    leaderboard = [
        {"rank": p.rank, "participantId": p.participant_id, "name": p.name, "score": p.score}
        for p in queries.final_results(connection, quiz_id)
    ]
    qr = schema.question_results
    questions: list[JsonObject] = []
    for row in connection.execute(select(qr).where(qr.c.quiz_id == quiz_id).order_by(qr.c.question_index)):
        closed = orjson.loads(row.closed)
        questions.append({"questionId": row.question_id, "text": row.text, **closed})
    return {
        "quizId": quiz.quiz_id,
        "definitionId": quiz.definition_id,
        "phase": "ended",
        "leaderboard": leaderboard,
        "questions": questions,
    }
