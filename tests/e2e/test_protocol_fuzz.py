"""Protocol fuzzing against a real node: whatever a client sends, the node stays whole.

Hypothesis makes frames and sequences of frames: envelopes of every client message type
with random and invalid payloads, invalid JSON, wrong types, huge ids and numbers,
binary frames.  They are sent by a new connection before it joins, by a player and by
the host, in every phase of a quiz (lobby, starting, question, reveal, ended).  After
each sequence: no ``internal`` error, no close 1011, no actor crash on ``/metrics``,
and another quiz on the same node, played alongside, still answers and plays on.

One node for the module (starting one per example would be most of the run time); a
fuzzed host may end or advance its quiz, so each example first brings a quiz to the
phase under test (a new one when it moved on).
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import trio
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from trio_websocket import ConnectionClosed

from quizd.client import ControlClient, QuizConnection, connect
from tests.e2e.httpkit import metric_value
from tests.nodekit import RunningNode, launch_node, quiz_toml

pytestmark = pytest.mark.e2e

LONG_MS = 600_000
DEFS = {
    # Questions, reveals and countdowns last long enough to fuzz each phase at leisure.
    "fz": quiz_toml("fz", questions=3, time_limit_ms=LONG_MS, reveal_ms=LONG_MS, countdown_ms=0),
    "fzs": quiz_toml("fzs", questions=2, time_limit_ms=LONG_MS, reveal_ms=LONG_MS, countdown_ms=LONG_MS),
    "calm": quiz_toml("calm", questions=2, time_limit_ms=LONG_MS, reveal_ms=LONG_MS, countdown_ms=0),
}
PHASES = ["lobby", "starting", "question", "reveal", "ended"]
TYPES = ["join", "answer", "get_leaderboard", "ping", "leave", "start", "next", "end", "kick", "get_players"]
EXAMPLES = 30  # per phase and sender: 450 sequences in all
names = itertools.count(1)


# --------------------------------------------------------------------------- frames
json_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.text(max_size=30),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=False, allow_infinity=False),
)
json_values = st.recursive(
    json_scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4),
    max_leaves=12,
)
ids = st.one_of(st.integers(min_value=-(2**70), max_value=2**70), st.text(max_size=80), json_values)
fields = st.sampled_from(
    [
        "quizId",
        "name",
        "resumeToken",
        "hostToken",
        "questionId",
        "choice",
        "questionIndex",
        "participantId",
        "after",
        "limit",
    ]
)
random_payloads = st.one_of(st.dictionaries(fields, json_values, max_size=4), json_values)
QUIZ = "@quiz"  # replaced by the fuzzed quiz's id when sent
HOST_TOKEN = "@host"  # replaced by its host token


def near(valid: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    """Mostly a valid value, sometimes any JSON value in its place."""
    return st.one_of(valid, valid, json_values)


#: Per type, payloads that are valid or one field away from it.
NEAR_VALID: dict[str, st.SearchStrategy[Any]] = {
    "join": st.fixed_dictionaries(
        {"quizId": near(st.sampled_from([QUIZ, "nope", ""]))},
        optional={
            "name": near(st.text(max_size=30)),
            "resumeToken": near(st.text(max_size=30)),
            "hostToken": near(st.sampled_from([HOST_TOKEN, "wrong"])),
        },
    ),
    "answer": st.fixed_dictionaries(
        {"questionId": near(st.sampled_from(["q0", "q1", "q9", ""])), "choice": near(st.integers(-2, 6))}
    ),
    "get_players": st.fixed_dictionaries(
        {"after": near(st.sampled_from(["0", "1", "500", "9" * 20, "x", ""]))},
        optional={"limit": near(st.integers(-1, 600))},
    ),
    "kick": st.fixed_dictionaries({"participantId": near(st.sampled_from(["p1", "p2", "host", "p999", ""]))}),
    "next": st.fixed_dictionaries({}, optional={"questionIndex": near(st.integers(-1, 4))}),
}


@st.composite
def envelopes(draw: Any) -> str:
    # The weights are drawn explicitly: one_of() of repeated strategies does not weigh.
    msg_type = draw(st.sampled_from(TYPES)) if draw(st.integers(0, 9)) < 9 else draw(json_values)
    env: dict[str, Any] = {"type": msg_type}
    if draw(st.integers(0, 4)) < 4:  # usually a payload
        typed = NEAR_VALID.get(msg_type, st.just({})) if isinstance(msg_type, str) else st.just({})
        env["payload"] = draw(typed) if draw(st.integers(0, 3)) < 3 else draw(random_payloads)
    if draw(st.booleans()):
        env["id"] = draw(ids)
    return json.dumps(env)


@st.composite
def frames(draw: Any) -> str | bytes:
    """Mostly envelopes; then binary frames, text that is not JSON, truncated JSON, and
    numbers no JSON parser should take lightly."""
    kind = draw(st.integers(0, 19))
    if kind < 14:
        return draw(envelopes())
    if kind < 16:
        return draw(st.binary(max_size=60))
    if kind == 16:
        return draw(st.text(max_size=60))
    if kind == 17:
        whole = draw(envelopes())
        return whole[: draw(st.integers(0, max(0, len(whole) - 1)))]
    return draw(
        st.sampled_from(
            [
                '{"type": "ping", "id": 1e999}',
                '{"type": "ping", "id": 123456789012345678901234567890}',
                '{"type": "answer", "payload": {"questionId": "q0", "choice": 1e400}}',
                '{"type": "get_players", "payload": {"after": "0", "limit": 18446744073709551617}}',
                "[" * 2000 + "]" * 2000,
            ]
        )
    )


sequences = st.lists(frames(), min_size=1, max_size=12)


# --------------------------------------------------------------------------- the node
@pytest.fixture(scope="module")
def fuzz_node(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningNode]:
    node = launch_node(
        Path(tmp_path_factory.mktemp("fuzz")), "fuzz-node", DEFS, limits={"messages_per_second": 1000, "burst": 1000}
    )
    yield node
    node.stop()


class Scene:
    """The fuzzed quiz (brought to a phase on demand) and the calm one beside it."""

    def __init__(self, node: RunningNode) -> None:
        self.node = node
        self.control = ControlClient(node.http_url, node.token)
        self.quiz: dict[str, Any] | None = None
        self.calm: dict[str, Any] | None = None
        self.calm_steps = 0
        self.examples = 0
        self.replies = 0

    async def calm_step(self) -> None:
        """One more step of the quiz played beside the fuzzing: its host and Ann come
        back (resume) and find it as they left it, then it moves on one phase."""
        if self.calm is None:
            self.calm = await self.control.create_quiz("calm")
            async with connect(self.node.ws_url) as ann:
                self.calm["annToken"] = (await ann.join(self.calm["quizId"], name="Ann"))["payload"]["resumeToken"]
        calm = self.calm
        step = self.calm_steps
        self.calm_steps += 1
        async with connect(self.node.ws_url) as host, connect(self.node.ws_url) as ann:
            hj = (await host.join(calm["quizId"], hostToken=calm["hostToken"]))["payload"]
            aj = await ann.join(calm["quizId"], resumeToken=calm["annToken"])
            assert aj["type"] == "joined", aj
            assert hj["playersTotal"] == 1 and hj["players"][0]["name"] == "Ann"
            expected = ["lobby", "question", "question", "reveal", "reveal", "reveal"][min(step, 5)]
            assert hj["quiz"]["phase"] == expected, (step, hj["quiz"])
            if step == 0:
                await host.request("start")
                await ann.expect("question")
            elif step == 1:
                result = await ann.request("answer", {"questionId": "q0", "choice": 0})
                assert result["type"] == "answer_result" and result["payload"]["correct"], result
            elif step == 2:
                assert aj["payload"]["question"]["answered"]
                assert (await host.request("next", {"questionIndex": 0}))["payload"]["phase"] == "reveal"
            else:
                assert aj["payload"]["reveal"]["result"]["correct"]
                board = await ann.request("get_leaderboard")
                assert board["payload"]["you"] == {"rank": 1, "score": board["payload"]["top"][0]["score"]}

    def phase(self) -> str | None:
        if self.quiz is None:
            return None
        status, body = self.control.request_sync("GET", f"/api/quizzes/{self.quiz['quizId']}")
        return body["phase"] if status == 200 else None

    async def ensure(self, target: str) -> dict[str, Any]:
        """A quiz in phase ``target`` (this one if it still is, else a new one)."""
        if self.quiz is not None and self.phase() == target:
            return self.quiz
        quiz = await self.control.create_quiz("fzs" if target == "starting" else "fz")
        async with connect(self.node.ws_url) as host:
            await host.join(quiz["quizId"], hostToken=quiz["hostToken"])
            async with connect(self.node.ws_url) as player:
                await player.join(quiz["quizId"], name="Resident")
                if target != "lobby":
                    await host.request("start")
                if target in ("question", "reveal", "ended"):
                    await host.expect("question")
                if target == "reveal":
                    await host.request("next", {"questionIndex": 0})
                if target == "ended":
                    await host.request("end")
        self.quiz = quiz
        assert self.phase() == target
        return quiz


def scene_for(node: RunningNode, cache: dict[str, Scene] = {}) -> Scene:  # noqa: B006 - one per node
    return cache.setdefault(node.node_id, Scene(node))


async def play_sequence(
    conn: QuizConnection, sequence: list[str | bytes], quiz: dict[str, Any] | None = None
) -> list[dict[str, Any]]:
    """Send the frames, then a ``get_leaderboard``, and read until its reply (the quiz
    handled everything before it; unjoined, it is ``not_joined``) or the close; every
    message received.  A 1011 close, or an ``internal`` error, fails the test."""
    received: list[dict[str, Any]] = []
    try:
        for frame in sequence:
            if quiz is not None and isinstance(frame, str):
                frame = frame.replace(QUIZ, quiz["quizId"]).replace(HOST_TOKEN, quiz["hostToken"])
            await conn.send_raw(frame)
        await conn.send("get_leaderboard", msg_id="fuzz-end")
        with trio.fail_after(10):
            while True:
                message = json.loads(await conn.ws.get_message())
                received.append(message)
                if message.get("re") == "fuzz-end":
                    break
    except ConnectionClosed as closed:
        code = closed.reason.code if closed.reason else None
        assert code != 1011, (code, sequence)
    for message in received:
        assert not (message["type"] == "error" and message["payload"]["code"] == "internal"), (message, sequence)
    return received


def no_crashes(node: RunningNode) -> None:
    status, body = ControlClient(node.http_url).request_sync("GET", "/metrics", raw=True)
    assert status == 200
    assert metric_value(body.decode(), "quizd_actor_crashes_total") == 0


async def fuzz_one(node: RunningNode, phase: str, who: str, sequence: list[str | bytes]) -> None:
    scene = scene_for(node)
    quiz = await scene.ensure(phase)
    async with connect(node.ws_url) as conn:
        if who == "host":
            await conn.join(quiz["quizId"], hostToken=quiz["hostToken"])
        elif who == "player":
            reply = await conn.join(quiz["quizId"], name=f"Fuzzer {next(names)}")
            if reply["type"] != "joined":  # an ended quiz takes nobody: fuzz unjoined instead
                assert phase == "ended", reply
        received = await play_sequence(conn, sequence, quiz)
    scene.examples += 1
    scene.replies += len(received)


# --------------------------------------------------------------------------- the tests
@pytest.mark.parametrize("phase", PHASES)
def test_fuzzed_frames_never_hurt_the_node(fuzz_node: RunningNode, phase: str) -> None:
    scene = scene_for(fuzz_node)
    for who in ("unjoined", "player", "host"):

        @settings(
            max_examples=EXAMPLES,
            deadline=None,
            derandomize=True,
            suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
        )
        @given(sequence=sequences)
        def fuzz(sequence: list[str | bytes]) -> None:
            trio.run(fuzz_one, fuzz_node, phase, who, sequence)  # noqa: B023 - called at once

        before = scene.examples
        fuzz()
        assert scene.examples - before >= EXAMPLES
        no_crashes(fuzz_node)
    trio.run(scene.calm_step)


def test_the_quiz_played_alongside_is_unaffected(fuzz_node: RunningNode) -> None:
    """Runs last: the calm quiz, stepped on after every phase's fuzzing, ends with Ann's
    one right answer as its result, and the fuzzing really talked to the node."""
    scene = scene_for(fuzz_node)
    assert scene.calm is not None and scene.calm_steps == len(PHASES)
    assert scene.replies > scene.examples  # the sequences were answered, not just sent

    async def finish() -> dict[str, Any]:
        assert scene.calm is not None
        async with connect(fuzz_node.ws_url) as host:
            await host.join(scene.calm["quizId"], hostToken=scene.calm["hostToken"])
            assert (await host.request("end"))["payload"]["phase"] == "ended"
        return await scene.control.results(scene.calm["quizId"])

    results = trio.run(finish)
    assert [(e["name"], e["rank"]) for e in results["leaderboard"]] == [("Ann", 1)]
    assert results["leaderboard"][0]["score"] > 0
    no_crashes(fuzz_node)
