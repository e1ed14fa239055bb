"""Per-connection flood control (sans-IO): a token bucket plus an abuse counter.

Every data frame costs one token.  Frames over the limit are dropped; the sender is
told at most once per second (``rate_limited``), and a connection that has had
``abuse_drops`` frames dropped within ``abuse_window_s`` is closed with 1008.
"""

from __future__ import annotations

from collections import deque
from enum import Enum


class Verdict(Enum):
    ACCEPT = "accept"
    DROP = "drop"
    DROP_AND_TELL = "drop_and_tell"
    ABUSE = "abuse"


class RateLimiter:
    __slots__ = ("rate", "burst", "tokens", "updated", "last_told", "drops", "abuse_drops", "abuse_window_s")

    def __init__(
        self, rate: float, burst: int, now: float, *, abuse_drops: int = 100, abuse_window_s: float = 10.0
    ) -> None:
        self.rate = rate
        self.burst = burst
        self.tokens = float(burst)
        self.updated = now
        self.last_told = -1e18
        # Created on the first drop: most connections never need it (memory per idle
        # connection matters at 10,000 players).
        self.drops: deque[float] | None = None
        self.abuse_drops = abuse_drops
        self.abuse_window_s = abuse_window_s

    def check(self, now: float) -> Verdict:
        tokens = min(self.burst, self.tokens + (now - self.updated) * self.rate)
        self.updated = now
        if tokens >= 1.0:
            self.tokens = tokens - 1.0
            return Verdict.ACCEPT
        self.tokens = tokens
        drops = self.drops
        if drops is None:
            drops = self.drops = deque()
        drops.append(now)
        while drops and now - drops[0] > self.abuse_window_s:
            drops.popleft()
        if len(drops) >= self.abuse_drops:
            return Verdict.ABUSE
        if now - self.last_told >= 1.0:
            self.last_told = now
            return Verdict.DROP_AND_TELL
        return Verdict.DROP
