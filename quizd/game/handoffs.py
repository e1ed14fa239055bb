"""Per-question hand-off times: when each participant's ``question`` frame reached its socket.

This is the fair-timing rule of the contract: a player's answer window and its
``elapsed_ms`` run from the moment its own frame was handed to its socket, so the
10,000th player of a fan-out is not penalised for the time the first 9,999 took.

The log is the one piece of quiz state written from outside the quiz's own event
handlers: the delivery layer calls ``handed`` as it writes the frame.  That is safe
without locks because it is first-write-wins, append-only and, under Trio, touched
from one thread only.  Reconnecting never restarts a clock: a second hand-off of the
same question to the same participant is ignored.
"""

from __future__ import annotations


class HandoffLog:
    __slots__ = ("question_id", "opened_at", "nominal_end", "times", "latest", "fresh", "track")

    def __init__(self, question_id: str, opened_at: float, time_limit_s: float, *, track: bool = False) -> None:
        self.question_id = question_id
        self.opened_at = opened_at
        self.nominal_end = opened_at + time_limit_s
        self.times: dict[str, float] = {}
        # Latest fair hand-off seen: the question closes one time limit after it.
        self.latest = opened_at
        # Participants recorded since the snapshot store last looked: kept only when a
        # store looks (``track``, cluster mode), or it would grow with every hand-off.
        self.fresh: list[str] = []
        self.track = track

    def handed(self, participant_id: str, at: float) -> None:
        """Record a hand-off; only the first per participant counts."""
        if participant_id in self.times:
            return
        self.times[participant_id] = at
        if self.track:
            self.fresh.append(participant_id)
        if self.nominal_end >= at > self.latest:
            self.latest = at

    def handed_many(self, participant_ids: list[str], at: float) -> None:
        times = self.times
        new = False
        for pid in participant_ids:
            if pid not in times:
                times[pid] = at
                if self.track:
                    self.fresh.append(pid)
                new = True
        if new and self.nominal_end >= at > self.latest:
            self.latest = at

    def forget(self, participant_id: str) -> None:
        """A player left for good (ids are never reused): its time goes with it, so a
        long question with players coming and going keeps only those still in."""
        self.times.pop(participant_id, None)

    def window_start(self, participant_id: str) -> float:
        """Where this participant's window starts.

        A participant with no fair hand-off (it joined or resumed after the question
        opened, or its frame sat in a queue past the nominal close) gets what is left
        of the nominal window, measured from the nominal start: it never extends it.
        """
        at = self.times.get(participant_id)
        if at is None or at > self.nominal_end:
            return self.opened_at
        return at

    def close_at(self, time_limit_s: float) -> float:
        """The question closes once every fair window has ended."""
        return self.latest + time_limit_s
