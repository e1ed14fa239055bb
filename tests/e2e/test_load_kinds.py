"""quizd-load plays a quiz of every question kind against a real node (the sample
``config/quizzes/kinds.toml``, reveal ``on_close``), told the answers by ``--answers``."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from quizd.loadgen.cli import main, run_load

ROOT = Path(__file__).resolve().parents[2]
KINDS_TOML = (ROOT / "config" / "quizzes" / "kinds.toml").read_text().replace("countdown_ms = 3000", "countdown_ms = 0")
# The correct answer echo of each of its questions (true is choice 0; the last is a poll).
KINDS_ANSWERS = [{"choice": 1}, {"choice": 0}, {"choices": [0, 2, 4]}, {"text": "Canberra"}, {"value": 1969}, None]
SCORED = ("single", "true_false", "multiple", "type_answer", "slider")


@pytest.mark.e2e
@pytest.mark.parametrize(("share", "result"), [(1.0, "correct"), (0.0, "wrong")])
def test_players_answer_every_kind_right_or_wrong(node_factory: Any, tmp_path: Path, share: float, result: str) -> None:
    node = node_factory(definitions={"kinds": KINDS_TOML})
    answers = tmp_path / "kinds.answers.json"
    answers.write_text(json.dumps(KINDS_ANSWERS))
    players = 24
    report = run_load(
        [
            "--ws",
            node.ws_url,
            "--http",
            node.http_url,
            "--token",
            node.token,
            "--definition",
            "kinds",
            "--players",
            str(players),
            "--workers",
            "2",
            "--reaction",
            "uniform:0-150",
            "--answers",
            str(answers),
            "--correct-share",
            str(share),
            "--timeout",
            "90",
            "--json",
        ]
    )
    assert report["players"]["joined"] == players
    assert report["errors"] == {}
    assert report["answers"]["sent"] == report["answers"]["replies"] == 6 * players
    by_kind = report["answers"]["by_kind"]
    assert sorted(by_kind) == sorted([*SCORED, "poll"])
    for kind in SCORED:
        counts = by_kind[kind]
        # Every answer accepted (a wrong one is still a valid one), then judged at the close.
        assert counts["sent"] == counts["replies"] == counts[result] == players, (kind, counts)
        assert counts["refused"] == counts["guessed"] == counts["unscored"] == 0
    assert by_kind["poll"]["unscored"] == by_kind["poll"]["sent"] == players
    latency = report["answers"]["latency_by_kind"]
    assert sorted(latency) == sorted(by_kind)
    assert all(latency[kind]["count"] == players and latency[kind]["p99_ms"] > 0 for kind in latency)
    assert report["answers"]["correct"] == 0  # on_close: the first reply is answer_accepted
    assert report["answers"]["reply_types"]["answer_result"] == 6 * players
    assert report["config"]["answers"] == str(answers)


def test_answers_and_answer_key_together_are_refused(tmp_path: Path) -> None:
    answers = tmp_path / "a.json"
    answers.write_text("[]")
    assert main(["--answers", str(answers), "--answer-key", "1", "--players", "1"]) == 2
