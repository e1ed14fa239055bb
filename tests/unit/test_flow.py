"""``Flow``: the items an actor handled in the current window and the one before."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from quizd.actors.flow import Flow

W = 0.025


def test_items_count_for_one_to_two_windows() -> None:
    flow = Flow(W)
    flow.add(40, 1.0)
    assert flow.recent(1.0) == 40
    flow.add(30, 1.0 + W * 0.5)
    assert flow.recent(1.0 + W * 0.9) == 70
    assert flow.recent(1.0 + W * 1.5) == 70  # the previous window still counts
    flow.add(5, 1.0 + W * 1.6)
    assert flow.recent(1.0 + W * 1.9) == 75
    assert flow.recent(1.0 + W * 2.5) == 5  # the first window is gone
    assert flow.recent(1.0 + W * 4.5) == 0  # quiet for a whole window: nothing


def test_a_new_flow_has_nothing_recent() -> None:
    assert Flow(W).recent(0.0) == 0


@given(st.lists(st.tuples(st.floats(0, 0.2), st.integers(0, 500)), max_size=60))
def test_recent_is_what_was_added_within_two_windows_and_at_least_the_last_window(
    steps: list[tuple[float, int]],
) -> None:
    flow = Flow(W)
    now = 10.0
    added: list[tuple[float, int]] = []
    for gap, items in steps:
        now += gap
        flow.add(items, now)
        added.append((now, items))
        recent = flow.recent(now)
        assert sum(n for t, n in added if now - t < W) <= recent <= sum(n for t, n in added if now - t < 2 * W)
