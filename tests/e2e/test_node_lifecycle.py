"""A node's life as an operator sees it: SIGHUP reload, SIGTERM drain, the command line.

(operator contract: "Command line" and "Draining and service level").
"""

from __future__ import annotations

import json
import os
import signal
import socket
import sys
from pathlib import Path
from typing import Any

import pytest
import trio

import quizd
from quizd.client import ControlClient, connect
from tests.e2e.httpkit import metric
from tests.e2e.protocolkit import close_code
from tests.nodekit import ROOT, quiz_toml

pytestmark = pytest.mark.e2e

BROKEN_QUIZ = """id = "broken"
title = "Broken"
[[questions]]
text = "Q"
choices = ["a", "b"]
answer = 9
"""


# --------------------------------------------------------------------------- helpers


async def definition_ids(control: ControlClient) -> list[str]:
    return [d["id"] for d in await control.definitions()]


async def wait_for(predicate: Any, timeout: float = 5.0, interval: float = 0.05) -> Any:
    """Poll an async predicate until it returns something truthy."""
    with trio.fail_after(timeout):
        while True:
            value = await predicate()
            if value:
                return value
            await trio.sleep(interval)


async def wait_exit(node: Any, timeout: float) -> int:
    with trio.fail_after(timeout + 1):
        return await trio.to_thread.run_sync(node.wait, timeout)


async def run_quizd(*args: str, env: dict[str, str] | None = None, timeout: float = 20.0) -> trio.CompletedProcess:
    with trio.fail_after(timeout):
        return await trio.run_process(
            [sys.executable, "-m", "quizd", *args],
            capture_stdout=True,
            capture_stderr=True,
            check=False,
            cwd=str(ROOT),
            env={**os.environ, **(env or {})},
        )


# --------------------------------------------------------------------------- SIGHUP


async def test_sighup_loads_a_new_definition(node_factory):
    node = node_factory(definitions={"a": quiz_toml("a")})
    control = ControlClient(node.http_url, node.token)
    assert await definition_ids(control) == ["a"]
    before = await metric(node, "quizd_config_reloads_total", {"result": "success"})
    (node.tmp / "quizzes" / "b.toml").write_text(quiz_toml("b", questions=4))
    node.signal(signal.SIGHUP)
    await wait_for(lambda: _has_definition(control, "b"))
    assert await control.definitions() == [
        {"id": "a", "title": "Quiz a", "questionCount": 3, "version": 1, "source": "file"},
        {"id": "b", "title": "Quiz b", "questionCount": 4, "version": 1, "source": "file"},
    ]
    created = await control.create_quiz("b")
    async with connect(node.ws_url) as ann:
        joined = await ann.join(created["quizId"], name="Ann")
        assert joined["payload"]["quiz"]["questionCount"] == 4
    assert await metric(node, "quizd_config_reloads_total", {"result": "success"}) == before + 1
    # The node is still ready and serving after the reload.
    assert await control.request("GET", "/readyz") == (200, {"status": "ready"})


async def _has_definition(control: ControlClient, definition_id: str) -> bool:
    return definition_id in await definition_ids(control)


async def test_sighup_with_a_broken_file_keeps_the_rest_working(node_factory):
    node = node_factory(definitions={"a": quiz_toml("a")})
    control = ControlClient(node.http_url, node.token)
    before = await metric(node, "quizd_config_reloads_total", {"result": "failure"})
    quizzes_dir = node.tmp / "quizzes"
    (quizzes_dir / "broken.toml").write_text(BROKEN_QUIZ)
    (quizzes_dir / "c.toml").write_text(quiz_toml("c"))  # lets us see that the reload happened
    node.signal(signal.SIGHUP)
    await wait_for(lambda: _has_definition(control, "c"))
    assert await definition_ids(control) == ["a", "c"]
    # The problem is in the log, naming the file and the key.
    log = node.tmp / "stderr.log"
    await wait_for(lambda: _log_mentions(log, "broken.toml"))
    line = next(line for line in log.read_text().splitlines() if "broken.toml" in line)
    assert "answer" in line
    assert json.loads(line)["level"] == "error"
    # The good definitions keep working; the broken one is not there.
    for definition_id in ("a", "c"):
        assert (await control.request("POST", "/api/quizzes", {"definitionId": definition_id}))[0] == 201
    status, body = await control.request("POST", "/api/quizzes", {"definitionId": "broken"})
    assert status == 404 and body["error"]["code"] == "definition_not_found"
    assert await metric(node, "quizd_config_reloads_total", {"result": "failure"}) == before + 1
    assert await control.request("GET", "/readyz") == (200, {"status": "ready"})


async def _log_mentions(log: Path, text: str) -> bool:
    return text in log.read_text()


async def test_sighup_keeps_the_last_good_version_of_a_file_that_broke(node_factory):
    node = node_factory(definitions={"a": quiz_toml("a"), "b": quiz_toml("b")})
    control = ControlClient(node.http_url, node.token)
    quizzes_dir = node.tmp / "quizzes"
    (quizzes_dir / "a.toml").write_text("id = 'a'\ntitle = ")  # a TOML syntax error
    (quizzes_dir / "d.toml").write_text(quiz_toml("d"))
    node.signal(signal.SIGHUP)
    await wait_for(lambda: _has_definition(control, "d"))
    definitions = {d["id"]: d for d in await control.definitions()}
    assert set(definitions) == {"a", "b", "d"}
    assert definitions["a"] == {"id": "a", "title": "Quiz a", "questionCount": 3, "version": 1, "source": "file"}
    assert (await control.request("POST", "/api/quizzes", {"definitionId": "a"}))[0] == 201


async def test_sighup_forgets_a_deleted_definition_but_not_its_live_quiz(node_factory):
    node = node_factory(definitions={"a": quiz_toml("a"), "b": quiz_toml("b", questions=2, reveal_ms=100)})
    control = ControlClient(node.http_url, node.token)
    live = await control.create_quiz("b")
    (node.tmp / "quizzes" / "b.toml").unlink()
    node.signal(signal.SIGHUP)

    async def gone() -> bool:
        return await definition_ids(control) == ["a"]

    await wait_for(gone)
    status, body = await control.request("POST", "/api/quizzes", {"definitionId": "b"})
    assert status == 404 and body["error"]["code"] == "definition_not_found"
    async with connect(node.ws_url) as host, connect(node.ws_url) as ann:
        await host.join(live["quizId"], hostToken=live["hostToken"])
        assert (await ann.join(live["quizId"], name="Ann"))["payload"]["quiz"]["questionCount"] == 2
        await host.request("start")
        assert (await ann.expect("question"))["payload"]["total"] == 2
    await control.end(live["quizId"])


async def test_a_live_quiz_keeps_the_definition_it_started_with(node_factory):
    node = node_factory(definitions={"a": quiz_toml("a", questions=3, reveal_ms=100)})
    control = ControlClient(node.http_url, node.token)
    old = await control.create_quiz("a")
    changed = quiz_toml("a", questions=1, reveal_ms=100).replace('title = "Quiz a"', 'title = "Changed"')
    changed = changed.replace('text = "Question 0"', 'text = "New question"')
    (node.tmp / "quizzes" / "a.toml").write_text(changed)
    node.signal(signal.SIGHUP)

    async def reloaded() -> bool:
        return (await control.definitions())[0]["title"] == "Changed"

    await wait_for(reloaded)
    assert await control.definitions() == [
        {"id": "a", "title": "Changed", "questionCount": 1, "version": 1, "source": "file"}
    ]
    new = await control.create_quiz("a")

    async with connect(node.ws_url) as host, connect(node.ws_url) as ann, connect(node.ws_url) as bob:
        # The quiz created before the reload: the old title, three questions.
        await host.join(old["quizId"], hostToken=old["hostToken"])
        joined = await ann.join(old["quizId"], name="Ann")
        assert joined["payload"]["quiz"]["title"] == "Quiz a"
        assert joined["payload"]["quiz"]["questionCount"] == 3
        await host.request("start")
        question = await ann.expect("question")
        assert question["payload"]["total"] == 3 and question["payload"]["text"] == "Question 0"
        await host.request("next", {"questionIndex": 0})
        question = await ann.expect("question", timeout=5)
        assert question["payload"]["index"] == 1  # a second question exists for this quiz
        # The quiz created after: the new definition.
        joined = await bob.join(new["quizId"], name="Bob")
        assert joined["payload"]["quiz"]["title"] == "Changed"
        assert joined["payload"]["quiz"]["questionCount"] == 1
    results = await control.results(old["quizId"])
    assert results["questions"][0]["text"] == "Question 0"
    for quiz_id in (old["quizId"], new["quizId"]):
        await control.end(quiz_id)


# --------------------------------------------------------------------------- SIGTERM


async def test_sigterm_drains_then_ends_the_quiz_and_exits_0(node_factory):
    drain_s = 2.0
    node = node_factory(
        definitions={"q": quiz_toml("q", questions=3, time_limit_ms=60000, reveal_ms=200)},
        node={"drain_timeout_s": drain_s},
    )
    control = ControlClient(node.http_url, node.token)
    created = await control.create_quiz("q")
    quiz_id = created["quizId"]
    idle = (await control.create_quiz("q"))["quizId"]  # a second live quiz, still in its lobby
    async with connect(node.ws_url) as host, connect(node.ws_url) as ann:
        await host.join(quiz_id, hostToken=created["hostToken"])
        ann_token = (await ann.join(quiz_id, name="Ann"))["payload"]["resumeToken"]
        await host.request("start")
        question = await ann.expect("question")
        assert (await ann.request("answer", {"questionId": question["payload"]["questionId"], "choice": 0}))["payload"][
            "correct"
        ] is True

        node.signal(signal.SIGTERM)
        sigterm_at = trio.current_time()

        # /readyz turns 503 at once; /healthz stays 200.
        async def draining() -> bool:
            return await control.request("GET", "/readyz") == (503, {"status": "draining"})

        await wait_for(draining, timeout=1.0, interval=0.02)
        assert await control.request("GET", "/healthz") == (200, {"status": "ok"})

        # No new quizzes, no new players ...
        status, body = await control.request("POST", "/api/quizzes", {"definitionId": "q"})
        assert status == 503 and body["error"]["code"] == "server_busy", body
        async with connect(node.ws_url) as bob:
            refused = await bob.join(quiz_id, name="Bob")
            assert refused["type"] == "error" and refused["payload"]["code"] == "server_busy", refused
            assert refused["payload"]["details"]["retryAfterMs"] > 0
        assert (await control.quiz(quiz_id))["participants"] == 1

        # ... but a resume and the host get in (each replaces its older connection: 4002).
        async with connect(node.ws_url) as ann2, connect(node.ws_url) as host2:
            resumed = await ann2.join(quiz_id, resumeToken=ann_token)
            assert resumed["type"] == "joined" and resumed["payload"]["name"] == "Ann", resumed
            assert await close_code(ann) == 4002
            hosted = await host2.join(quiz_id, hostToken=created["hostToken"])
            assert hosted["type"] == "joined" and hosted["payload"]["role"] == "host", hosted
            assert await close_code(host) == 4002
            # The quiz runs on during the drain: the host can still drive it.
            assert (await host2.request("next", {"questionIndex": 0}))["type"] == "host_state"
            await ann2.expect("question", timeout=5)

            # After drain_timeout_s the unfinished quiz is ended: quiz_ended, then 4004.
            assert await close_code(ann2, timeout=drain_s + 5) == 4004
            ended_at = trio.current_time() - sigterm_at
            assert drain_s - 0.25 <= ended_at <= drain_s + 3, ended_at
            assert ann2.received[-1]["type"] == "quiz_ended", ann2.received[-3:]
            final = ann2.received[-1]["payload"]
            assert final["you"]["rank"] == 1 and final["you"]["score"] > 0
            assert [e["name"] for e in final["leaderboard"]] == ["Ann"]
            assert await close_code(host2) == 4004
            assert any(m["type"] == "quiz_ended" for m in host2.received)

    assert await wait_exit(node, timeout=drain_s + 5 - (trio.current_time() - sigterm_at)) == 0
    results = json.loads((node.results_dir / f"{quiz_id}.json").read_text())
    assert results["quizId"] == quiz_id and results["phase"] == "ended"
    assert [e["name"] for e in results["leaderboard"]] == ["Ann"]
    assert results["leaderboard"][0]["score"] == final["you"]["score"]
    assert [q["questionId"] for q in results["questions"]] == ["q0", "q1"]
    idle_results = json.loads((node.results_dir / f"{idle}.json").read_text())
    assert idle_results["phase"] == "ended" and idle_results["leaderboard"] == []


async def test_drain_exits_as_soon_as_live_quizzes_finish(node_factory):
    node = node_factory(
        definitions={"q": quiz_toml("q", questions=1, time_limit_ms=60000, reveal_ms=100)},
        node={"drain_timeout_s": 20},
    )
    control = ControlClient(node.http_url, node.token)
    lingering = await control.create_quiz("q")
    await control.end(lingering["quizId"])  # ended, kept for linger_s: not live
    created = await control.create_quiz("q")
    async with connect(node.ws_url) as host, connect(node.ws_url) as ann:
        await host.join(created["quizId"], hostToken=created["hostToken"])
        await ann.join(created["quizId"], name="Ann")
        await host.request("start")
        await ann.expect("question")
        node.signal(signal.SIGTERM)
        sigterm_at = trio.current_time()
        await host.request("next", {"questionIndex": 0})  # close the last question: the quiz ends
        await ann.expect("question_closed")
        assert await close_code(ann) == 4004
        assert any(m["type"] == "quiz_ended" for m in ann.received)
    assert await wait_exit(node, timeout=5) == 0
    assert trio.current_time() - sigterm_at < 5  # far less than drain_timeout_s
    assert (node.results_dir / f"{created['quizId']}.json").exists()


async def test_sigterm_and_sigint_without_live_quizzes_exit_0_promptly(node_factory):
    for signum in (signal.SIGTERM, signal.SIGINT):
        node = node_factory(definitions={"q": quiz_toml("q")}, node={"drain_timeout_s": 20})
        node.signal(signum)
        start = trio.current_time()
        assert await wait_exit(node, timeout=5) == 0, signum
        assert trio.current_time() - start < 5


async def test_a_second_sigterm_during_the_drain_exits_130(node_factory):
    node = node_factory(definitions={"q": quiz_toml("q")}, node={"drain_timeout_s": 60})
    control = ControlClient(node.http_url, node.token)
    created = await control.create_quiz("q")
    async with connect(node.ws_url) as ann:
        await ann.join(created["quizId"], name="Ann")
        node.signal(signal.SIGTERM)

        async def draining() -> bool:
            return (await control.request("GET", "/readyz"))[0] == 503

        await wait_for(draining, timeout=1.0, interval=0.02)
        # A SIGHUP during the drain neither ends it nor makes the node ready again.
        node.signal(signal.SIGHUP)
        await trio.sleep(0.3)
        assert node.process.poll() is None  # still draining: the quiz is live
        assert await control.request("GET", "/readyz") == (503, {"status": "draining"})
        node.signal(signal.SIGTERM)
        start = trio.current_time()
        assert await wait_exit(node, timeout=5) == 130
        assert trio.current_time() - start < 5


# --------------------------------------------------------------------------- command line


async def test_check_config_accepts_the_sample_config():
    done = await run_quizd("check-config", "--config", str(ROOT / "config" / "quizd.toml"))
    out = done.stdout.decode()
    assert done.returncode == 0, done.stderr.decode()
    assert "config OK" in out and "vocab-101" in out
    assert "change-me" not in out + done.stderr.decode()  # the admin token is never printed
    # $QUIZD_CONFIG is the default for --config.
    done = await run_quizd("check-config", env={"QUIZD_CONFIG": str(ROOT / "config" / "quizd.toml")})
    assert done.returncode == 0, done.stderr.decode()


def write_bad_config(tmp_path: Path) -> Path:
    quizzes = tmp_path / "quizzes"
    quizzes.mkdir()
    (quizzes / "broken.toml").write_text(BROKEN_QUIZ)
    (quizzes / "ok.toml").write_text(quiz_toml("ok"))
    config = tmp_path / "quizd.toml"
    config.write_text(
        '[node]\nid = "bad id!"\nbogus = 1\n\n'
        '[websocket]\nport = "eighty"\nmax_message_bytes = 10\n\n'
        "[leaderboard]\ntop_n = 0\n\n"
        "[nonsense]\nx = 1\n"
    )
    return config


async def test_check_config_lists_every_problem(tmp_path):
    config = write_bad_config(tmp_path)
    done = await run_quizd("check-config", "--config", str(config))
    err = done.stderr.decode()
    assert done.returncode == 2, (done.stdout, err)
    expected = [
        (str(config), "[nonsense]"),
        (str(config), "[node] bogus"),
        (str(config), "[node] id"),
        (str(config), "[websocket] port"),
        (str(config), "[websocket] max_message_bytes"),
        (str(config), "[leaderboard] top_n"),
        (str(tmp_path / "quizzes" / "broken.toml"), "answer"),
    ]
    lines = err.splitlines()
    for file, key in expected:
        assert any(line.startswith(file) and key in line for line in lines), (file, key, err)
    assert "ok.toml" not in err


async def test_version():
    done = await run_quizd("version")
    assert done.returncode == 0
    assert done.stdout.decode().strip() == f"quizd {quizd.__version__}"
    # The console script is the same program.
    script = Path(sys.executable).parent / "quizd"
    if script.exists():
        with trio.fail_after(20):
            done = await trio.run_process([str(script), "version"], capture_stdout=True, check=False)
        assert done.returncode == 0
        assert done.stdout.decode().strip() == f"quizd {quizd.__version__}"


async def test_serve_exits_1_when_its_port_is_taken(tmp_path):
    busy = socket.socket()
    busy.bind(("127.0.0.1", 0))
    busy.listen()
    try:
        config = tmp_path / "quizd.toml"
        config.write_text(
            f"[websocket]\nport = {busy.getsockname()[1]}\n\n[http]\nport = 0\n\n"
            f'[auth]\nadmin_token = "x"\n\n[quizzes]\ndefinitions_dir = "{ROOT / "config" / "quizzes"}"\n'
        )
        done = await run_quizd("serve", "--config", str(config))
    finally:
        busy.close()
    assert done.returncode == 1, done.stderr.decode()[-2000:]
    assert "quizd ready" not in done.stdout.decode()
    assert "in use" in done.stderr.decode()


async def test_bad_usage_exits_2():
    for args in ((), ("frobnicate",), ("serve", "--no-such-flag")):
        done = await run_quizd(*args)
        assert done.returncode == 2, (args, done.stderr)


async def test_serve_with_a_bad_config_exits_2_naming_file_and_key(tmp_path):
    config = write_bad_config(tmp_path)
    done = await run_quizd("serve", "--config", str(config))
    err = done.stderr.decode()
    assert done.returncode == 2, err
    assert "quizd ready" not in done.stdout.decode()
    assert any(line.startswith(str(config)) and "[websocket] port" in line for line in err.splitlines()), err
    assert any(line.startswith(str(config)) and "[leaderboard] top_n" in line for line in err.splitlines()), err

    missing = tmp_path / "nope.toml"
    done = await run_quizd("serve", "--config", str(missing))
    assert done.returncode == 2
    assert str(missing) in done.stderr.decode()
