"""Per-question hand-off times: when each participant's ``question`` frame reached its socket.

This is the fair-timing rule of the contract: a player's answer window and its
``elapsed_ms`` run from the moment its own frame was handed to its socket, so the
10,000th player of a fan-out is not penalised for the time the first 9,999 took.

A client decides when it reads, so it can delay its own hand-off: a socket that is
not read fills up and the question frame waits in the node's queue.  Unbounded, that
would let a client start its window late (full points for a late answer) and hold
the question open for everyone.  So a window starts no later than the question's
opening plus ``HANDOFF_SLACK_S``: a fan-out fits well inside it, a stalled reader
does not, and the close is never later than opening + time limit + slack.  The host
never answers: its hand-off is not recorded at all, so it never moves the close.

The log is the one piece of quiz state written from outside the quiz's own event
handlers: the delivery layer calls ``handed`` as it writes the frame.  That is safe
without locks because it is first-write-wins, append-only and, under Trio, touched
from one thread only.  Reconnecting never restarts a clock: a second hand-off of the
same question to the same participant is ignored.
"""

from __future__ import annotations

from typing import Protocol

from quizd.game.participants import HOST_ID

HANDOFF_SLACK_S = 1.0
"""How long after the question's opening a hand-off still starts its own window.

A later hand-off (a client that stopped reading, a frame stuck in a queue) is timed
as if it had happened at opening + slack, so it never earns points for the wait and
never holds the question open beyond time limit + slack."""


class HandoffSink(Protocol):
    """Where an outbound stream reports that a participant's question frame left."""

    def handed(self, participant_id: str, at: float) -> None:
        """``participant_id``'s frame was completely written to its socket at ``at``."""


class HandoffLog:
    """One open question's hand-off times, window starts and close time."""

    __slots__ = ("question_id", "opened_at", "nominal_end", "cap", "times", "latest", "fresh", "track")

    def __init__(self, question_id: str, opened_at: float, time_limit_s: float, *, track: bool = False) -> None:
        self.question_id = question_id
        self.opened_at = opened_at
        self.nominal_end = opened_at + time_limit_s
        # No window starts later than this (see HANDOFF_SLACK_S).
        self.cap = opened_at + HANDOFF_SLACK_S
        self.times: dict[str, float] = {}
        # Latest window start seen: the question closes one time limit after it.
        self.latest = opened_at
        # Participants recorded since the snapshot store last looked: kept only when a
        # store looks (``track``, cluster mode), or it would grow with every hand-off.
        self.fresh: list[str] = []
        self.track = track

    def handed(self, participant_id: str, at: float) -> None:
        """Record a hand-off; only the first per participant counts, the host's never.

        This runs once per player in every question fan-out, so ``_moved`` is spelled
        out here: a hand-off after the nominal end starts no window of its own (it
        would start at the opening, never after ``latest``), any other starts at ``at``
        or at the cap."""
        times = self.times
        if participant_id in times or participant_id == HOST_ID:
            return
        times[participant_id] = at
        if self.track:
            self.fresh.append(participant_id)
        if at <= self.nominal_end:
            start = at if at < self.cap else self.cap
            if start > self.latest:
                self.latest = start

    def handed_many(self, participant_ids: list[str], at: float) -> None:
        """``handed`` for several participants at one instant."""
        times = self.times
        new = False
        for pid in participant_ids:
            if pid not in times and pid != HOST_ID:
                times[pid] = at
                if self.track:
                    self.fresh.append(pid)
                new = True
        if new:
            self._moved(at)

    def _moved(self, at: float) -> None:
        """A new hand-off at ``at``: the close follows its (capped) window start."""
        start = self._start_of(at)
        if start > self.latest:
            self.latest = start

    def _start_of(self, at: float) -> float:
        if at > self.nominal_end:
            # The frame sat in a queue past the nominal close: what is left of the
            # nominal window (nothing), measured from the opening, as for a late joiner.
            return self.opened_at
        return min(at, self.cap)

    def forget(self, participant_id: str) -> None:
        """A player left for good (ids are never reused): its time goes with it, so a
        long question with players coming and going keeps only those still in."""
        self.times.pop(participant_id, None)

    def window_start(self, participant_id: str) -> float:
        """Where this participant's window starts.

        Its own hand-off if that came within the slack; opening + slack if it came
        later (it never gains from a delayed read).  A participant with no recorded
        hand-off (it joined or resumed after the question opened, or its frame sat in
        a queue past the nominal close) gets what is left of the nominal window,
        measured from the nominal start: it never extends it.
        """
        at = self.times.get(participant_id)
        if at is None:
            return self.opened_at
        return self._start_of(at)

    def close_at(self, time_limit_s: float) -> float:
        """The question closes once every window has ended (never after limit + slack)."""
        return self.latest + time_limit_s
