"""quizd-load: the report's numbers (unit) and a short real run against a node (e2e)."""

from __future__ import annotations

import random
import socket
import time
from typing import Any

import pytest

from quizd.loadgen import stamps
from quizd.loadgen.answers import (
    AnswersError,
    Kind,
    key_from_choices,
    kind_of,
    load_answers,
    parse_answers,
    pick_answer,
)
from quizd.loadgen.cli import run_load
from quizd.loadgen.players import Reaction
from quizd.loadgen.run import LoadError, check_loopback
from quizd.loadgen.stats import (
    client_saturation,
    fanout_figures,
    latency_stamp,
    merge_counters,
    merge_kind_counts,
    percentile,
    render_text,
    summarize_ns,
)
from tests.nodekit import quiz_toml

MS = 1_000_000


# ---------------------------------------------------------------------- unit
def test_percentile_is_nearest_rank() -> None:
    values = list(range(1, 101))  # 1..100
    assert percentile(values, 50) == 50
    assert percentile(values, 99) == 99
    assert percentile(values, 100) == 100
    assert percentile(values, 0) == 1
    assert percentile([7], 99) == 7
    assert percentile([], 50) is None
    assert percentile([1, 2, 3, 4], 50) == 2
    assert percentile([1, 2, 3, 4], 51) == 3
    with pytest.raises(ValueError):
        percentile(values, 101)


def test_percentile_matches_a_sorted_sample() -> None:
    rng = random.Random(3)
    values = sorted(rng.random() for _ in range(1000))
    assert percentile(values, 99) == values[989]
    assert percentile(values, 95) == values[949]


def test_summarize_ns_reports_milliseconds() -> None:
    summary = summarize_ns([5 * MS, 1 * MS, 3 * MS, 2 * MS, 4 * MS])
    assert summary == {
        "count": 5,
        "min_ms": 1.0,
        "mean_ms": 3.0,
        "p50_ms": 3.0,
        "p95_ms": 5.0,
        "p99_ms": 5.0,
        "max_ms": 5.0,
    }
    empty = summarize_ns([])
    assert empty["count"] == 0 and empty["p99_ms"] is None and empty["max_ms"] is None


def test_fanout_figures_from_trigger_and_receipts() -> None:
    fig = fanout_figures(1000 * MS, [1002 * MS, 1004 * MS, 1010 * MS, 1001 * MS])
    assert fig["receivers"] == 4
    assert fig["skew_ms"] == 9.0
    assert fig["trigger_to_first_ms"] == 1.0
    assert fig["trigger_to_last_ms"] == 10.0
    assert fig["msgs_per_s"] == 400.0  # 4 messages in 10 ms
    assert fig["window_from"] == "trigger"
    # Without a trigger the window starts at the first receipt.
    fig = fanout_figures(None, [0, 5 * MS])
    assert fig["msgs_per_s"] == 400.0 and fig["window_from"] == "first_receipt"
    assert fanout_figures(0, [])["msgs_per_s"] is None


def test_merge_counters_and_saturation() -> None:
    assert merge_counters([{"a": 1, 1000: 2}, {"a": 2}]) == {"1000": 2, "a": 3}
    util, warnings = client_saturation(cpu_s=9.5, wall_s=10, cores=1, send_lag_p99_ms=1.0)
    assert util == pytest.approx(0.95) and len(warnings) == 1
    util, warnings = client_saturation(cpu_s=1, wall_s=10, cores=2, send_lag_p99_ms=50.0)
    assert util == pytest.approx(0.05) and "late" in warnings[0]
    assert client_saturation(cpu_s=1, wall_s=10, cores=1, send_lag_p99_ms=0.5)[1] == []


def test_latency_stamp_names_the_receive_times_used() -> None:
    assert latency_stamp(kernel=5, userspace=0) == "kernel"
    assert latency_stamp(kernel=5, userspace=1) == "mixed"
    assert latency_stamp(kernel=0, userspace=3) == "userspace"
    assert latency_stamp(kernel=0, userspace=0) is None


def test_a_read_is_stamped_with_the_kernels_receive_time_of_its_last_bytes() -> None:
    """Bytes read 200 ms after they arrived carry their arrival, not the read's time; of
    two sends read at once, the stamp is the later one's (a stamp is never early)."""
    with socket.create_server(("127.0.0.1", 0)) as server:
        reader = socket.socket()
        assert stamps.enable(reader)
        reader.connect(server.getsockname())
        writer, _ = server.accept()
        with reader, writer:
            # The first socket to ask turns stamping on machine-wide a moment later (the
            # kernel defers it): exchange a byte until one comes back stamped.
            arrival = None
            for _ in range(200):
                writer.sendall(b"w")
                data, arrival = stamps.recv_stamped(reader, 16)
                assert data == b"w"
                if arrival is not None:
                    break
                time.sleep(0.01)
            assert arrival is not None, "no SO_TIMESTAMPNS stamp came with any read"
            writer.sendall(b"first")
            time.sleep(0.1)
            before_last = time.time_ns()
            writer.sendall(b"last")
            time.sleep(0.2)
            read_at = time.time_ns()
            data, arrival = stamps.recv_stamped(reader, 64)
    assert data == b"firstlast"
    assert arrival is not None
    assert arrival <= read_at - 100 * MS  # the kernel's time, not the read's
    assert arrival >= before_last  # the last bytes' arrival, not the first's


def test_reaction_specs() -> None:
    rng = random.Random(1)
    assert Reaction("fixed:250").delay_ms(rng, 0, 10) == 250
    assert all(100 <= Reaction("uniform:100-200").delay_ms(rng, 0, 10) <= 200 for _ in range(100))
    even = Reaction("even:0-1000")
    assert [even.delay_ms(rng, i, 5) for i in range(5)] == [0, 250, 500, 750, 1000]
    assert Reaction("sync:500").is_sync
    assert Reaction("normal:100,0").delay_ms(rng, 0, 1) == 100
    for bad in ("", "fixed", "uniform:5-1", "nope:3", "fixed:-1", "normal:1"):
        with pytest.raises(ValueError):
            Reaction(bad)


def test_non_loopback_targets_are_refused() -> None:
    check_loopback(["ws://127.0.0.1:1/ws", "http://localhost:2", "ws://[::1]:3/ws"], allow_remote=False)
    with pytest.raises(LoadError, match="loopback"):
        check_loopback(["ws://192.0.2.10:8765/ws"], allow_remote=False)
    check_loopback(["ws://192.0.2.10:8765/ws"], allow_remote=True)


def test_render_text_mentions_every_section() -> None:
    report: dict[str, Any] = {
        "quiz_id": "q1",
        "targets": ["ws://127.0.0.1:1/ws"],
        "players": {"requested": 2, "joined": 2, "failed": 0},
        "connect": {"duration_s": 0.1, "rate_per_s": 20.0, "join_latency": summarize_ns([MS, 2 * MS])},
        "fanout": {
            "questions": [dict(fanout_figures(0, [MS, 2 * MS]), index=0)],
            "median_msgs_per_s": 1000.0,
            "max_skew_ms": 1.0,
        },
        "answers": {
            "sent": 2,
            "replies": 2,
            "reply_type": "answer_result",
            "correct": 1,
            "late": 0,
            "latency": summarize_ns([MS, 3 * MS]),
            "latency_stamps": {"kernel": 2, "userspace": 0, "followed": 1},
            "latency_at_read": summarize_ns([2 * MS, 4 * MS]),
            "read_delay": summarize_ns([MS, MS]),
            "by_kind": merge_kind_counts([{"slider": {"sent": 2, "correct": 1, "wrong": 1}}]),
            "latency_by_kind": {"slider": summarize_ns([MS, 3 * MS])},
        },
        "leaderboard_frames": 4,
        "received": {"question": 2},
        "errors": {},
        "close_codes": {"1000": 1},
        "client": {
            "workers": 1,
            "cores": 2,
            "cpu_s": 0.1,
            "wall_s": 1.0,
            "cpu_util": 0.1,
            "send_lag": summarize_ns([0]),
        },
        "warnings": ["something"],
    }
    text = render_text(report)
    for word in (
        "joined 2 of 2",
        "fan-out",
        "p99",
        "leaderboard 4",
        "close codes 1000x1",
        "WARNING",
        "(receive stamps: kernel 2, of which a later frame's 1; userspace 0)",
        "timed when read instead (the client's backlog included): p50 2.00 / p95 4.00 / p99 4.00 / max 4.00 ms",
        "a reply's wait to be read, after its arrival: p50 1.00 / p99 1.00 / max 1.00 ms",
        "slider        sent 2, guessed 0, replies 0, correct 1, wrong 1, unscored 0, refused 0; p50/p99 1.00/3.00 ms",
    ):
        assert word in text


# ---------------------------------------------------------------------- answers per kind
def frame(kind: str | None, **fields: Any) -> dict[str, Any]:
    """A question frame of ``kind`` (None: a v1 frame without ``kind``)."""
    base: dict[str, Any] = {"questionId": "q0", "index": 0, "choices": ["a", "b", "c", "d"]}
    if kind is not None:
        base["kind"] = kind
    return {**base, **fields}


SLIDER = frame("slider", choices=[], min=1950, max=2000, step=1)


def picks(question: dict[str, Any], right: Any, share: float, n: int = 200) -> list[Any]:
    rng = random.Random(5)
    return [pick_answer(question, right, share, rng) for _ in range(n)]


def test_single_and_true_false_pick_the_key_or_another_choice() -> None:
    for question in (frame(None), frame("single"), frame("true_false", choices=["true", "false"])):
        n = len(question["choices"])
        right = [p.fields for p in picks(question, {"choice": 1}, 1.0)]
        assert right == [{"choice": 1}] * 200
        wrong = picks(question, {"choice": 1}, 0.0)
        assert all(p.aimed is False and p.fields["choice"] != 1 and 0 <= p.fields["choice"] < n for p in wrong)
        assert {p.kind for p in wrong} == {kind_of(question)}
    # One choice only: always right, whatever the share.
    assert pick_answer(frame("single", choices=["x"]), {"choice": 0}, 0.0, random.Random(1)).fields == {"choice": 0}


def test_single_draws_as_quizd_load_always_did() -> None:
    """One draw for right or wrong, one for the wrong choice: a seed plays as before kinds."""
    rng, old = random.Random(9), random.Random(9)
    for _ in range(100):
        picked = pick_answer(frame("single"), {"choice": 2}, 0.7, rng)
        if old.random() < 0.7:
            expected = 2
        else:
            expected = old.randrange(3)
            expected += expected >= 2
        assert picked.fields == {"choice": expected}
    # No key: a random choice, one draw.
    rng, old = random.Random(3), random.Random(3)
    assert [pick_answer(frame(None), None, 0.7, rng).fields["choice"] for _ in range(20)] == [
        old.randrange(4) for _ in range(20)
    ]


def test_correct_share_is_kept() -> None:
    aimed = [p.aimed for p in picks(frame("multiple", pick="many"), {"choices": [0, 2]}, 0.3, n=2000)]
    assert 0.25 < aimed.count(True) / len(aimed) < 0.35
    assert set(aimed) == {True, False}


def test_multiple_wrong_is_another_non_empty_set() -> None:
    question = frame("multiple", pick="many", choices=["a", "b", "c", "d", "e", "f"])
    assert {tuple(p.fields["choices"]) for p in picks(question, {"choices": [2, 0, 4]}, 1.0)} == {(2, 0, 4)}
    for key in ([0, 2, 4], [3], list(range(6))):
        for p in picks(question, {"choices": key}, 0.0):
            chosen = p.fields["choices"]
            assert chosen and len(set(chosen)) == len(chosen) and all(0 <= c < 6 for c in chosen)
            assert set(chosen) != set(key)
    guesses = picks(question, None, 1.0)
    assert all(p.aimed is None and p.fields["choices"] for p in guesses)


def test_type_answer_wrong_text_is_far_from_the_accepted_one() -> None:
    question = frame("type_answer", choices=[], maxLength=100)
    assert picks(question, {"text": "Canberra"}, 1.0, n=5)[0].fields == {"text": "Canberra"}
    wrong = picks(question, {"text": "Canberra"}, 0.0, n=5)[0]
    assert wrong.fields == {"text": "not Canberra"} and wrong.aimed is False
    long = pick_answer(frame("type_answer", maxLength=10), {"text": "x" * 10}, 0.0, random.Random(1))
    assert len(long.fields["text"]) == 10  # never past the frame's maxLength
    guess = pick_answer(question, None, 1.0, random.Random(1))
    assert guess.fields["text"].startswith("guess ") and guess.aimed is None


def test_slider_wrong_is_the_far_end_and_guesses_are_on_a_step() -> None:
    assert picks(SLIDER, {"value": 1969}, 1.0, n=3)[0].fields == {"value": 1969}
    assert picks(SLIDER, {"value": 1969}, 0.0, n=3)[0].fields == {"value": 2000}
    assert picks(SLIDER, {"value": 1990}, 0.0, n=3)[0].fields == {"value": 1950}
    tenths = frame("slider", choices=[], min=0, max=1, step=0.1)
    for p in picks(tenths, None, 1.0):
        value = p.fields["value"]
        assert 0 <= value <= 1 and round(value * 10, 9) == round(value * 10) and len(repr(value)) <= 3
    assert pick_answer(tenths, {"value": 0.7}, 0.0, random.Random(1)).fields == {"value": 0}


def test_poll_votes_and_a_key_of_another_kind_is_a_guess() -> None:
    poll = picks(frame("poll", scored=False), {"choice": 1}, 1.0)
    assert all(p.kind is Kind.POLL and p.aimed is None for p in poll)
    assert len({p.fields["choice"] for p in poll}) == 4
    misfit = pick_answer(frame("multiple", pick="many"), {"choice": 1}, 1.0, random.Random(1))
    assert misfit.aimed is None and "choices" in misfit.fields
    assert kind_of(frame("no_such_kind")) is Kind.SINGLE


def test_answers_file_shapes(tmp_path: Any) -> None:
    doc = [{"choice": 1}, {"choices": [0, 2]}, {"text": "Canberra"}, {"value": 19.5}, None]
    assert parse_answers(doc) == dict(enumerate(doc))
    assert parse_answers({"3": {"value": 1969}}) == {3: {"value": 1969}}
    assert key_from_choices([2, 0]) == {0: {"choice": 2}, 1: {"choice": 0}}
    for bad in (
        [{"choice": True}],
        [{"choice": 1, "text": "x"}],
        [{"choices": []}],
        [{"text": " "}],
        [{"value": "1"}],
        [3],
        {"x": None},
        "nope",
    ):
        with pytest.raises(AnswersError):
            parse_answers(bad)
    path = tmp_path / "answers.json"
    path.write_text('[{"choice": 0}]')
    assert load_answers(path) == {0: {"choice": 0}}
    path.write_text("[")
    with pytest.raises(AnswersError, match=r"answers\.json"):
        load_answers(path)


def test_kind_counts_merge_with_every_count() -> None:
    merged = merge_kind_counts([{"single": {"sent": 2, "correct": 1}}, {"single": {"sent": 1}, "poll": {"sent": 1}}])
    assert list(merged) == ["poll", "single"]
    assert merged["single"] == {
        "sent": 3,
        "guessed": 0,
        "replies": 0,
        "correct": 1,
        "wrong": 0,
        "unscored": 0,
        "refused": 0,
    }


# ---------------------------------------------------------------------- e2e
@pytest.mark.e2e
def test_fifty_players_play_a_quiz(node_factory: Any) -> None:
    node = node_factory(definitions={"load": quiz_toml("load", questions=2, time_limit_ms=10000)})
    report = run_load(
        [
            "--ws",
            node.ws_url,
            "--http",
            node.http_url,
            "--token",
            node.token,
            "--definition",
            "load",
            "--players",
            "50",
            "--workers",
            "2",
            "--reaction",
            "uniform:0-200",
            "--answer-key",
            "0,1",
            "--correct",
            "1",
            "--timeout",
            "60",
            "--json",
        ]
    )
    assert report["players"] == {"requested": 50, "joined": 50, "failed": 0}
    assert report["errors"] == {}
    assert report["answers"]["sent"] == 100
    assert report["answers"]["replies"] == 100
    assert report["answers"]["reply_type"] == "answer_result"
    assert report["answers"]["correct"] == 100
    latency = report["answers"]["latency"]
    assert latency["count"] == 100
    # Every reply timed by the kernel's receive stamp (SO_TIMESTAMPNS on each player socket).
    assert report["answers"]["latency_stamp"] == "kernel"
    assert report["answers"]["latency_stamps"]["kernel"] == 100
    assert report["answers"]["latency_stamps"]["userspace"] == 0
    # Each reply was read after it arrived, so timed at the read every figure is as late or later.
    at_read = report["answers"]["latency_at_read"]
    assert at_read["count"] == 100
    assert all(at_read[p] >= latency[p] for p in ("min_ms", "p50_ms", "p99_ms", "max_ms"))
    delay = report["answers"]["read_delay"]
    assert delay["count"] == 100 and delay["min_ms"] >= 0
    assert 0 < latency["p50_ms"] <= latency["p95_ms"] <= latency["p99_ms"] <= latency["max_ms"]
    questions = report["fanout"]["questions"]
    assert [q["receivers"] for q in questions] == [50, 50]
    assert all(q["msgs_per_s"] and q["skew_ms"] is not None for q in questions)
    assert report["leaderboard_frames"] >= 100  # one per player at each reveal at least
    assert report["received"]["quiz_ended"] == 50
    assert report["close_codes"] == {}
    assert report["client"]["cpu_s"] > 0 and report["client"]["workers"] == 2


@pytest.mark.e2e
def test_countdown_and_text_report(node_factory: Any, capsys: Any) -> None:
    """A countdown before the first question: its fan-out window starts when the countdown ends."""
    from quizd.loadgen.cli import main

    node = node_factory(definitions={"cd": quiz_toml("cd", questions=1, countdown_ms=500)})
    code = main(
        [
            "--ws",
            node.ws_url,
            "--http",
            node.http_url,
            "--token",
            node.token,
            "--players",
            "10",
            "--reaction",
            "sync:100",
            "--timeout",
            "30",
        ]
    )
    out = capsys.readouterr().out
    assert code == 0
    assert "joined 10 of 10" in out and "errors      none" in out
    assert "answer->answer_result p50" in out
    q0 = next(line for line in out.splitlines() if line.strip().startswith("q0:"))
    trigger_to_last_ms = float(q0.split("trigger->last ")[1].split(" ms")[0])
    assert trigger_to_last_ms < 400  # measured from the end of the countdown, not from `start`
