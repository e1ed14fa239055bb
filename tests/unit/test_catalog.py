"""The definition catalog on a real SQLite file: files win, API definitions are read
through from the database and trusted for ``CACHE_S``, changes made elsewhere (another
node writing the same database) are seen after that, and a change made here at once."""

from __future__ import annotations

from pathlib import Path

import pytest

from quizd.catalog import CACHE_S, DefinitionCatalog, DefinitionSource
from quizd.config import DefinitionSet, parse_definition
from quizd.config.definitions import definition_document
from quizd.game.definitions import QuizDefinition
from quizd.service_errors import ServiceError
from quizd.store import definition_rows as rows
from quizd.store.engine import Database, make_engine
from quizd.store.migrate import upgrade


def quiz(definition_id: str, title: str) -> QuizDefinition:
    return parse_definition(
        {"id": definition_id, "title": title, "questions": [{"text": "Q?", "choices": ["a", "b"], "answer": 0}]}, "test"
    )


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def database(tmp_path: Path) -> Database:
    engine = make_engine(f"sqlite:///{tmp_path / 'quizd.db'}")
    upgrade(engine)
    return Database(engine)


async def test_read_through_with_a_short_cache(database: Database) -> None:
    clock = Clock()
    catalog = DefinitionCatalog(DefinitionSet({"filed": quiz("filed", "File")}), database, clock)
    other = DefinitionCatalog(DefinitionSet({}), database, clock)  # another node, same database

    assert (await catalog.resolve("filed")).title == "File"  # type: ignore[union-attr]
    assert await catalog.resolve("made") is None  # absent, and remembered as absent
    entry = await other.create(quiz("made", "One"))
    assert entry.source is DefinitionSource.API and entry.definition.version == 1
    assert await catalog.resolve("made") is None  # still trusted: within the cache time
    clock.now += CACHE_S
    found = await catalog.resolve("made")
    assert found is not None and found.title == "One" and found.version == 1

    await other.replace("made", quiz("made", "Two"))
    assert (await other.resolve("made")).version == 2  # type: ignore[union-attr]  # at once where changed
    assert (await catalog.resolve("made")).version == 1  # type: ignore[union-attr]
    clock.now += CACHE_S
    assert (await catalog.resolve("made")).title == "Two"  # type: ignore[union-attr]
    # A definition request always reads fresh.
    await other.delete("made")
    with pytest.raises(ServiceError) as refused:
        await catalog.entry("made")
    assert refused.value.code == "definition_not_found"
    assert await catalog.resolve("made") is None


async def test_files_win_and_are_read_only(database: Database) -> None:
    catalog = DefinitionCatalog(DefinitionSet({"filed": quiz("filed", "File")}), database)
    for call in (
        catalog.create(quiz("filed", "API")),
        catalog.replace("filed", quiz("filed", "API")),
        catalog.delete("filed"),
    ):
        with pytest.raises(ServiceError) as refused:
            await call
        assert refused.value.status == 409
    # One made in the database before a file took its id: the file's is the one used.
    with database.engine.begin() as connection:
        rows.add_version(connection, "later", "API", definition_document(quiz("later", "API")), 1, True)
    assert (await catalog.resolve("later")).title == "API"  # type: ignore[union-attr]
    catalog.current = DefinitionSet({"later": quiz("later", "File")})
    assert (await catalog.resolve("later")).title == "File"  # type: ignore[union-attr]
    assert [(e.definition.id, e.source) for e in await catalog.entries()] == [("later", DefinitionSource.FILE)]


async def test_no_database_means_files_only() -> None:
    catalog = DefinitionCatalog(DefinitionSet({"filed": quiz("filed", "File")}))
    assert await catalog.resolve("other") is None
    with pytest.raises(ServiceError) as refused:
        await catalog.create(quiz("made", "One"))
    assert (refused.value.status, refused.value.code) == (409, "storage_disabled")


async def test_a_database_that_does_not_answer() -> None:
    """Nothing listens on port 1: files still list and create, an API id is a 503."""
    away = Database(make_engine("postgresql://quizd@127.0.0.1:1/quizd"))
    catalog = DefinitionCatalog(DefinitionSet({"filed": quiz("filed", "File")}), away)
    try:
        assert [e.definition.id for e in await catalog.entries()] == ["filed"]
        assert (await catalog.resolve("filed")).title == "File"  # type: ignore[union-attr]
        for call in (catalog.resolve("made"), catalog.entry("made"), catalog.create(quiz("made", "One"))):
            with pytest.raises(ServiceError) as refused:
                await call
            assert (refused.value.status, refused.value.code) == (503, "storage_unavailable")
    finally:
        away.dispose()


def test_the_stored_document_keeps_every_kind() -> None:
    """What the store keeps of an API definition (and GET shows, and the host screen's
    editor edits) parses back to the same definition: every kind's keys, explanations
    and the leaderboard mode, not only the v1 keys."""
    import tomllib
    from pathlib import Path

    raw = tomllib.loads((Path(__file__).parents[2] / "config" / "quizzes" / "kinds.toml").read_text())
    definition = parse_definition(raw, "kinds.toml")
    document = definition_document(definition)
    assert parse_definition(document, "stored") == definition
    assert [q.get("kind") for q in document["questions"]] == [
        None,
        "true_false",
        "multiple",
        "type_answer",
        "slider",
        "poll",
    ]
    assert document["questions"][1]["answer"] is True
    assert document["questions"][4]["answer"] == 1969
