"""The throttled broadcasts of one quiz: ``participants``, ``leaderboard``, ``host_state``.

Each goes out only when what it shows changed, and all of them at most once per
``GameSettings.broadcast_interval_ms``: a burst of joins or answers becomes one message
per interval, not one per event.  ``BroadcastThrottle`` remembers what it last sent and
when; the game asks it for its next slot (``next_at``) and, when the slot has come, for
the effects (``flush``).  Sans-IO like the rest of the game.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from quizd.game import effects as fx
from quizd.game import views
from quizd.game.participants import HOST_ID
from quizd.game.phase import Phase

if TYPE_CHECKING:
    from quizd.game.quiz import QuizGame

HostStateKey = tuple[Phase, int | None, int, int, int]


def _host_state_key(game: QuizGame) -> HostStateKey:
    return (game.phase, game.question_index, game.player_count, game.connected_count, game.answered_count)


class BroadcastThrottle:
    """What the throttled broadcasts of one quiz last sent, and when."""

    __slots__ = ("interval_s", "last_at", "_count", "_top", "_total", "_host_state")

    def __init__(self, interval_ms: int, now: float) -> None:
        self.interval_s = interval_ms / 1000
        self.last_at = now
        self._count = 0
        self._top: tuple[tuple[int, int, str], ...] = ()
        self._total = 0
        self._host_state: HostStateKey | None = None

    def next_at(self, game: QuizGame) -> float | None:
        """When ``flush`` has something to send, or None if nothing changed."""
        return self.last_at + self.interval_s if self._pending(game) else None

    def _pending(self, game: QuizGame) -> bool:
        if game.player_count != self._count or _host_state_key(game) != self._host_state:
            return True
        # An ended quiz sends no more leaderboards (quiz_ended carried the last one).
        return game.phase != Phase.ENDED and self._leaderboard_changed(game)

    def _leaderboard_changed(self, game: QuizGame) -> bool:
        """Whether a throttled leaderboard is due; only a ``live`` quiz sends them (the
        others show theirs at the reveals or the end alone)."""
        if game.definition.leaderboard != "live":
            return False
        top_n = game.settings.top_n
        return len(game.leaderboard) != self._total or game.leaderboard.top_signature(top_n) != self._top

    def flush(self, game: QuizGame, now: float) -> list[fx.Effect]:
        """Whatever changed, if the interval since the last send has passed."""
        if now < self.last_at + self.interval_s:
            return []
        out: list[fx.Effect] = []
        if game.player_count != self._count:
            self._count = game.player_count
            out.append(fx.Broadcast("participants", views.participants(self._count)))
        if game.phase != Phase.ENDED and self._leaderboard_changed(game):
            out.append(self.leaderboard(game, now))
        state_key = _host_state_key(game)
        if state_key != self._host_state:
            self._host_state = state_key
            out.append(fx.Reply(HOST_ID, "host_state", views.host_state(game)))
        if out:
            self.last_at = now
        return out

    def leaderboard(self, game: QuizGame, now: float) -> fx.Broadcast:
        """The leaderboard now (also sent unthrottled when a question closes)."""
        self._top = game.leaderboard.top_signature(game.settings.top_n)
        self._total = len(game.leaderboard)
        self.last_at = now
        return fx.Broadcast("leaderboard", views.leaderboard(game), replaceable=True)
