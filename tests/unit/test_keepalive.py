"""The gateway's keepalive spreads its pings over the interval (virtual time, no sockets).

Every connection still gets a ping each ``ping_interval_s``, one interval after its
previous one, and a connection that sent nothing since its last ping is dropped at its
next; but the pings (and so the pongs) come a slice every ``KEEPALIVE_TICK_S``, never
all at once.
"""

from __future__ import annotations

import math
from collections import Counter
from typing import Any, cast

import attrs
import trio
import trio.testing

from quizd.config.model import Config, WebSocketSection
from quizd.gateway.server import KEEPALIVE_TICK_S, Gateway
from quizd.gateway.session import Session

INTERVAL = 20.0


@attrs.define(eq=False)
class Out:
    """What the keepalive uses of a session's ``OutboundStream``, recorded."""

    last_received_at: float = 0.0
    pushed: list[float] = attrs.Factory(list)
    aborted_at: float | None = None

    def push(self, frame: bytes) -> bool:
        self.pushed.append(trio.current_time())
        return True

    def abort(self) -> None:
        # The first abort counts (a real session leaves ``Gateway.sessions`` after it).
        if self.aborted_at is None:
            self.aborted_at = trio.current_time()


@attrs.define(eq=False)
class FakeSession:
    conn_id: int
    out: Out = attrs.Factory(Out)
    remote: str = "127.0.0.1"
    last_ping_at: float = -math.inf


class NoRouter:
    async def lookup(self, quiz_id: str) -> None:
        return None


def gateway_with(sessions: list[FakeSession]) -> Gateway:
    config = Config(websocket=WebSocketSection(ping_interval_s=INTERVAL))
    gateway = Gateway(config, cast("Any", NoRouter()))
    gateway.sessions.update(cast("list[Session]", sessions))
    return gateway


async def run_keepalive(gateway: Gateway, seconds: float, during: Any = None) -> None:
    async with trio.open_nursery() as nursery:
        nursery.start_soon(gateway._keepalive)
        if during is not None:
            await during()
        await trio.sleep_until(seconds)
        nursery.cancel_scope.cancel()


def test_pings_are_spread_over_the_interval_one_interval_apart() -> None:
    sessions = [FakeSession(conn_id=i) for i in range(1, 5001)]
    gateway = gateway_with(sessions)

    async def main() -> None:
        for s in sessions:  # every connection answers (sends something) all along
            s.out.last_received_at = math.inf
        await run_keepalive(gateway, 3 * INTERVAL + KEEPALIVE_TICK_S / 2)

    trio.run(main, clock=trio.testing.MockClock(autojump_threshold=0))
    ticks = round(INTERVAL / KEEPALIVE_TICK_S)
    per_instant = Counter(t for s in sessions for t in s.out.pushed)
    assert max(per_instant.values()) <= math.ceil(len(sessions) / ticks)
    for s in sessions:
        assert len(s.out.pushed) == 3, s
        gaps = {round(b - a, 6) for a, b in zip(s.out.pushed, s.out.pushed[1:], strict=False)}
        assert gaps == {INTERVAL}, (s.conn_id, s.out.pushed)
        assert s.out.aborted_at is None


def test_a_silent_connection_is_dropped_at_its_next_ping_and_a_new_one_waits_for_its_first() -> None:
    silent, talker = FakeSession(conn_id=7), FakeSession(conn_id=8)
    late = FakeSession(conn_id=9)
    gateway = gateway_with([silent, talker])

    async def main() -> None:
        async def joins_later() -> None:
            await trio.sleep(INTERVAL / 2)
            late.out.last_received_at = math.inf
            gateway.sessions.add(cast("Session", late))

        talker.out.last_received_at = math.inf
        await run_keepalive(gateway, 3 * INTERVAL + KEEPALIVE_TICK_S / 2, during=joins_later)

    trio.run(main, clock=trio.testing.MockClock(autojump_threshold=0))
    first = silent.out.pushed[0]
    assert first < INTERVAL  # pinged in the first interval after the keepalive began
    # The silent one sent nothing after that ping: dropped one interval later, not before.
    assert silent.out.aborted_at is not None
    assert math.isclose(silent.out.aborted_at - first, INTERVAL)
    assert talker.out.aborted_at is None and len(talker.out.pushed) == 3
    # Opened in the middle of an interval: its first ping comes in the next one.
    assert late.out.pushed and INTERVAL <= late.out.pushed[0] < 2 * INTERVAL
    assert late.out.aborted_at is None


def test_a_stalled_node_pings_nobody_twice_in_a_row() -> None:
    """The event loop held up for several intervals (a paused VM, a stopped process):
    the pings it missed are not made up for in a burst.  Made up for, every connection
    was pinged once per missed interval in the same instant, and dropped at the second
    before it could answer the first.  Each connection here answers a ping 0.5 s after
    it came, as a live peer does."""
    sessions = [FakeSession(conn_id=i) for i in range(1, 401)]
    gateway = gateway_with(sessions)

    async def answer_pings() -> None:
        while True:
            await trio.sleep(0.1)
            now = trio.current_time()
            for s in sessions:
                if s.out.pushed and s.out.last_received_at < s.out.pushed[-1] <= now - 0.5:
                    s.out.last_received_at = s.out.pushed[-1] + 0.5

    async def stall() -> None:
        await trio.sleep(INTERVAL * 1.5)
        clock.jump(INTERVAL * 3.2)  # nothing ran meanwhile: every deadline in it is due now

    clock = trio.testing.MockClock(autojump_threshold=0)

    async def main() -> None:
        async with trio.open_nursery() as nursery:
            nursery.start_soon(answer_pings)
            await run_keepalive(gateway, 8 * INTERVAL, during=stall)
            nursery.cancel_scope.cancel()

    trio.run(main, clock=clock)
    for s in sessions:
        assert s.out.aborted_at is None, (s.conn_id, s.out.pushed)
        gaps = [b - a for a, b in zip(s.out.pushed, s.out.pushed[1:], strict=False)]
        assert gaps and min(gaps) >= INTERVAL / 2, (s.conn_id, s.out.pushed)
