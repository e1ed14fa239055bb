"""Per-connection flood control: 20 frames/s, burst 40, drops, tells, abuse."""

from __future__ import annotations

import itertools
from collections import Counter

from quizd.gateway.ratelimit import RateLimiter, Verdict

A, D, T, X = Verdict.ACCEPT, Verdict.DROP, Verdict.DROP_AND_TELL, Verdict.ABUSE


def limiter(now: float = 0.0) -> RateLimiter:
    return RateLimiter(20, 40, now)


def burst(rl: RateLimiter, n: int, now: float) -> list[Verdict]:
    return [rl.check(now) for _ in range(n)]


def test_burst_of_40_is_accepted():
    assert burst(limiter(), 40, 0.0) == [A] * 40


def test_frame_41_is_dropped_and_told():
    rl = limiter()
    burst(rl, 40, 0.0)
    assert rl.check(0.0) == T


def test_further_drops_within_a_second_are_silent():
    rl = limiter()
    burst(rl, 41, 0.0)
    assert burst(rl, 10, 0.0) == [D] * 10
    assert burst(rl, 10, 0.5) == [A] * 10  # refilled 10 tokens in 0.5 s
    assert burst(rl, 10, 0.5) == [D] * 10


def test_tells_at_most_once_per_second():
    rl = RateLimiter(20, 40, 0.0, abuse_drops=10**9)
    burst(rl, 40, 0.0)
    verdicts = []
    t = 0.0
    while t < 3.0:
        verdicts.append((round(t, 3), rl.check(t)))
        verdicts.append((round(t, 3), rl.check(t)))  # two frames per tick: always over the rate
        t += 0.01
    tells = [t for t, v in verdicts if v == T]
    assert len(tells) >= 3
    assert all(b - a >= 1.0 - 1e-9 for a, b in itertools.pairwise(tells))


def test_refills_at_20_per_second():
    rl = limiter()
    burst(rl, 40, 0.0)
    assert rl.check(0.0) == T
    assert rl.check(0.05) == A  # one token back after 50 ms
    assert rl.check(0.05) == D
    assert burst(rl, 20, 1.05) == [A] * 20
    assert rl.check(1.05) in (D, T)


def test_refill_caps_at_burst():
    rl = limiter()
    burst(rl, 40, 0.0)
    assert burst(rl, 40, 100.0) == [A] * 40
    assert rl.check(100.0) == T


def test_steady_20_per_second_is_never_dropped():
    rl = limiter()
    verdicts = {rl.check(i / 20) for i in range(2000)}
    assert verdicts == {A}


def test_abuse_after_100_drops_within_10_seconds():
    rl = limiter()
    burst(rl, 40, 0.0)
    drops = burst(rl, 99, 0.0)
    assert X not in drops
    assert rl.check(0.0) == X


def test_abuse_counts_drops_within_window_only():
    rl = limiter()
    burst(rl, 40, 0.0)
    assert X not in burst(rl, 60, 0.0)
    burst(rl, 40, 10.5)  # refilled; the first 60 drops are now older than 10 s
    assert X not in burst(rl, 60, 10.5)


def test_sustained_flood_is_abuse_within_ten_seconds():
    rl = limiter()
    t = 0.0
    verdict = A
    while verdict != X and t < 11.0:
        verdict = rl.check(t)
        t += 1 / 40  # 40 frames/s: half of them over the limit
    assert verdict == X
    assert t <= 10.5


def test_slow_trickle_of_drops_is_not_abuse():
    rl = limiter()
    burst(rl, 40, 0.0)  # start with an empty bucket
    counts: Counter[Verdict] = Counter()
    for i in range(1, 21 * 30):  # 21 frames/s for 30 s: about one drop per second
        counts[rl.check(i / 21)] += 1
    assert counts[X] == 0
    assert counts[D] + counts[T] > 0
