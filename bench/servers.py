"""The servers under test and the quizzes they serve: quizd (one node) and two baselines.

Every server is started pinned to the server core and stopped at the end of its block.
quizd is a ``quizd.testing.procs.NodeProcess`` (the same harness as the tests); the
baselines (``bench/peers``) print a ``peer ready port=N`` line of their own.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import time
from functools import partial
from pathlib import Path
from typing import Any

from bench.common import PY, ROOT, SERVER_CPU, TOKEN, log, pinned
from quizd.client import ControlClient
from quizd.testing.procs import NodeProcess, read_line, stop_process


# ---------------------------------------------------------------------- questions
def question_text(i: int, length: int) -> str:
    words = (
        "Which word is closest in meaning to the one in capitals: the committee's decision was "
        "CAPRICIOUS, changing from one week to the next without any reason that the members could "
        "explain to the staff, the press or the public who had followed the debate for months? "
    )
    text = f"Q{i}. "
    while len(text) < length:
        text += words
    return text[:length]


def make_questions(count: int, time_limit_ms: int, text_len: int) -> list[dict[str, Any]]:
    return [
        {
            "text": question_text(i, text_len),
            "choices": ["whimsical", "careful", "generous", "steady"],
            "answer": i % 4,
            "timeLimitMs": time_limit_ms,
        }
        for i in range(count)
    ]


#: The kinds of a mixed quiz, in the order its questions cycle through them.
KINDS = ("single", "true_false", "multiple", "type_answer", "slider", "poll")


def make_mixed_questions(count: int, text_len: int) -> list[dict[str, Any]]:
    """``count`` questions cycling through every kind (``KINDS``), each a question dict as
    ``definition_toml`` writes it: ``kind`` plus that kind's definition keys."""
    out: list[dict[str, Any]] = []
    for i in range(count):
        kind = KINDS[i % len(KINDS)]
        q: dict[str, Any] = {"kind": kind, "text": question_text(i, text_len)}
        if kind == "single":
            q.update(choices=["whimsical", "careful", "generous", "steady"], answer=i % 4)
        elif kind == "true_false":
            q.update(answer=i % 2 == 0)
        elif kind == "multiple":
            q.update(choices=["whimsical", "careful", "generous", "steady", "fickle", "calm"], answers=[0, 4])
        elif kind == "type_answer":
            q.update(accepted=["whimsical", "fickle"], typo_tolerance=True)
        elif kind == "slider":
            q.update(min=0, max=100, step=1, answer=37 + i % 10, tolerance=2)
        else:
            q.update(choices=["whimsical", "careful", "generous", "steady"])
        out.append(q)
    return out


def answer_echo(q: dict[str, Any]) -> dict[str, Any] | None:
    """A question's correct answer as the echo ``quizd-load --answers`` takes (None for a poll)."""
    kind = q.get("kind", "single")
    if kind == "single":
        return {"choice": q["answer"]}
    if kind == "true_false":
        return {"choice": 0 if q["answer"] else 1}  # choice 0 is true
    if kind == "multiple":
        return {"choices": q["answers"]}
    if kind == "type_answer":
        return {"text": q["accepted"][0]}
    if kind == "slider":
        return {"value": q["answer"]}
    return None


def definition_toml(quiz_id: str, questions: list[dict[str, Any]], time_limit_ms: int) -> str:
    lines = [
        f'id = "{quiz_id}"',
        f'title = "Bench {quiz_id}"',
        'reveal = "on_answer"',
        f"time_limit_ms = {time_limit_ms}",
        "reveal_ms = 600000",
        "countdown_ms = 0",
    ]
    for q in questions:
        lines += ["", "[[questions]]"]
        for key, value in q.items():
            if key != "timeLimitMs":  # the quiz's time_limit_ms above
                lines.append(f"{key} = {json.dumps(value)}")
    return "\n".join(lines) + "\n"


def write_quiz(defs: Path, quiz_id: str, questions: list[dict[str, Any]], time_limit_ms: int) -> None:
    """A bench quiz and, beside it, ``<id>.answers.json``: its correct answers for quizd-load."""
    (defs / f"{quiz_id}.toml").write_text(definition_toml(quiz_id, questions, time_limit_ms))
    (defs / f"{quiz_id}.answers.json").write_text(json.dumps([answer_echo(q) for q in questions]))


def write_definitions(settings: argparse.Namespace, defs: Path) -> None:
    """The bench quizzes, written once per run and shared by every quizd (single node and cluster)."""
    s = settings
    defs.mkdir(parents=True, exist_ok=True)
    (defs / "bench-fanout.toml").write_text(definition_toml("bench-fanout", s.questions_fanout, 600_000))
    write_quiz(defs, "bench-burst", s.questions_burst, 20_000)
    (defs / "bench-steady.toml").write_text(definition_toml("bench-steady", s.questions_steady, s.steady_ms))
    # The kinds rows: one question of each kind, against as many single-choice questions.
    write_quiz(defs, "bench-mixed", make_mixed_questions(len(KINDS), 400), 20_000)
    write_quiz(defs, "bench-single", make_questions(len(KINDS), 20_000, 400), 20_000)
    # The takeover quiz: one long question, so that it is still open after the kill.
    (defs / "bench-takeover.toml").write_text(
        definition_toml("bench-takeover", make_questions(2, 120_000, 400), 120_000)
    )


# ---------------------------------------------------------------------- servers
class Server:
    kind = ""

    def __init__(self, work: Path, settings: argparse.Namespace) -> None:
        self.work = work
        self.settings = settings
        self.proc: subprocess.Popen[str] | None = None
        self.port = 0

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    @property
    def ws_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/ws"

    def start(self) -> None:
        raise NotImplementedError

    def new_quiz(self, definition: str) -> tuple[str, str]:
        return "bench", "bench-host"

    def load_args(self, definition: str) -> list[str]:
        quiz_id, host_token = self.new_quiz(definition)
        return ["--quiz-id", quiz_id, "--host-token", host_token]

    def end_quiz(self, quiz_id: str) -> None:
        """End a quiz the bench left open (the baselines keep nothing once players leave)."""

    def stop(self) -> None:
        if self.proc is not None:
            stop_process(self.proc, 8)


class QuizdServer(Server):
    kind = "quizd"
    node_id = "bench"
    drain_timeout_s = 1
    cluster_toml = ""
    # More [quizzes] keys.  An ended quiz lingers 5 s, not 600: the servers take turns
    # and each scenario runs several times, so a quizd holding every earlier run's
    # players (10,000 a quiz) would start each repeat bigger than the last, where the
    # baselines forget a player when it leaves.  (The soak sets its own.)
    quizzes_toml = "linger_s = 5\n"
    storage_url: str | None = None  # [storage] url; None: the default, an SQLite file beside the config

    def start(self) -> None:
        self.launch()
        self.wait_ready()

    def launch(self) -> None:
        defs = self.settings.defs_dir
        config = self.work / "quizd.toml"
        config.write_text(f"""
[node]
id = "{self.node_id}"
drain_timeout_s = {self.drain_timeout_s}
[websocket]
host = "127.0.0.1"
port = 0
max_connections = 30000
[http]
host = "127.0.0.1"
port = 0
[auth]
admin_token = "{TOKEN}"
[quizzes]
definitions_dir = "{defs}"
max_players = 20000
{self.quizzes_toml}[logging]
level = "warning"
{self.cluster_toml}{self.storage_toml()}""")
        self.node = NodeProcess(
            config, self.work / "quizd.stderr.log", python=PY, wrap=partial(pinned, SERVER_CPU), cwd=ROOT
        )
        self.node.launch()
        self.proc = self.node.process

    def storage_toml(self) -> str:
        return "" if self.storage_url is None else f"[storage]\nurl = {json.dumps(self.storage_url)}\n"

    def wait_ready(self, timeout: float = 30) -> None:
        ready = self.node.wait_ready(timeout)
        self.port = ready.ws_port
        self.http_url = self.node.http_url
        self.control = ControlClient(self.http_url, TOKEN)

    def new_quiz(self, definition: str) -> tuple[str, str]:
        status, body = self.control.request_sync("POST", "/api/quizzes", {"definitionId": definition})
        if status != 201:
            raise RuntimeError(f"create quiz: {status} {body}")
        return body["quizId"], body["hostToken"]

    def load_args(self, definition: str) -> list[str]:
        return ["--http", self.http_url, "--token", TOKEN, "--definition", definition]

    def end_quiz(self, quiz_id: str) -> None:
        status, body = self.control.request_sync("POST", f"/api/quizzes/{quiz_id}/end")
        if status != 200:
            log(f"quizd: could not end quiz {quiz_id}: {status} {body}")

    def slow_consumer_disconnects(self) -> float | None:
        t0 = time.monotonic()
        try:
            _status, text = ControlClient(self.http_url, TOKEN, timeout=60).request_sync("GET", "/metrics", raw=True)
        except OSError as exc:
            log(f"quizd /metrics did not answer: {exc}")
            return None
        self.metrics_wait_s = round(time.monotonic() - t0, 2)
        for line in text.decode().splitlines():
            if line.startswith("quizd_slow_consumer_disconnects_total"):
                return float(line.split()[-1])
        return None


class PeerServer(Server):
    def __init__(self, kind: str, work: Path, settings: argparse.Namespace) -> None:
        super().__init__(work, settings)
        self.kind = kind

    def start(self) -> None:
        qfile = self.work / "questions.json"
        qfile.write_text(json.dumps(self.settings.questions_fanout))
        if self.kind == "asyncio":
            argv = [PY, str(ROOT / "bench" / "peers" / "asyncio_peer.py"), "--port", "0", "--questions", str(qfile)]
        else:
            argv = [
                "node",
                str(ROOT / "bench" / "peers" / "node" / "peer.js"),
                "--port",
                "0",
                "--questions",
                str(qfile),
            ]
        self.stderr = open(self.work / f"{self.kind}.stderr.log", "w")  # noqa: SIM115
        self.proc = subprocess.Popen(
            pinned(SERVER_CPU, argv), stdout=subprocess.PIPE, stderr=self.stderr, text=True, cwd=ROOT
        )
        line = read_line(self.proc, "peer ready ", 30)
        self.port = int(line.split("port=")[1])
