"""Who may take a descriptor on the WebSocket port: the caps, counted from TCP accept.

A connection counts against ``[websocket] max_connections`` and ``[limits]
connections_per_ip`` from the moment it is accepted, handshake in progress included, until
its socket is closed; a flood of sockets that never finish a handshake therefore fills the
caps exactly as players would, and can no longer take every descriptor of the process.

Each accepted connection gets one :class:`Verdict`:

* ``ADMIT``: under every cap; the handshake runs (``HANDSHAKE_TIMEOUT_S``).
* ``REFUSE``: over a cap by less than its margin; the connection gets a short handshake
  (``REFUSAL_HANDSHAKE_TIMEOUT_S``) and then close code 1013, as the wire contract says a
  full node answers.
* ``DROP``: over a cap by more than its margin (``NODE_FULL_MARGIN`` connections over
  ``max_connections``, ``PER_IP_MARGIN`` over ``connections_per_ip``), or the WebSocket
  descriptor budget is spent: the socket is closed at once, without a handshake, because
  spending a handshake (and its timeout) on every socket of a flood is what the flood wants.

The descriptor budget is what WebSocket connections may hold: the soft ``RLIMIT_NOFILE``
(raised to the hard limit at start-up) minus the descriptors already open at start-up minus
a reserve (:func:`descriptor_reserve`) kept for the HTTP port, Redis, files and logs, so
``/healthz``, ``/readyz`` and the players already joined keep working when the limit is near.
Sans-IO apart from :func:`raise_descriptor_limit`, which the gateway calls once.
"""

from __future__ import annotations

import enum
import logging
import os
import resource
from collections import Counter

import attrs

log = logging.getLogger("quizd.gateway")

HANDSHAKE_TIMEOUT_S = 10.0
# An over-cap connection gets this long to finish its handshake and hear 1013.
REFUSAL_HANDSHAKE_TIMEOUT_S = 2.0
# How many connections over max_connections still get a 1013 rather than a drop.
NODE_FULL_MARGIN = 64
# How many connections over connections_per_ip one address still gets a 1013 for.
PER_IP_MARGIN = 8
# Descriptors kept out of the WebSocket budget: an eighth of the limit, 64 to 1024.
RESERVE_FRACTION = 8
RESERVE_MIN = 64
RESERVE_MAX = 1024


class Verdict(enum.Enum):
    ADMIT = "admit"
    REFUSE = "refuse"
    DROP = "drop"


class Cap(enum.Enum):
    """Which bound a refused or dropped connection hit (the metric's ``reason`` label)."""

    NODE_FULL = "node_full"
    PER_IP = "per_ip"
    DESCRIPTORS = "descriptors"


@attrs.frozen
class Decision:
    verdict: Verdict
    cap: Cap | None = None

    @property
    def close_reason(self) -> str:
        if self.cap is Cap.PER_IP:
            return "too many connections from this address"
        return "node full"


ADMITTED = Decision(Verdict.ADMIT)


@attrs.frozen
class DescriptorLimit:
    """RLIMIT_NOFILE after start-up, and the descriptors open at that moment."""

    soft: int
    hard: int
    in_use: int

    @property
    def reserve(self) -> int:
        return descriptor_reserve(self.soft)

    @property
    def websocket_budget(self) -> int:
        """How many WebSocket connections (handshakes included) may hold a descriptor."""
        return max(0, self.soft - self.in_use - self.reserve)


def descriptor_reserve(soft: int) -> int:
    return min(RESERVE_MAX, max(RESERVE_MIN, soft // RESERVE_FRACTION))


def _open_descriptors() -> int:
    try:
        return len(os.listdir("/proc/self/fd")) - 1  # the listing's own descriptor
    except OSError:
        return 0


def raise_descriptor_limit() -> DescriptorLimit:
    """Raise the soft RLIMIT_NOFILE to the hard limit (a common practice), log both."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    before = soft
    if hard == resource.RLIM_INFINITY or soft < hard:
        target = hard if hard != resource.RLIM_INFINITY else max(soft, 1 << 20)
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
            soft = target
        except (ValueError, OSError) as exc:
            log.warning("could not raise the descriptor limit", extra={"error": str(exc)})
    limit = DescriptorLimit(soft=soft, hard=hard, in_use=_open_descriptors())
    log.info(
        "descriptor limit",
        extra={
            "soft_before": before,
            "soft": limit.soft,
            "hard": hard,
            "in_use": limit.in_use,
            "reserve": limit.reserve,
            "websocket_budget": limit.websocket_budget,
        },
    )
    return limit


class Admission:
    """The open WebSocket connections, in total and per address, from TCP accept to close."""

    def __init__(self, websocket_budget: int) -> None:
        self.websocket_budget = websocket_budget
        self.open = 0
        self.per_ip: Counter[str] = Counter()

    def admit(self, remote: str, max_connections: int, per_ip_limit: int) -> Decision:
        """Decide about one accepted connection and count it (also when it is refused:
        a refused connection holds its descriptor until it is closed). ``release`` it
        when its socket is closed, whatever the verdict."""
        self.open += 1
        self.per_ip[remote] += 1
        if self.open > self.websocket_budget:
            return Decision(Verdict.DROP, Cap.DESCRIPTORS)
        if self.open > max_connections + NODE_FULL_MARGIN:
            return Decision(Verdict.DROP, Cap.NODE_FULL)
        if per_ip_limit and self.per_ip[remote] > per_ip_limit + PER_IP_MARGIN:
            return Decision(Verdict.DROP, Cap.PER_IP)
        if self.open > max_connections:
            return Decision(Verdict.REFUSE, Cap.NODE_FULL)
        if per_ip_limit and self.per_ip[remote] > per_ip_limit:
            return Decision(Verdict.REFUSE, Cap.PER_IP)
        return ADMITTED

    def release(self, remote: str) -> None:
        self.open -= 1
        self.per_ip[remote] -= 1
        if not self.per_ip[remote]:
            del self.per_ip[remote]
