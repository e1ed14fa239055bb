"""The in-process leaderboard: O(log n) per score change, competition ranks.

Entries are kept in a ``SortedList`` ordered by ``(-score, reached, participant_id)``
where ``reached`` is a quiz-wide sequence number taken when the player reached its
current score.  That order gives the contract's tie rule ("among equal scores,
whoever reached the score first comes first") for free, and the competition rank of
any score is one plus the number of entries with a strictly higher score, which is a
single bisection, never a scan.
"""

from __future__ import annotations

from collections.abc import Iterator
from itertools import islice

from sortedcontainers import SortedList  # no stubs published: see [tool.mypy] ignore_missing_imports

Key = tuple[int, int, str]


class Leaderboard:
    __slots__ = ("_sorted", "_keys", "_names", "_top")

    def __init__(self) -> None:
        self._sorted: SortedList = SortedList()
        self._keys: dict[str, Key] = {}
        self._names: dict[str, str] = {}
        # The last ``top(n)``: (n, its entries, the key of its last entry), kept until a
        # change reaches the top n.  Every join's ``joined`` shows the top 10, and in a
        # lobby (everyone at 0, in join order) the top 10 stops changing after 10 joins.
        self._top: tuple[int, list[dict[str, object]], Key | None] | None = None

    def __len__(self) -> int:
        return len(self._keys)

    def __contains__(self, participant_id: object) -> bool:
        return participant_id in self._keys

    def set(self, participant_id: str, name: str, score: int, reached: int) -> None:
        """Insert or move a participant; ``reached`` orders equal scores."""
        old = self._keys.get(participant_id)
        if old is not None:
            self._sorted.remove(old)
        key = (-score, reached, participant_id)
        self._keys[participant_id] = key
        self._names[participant_id] = name
        self._sorted.add(key)
        self._forget_top(old, key)

    def remove(self, participant_id: str) -> None:
        key = self._keys.pop(participant_id, None)
        if key is not None:
            self._sorted.remove(key)
            del self._names[participant_id]
            self._forget_top(key)

    def _forget_top(self, old: Key | None, new: Key | None = None) -> None:
        """Drop the kept top unless neither ``old`` nor ``new`` (an entry's old and new
        place) is in it.  Runs on every score change: two plain comparisons, no
        generator."""
        kept = self._top
        if kept is None:
            return
        n, entries, last = kept
        if len(entries) < n or last is None or (old is not None and old <= last) or (new is not None and new <= last):
            self._top = None

    def score(self, participant_id: str) -> int:
        return -self._keys[participant_id][0]

    def rank_of_score(self, score: int) -> int:
        """Competition rank a player with ``score`` has: 1 + how many scored more."""
        return int(self._sorted.bisect_left((-score,))) + 1

    def rank(self, participant_id: str) -> int:
        return self.rank_of_score(-self._keys[participant_id][0])

    def iter_entries(self, limit: int | None = None) -> Iterator[dict[str, object]]:
        """Entries in order, each ``{rank, participantId, name, score}``."""
        rank = 0
        previous_score: int | None = None
        source = self._sorted if limit is None else islice(self._sorted, limit)
        for position, (neg_score, _reached, pid) in enumerate(source, start=1):
            score = -neg_score
            if score != previous_score:
                rank = position
                previous_score = score
            yield {"rank": rank, "participantId": pid, "name": self._names[pid], "score": score}

    def top(self, n: int) -> list[dict[str, object]]:
        """The first ``n`` entries.  The same list is returned for as long as they stay
        the same (a payload reads it; nobody changes it)."""
        kept = self._top
        if kept is not None and kept[0] == n:
            return kept[1]
        entries = list(self.iter_entries(n))
        self._top = (n, entries, self._sorted[len(entries) - 1] if entries else None)
        return entries

    def top_signature(self, n: int) -> tuple[tuple[int, int, str], ...]:
        """A cheap value that changes exactly when the top ``n`` entries change."""
        return tuple(islice(self._sorted, n))
