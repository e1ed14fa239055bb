"""What happened outlives the node: real nodes on a real SQLite file and a real PostgreSQL.

A whole quiz on SQLite, then a restart: the results (and the rows) are still there;
``serve`` on a fresh SQLite path migrates first, and refuses to start on a schema that
is not current when ``auto_migrate`` is off; PostgreSQL stopped mid-quiz for ~10 s
changes nothing for the players, and every acknowledged answer is in the database once
it is back.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import trio

from quizd.client import ControlClient
from quizd.config.model import StorageSection
from quizd.store.engine import engine_from_settings
from quizd.store.migrate import is_current
from quizd.testing.procs import PostgresServer
from tests.e2e.httpkit import metric
from tests.e2e.storagekit import play, rows, wait_results
from tests.nodekit import ADMIN_TOKEN, quiz_toml, write_toml

QUIZ = {"q": quiz_toml("q", questions=3, reveal_ms=200, time_limit_ms=60000)}


async def test_a_quiz_on_sqlite_outlives_a_restart_of_the_node(node_factory, tmp_path: Path):
    db = tmp_path / "state" / "quizd.db"
    url = f"sqlite:///{db}"
    tables = {"storage": {"url": url, "answer_flush_ms": 100}, "quizzes": {"results_dir": "", "linger_s": 0.5}}
    node = node_factory(definitions=QUIZ, **tables)
    # serve migrated the fresh file before it listened.
    engine = engine_from_settings(StorageSection(url=url), None)
    assert is_current(engine)
    engine.dispose()
    control = ControlClient(node.http_url, node.token)
    quiz_id, acked = await play(node, control, players=2, questions=3)
    live = await wait_results(control, quiz_id)
    # After the linger the quiz is gone from memory: the results come from the database.
    with trio.fail_after(10):
        while any(q["quizId"] == quiz_id for q in await control.quizzes()):
            await trio.sleep(0.1)
    assert await control.results(quiz_id) == live
    node.stop()

    again = node_factory(definitions=QUIZ, **tables)
    control = ControlClient(again.http_url, again.token)
    assert await control.results(quiz_id) == live
    assert live["leaderboard"][0]["name"] == "P0" and len(live["questions"]) == 3
    kept = rows(url)
    assert kept["counts"] == {"quizzes": 1, "players": 2, "answers": sum(acked), "question_results": 3}
    quiz = kept["quizzes"][quiz_id]
    assert quiz.definition_id == "q" and quiz.node == "test-node-0" and quiz.questions == 3
    assert quiz.created_at <= quiz.started_at <= quiz.ended_at and quiz.players == 2
    assert kept["players"]["P0"].rank == 1 and kept["players"]["P0"].correct_count == 3
    assert kept["players"]["P1"].correct_count == 0
    status, body = await control.request("GET", "/api/quizzes/nope/results")
    assert status == 404 and body["error"]["code"] == "quiz_not_found"


def serve_refused(tmp_path: Path, storage: dict[str, Any]) -> subprocess.CompletedProcess[str]:
    config = write_toml(
        tmp_path / "quizd.toml",
        {
            "node": {"id": "refuser"},
            "websocket": {"host": "127.0.0.1", "port": 0},
            "http": {"host": "127.0.0.1", "port": 0},
            "auth": {"admin_token": ADMIN_TOKEN},
            "storage": storage,
        },
    )
    run = subprocess.run(
        [sys.executable, "-m", "quizd", "serve", "--config", str(config)],
        capture_output=True,
        text=True,
        timeout=60,
        env=os.environ.copy(),
        check=False,
    )
    assert "quizd ready" not in run.stdout
    return run


def test_serve_refuses_a_schema_that_is_not_current_without_auto_migrate(tmp_path: Path):
    run = serve_refused(tmp_path, {"auto_migrate": False})
    assert run.returncode == 2, run.stderr
    assert "schema is not current" in run.stderr and "quizd db upgrade" in run.stderr


def test_serve_refuses_a_database_it_cannot_reach(tmp_path: Path):
    run = serve_refused(tmp_path, {"url": "postgresql://quizd:pw-never-shown@127.0.0.1:1/quizd"})
    assert run.returncode == 1, run.stderr
    assert "[storage] the database cannot be used: OperationalError" in run.stderr
    assert "pw-never-shown" not in run.stderr


async def test_postgresql_stopped_mid_quiz_costs_the_players_nothing(
    node_factory, pg_url: str, postgres_server: PostgresServer
):
    node = node_factory(definitions=QUIZ, storage={"url": pg_url, "answer_flush_ms": 100})
    control = ControlClient(node.http_url, node.token)

    async def outage(index: int) -> None:
        if index == 0:
            postgres_server.stop()  # the answers of questions 1 and 2 are acknowledged while it is away
        if index == 2:
            await trio.sleep(10 - 2 * 0.5)
            postgres_server.start()

    async def slow_outage(index: int) -> None:
        await outage(index)
        if index < 2:
            await trio.sleep(0.5)

    try:
        quiz_id, acked = await play(node, control, players=3, questions=3, between=slow_outage)
    finally:
        if not postgres_server.ping():
            postgres_server.start()
    with trio.fail_after(30):
        while True:
            kept = rows(pg_url)
            if kept["counts"]["answers"] == sum(acked) and kept["counts"]["players"] == 3:
                break
            await trio.sleep(0.3)
    assert kept["counts"]["question_results"] == 3
    assert kept["quizzes"][quiz_id].ended_at is not None
    # The writer did meet the outage (and kept what it could not write).
    assert await metric(node, "quizd_store_write_errors_total") > 0
    assert await metric(node, "quizd_store_dropped_answers_total") == 0
    assert await metric(node, "quizd_store_pending_events") == 0
    assert (await wait_results(control, quiz_id))["leaderboard"][0]["name"] == "P0"


class NodeStopped(Exception):
    """The test stopped the node in the middle of ``play``."""


async def test_a_drain_waits_for_what_the_writer_still_holds(node_factory, tmp_path: Path):
    url = f"sqlite:///{tmp_path / 'drained.db'}"
    # Batches only once a minute, and the quiz is still running at the SIGTERM (its end
    # would wake the writer): everything of it is still in the writer's memory.
    node = node_factory(definitions=QUIZ, storage={"url": url, "answer_flush_ms": 60000})
    control = ControlClient(node.http_url, node.token)
    quiz_id = "drained"

    async def sigterm_after_the_last_answers(index: int) -> None:
        if index == 2:
            assert rows(url)["counts"]["answers"] == 0
            node.stop()  # the drain ends the quiz and waits for the writer
            raise NodeStopped

    try:
        await play(node, control, players=2, questions=3, between=sigterm_after_the_last_answers, quiz_id=quiz_id)
    except* NodeStopped:
        pass
    kept = rows(url)
    # Each player's three answers were acknowledged (``play`` checks every answer_result).
    assert kept["counts"] == {"quizzes": 1, "players": 2, "answers": 6, "question_results": 3}
    assert kept["quizzes"][quiz_id].ended_at is not None
