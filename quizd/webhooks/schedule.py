"""When a failed delivery is tried again: about 5 s, 30 s, 2 min, 10 min, 1 h, then every
hour, until 24 h after the event (protocol section 5); after that the event is given up.

The delays are counted from each failed attempt, the cut-off from the event itself, so
a node that was down for a while retries what it missed at once and still gives up on
time.  :data:`DELAYS_S`, :data:`REPEAT_S` and :data:`GIVE_UP_AFTER_S` are read when a
:class:`RetrySchedule` is built with no arguments, so a test node can shorten them by
setting the module constants before it starts (``python -c "import
quizd.webhooks.schedule as s; s.DELAYS_S = (0.5,); ..."``); nothing else changes them.
"""

from __future__ import annotations

import attrs

DELAYS_S: tuple[float, ...] = (5.0, 30.0, 120.0, 600.0, 3600.0)
REPEAT_S: float = 3600.0
GIVE_UP_AFTER_S: float = 24 * 3600.0


@attrs.frozen
class RetrySchedule:
    """Delays after the 1st, 2nd, ... failed attempt, the delay repeated after those, and
    how long after the event the last attempt may start."""

    delays_s: tuple[float, ...] = attrs.field(factory=lambda: DELAYS_S)
    repeat_s: float = attrs.field(factory=lambda: REPEAT_S)
    give_up_after_s: float = attrs.field(factory=lambda: GIVE_UP_AFTER_S)

    def delay_after(self, attempts: int) -> float:
        """The wait after the ``attempts``-th failed attempt (1-based)."""
        if attempts < 1:
            raise ValueError("attempts counts from 1")
        return self.delays_s[attempts - 1] if attempts <= len(self.delays_s) else self.repeat_s

    def next_attempt(self, event_at: float, attempts: int, now: float) -> float | None:
        """When to try again after the ``attempts``-th failure at ``now``, or None: give up.

        Times are seconds on one clock (``event_at`` the event's own time).
        """
        at = now + self.delay_after(attempts)
        return at if at <= event_at + self.give_up_after_s else None
