"""What the node's own code adds to each write of a fan-out, per player.

A question fan-out to N players is N non-blocking writes (``quizd.gateway.delivery.
fan_out`` -> ``OutboundStream.push``), and for a question each write also records the
player's hand-off time (``HandoffLog.handed``, the fair-timing rule).  In a fan-out to
5,000 loopback players the kernel takes 80-85 % of the node's time (its system time
during a fan-out); this times the rest, on one core, in three ways per round:

* ``raw``: ``os.write`` of the frame in a bare loop, the floor;
* ``push``: ``fan_out`` without hand-offs (a leaderboard);
* ``push+handoff``: ``fan_out`` recording each hand-off (a question).

Every stream's descriptor is ``/dev/null``, so a write is a cheap syscall and what is
left is the node's own code.  ``--loopback`` writes to N real loopback TCP peers
instead (nobody reading, drained between rounds), which adds the kernel's own cost.

    PYTHONPATH=$PWD .venv/bin/python bench/push_cost.py [--n 5000] [--rounds 30] [--loopback]
"""

from __future__ import annotations

import argparse
import os
import resource
import socket
import time
from statistics import median

import trio

from quizd.game.handoffs import HandoffLog
from quizd.gateway.delivery import fan_out
from quizd.gateway.framing import text_frame
from quizd.gateway.outbound import OutboundStream


class _Session:
    """What ``fan_out`` reads of a session: its outbound stream."""

    __slots__ = ("out",)

    def __init__(self, out: OutboundStream) -> None:
        self.out = out


async def measure(n: int, rounds: int, loopback: bool) -> dict[str, float]:
    _soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    frame = text_frame(b"x" * 640)  # about a question frame's size (647 bytes in the bench)
    peers: list[socket.socket] = []
    recipients = []
    devnull = os.open(os.devnull, os.O_WRONLY)
    listener = socket.create_server(("127.0.0.1", 0), backlog=4096)
    times: dict[str, list[float]] = {"raw": [], "push": [], "push+handoff": []}
    async with trio.open_nursery() as nursery:
        for i in range(n):
            if loopback:
                peers.append(socket.create_connection(listener.getsockname()))
                sock, _ = listener.accept()
                sock.setblocking(False)
            else:
                sock, other = socket.socketpair()
                peers.append(other)
            out = OutboundStream(
                trio.SocketStream(trio.socket.from_stdlib_socket(sock)),
                max_queue_bytes=1 << 24,
                spawn=nursery.start_soon,
            )
            if not loopback:
                out._fd = devnull  # the stream's own write path, into a syscall that costs little
            recipients.append((f"p{i}", _Session(out)))
        fds = [session.out.fd for _pid, session in recipients]
        for _ in range(rounds):
            for mode in times:
                log = HandoffLog("q", trio.current_time(), 30.0) if mode == "push+handoff" else None
                start = time.perf_counter()
                if mode == "raw":
                    write = os.write
                    for fd in fds:
                        write(fd, frame)  # type: ignore[arg-type]
                else:
                    fan_out(recipients, frame, handoff=log)
                times[mode].append(time.perf_counter() - start)
                if loopback:
                    for peer in peers:
                        peer.recv(1 << 16)
        nursery.cancel_scope.cancel()
    for peer in peers:
        peer.close()
    listener.close()
    os.close(devnull)
    return {mode: median(ts) / n * 1e6 for mode, ts in times.items()}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--n", type=int, default=5000)
    p.add_argument("--rounds", type=int, default=30)
    p.add_argument("--loopback", action="store_true", help="write to real loopback TCP peers, not /dev/null")
    args = p.parse_args()
    us = trio.run(measure, args.n, args.rounds, args.loopback)
    where = "loopback TCP peers" if args.loopback else "/dev/null"
    print(f"{args.n} streams writing to {where}, median of {args.rounds} rounds, µs per player:")
    for mode, value in us.items():
        print(f"  {mode:<13} {value:6.3f}   (+{value - us['raw']:.3f} over raw)")


if __name__ == "__main__":
    main()
