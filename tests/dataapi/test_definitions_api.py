"""Definitions over the data API on a real node with a real SQLite file (protocol §4):
JSON and TOML round trips, versions, every problem at once with its path, the 409s,
bounded bodies, and a quiz keeping the version it was created from."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from quizd.client import ControlClient, connect
from tests.dataapi.datakit import api
from tests.nodekit import quiz_toml

pytestmark = pytest.mark.e2e

FILES = {"filed": quiz_toml("filed", questions=2)}


def definition(definition_id: str = "made", title: str = "Made over the API", questions: int = 2) -> dict[str, Any]:
    return {
        "id": definition_id,
        "title": title,
        "reveal": "on_close",
        "questions": [{"text": f"Q{i}?", "choices": ["a", "b", "c"], "answer": i % 3} for i in range(questions)],
    }


def sqlite_node(node_factory: Any, tmp_path: Path, **tables: Any) -> Any:
    return node_factory(definitions=FILES, storage={"url": f"sqlite:///{tmp_path / 'data.db'}"}, **tables)


async def test_json_and_toml_round_trips_with_versions(node_factory, tmp_path):
    node = sqlite_node(node_factory, tmp_path)

    status, _, body = await api(node, "POST", "/api/definitions", definition())
    assert status == 201, body
    assert body == {"id": "made", "version": 1, "title": "Made over the API", "questionCount": 2, "source": "api"}
    status, _, got = await api(node, "GET", "/api/definitions/made")
    assert status == 200
    assert got["version"] == 1 and got["source"] == "api" and got["reveal"] == "on_close"
    assert got["questions"][1] == {
        "text": "Q1?",
        "choices": ["a", "b", "c"],
        "answer": 1,
        "time_limit_ms": 20000,
        "points": 1000,
    }

    # The file's and the API's side by side in the v1 list, each with version and source.
    status, _, listed = await api(node, "GET", "/api/definitions")
    assert listed == [
        {"id": "filed", "title": "Quiz filed", "questionCount": 2, "version": 1, "source": "file"},
        {"id": "made", "title": "Made over the API", "questionCount": 2, "version": 1, "source": "api"},
    ]
    status, _, filed = await api(node, "GET", "/api/definitions/filed")
    assert status == 200 and filed["source"] == "file" and filed["version"] == 1 and len(filed["questions"]) == 2

    toml = (
        'id = "made"\ntitle = "Made again"\npoints = 500\n\n[[questions]]\ntext = "Only?"\n'
        'choices = ["x", "y"]\nanswer = 1\n'
    )
    status, _, body = await api(node, "PUT", "/api/definitions/made", toml, "application/toml; charset=utf-8")
    assert status == 200, body
    assert body["version"] == 2 and body["questionCount"] == 1 and body["title"] == "Made again"
    status, _, got = await api(node, "GET", "/api/definitions/made")
    assert got["version"] == 2 and got["questions"] == [
        {"text": "Only?", "choices": ["x", "y"], "answer": 1, "time_limit_ms": 20000, "points": 500}
    ]

    # A TOML POST too.
    status, _, body = await api(node, "POST", "/api/definitions", quiz_toml("tomled", questions=3), "application/toml")
    assert status == 201 and body["version"] == 1 and body["questionCount"] == 3, body

    # Delete: gone for new quizzes, and a new POST continues after the old versions.
    status, _, _ = await api(node, "DELETE", "/api/definitions/made")
    assert status == 204
    assert (await api(node, "GET", "/api/definitions/made"))[2]["error"]["code"] == "definition_not_found"
    status, _, body = await api(node, "POST", "/api/quizzes", {"definitionId": "made"})
    assert status == 404 and body["error"]["code"] == "definition_not_found"
    assert (await api(node, "DELETE", "/api/definitions/made"))[0] == 404
    assert (await api(node, "PUT", "/api/definitions/made", definition()))[0] == 404
    status, _, body = await api(node, "POST", "/api/definitions", definition())
    assert status == 201 and body["version"] == 3


async def test_definitions_survive_a_restart(node_factory, tmp_path):
    node = sqlite_node(node_factory, tmp_path)
    assert (await api(node, "POST", "/api/definitions", definition()))[0] == 201
    node.stop()
    again = sqlite_node(node_factory, tmp_path)
    status, _, got = await api(again, "GET", "/api/definitions/made")
    assert status == 200 and got["version"] == 1
    assert (await api(again, "POST", "/api/quizzes", {"definitionId": "made"}))[0] == 201


async def test_every_problem_at_once_with_its_path(node_factory, tmp_path):
    node = sqlite_node(node_factory, tmp_path)
    bad = {
        "id": "Not An Id",
        "title": "",
        "colour": "red",
        "reveal": "sometimes",
        "questions": [
            {"text": "fine?", "choices": ["a", "b"], "answer": 0},
            {"text": "", "choices": ["a"], "answer": 0},
            {"text": "range?", "choices": ["a", "b"], "answer": 2},
            {"text": "types?", "choices": "ab", "answer": "zero", "points": -1},
            7,
        ],
    }
    status, _, body = await api(node, "POST", "/api/definitions", bad)
    assert status == 422, body
    assert body["error"]["code"] == "invalid_definition"
    problems = {p["path"]: p["problem"] for p in body["error"]["details"]["problems"]}
    assert set(problems) == {
        "colour",
        "id",
        "title",
        "reveal",
        "questions[1].text",
        "questions[1].choices",
        "questions[2].answer",
        "questions[3].choices",
        "questions[3].answer",
        "questions[3].points",
        "questions[4]",
    }, problems
    assert "unknown key" in problems["colour"]
    assert "index into choices" in problems["questions[2].answer"]
    # The same checks as a file: the message a file would get, for the same mistake.
    assert problems["questions[4]"] == "expected a table, got an integer"

    status, _, body = await api(node, "POST", "/api/definitions", 'id = "x"\ntitle = ', "application/toml")
    assert status == 422 and body["error"]["details"]["problems"][0]["path"] == "line 2"
    status, _, body = await api(node, "POST", "/api/definitions", "[1, 2]")
    assert status == 422 and body["error"]["details"]["problems"] == [
        {"path": "", "problem": "expected an object, got an array"}
    ]
    status, _, body = await api(node, "POST", "/api/definitions", "{not json")
    assert status == 422 and body["error"]["code"] == "invalid_definition"
    # A PUT's body names the definition of its URL.
    assert (await api(node, "POST", "/api/definitions", definition()))[0] == 201
    status, _, body = await api(node, "PUT", "/api/definitions/made", definition("other"))
    assert status == 422 and body["error"]["details"]["problems"][0]["path"] == "id"
    # Nothing of that was kept.
    listed = (await api(node, "GET", "/api/definitions"))[2]
    assert [d["id"] for d in listed] == ["filed", "made"]


async def test_conflicts_and_read_only_files(node_factory, tmp_path):
    node = sqlite_node(node_factory, tmp_path)
    status, _, body = await api(node, "POST", "/api/definitions", definition("filed"))
    assert status == 409 and body["error"]["code"] == "definition_exists"
    assert (await api(node, "POST", "/api/definitions", definition()))[0] == 201
    status, _, body = await api(node, "POST", "/api/definitions", definition())
    assert status == 409 and body["error"]["code"] == "definition_exists"
    status, _, body = await api(node, "PUT", "/api/definitions/filed", definition("filed"))
    assert status == 409 and body["error"]["code"] == "definition_read_only"
    status, _, body = await api(node, "DELETE", "/api/definitions/filed")
    assert status == 409 and body["error"]["code"] == "definition_read_only"
    assert (await api(node, "GET", "/api/definitions/filed"))[0] == 200


async def test_oversized_body_is_413(node_factory, tmp_path):
    node = sqlite_node(node_factory, tmp_path)
    huge = definition(questions=1)
    huge["title"] = "x" * (70 * 1024)
    status, _, body = await api(node, "POST", "/api/definitions", huge)
    assert status == 413 and body["error"]["code"] == "invalid_body"
    assert (await api(node, "GET", "/api/definitions/made"))[0] == 404


async def test_a_quiz_keeps_the_version_it_was_created_from(node_factory, tmp_path):
    node = sqlite_node(node_factory, tmp_path)
    control = ControlClient(node.http_url, node.token)
    assert (await api(node, "POST", "/api/definitions", definition(title="First", questions=2)))[0] == 201
    before = await control.create_quiz("made", quiz_id="before")
    status, _, body = await api(node, "PUT", "/api/definitions/made", definition(title="Second", questions=3))
    assert status == 200 and body["version"] == 2
    after = await control.create_quiz("made", quiz_id="after")
    for quiz_id, created, title, count in (("before", before, "First", 2), ("after", after, "Second", 3)):
        async with connect(node.ws_url) as host:
            joined = await host.join(quiz_id, hostToken=created["hostToken"])
            assert joined["type"] == "joined", joined
            assert joined["payload"]["quiz"]["title"] == title
            assert joined["payload"]["quiz"]["questionCount"] == count


async def test_without_storage_only_files_exist(node_factory):
    node = node_factory(definitions=FILES, storage={"url": "none"})
    status, _, listed = await api(node, "GET", "/api/definitions")
    assert listed == [{"id": "filed", "title": "Quiz filed", "questionCount": 2, "version": 1, "source": "file"}]
    for method, path, body in (
        ("POST", "/api/definitions", definition()),
        ("GET", "/api/history", None),
        ("GET", "/api/quizzes/x/report", None),
    ):
        status, _, got = await api(node, method, path, body)
        assert status == 409 and got["error"]["code"] == "storage_disabled", (method, path, got)
    assert (await api(node, "GET", "/api/definitions/made"))[0] == 404
