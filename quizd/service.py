"""The node's quiz service: create, list, inspect and end quizzes; reload definitions.

This is what the HTTP control plane calls.  It owns the definition catalog (a SIGHUP
swaps its files; live quizzes keep the ``QuizDefinition`` object they started with),
checks requests (draining, definition, quiz id) and leaves where a quiz runs to the
``Placement`` the node chose (this process, or the cluster).
"""

from __future__ import annotations

import secrets
from typing import Any

from quizd.catalog import DefinitionCatalog
from quizd.config import DefinitionSet
from quizd.game.quiz import AutoStart
from quizd.ops import metrics
from quizd.placement import QUIZ_ID_RE, CreatedQuiz, Placement
from quizd.service_errors import ServiceError
from quizd.store.runtime import Store


class QuizService:
    def __init__(self, placement: Placement, catalog: DefinitionCatalog, store: Store | None = None) -> None:
        self.placement = placement
        self.catalog = catalog
        # The node's database (definitions, history, reports); None: [storage] url = "none".
        self.store = store
        self.draining = False

    # ------------------------------------------------------------------ definitions
    @property
    def definitions(self) -> DefinitionSet:
        return self.catalog.current

    def replace_definitions(self, definitions: DefinitionSet) -> None:
        self.catalog.current = definitions

    # ------------------------------------------------------------------ quizzes
    async def create_quiz(
        self, definition_id: str, quiz_id: str | None = None, auto_start: AutoStart | None = None
    ) -> CreatedQuiz:
        if self.draining:
            raise ServiceError(503, "server_busy", "this node is draining; create the quiz elsewhere")
        definition = await self.catalog.resolve(definition_id)
        if definition is None:
            raise ServiceError(404, "definition_not_found", f"no quiz definition {definition_id!r}")
        if quiz_id is None:
            quiz_id = self._new_quiz_id()
        elif not QUIZ_ID_RE.fullmatch(quiz_id):
            raise ServiceError(422, "invalid_body", "quizId must be 1 to 64 of A-Z a-z 0-9 _ -")
        if self.placement.runs_here(quiz_id):
            raise ServiceError(409, "quiz_exists", f"quiz {quiz_id!r} already exists")
        created = await self.placement.create(definition, quiz_id, auto_start)
        metrics.QUIZZES_CREATED.inc()
        return created

    def _new_quiz_id(self) -> str:
        while True:
            quiz_id = secrets.token_hex(4)
            if not self.placement.runs_here(quiz_id):
                return quiz_id

    async def list_quizzes(self) -> list[dict[str, Any]]:
        return await self.placement.list_quizzes()

    async def get_quiz(self, quiz_id: str) -> dict[str, Any]:
        return await self.placement.get_quiz(quiz_id)

    async def results(self, quiz_id: str) -> dict[str, Any]:
        return await self.placement.results(quiz_id)

    async def end_quiz(self, quiz_id: str) -> dict[str, Any]:
        return await self.placement.end_quiz(quiz_id)

    def live_quizzes(self) -> int:
        return self.placement.live_quizzes()
