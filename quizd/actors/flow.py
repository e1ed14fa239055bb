"""How many inbox items an actor handled lately: is a burst of answers going on?

The actor holds a leaderboard's fan-out back during a burst (``QuizActor._start_deferred``).
Its inbox's backlog alone does not tell a burst: the read poller hands the actor at most
a round of answers at a time and the actor handles each round whole, so between two of
its turns the inbox is nearly always empty, also in the middle of 5,000 answers (traced
on the node: the backlog was 0 at every check, and the leaderboard's fan-out to 5,000
players ran among the last answers of each burst).  What tells it is the rate:
``Flow`` counts the items handled in the current window of ``window_s`` and the one
before, so ``recent`` covers between one and two windows of time.  Pure: the caller
passes the time.
"""

from __future__ import annotations

import math


class Flow:
    __slots__ = ("window_s", "_start", "_current", "_previous")

    def __init__(self, window_s: float) -> None:
        self.window_s = window_s
        self._start = -math.inf  # when the current window began (none yet: the first add starts it)
        self._current = 0
        self._previous = 0

    def add(self, items: int, now: float) -> None:
        """``items`` were handled at ``now``."""
        self._roll(now)
        self._current += items

    def recent(self, now: float) -> int:
        """Items handled in the current window and the previous one."""
        self._roll(now)
        return self._current + self._previous

    def _roll(self, now: float) -> None:
        elapsed = now - self._start
        if elapsed < self.window_s:
            return
        if elapsed < 2 * self.window_s:
            self._previous, self._current = self._current, 0
            self._start += self.window_s
        else:  # quiet for a whole window or more: nothing is recent
            self._previous = self._current = 0
            self._start = now
