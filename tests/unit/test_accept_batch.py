"""The gateway's accept loop takes every waiting connection per wake-up (``ACCEPT_BATCH``),
instead of one per turn of the scheduler as ``trio.serve_listeners`` does."""

from __future__ import annotations

import math
import socket
from typing import Any, cast

import trio

from quizd.config.model import Config
from quizd.gateway.server import ACCEPT_BATCH, Gateway
from tests.unit.steps import TaskSteps

WAITING = 150


class NoRouter:
    async def lookup(self, quiz_id: str) -> None:
        return None


async def test_waiting_connections_are_accepted_in_batches_of_accept_batch() -> None:
    gateway = Gateway(Config(), cast("Any", NoRouter()))
    listeners = await trio.open_tcp_listeners(0, host="127.0.0.1", backlog=WAITING + 10)
    port = listeners[0].socket.getsockname()[1]
    # Connected before the accept loop starts: all of them wait in the backlog.
    clients = [socket.create_connection(("127.0.0.1", port)) for _ in range(WAITING)]
    accepted: list[trio.SocketStream] = []
    steps_when_all_in: list[int] = []

    def spawn(fn: Any, stream: trio.SocketStream, remote: str) -> None:
        accepted.append(stream)  # recorded, not run: only the accept loop's turns count
        if len(accepted) == WAITING:
            steps_when_all_in.append(counter.steps)

    counter = TaskSteps("Gateway._accept")
    gateway._spawn = spawn
    trio.lowlevel.add_instrument(counter)
    try:
        async with trio.open_nursery() as nursery:
            nursery.start_soon(gateway._accept, listeners[0])
            for _ in range(200):  # bounded
                if len(accepted) == WAITING:
                    break
                await trio.sleep(0.01)
            nursery.cancel_scope.cancel()
    finally:
        trio.lowlevel.remove_instrument(counter)
        for client in clients:
            client.close()
        for stream in accepted:
            await trio.aclose_forcefully(stream)
    assert len(accepted) == WAITING
    # Its first step (up to the first wait), then one per wake-up with up to ACCEPT_BATCH
    # accepts each (trio.serve_listeners would have taken a step per connection); two
    # more allowed, should a connection reach the backlog after a wake-up.
    assert len(steps_when_all_in) == 1
    assert steps_when_all_in[0] <= 3 + math.ceil(WAITING / ACCEPT_BATCH), steps_when_all_in
    assert all(isinstance(stream, trio.SocketStream) for stream in accepted)


async def test_arrivals_count_as_busy_until_a_moment_after_the_last_accept() -> None:
    """The collector's quiet-time collections wait while players arrive (node.py)."""
    gateway = Gateway(Config(), cast("Any", NoRouter()))
    listeners = await trio.open_tcp_listeners(0, host="127.0.0.1")
    port = listeners[0].socket.getsockname()[1]
    accepted: list[trio.SocketStream] = []
    gateway._spawn = lambda fn, stream, remote: accepted.append(stream)
    assert not gateway.arriving(0.5)  # nobody yet
    client = socket.create_connection(("127.0.0.1", port))
    try:
        async with trio.open_nursery() as nursery:
            nursery.start_soon(gateway._accept, listeners[0])
            for _ in range(200):  # bounded
                if accepted:
                    break
                await trio.sleep(0.01)
            assert accepted and gateway.arriving(0.5)
            await trio.sleep(0.6)
            assert not gateway.arriving(0.5)
            nursery.cancel_scope.cancel()
    finally:
        client.close()
        for stream in accepted:
            await trio.aclose_forcefully(stream)
