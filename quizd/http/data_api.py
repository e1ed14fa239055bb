"""The data API (protocol section 4): definitions over HTTP, history, reports.

Routed from :class:`quizd.http.app.ControlPlane` after the admin token was checked.
Definitions go through the node's :class:`quizd.catalog.DefinitionCatalog` (files and
the shared database merged); history and reports are read from the database through
:mod:`quizd.store.queries` in worker threads, so this module only parses requests and
shapes answers.  With ``[storage] url = "none"`` only file definitions exist: changes,
history and reports are refused with 409 ``storage_disabled``.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qs

from sqlalchemy.exc import SQLAlchemyError

from quizd.catalog import DefinitionCatalog
from quizd.config import ConfigError
from quizd.config.definitions import parse_definition_body
from quizd.game.definitions import QuizDefinition
from quizd.http.replies import (
    Receive,
    Reply,
    bounded_body,
    error_reply,
    json_reply,
    only_get,
)
from quizd.http.reports import report_csv, report_json
from quizd.store import queries
from quizd.store.runtime import Store

HISTORY_LIMIT_MAX = 200
HISTORY_LIMIT_DEFAULT = 50
TOML_TYPE = "application/toml"
CSV_TYPE = "text/csv; charset=utf-8"

Scope = dict[str, Any]


class DataApi:
    def __init__(self, catalog: DefinitionCatalog, store: Store | None) -> None:
        self.catalog = catalog
        self.store = store

    async def route(self, method: str, parts: list[str], scope: Scope, receive: Receive) -> Reply | None:
        """The reply of a data API route, or None when ``parts`` (the path after
        ``/api/``) is not one of them."""
        if parts[0] == "definitions" and len(parts) <= 2:
            if len(parts) == 1:
                return await self._definitions(method, scope, receive)
            return await self._definition(method, parts[1], scope, receive)
        if parts == ["history"]:
            return only_get(method) or await self._history(scope)
        if len(parts) == 3 and parts[0] == "quizzes" and parts[2] in ("report", "report.csv"):
            return only_get(method) or await self._report(parts[1], csv=parts[2] == "report.csv")
        return None

    # ------------------------------------------------------------------ definitions
    async def _definitions(self, method: str, scope: Scope, receive: Receive) -> Reply:
        if method in ("GET", "HEAD"):
            return json_reply(200, [entry.summary() for entry in await self.catalog.entries()])
        if method != "POST":
            return error_reply(405, "method_not_allowed", "use GET or POST")
        definition = await _definition_body(scope, receive)
        if isinstance(definition, Reply):
            return definition
        entry = await self.catalog.create(definition)
        return json_reply(201, entry.summary())

    async def _definition(self, method: str, definition_id: str, scope: Scope, receive: Receive) -> Reply:
        if method in ("GET", "HEAD"):
            return json_reply(200, (await self.catalog.entry(definition_id)).document())
        if method == "DELETE":
            await self.catalog.delete(definition_id)
            return Reply(204, b"", "application/json")
        if method != "PUT":
            return error_reply(405, "method_not_allowed", "use GET, PUT or DELETE")
        definition = await _definition_body(scope, receive)
        if isinstance(definition, Reply):
            return definition
        if definition.id != definition_id:
            return _invalid([("id", f"must be the id of the URL, {definition_id!r}")])
        entry = await self.catalog.replace(definition_id, definition)
        return json_reply(200, entry.summary())

    # ------------------------------------------------------------------ history
    async def _history(self, scope: Scope) -> Reply:
        store = self.store
        if store is None:
            return _storage_disabled()
        query = parse_qs(scope.get("query_string", b"").decode("latin-1"))
        definition_id = _single(query, "definitionId")
        cursor = _single(query, "cursor")
        raw_limit = _single(query, "limit")
        limit = HISTORY_LIMIT_DEFAULT
        if raw_limit is not None:
            if not raw_limit.isdigit() or not 1 <= int(raw_limit) <= HISTORY_LIMIT_MAX:
                return error_reply(422, "invalid_query", f"limit must be an integer from 1 to {HISTORY_LIMIT_MAX}")
            limit = int(raw_limit)
        try:
            page = await store.database.run(
                queries.read, store.database.engine, queries.history_page, definition_id, limit, cursor
            )
        except queries.BadCursor:
            return error_reply(422, "invalid_query", "cursor is not one this server handed out")
        except SQLAlchemyError:
            return _unavailable()
        return json_reply(200, {"items": [_history_item(q) for q in page.items], "nextCursor": page.next_cursor})

    # ------------------------------------------------------------------ report
    async def _report(self, quiz_id: str, csv: bool) -> Reply:
        store = self.store
        if store is None:
            return _storage_disabled()
        try:
            report = await store.database.run(queries.read, store.database.engine, queries.report, quiz_id)
        except SQLAlchemyError:
            return _unavailable()
        if report is None:
            return error_reply(404, "quiz_not_found", f"no quiz {quiz_id!r}")
        if not report.questions:
            return error_reply(404, "results_not_ready", f"quiz {quiz_id!r} has closed no question yet")
        if csv:
            disposition = f'attachment; filename="quiz-{quiz_id}-report.csv"'.encode()
            return Reply(
                200,
                report_csv(report),
                CSV_TYPE,
                ((b"cache-control", b"no-store"), (b"content-disposition", disposition)),
            )
        return json_reply(200, report_json(report))


async def _definition_body(scope: Scope, receive: Receive) -> QuizDefinition | Reply:
    """The definition a POST or PUT sends (TOML by its content type, else JSON), or the
    refusal: 408/413 for the body, 422 ``invalid_definition`` with every problem."""
    raw = await bounded_body(receive)
    if isinstance(raw, Reply):
        return raw
    content_type = b""
    for name, value in scope["headers"]:
        if name == b"content-type":
            content_type = value
    toml = content_type.split(b";")[0].strip().lower() == TOML_TYPE.encode()
    try:
        return parse_definition_body(raw, toml)
    except ConfigError as err:
        return _invalid([(p.location, p.message) for p in err.problems])


def _invalid(problems: list[tuple[str, str]]) -> Reply:
    count = len(problems)
    return error_reply(
        422,
        "invalid_definition",
        f"the definition has {count} problem{'s' * (count != 1)}",
        {"problems": [{"path": path, "problem": problem} for path, problem in problems]},
    )


def _storage_disabled() -> Reply:
    return error_reply(409, "storage_disabled", 'nothing is kept: [storage] url = "none"')


def _unavailable() -> Reply:
    return error_reply(503, "storage_unavailable", "the database did not answer; try again")


def _single(query: dict[str, list[str]], key: str) -> str | None:
    values = query.get(key)
    return values[-1] if values else None


def _history_item(quiz: queries.QuizRow) -> dict[str, object]:
    return {
        "quizId": quiz.quiz_id,
        "definitionId": quiz.definition_id,
        "definitionVersion": quiz.definition_version,
        "title": quiz.title,
        "createdAt": quiz.created_at,
        "startedAt": quiz.started_at,
        "endedAt": quiz.ended_at,
        "players": quiz.players,
        "questions": quiz.questions,
    }
