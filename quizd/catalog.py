"""The node's quiz definitions: its files, merged with those made over the data API.

File definitions are read by every node from its own directory (at start and on
SIGHUP); they are always version 1 with source ``file`` and cannot be changed over
the API.  API definitions live in the shared database (the ``definitions`` table,
:mod:`quizd.store.definition_rows`), so in a cluster one made on any node is seen by
every node: a lookup that misses reads through to the database and keeps the answer
(found or not) for ``CACHE_S``, so a burst of quiz creations costs one read.  The
database is read only when a quiz is created and on definition requests, never on
the answer path: a live quiz holds the ``QuizDefinition`` it was created with.

A file id wins over an API id (the API refuses to take an id a file holds; a file
added later shadows the API definition of the same id).
"""

from __future__ import annotations

import enum
import logging
import time
from collections.abc import Callable, Mapping

import attrs
import trio
from sqlalchemy.exc import SQLAlchemyError

from quizd.config import ConfigError, DefinitionSet, parse_definition
from quizd.config.definitions import BODY, definition_document
from quizd.game.definitions import QuizDefinition
from quizd.service_errors import ServiceError
from quizd.store import definition_rows as rows
from quizd.store.engine import Database
from quizd.store.queries import read

log = logging.getLogger("quizd.catalog")

# How long a definition read from the database (or its absence) is trusted: a change
# made on another node is seen by this one at most this much later.
CACHE_S = 2.0
# Cached lookups kept at most (ids asked for that do not exist count too).
CACHE_MAX = 1024


class DefinitionSource(enum.Enum):
    FILE = "file"
    API = "api"


@attrs.frozen
class CatalogEntry:
    """One definition the node can create quizzes from, and where it came from."""

    definition: QuizDefinition
    source: DefinitionSource

    def summary(self) -> dict[str, object]:
        """An item of ``GET /api/definitions`` (the v1 keys plus version and source)."""
        d = self.definition
        return {
            "id": d.id,
            "title": d.title,
            "questionCount": d.question_count,
            "version": d.version,
            "source": self.source.value,
        }

    def document(self) -> dict[str, object]:
        """``GET /api/definitions/{id}``: the whole definition with version and source."""
        return {**definition_document(self.definition), "version": self.definition.version, "source": self.source.value}


def _now_ms() -> int:
    return int(time.time() * 1000)


class DefinitionCatalog:
    """The definitions of this node's files and of the shared database.

    ``database`` is None when ``[storage] url = "none"``: then only files exist and
    the API refuses changes.  ``clock`` is Trio's, for the cache.
    """

    def __init__(
        self, current: DefinitionSet, database: Database | None = None, clock: Callable[[], float] = trio.current_time
    ) -> None:
        self.current = current
        self.database = database
        self._clock = clock
        self._cache: dict[str, tuple[float, QuizDefinition | None]] = {}

    # ------------------------------------------------------------------ lookups
    async def resolve(self, definition_id: str) -> QuizDefinition | None:
        """The latest definition of that id to create a quiz from, or None."""
        found = self.current.definitions.get(definition_id)
        if found is not None or self.database is None:
            return found
        now = self._clock()
        cached = self._cache.get(definition_id)
        if cached is not None and now - cached[0] < CACHE_S:
            return cached[1]
        stored = await self._read_latest(self.database, definition_id)
        return self._remember(definition_id, stored)

    async def entry(self, definition_id: str) -> CatalogEntry:
        """One definition for ``GET /api/definitions/{id}`` (read fresh), or 404."""
        found = self.current.definitions.get(definition_id)
        if found is not None:
            return CatalogEntry(found, DefinitionSource.FILE)
        if self.database is not None:
            stored = await self._read_latest(self.database, definition_id)
            definition = self._remember(definition_id, stored)
            if definition is not None:
                return CatalogEntry(definition, DefinitionSource.API)
        raise ServiceError(404, "definition_not_found", f"no quiz definition {definition_id!r}")

    async def entries(self) -> list[CatalogEntry]:
        """Every definition, by id: the files', then the database's live ones (the files'
        alone while the database does not answer, so the host screen can still start a
        quiz from a file)."""
        merged = {d.id: CatalogEntry(d, DefinitionSource.FILE) for d in self.current.definitions.values()}
        if self.database is not None:
            try:
                live = await self.database.run(read, self.database.engine, rows.live)
            except SQLAlchemyError as exc:
                # The v1 list keeps working on files while the database is away.
                log.warning(
                    "definitions: database unavailable; listing files only", extra={"error": exc.__class__.__name__}
                )
                live = ()
            for stored in live:
                definition = self._remember(stored.id, stored)
                if definition is not None and stored.id not in merged:
                    merged[stored.id] = CatalogEntry(definition, DefinitionSource.API)
        return [merged[key] for key in sorted(merged)]

    # ------------------------------------------------------------------ changes
    async def create(self, definition: QuizDefinition) -> CatalogEntry:
        """``POST``: a new API definition, version 1 (or after its deleted versions)."""
        if definition.id in self.current.definitions:
            raise ServiceError(409, "definition_exists", f"a definition file holds the id {definition.id!r}")
        return await self._add(definition, new=True)

    async def replace(self, definition_id: str, definition: QuizDefinition) -> CatalogEntry:
        """``PUT``: the next version of a live API definition."""
        self._refuse_file(definition_id)
        return await self._add(definition, new=False)

    async def delete(self, definition_id: str) -> None:
        """``DELETE``: no new quizzes from it; its versions stay for the history."""
        self._refuse_file(definition_id)
        database = self._writable()
        try:
            await database.run(rows.write, database.engine, rows.mark_deleted, definition_id, _now_ms())
        except rows.DefinitionRefused:
            raise ServiceError(404, "definition_not_found", f"no quiz definition {definition_id!r}") from None
        except SQLAlchemyError as exc:
            raise _unavailable(exc) from None
        self._cache[definition_id] = (self._clock(), None)

    @staticmethod
    async def _read_latest(database: Database, definition_id: str) -> rows.StoredDefinition | None:
        try:
            return await database.run(read, database.engine, rows.latest, definition_id)
        except SQLAlchemyError as exc:
            raise _unavailable(exc) from None

    async def _add(self, definition: QuizDefinition, new: bool) -> CatalogEntry:
        database = self._writable()
        body = definition_document(definition)
        try:
            version = await database.run(
                rows.write, database.engine, rows.add_version, definition.id, definition.title, body, _now_ms(), new
            )
        except rows.DefinitionRefused as exc:
            if exc.refusal is rows.Refusal.EXISTS:
                raise ServiceError(409, "definition_exists", f"definition {definition.id!r} already exists") from None
            if exc.refusal is rows.Refusal.MISSING:
                raise ServiceError(404, "definition_not_found", f"no quiz definition {definition.id!r}") from None
            raise ServiceError(
                409, "definition_changed", f"definition {definition.id!r} was changed meanwhile; send it again"
            ) from None
        except SQLAlchemyError as exc:
            raise _unavailable(exc) from None
        versioned = attrs.evolve(definition, version=version)
        self._cache[definition.id] = (self._clock(), versioned)
        return CatalogEntry(versioned, DefinitionSource.API)

    def _refuse_file(self, definition_id: str) -> None:
        if definition_id in self.current.definitions:
            raise ServiceError(
                409, "definition_read_only", f"definition {definition_id!r} is loaded from a file; change the file"
            )

    def _writable(self) -> Database:
        if self.database is None:
            raise ServiceError(409, "storage_disabled", 'definitions cannot be kept: [storage] url = "none"')
        return self.database

    def _remember(self, definition_id: str, stored: rows.StoredDefinition | None) -> QuizDefinition | None:
        """Parse a stored definition and cache it (or its absence)."""
        definition = None if stored is None else _parse_stored(stored)
        if len(self._cache) >= CACHE_MAX:
            self._cache.clear()
        self._cache[definition_id] = (self._clock(), definition)
        return definition


def _unavailable(exc: SQLAlchemyError) -> ServiceError:
    """The database did not answer: a 503 the client may retry, not a 500."""
    log.warning("definitions: database unavailable", extra={"error": exc.__class__.__name__})
    return ServiceError(503, "storage_unavailable", "the database did not answer; try again")


def _parse_stored(stored: rows.StoredDefinition) -> QuizDefinition | None:
    """A stored body as a definition, or None (logged) if it no longer passes the checks."""
    body: Mapping[str, object] = stored.body
    try:
        return attrs.evolve(parse_definition(body, BODY), version=stored.version)
    except ConfigError as exc:
        log.error("stored definition no longer valid", extra={"definitionId": stored.id, "problems": str(exc)})
        return None
