"""The ``webhook_outbox`` rows: written with the event, claimed, settled.

**Written in the event's transaction.**  :class:`Outbox` is the batch writer's outbox
hook (:class:`quizd.store.writer.OutboxPort`): after a batch's rows are written, on the
same connection and in the same transaction, it inserts one row per configured endpoint
subscribed to each ``QuizCreated`` / ``QuizStarted`` / ``QuizEnded`` of the batch.  So a
``quiz.ended`` commits with the quiz's results or not at all.  Its body is built there
and then, from the database inside that transaction (the report of protocol section 4
reads the answers of earlier batches and the results this batch just wrote), and stored
whole: every attempt sends the same bytes, whatever happens to the database later.

**Ids.**  The ``webhook-id`` is ``msg_`` + a UUID derived from the event type and the
quiz id, so it is the same for every endpoint, every retry, and a batch written twice
(a commit lost in transit): the insert is insert-or-ignore on ``(id, url)``.

**Claims.**  :func:`claim_due` takes due rows for one node with a lease (``claimed_by``,
``claimed_until``) in one transaction.  On PostgreSQL the ``SELECT`` is ``FOR UPDATE
SKIP LOCKED``, so two nodes never take one row; SQLite ignores the lock clause and is
served by one node only (check-config refuses a cluster on SQLite).  A node that died
holding a claim loses it when the lease ends, or at once when it starts again
(:func:`release_claims`, node ids being unique in a cluster).
"""

from __future__ import annotations

import enum
import uuid
from collections.abc import Iterable, Sequence
from typing import Any

import attrs
from sqlalchemy import Connection, and_, delete, func, or_, select, update

from quizd.config.model import WebhookEndpoint, WebhookEvent
from quizd.store import queries, schema
from quizd.store.events import QuizCreated, QuizEnded, QuizStarted, StoreEvent
from quizd.store.rows import insert_ignore
from quizd.webhooks import payloads

# Fixed forever: changing it would give a re-written event a new webhook-id.
ID_NAMESPACE = uuid.UUID("6f1d3c2e-5b0a-4c8e-9a57-0d3e1f2a9b64")

outbox = schema.webhook_outbox
# The columns an event's rows set (the claim and delivery columns start empty).
OUTBOX_COLUMNS = ("id", "url", "event_type", "payload", "attempts", "next_attempt_at", "created_at")


def event_id(event: WebhookEvent, quiz_id: str) -> str:
    """The ``webhook-id`` of one event: stable across endpoints, retries and re-writes."""
    return "msg_" + uuid.uuid5(ID_NAMESPACE, f"{event.value}/{quiz_id}").hex


class Outbox:
    """The batch writer's outbox hook: rows for the subscribed endpoints of each quiz event."""

    def __init__(self, endpoints: Iterable[WebhookEndpoint]) -> None:
        self._urls: dict[WebhookEvent, tuple[str, ...]] = {
            event: tuple(dict.fromkeys(e.url for e in endpoints if event in e.events)) for event in WebhookEvent
        }

    def write(self, connection: Connection, events: Sequence[StoreEvent]) -> None:
        """Insert the outbox rows of ``events`` (call after their rows, in their transaction)."""
        rows: list[tuple[object, ...]] = []
        for event in events:
            found = self._body(connection, event)
            if found is None:
                continue
            kind, quiz_id, at, body = found
            msg_id = event_id(kind, quiz_id)
            payload = body.decode()
            rows += [(msg_id, url, kind.value, payload, 0, at, at) for url in self._urls[kind]]
        insert_ignore(connection, outbox, OUTBOX_COLUMNS, rows)

    def _body(self, connection: Connection, event: StoreEvent) -> tuple[WebhookEvent, str, int, bytes] | None:
        if isinstance(event, QuizCreated):
            kind, at = WebhookEvent.QUIZ_CREATED, event.created_at
        elif isinstance(event, QuizStarted):
            kind, at = WebhookEvent.QUIZ_STARTED, event.started_at
        elif isinstance(event, QuizEnded):
            kind, at = WebhookEvent.QUIZ_ENDED, event.ended_at
        else:
            return None
        if not self._urls[kind]:
            return None
        if kind is WebhookEvent.QUIZ_ENDED:
            report = queries.report(connection, event.quiz_id)
            data = payloads.report_data(report) if report is not None else None
        else:
            quiz = queries.quiz(connection, event.quiz_id)
            data = payloads.quiz_data(quiz) if quiz is not None else None
        if data is None:  # a quiz whose creation is not in the database: nothing to report
            return None
        return kind, event.quiz_id, at, payloads.body(kind, at, data)


# ---------------------------------------------------------------------- the sender's side


@attrs.frozen
class OutboxRow:
    """One claimed delivery: an event for one endpoint."""

    id: str
    url: str
    event_type: str
    payload: bytes
    attempts: int
    created_at: int


class Outcome(enum.Enum):
    DELIVERED = "delivered"
    FAILED = "failed"  # retried later
    GAVE_UP = "gave_up"


@attrs.frozen
class Settlement:
    """What one attempt came to: delivered, failed (retried at ``next_attempt_at``), or given up."""

    outcome: Outcome
    at: int  # epoch ms of the attempt
    next_attempt_at: int | None = None
    error: str | None = None


@attrs.frozen
class Backlog:
    pending: int
    oldest_created_at: int | None


def _due(now: int) -> Any:
    return and_(
        outbox.c.delivered_at.is_(None),
        outbox.c.next_attempt_at <= now,
        or_(outbox.c.claimed_until.is_(None), outbox.c.claimed_until < now),
    )


def claim_due(
    connection: Connection, node: str, urls: Sequence[str], expired_before: int, now: int, lease_ms: int, limit: int
) -> list[OutboxRow]:
    """Claim up to ``limit`` due rows for ``node`` until ``now + lease_ms`` (commits).

    Only rows for ``urls`` (the endpoints this node knows, so that nodes whose configs
    differ for a while never give up each other's events), and rows of any endpoint from
    before ``expired_before`` (past the retry window: to be given up by whoever sees them).
    """
    with connection.begin():
        mine = or_(outbox.c.url.in_(list(urls)), outbox.c.created_at < expired_before)
        keys = connection.execute(
            select(outbox.c.id, outbox.c.url)
            .where(_due(now), mine)
            .order_by(outbox.c.next_attempt_at)
            .limit(limit)
            .with_for_update(skip_locked=True)
        ).all()
        claimed: list[OutboxRow] = []
        for key in keys:
            row = connection.execute(
                update(outbox)
                .where(outbox.c.id == key.id, outbox.c.url == key.url, _due(now))
                .values(claimed_by=node, claimed_until=now + lease_ms)
                .returning(
                    outbox.c.id,
                    outbox.c.url,
                    outbox.c.event_type,
                    outbox.c.payload,
                    outbox.c.attempts,
                    outbox.c.created_at,
                )
            ).first()
            if row is not None:
                claimed.append(
                    OutboxRow(
                        id=row.id,
                        url=row.url,
                        event_type=row.event_type,
                        payload=row.payload.encode(),
                        attempts=row.attempts,
                        created_at=row.created_at,
                    )
                )
    return claimed


def settle(connection: Connection, row: OutboxRow, node: str, settlement: Settlement) -> None:
    """Record an attempt and release the claim; a given-up row is removed (it was logged)."""
    mine = and_(outbox.c.id == row.id, outbox.c.url == row.url, outbox.c.claimed_by == node)
    with connection.begin():
        if settlement.outcome is Outcome.GAVE_UP:
            connection.execute(delete(outbox).where(mine))
            return
        values: dict[str, Any] = {
            "attempts": row.attempts + 1,
            "claimed_by": None,
            "claimed_until": None,
            "last_error": settlement.error,
        }
        if settlement.outcome is Outcome.DELIVERED:
            values["delivered_at"] = settlement.at
        else:
            values["next_attempt_at"] = settlement.next_attempt_at
        connection.execute(update(outbox).where(mine).values(**values))


def release_claims(connection: Connection, node: str) -> int:
    """Release the claims ``node`` held before a restart; how many there were."""
    with connection.begin():
        result = connection.execute(
            update(outbox)
            .where(outbox.c.claimed_by == node, outbox.c.delivered_at.is_(None))
            .values(claimed_by=None, claimed_until=None)
        )
    return result.rowcount


def backlog(connection: Connection) -> Backlog:
    """Undelivered rows and the creation time of the oldest (for the metrics)."""
    with connection.begin():
        row = connection.execute(
            select(func.count(), func.min(outbox.c.created_at)).where(outbox.c.delivered_at.is_(None))
        ).one()
    return Backlog(pending=row[0], oldest_created_at=row[1])
