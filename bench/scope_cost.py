"""What a trio cancel scope costs, and how many a connection opens before it has joined.

A lead for the connect row (docs/benchmarks.md, "Taking turns"): the node spends
320-350 µs of its core per connection that connects and joins; each cancel scope it
enters and leaves on the way is timed here on its own, in a task as deep as the
gateway's connection tasks.  The scopes a connection may open up to its ``joined``:

- ``handshake``: ``trio.move_on_at`` around waiting for the upgrade request, only if
  it was not already there (``Reader.receive_before``; under a connect storm it nearly always is);
- ``Session.run``: the session's own scope (the close deadline);
- ``Session._read``: ``trio.move_on_at`` around waiting for the join, likewise only if
  it had not arrived;
- ``ReplySlot.wait_or_abandon``: ``trio.move_on_after`` around the wait for the actor.

The total printed is all four (``PER_CONNECTION``), as before the first two became
conditional; a connection whose request and join were already there opens the last two.

    PYTHONPATH=$PWD .venv/bin/python bench/scope_cost.py [--n 50000]
"""

from __future__ import annotations

import argparse
import time

import trio

PER_CONNECTION = {"move_on_after": 3, "CancelScope": 1}


async def timed(n: int) -> dict[str, float]:
    """µs per enter + exit of each kind of scope, best of five runs of ``n``."""
    best: dict[str, float] = {}
    for _ in range(5):
        start = time.perf_counter()
        for _ in range(n):
            with trio.move_on_after(10):
                pass
        middle = time.perf_counter()
        for _ in range(n):
            with trio.CancelScope():
                pass
        end = time.perf_counter()
        for name, seconds in (("move_on_after", middle - start), ("CancelScope", end - middle)):
            best[name] = min(best.get(name, seconds), seconds)
    return {name: seconds / n * 1e6 for name, seconds in best.items()}


async def main(n: int) -> None:
    # As deep as a connection's task: the node's nursery, the gateway's, the connection's.
    async with trio.open_nursery(), trio.open_nursery():
        costs = await timed(n)
    for name, us in costs.items():
        print(f"{name}: {us:.2f} µs per enter + exit")
    total = sum(costs[name] * count for name, count in PER_CONNECTION.items())
    print(f"one connection's scopes up to its joined: {total:.1f} µs")


if __name__ == "__main__":
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--n", type=int, default=50_000)
    trio.run(main, p.parse_args().n)
