"""Names that look blank or hide an invisible letter are refused, with a reason a program can read."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from quizd.game.names import NameError_, normalize_name


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        ("", "empty"),
        ("   ", "empty"),
        ("\u3164", "invisible_character"),  # HANGUL FILLER
        ("Ann\u3164", "invisible_character"),  # passes for "Ann"
        ("\u2800\u2800", "invisible_character"),  # BRAILLE PATTERN BLANK
        ("\uffa0", "invisible_character"),  # HALFWIDTH HANGUL FILLER
        ("\u115f\u1160", "invisible_character"),
        ("\u0301\u0302\u0303", "blank"),  # combining marks with nothing to sit on
        ("\u0301 \u20dd", "blank"),  # marks and a space
        ("\u3000\u0301", "blank"),  # ideographic space, mark
        ("x" * 25, "too_long"),
        ("a\u200bb", "forbidden_character"),  # zero-width space (Cf)
    ],
)
def test_refused_with_a_reason(raw: str, reason: str) -> None:
    with pytest.raises(NameError_) as caught:
        normalize_name(raw)
    assert caught.value.reason == reason
    assert str(caught.value)


@pytest.mark.parametrize("name", ["Ann", "José", "e\u0301", "李雷", "🦊", "A B", "Zoë-7", "١٢٣"])
def test_visible_names_pass(name: str) -> None:
    assert normalize_name(name)


@given(st.text(alphabet=st.sampled_from(" \u3000\u0301\u0302\u20dd\u0300\u2003"), min_size=1, max_size=24))
def test_nothing_but_spaces_and_marks_is_never_a_name(raw: str) -> None:
    with pytest.raises(NameError_):
        normalize_name(raw)
