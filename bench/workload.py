"""The benchmark's quizzes: generated questions of a set length, as quiz definition files."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any



# ---------------------------------------------------------------------- questions
def question_text(i: int, length: int) -> str:
    words = ("Which word is closest in meaning to the one in capitals: the committee's decision was "
             "CAPRICIOUS, changing from one week to the next without any reason that the members could "
             "explain to the staff, the press or the public who had followed the debate for months? ")
    text = f"Q{i}. "
    while len(text) < length:
        text += words
    return text[:length]


def make_questions(count: int, time_limit_ms: int, text_len: int) -> list[dict[str, Any]]:
    return [{"text": question_text(i, text_len), "choices": ["whimsical", "careful", "generous", "steady"],
             "answer": i % 4, "timeLimitMs": time_limit_ms} for i in range(count)]


def definition_toml(quiz_id: str, questions: list[dict[str, Any]], time_limit_ms: int) -> str:
    lines = [f'id = "{quiz_id}"', f'title = "Bench {quiz_id}"', 'reveal = "on_answer"',
             f"time_limit_ms = {time_limit_ms}", "reveal_ms = 600000", "countdown_ms = 0"]
    for q in questions:
        choices = ", ".join(json.dumps(c) for c in q["choices"])
        lines += ["", "[[questions]]", f"text = {json.dumps(q['text'])}", f"choices = [{choices}]",
                  f"answer = {q['answer']}"]
    return "\n".join(lines) + "\n"


def write_definitions(settings: argparse.Namespace, defs: Path) -> None:
    """The bench quizzes, written once per run and shared by every quizd (single node and cluster)."""
    s = settings
    defs.mkdir(parents=True, exist_ok=True)
    (defs / "bench-fanout.toml").write_text(definition_toml("bench-fanout", s.questions_fanout, 600_000))
    (defs / "bench-burst.toml").write_text(definition_toml("bench-burst", s.questions_burst, 20_000))
    (defs / "bench-steady.toml").write_text(definition_toml("bench-steady", s.questions_steady, s.steady_ms))
    # The takeover quiz: one long question, so that it is still open after the kill.
    (defs / "bench-takeover.toml").write_text(
        definition_toml("bench-takeover", make_questions(2, 120_000, 400), 120_000))
