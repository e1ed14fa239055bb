"""What a quiz is told from outside its definition: the node's knobs and the auto-start.

Plain frozen values, shared by every quiz of a node (``GameSettings``, from the node
config) or given to one quiz at creation (``AutoStart``, from the HTTP create call).
``quizd.game.quiz`` re-exports both, where callers have always imported them from.
"""

from __future__ import annotations

import attrs

from quizd.game.names import NamePolicy


@attrs.frozen
class AutoStart:
    """Start by itself once ``min_players`` joined, after ``countdown_ms`` (None: the definition's)."""

    min_players: int = 1
    countdown_ms: int | None = None


@attrs.frozen
class GameSettings:
    """Node-wide knobs a quiz needs (from the node config).

    ``broadcast_interval_ms`` spaces the throttled broadcasts (``leaderboard``,
    ``participants`` and the host's ``host_state``); operators set it as
    ``[leaderboard] interval_ms``.  ``names`` is the node's one ``NamePolicy`` (names
    mode and deny-list), shared so that a deny-list reload reaches every quiz.
    """

    top_n: int = 10
    broadcast_interval_ms: int = 500
    max_players: int = 10000
    linger_s: float = 600.0
    lobby_timeout_s: float = 3600.0
    names: NamePolicy = attrs.Factory(NamePolicy)
