"""The ``definitions`` table: versions of the definitions made over the data API.

Every change is a new row (``id``, ``version``): a ``PUT`` adds version n + 1, a
``DELETE`` marks the latest version deleted, and nothing is ever removed, so the
history of a quiz can always name the version it ran.  A definition is live when its
latest version is not marked deleted; a ``POST`` after a delete starts a new version
after the old ones.  Two nodes that add the same version at once meet the primary key:
one wins, the other is told the definition changed under it.

Plain functions on a SQLAlchemy ``Connection`` (call them in a worker thread through
:meth:`quizd.store.engine.Database.run` with :func:`write` or
:func:`quizd.store.queries.read`).  Definitions from files are not kept here: every
node reads its own files.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Mapping
from typing import Any, TypeVar

import attrs
import orjson
from sqlalchemy import Connection, Engine, Row, func, insert, select, update
from sqlalchemy.exc import IntegrityError

from quizd.store import schema

T = TypeVar("T")

API_SOURCE = "api"


class Refusal(enum.Enum):
    """Why a definition change was not made."""

    EXISTS = "exists"  # POST: a live definition already has this id
    MISSING = "missing"  # PUT or DELETE: no live definition with this id
    RACED = "raced"  # another node added the same version first


class DefinitionRefused(Exception):
    def __init__(self, refusal: Refusal) -> None:
        super().__init__(refusal.value)
        self.refusal = refusal


@attrs.frozen
class StoredDefinition:
    id: str
    version: int
    title: str
    body: Mapping[str, object]  # the definition's keys, as a definition file has them
    created_at: int


def write(engine: Engine, change: Callable[..., T], *args: object) -> T:
    """Run ``change(connection, *args)`` in one transaction (call it in a worker thread)."""
    with engine.begin() as connection:
        return change(connection, *args)


def _stored(row: Row[Any]) -> StoredDefinition:
    return StoredDefinition(
        id=row.id, version=row.version, title=row.title, body=orjson.loads(row.body), created_at=row.created_at
    )


def _latest_row(connection: Connection, definition_id: str) -> Row[Any] | None:
    d = schema.definitions
    return connection.execute(select(d).where(d.c.id == definition_id).order_by(d.c.version.desc()).limit(1)).first()


def latest(connection: Connection, definition_id: str) -> StoredDefinition | None:
    """The latest version of a live definition, or None (never made, or deleted)."""
    row = _latest_row(connection, definition_id)
    if row is None or row.deleted_at is not None:
        return None
    return _stored(row)


def live(connection: Connection) -> tuple[StoredDefinition, ...]:
    """The latest version of every live definition, by id."""
    d = schema.definitions
    newest = select(d.c.id, func.max(d.c.version).label("version")).group_by(d.c.id).subquery()
    rows = connection.execute(
        select(d)
        .join(newest, (d.c.id == newest.c.id) & (d.c.version == newest.c.version))
        .where(d.c.deleted_at.is_(None))
        .order_by(d.c.id)
    )
    return tuple(_stored(row) for row in rows)


def add_version(
    connection: Connection, definition_id: str, title: str, body: Mapping[str, object], now_ms: int, new: bool
) -> int:
    """Add the next version of ``definition_id`` and return its number.

    ``new`` (a POST) refuses an id that is live (``EXISTS``); otherwise (a PUT) the id
    must be live (``MISSING``).  Raises ``DefinitionRefused``.
    """
    row = _latest_row(connection, definition_id)
    is_live = row is not None and row.deleted_at is None
    if new and is_live:
        raise DefinitionRefused(Refusal.EXISTS)
    if not new and not is_live:
        raise DefinitionRefused(Refusal.MISSING)
    version = (row.version if row is not None else 0) + 1
    try:
        with connection.begin_nested():
            connection.execute(
                insert(schema.definitions).values(
                    id=definition_id,
                    version=version,
                    source=API_SOURCE,
                    title=title,
                    body=orjson.dumps(body).decode(),
                    created_at=now_ms,
                    deleted_at=None,
                )
            )
    except IntegrityError:
        raise DefinitionRefused(Refusal.EXISTS if new else Refusal.RACED) from None
    return version


def mark_deleted(connection: Connection, definition_id: str, now_ms: int) -> None:
    """Mark the latest version deleted (``MISSING`` when there is no live one)."""
    row = _latest_row(connection, definition_id)
    if row is None or row.deleted_at is not None:
        raise DefinitionRefused(Refusal.MISSING)
    d = schema.definitions
    connection.execute(
        update(d).where((d.c.id == definition_id) & (d.c.version == row.version)).values(deleted_at=now_ms)
    )
