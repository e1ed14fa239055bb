"""Every Prometheus metric of a quizd node, defined once.

Why one module: the alerts in the operator contract (answer-to-result p95 under 100 ms,
event-loop lag p99 under 50 ms, no actor crash) are only as good as the names behind them,
so each series is declared here exactly once and the rest of the code imports the objects
(``from quizd.ops.metrics import ANSWERS``) instead of inventing names at call sites.

Why a dedicated registry: the node owns :data:`REGISTRY` instead of prometheus_client's
global default registry, so tests and a second node in the same process never collide on
"Duplicated timeseries", and ``/metrics`` shows exactly what is registered here: the quizd_*
series plus the process_* and python_info series of :class:`ProcessCollector` and
:class:`PlatformCollector`.

Why the label sets are closed: a quiz id or a participant id as a label would make the
number of series grow with traffic.  Every label here takes its values from a fixed tuple
below, the values are pre-initialised to 0 (so a rate() over them exists before the first
event), and the ``count_*`` helpers fold anything unexpected into one catch-all value.
Those tuples mirror the wire contract; extend them together with it.

Naming follows the Prometheus conventions that ``promtool check metrics`` enforces:
``quizd_`` prefix, base units (seconds, bytes) in the name, and counters declared without
``_total`` because prometheus_client appends it (``quizd_answers`` is exposed as
``quizd_answers_total``).
"""

from __future__ import annotations

import platform

import trio
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    PlatformCollector,
    ProcessCollector,
    generate_latest,
)

from quizd import __version__
from quizd.game.phase import Phase

__all__ = [
    "ACTOR_CRASHES",
    "ACTOR_RESTARTS",
    "ANSWERS",
    "ANSWER_OUTCOMES",
    "ANSWER_SECONDS",
    "BUILD_INFO",
    "BYTES_SENT",
    "CONFIG_LAST_RELOAD_SUCCESS",
    "CONFIG_RELOADS",
    "CONFIG_RELOAD_RESULTS",
    "CONNECTIONS_OPEN",
    "MAX_CONNECTIONS",
    "CONTENT_TYPE",
    "ERRORS",
    "ERROR_CODES",
    "EVENT_LOOP_LAG",
    "FANOUT_SECONDS",
    "MESSAGES_RECEIVED",
    "MESSAGES_SENT",
    "PHASES",
    "PLAYERS",
    "QUIZZES_CREATED",
    "QUIZZES_ENDED",
    "QUIZZES_LIVE",
    "RATE_LIMITED",
    "RECEIVED_TYPES",
    "REGISTRY",
    "SENT_TYPES",
    "SLOW_CONSUMER_DISCONNECTS",
    "count_error",
    "count_received",
    "count_sent",
    "measure_event_loop_lag",
    "render",
]

# --------------------------------------------------------------------------- label sets

#: Quiz phases, as in the quiz state machine.
PHASES: tuple[str, ...] = tuple(phase.value for phase in Phase)

#: Client -> server message types, plus "invalid" for unparseable or unknown frames.
RECEIVED_TYPES: tuple[str, ...] = (
    "join",
    "answer",
    "get_leaderboard",
    "ping",
    "leave",
    "start",
    "next",
    "end",
    "kick",
    "get_players",
    "invalid",
)
_RECEIVED_FALLBACK = "invalid"

#: Server -> client message types, plus "other" for anything not listed.
SENT_TYPES: tuple[str, ...] = (
    "joined",
    "participants",
    "quiz_starting",
    "question",
    "answer_accepted",
    "answer_result",
    "question_closed",
    "leaderboard",
    "quiz_ended",
    "kicked",
    "pong",
    "error",
    "player_joined",
    "player_left",
    "host_state",
    "players",
    "other",
)
_SENT_FALLBACK = "other"

#: Protocol error codes; "internal" doubles as the catch-all.
ERROR_CODES: tuple[str, ...] = (
    "invalid_json",
    "invalid_message",
    "unknown_type",
    "not_joined",
    "already_joined",
    "quiz_not_found",
    "quiz_full",
    "quiz_ended",
    "name_invalid",
    "name_taken",
    "invalid_resume_token",
    "not_host",
    "wrong_phase",
    "unknown_participant",
    "question_closed",
    "already_answered",
    "invalid_choice",
    "rate_limited",
    "server_busy",
    "internal",
)
_ERROR_FALLBACK = "internal"

#: Outcomes of an answer frame: scored correct, scored wrong, or refused (late, twice, ...).
ANSWER_OUTCOMES: tuple[str, ...] = ("correct", "wrong", "rejected")

#: Results of a SIGHUP reload of the quiz definitions.
CONFIG_RELOAD_RESULTS: tuple[str, ...] = ("success", "failure")

_RECEIVED_SET = frozenset(RECEIVED_TYPES)
_SENT_SET = frozenset(SENT_TYPES)
_ERROR_SET = frozenset(ERROR_CODES)

# --------------------------------------------------------------------------- registry

REGISTRY: CollectorRegistry = CollectorRegistry()
ProcessCollector(registry=REGISTRY)
PlatformCollector(registry=REGISTRY)

#: Content type of :func:`render`'s body (the Prometheus text format).
CONTENT_TYPE: str = CONTENT_TYPE_LATEST

# --------------------------------------------------------------------------- buckets

# 0.5 ms .. 2.5 s, with 0.1 s on a boundary for the "p95 under 100 ms" alert.
_ANSWER_BUCKETS: tuple[float, ...] = (
    0.0005,
    0.001,
    0.0025,
    0.005,
    0.01,
    0.025,
    0.05,
    0.075,
    0.1,
    0.25,
    0.5,
    1.0,
    2.5,
)
# 0.1 ms .. 5 s: one broadcast to up to max_players local connections.
_FANOUT_BUCKETS: tuple[float, ...] = (
    0.0001,
    0.00025,
    0.0005,
    0.001,
    0.0025,
    0.005,
    0.01,
    0.025,
    0.05,
    0.1,
    0.25,
    0.5,
    1.0,
    2.5,
    5.0,
)
# 1 ms .. 5 s, with 0.05 s on a boundary for the "p99 under 50 ms" alert.
_LAG_BUCKETS: tuple[float, ...] = (
    0.001,
    0.0025,
    0.005,
    0.01,
    0.025,
    0.05,
    0.1,
    0.25,
    0.5,
    1.0,
    2.5,
    5.0,
)

# --------------------------------------------------------------------------- connections

CONNECTIONS_OPEN: Gauge = Gauge(
    "quizd_connections_open",
    "WebSocket connections open now on this node.",
    registry=REGISTRY,
)
MAX_CONNECTIONS: Gauge = Gauge(
    "quizd_max_connections",
    "The node's configured websocket.max_connections (for utilisation alerts).",
    registry=REGISTRY,
)
BYTES_SENT: Counter = Counter(
    "quizd_sent_bytes",
    "WebSocket bytes (payload and framing) handed to sockets.",
    registry=REGISTRY,
)
SLOW_CONSUMER_DISCONNECTS: Counter = Counter(
    "quizd_slow_consumer_disconnects",
    "Connections closed because their unsent data exceeded the send queue limit.",
    registry=REGISTRY,
)
RATE_LIMITED: Counter = Counter(
    "quizd_rate_limited_messages",
    "Client frames dropped by the per-connection rate limit.",
    registry=REGISTRY,
)

# --------------------------------------------------------------------------- messages

MESSAGES_RECEIVED: Counter = Counter(
    "quizd_messages_received",
    "Client messages received, by type ('invalid' for unparseable or unknown frames).",
    ["type"],
    registry=REGISTRY,
)
MESSAGES_SENT: Counter = Counter(
    "quizd_messages_sent",
    "Server messages handed to connections, by type (a broadcast counts once per recipient).",
    ["type"],
    registry=REGISTRY,
)
ERRORS: Counter = Counter(
    "quizd_errors",
    "Protocol error messages sent to clients, by error code.",
    ["code"],
    registry=REGISTRY,
)

# --------------------------------------------------------------------------- quizzes

QUIZZES_LIVE: Gauge = Gauge(
    "quizd_quizzes_live",
    "Quizzes live on this node now, by phase.",
    ["phase"],
    registry=REGISTRY,
)
PLAYERS: Gauge = Gauge(
    "quizd_players",
    "Players in live quizzes on this node, connected or not.",
    registry=REGISTRY,
)
QUIZZES_CREATED: Counter = Counter(
    "quizd_quizzes_created",
    "Quizzes created on this node.",
    registry=REGISTRY,
)
QUIZZES_REFUSED: Counter = Counter(
    "quizd_quizzes_refused",
    "Quiz creations refused because this node already runs [quizzes] max_quizzes live quizzes.",
    registry=REGISTRY,
)
QUIZZES_ENDED: Counter = Counter(
    "quizd_quizzes_ended",
    "Quizzes that ended on this node.",
    registry=REGISTRY,
)
ANSWERS: Counter = Counter(
    "quizd_answers",
    "Answer frames handled, by outcome (correct, wrong, rejected).",
    ["outcome"],
    registry=REGISTRY,
)
ANSWER_SECONDS: Histogram = Histogram(
    "quizd_answer_handling_seconds",
    "Time from an answer frame's arrival to its reply being handed to the connection.",
    buckets=_ANSWER_BUCKETS,
    registry=REGISTRY,
)
FANOUT_SECONDS: Histogram = Histogram(
    "quizd_broadcast_fanout_seconds",
    "Time to hand one broadcast to every local connection of its quiz.",
    buckets=_FANOUT_BUCKETS,
    registry=REGISTRY,
)

# --------------------------------------------------------------------------- actors

ACTOR_CRASHES: Counter = Counter(
    "quizd_actor_crashes",
    "Quiz actors that raised an unexpected exception.",
    registry=REGISTRY,
)
ACTOR_RESTARTS: Counter = Counter(
    "quizd_actor_restarts",
    "Quiz actors restarted by the supervisor from their last good state.",
    registry=REGISTRY,
)

# --------------------------------------------------------------------------- process

BUILD_INFO: Gauge = Gauge(
    "quizd_build_info",
    "Always 1; labels carry the quizd version and the Python version.",
    ["version", "python"],
    registry=REGISTRY,
)
CONFIG_RELOADS: Counter = Counter(
    "quizd_config_reloads",
    "Reloads of the quiz definitions (SIGHUP), by result.",
    ["result"],
    registry=REGISTRY,
)
CONFIG_LAST_RELOAD_SUCCESS: Gauge = Gauge(
    "quizd_config_last_reload_success_timestamp_seconds",
    "Unix time of the last successful reload of the quiz definitions.",
    registry=REGISTRY,
)
# ---------------------------------------------------------------- cluster (Redis mode)
CLUSTER_MEMBERS: Gauge = Gauge(
    "quizd_cluster_members", "Live cluster members this node sees (0 on a single node).", registry=REGISTRY
)
RING_HASH: Gauge = Gauge(
    "quizd_cluster_ring_hash",
    "A 48-bit hash of the member set this node sees; members disagree when nodes differ.",
    registry=REGISTRY,
)
QUIZZES_OWNED: Gauge = Gauge("quizd_cluster_quizzes_owned", "Quizzes whose lease this node holds.", registry=REGISTRY)
TAKEOVERS: Counter = Counter(
    "quizd_cluster_takeovers",
    "Quizzes this node restored from a snapshot (failover or handover).",
    registry=REGISTRY,
)
HANDOVERS: Counter = Counter(
    "quizd_cluster_handovers",
    "Quizzes this node handed to another owner (rebalance or drain).",
    registry=REGISTRY,
)
RELAY_MESSAGES: Counter = Counter(
    "quizd_cluster_relay_messages",
    "Relay messages through Redis streams, by direction.",
    ["direction"],
    registry=REGISTRY,
)
RELAY_LAG: Histogram = Histogram(
    "quizd_cluster_relay_lag_seconds",
    "From a relay message's creation to its processing on the other node.",
    buckets=(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5),
    registry=REGISTRY,
)
SNAPSHOT_WRITES: Counter = Counter(
    "quizd_cluster_snapshot_writes",
    "Fenced snapshot writes, by result (ok, fenced, error).",
    ["result"],
    registry=REGISTRY,
)
SNAPSHOT_SECONDS: Histogram = Histogram(
    "quizd_cluster_snapshot_write_seconds",
    "Duration of one fenced snapshot write (one group commit).",
    buckets=(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0),
    registry=REGISTRY,
)
GROUP_COMMIT_SIZE: Histogram = Histogram(
    "quizd_cluster_group_commit_events",
    "Events made durable by one snapshot write.",
    buckets=(1, 2, 5, 10, 25, 50, 100, 250, 500, 1000),
    registry=REGISTRY,
)
REDIS_ERRORS: Counter = Counter(
    "quizd_redis_errors", "Redis calls that failed (connection, timeout, server error).", registry=REGISTRY
)
LEASE_CONFLICTS: Counter = Counter(
    "quizd_cluster_lease_conflicts",
    "Lease acquisitions refused because another node holds the lease.",
    registry=REGISTRY,
)
DUPLICATE_NODE_ID: Counter = Counter(
    "quizd_cluster_duplicate_node_id",
    "Heartbeats refused because another live process holds this node's [node] id.",
    registry=REGISTRY,
)
RELAY_BACKLOG_BYTES: Gauge = Gauge(
    "quizd_cluster_relay_backlog_bytes",
    "Encoded relay messages waiting to be written to Redis.",
    registry=REGISTRY,
)
RELAY_BACKLOG_MESSAGES: Gauge = Gauge(
    "quizd_cluster_relay_backlog_messages",
    "Relay messages waiting to be written to Redis.",
    registry=REGISTRY,
)
RELAY_REFUSED: Counter = Counter(
    "quizd_cluster_relay_refused",
    "Relay messages refused because the backlog to Redis was full, by side (gateway: a player's "
    "message answered server_busy; owner: a message to a remote gateway dropped).",
    ["side"],
    registry=REGISTRY,
)
ACKS_NOT_DURABLE: Counter = Counter(
    "quizd_acks_not_durable",
    "Acknowledgements sent before their answer was durable (a guard: it must stay 0).",
    registry=REGISTRY,
)
REDIS_WAIT_TIMEOUTS: Counter = Counter(
    "quizd_redis_wait_timeouts",
    "Group commits whose WAIT ended before [cluster] wait_replicas replicas had them; "
    'their acks went out anyway (docs/cluster.md, "Replica wait").',
    registry=REGISTRY,
)
REDIS_WAIT_REPLICAS: Histogram = Histogram(
    "quizd_redis_wait_replicas",
    "Replicas that had a group commit when its WAIT returned.",
    buckets=(0, 1, 2, 3, 5),
    registry=REGISTRY,
)
REDIS_PRIMARY_CHANGES: Counter = Counter(
    "quizd_redis_primary_changes",
    "Times this node saw Sentinel name a different Redis primary (a failover).",
    registry=REGISTRY,
)
REDIS_REPLICAS: Gauge = Gauge(
    "quizd_redis_connected_replicas",
    "Replicas connected to the Redis primary (INFO replication, read every few heartbeats; -1 until read).",
    registry=REGISTRY,
)
REDIS_REPLICATION_LAG_BYTES: Gauge = Gauge(
    "quizd_redis_replication_lag_bytes",
    "How far the furthest connected replica is behind the primary's replication offset.",
    registry=REGISTRY,
)
REDIS_REPLICAS.set(-1)
for _direction in ("in", "out"):
    RELAY_MESSAGES.labels(_direction)
for _result in ("ok", "fenced", "error"):
    SNAPSHOT_WRITES.labels(_result)
for _side in ("gateway", "owner"):
    RELAY_REFUSED.labels(_side)

EVENT_LOOP_LAG: Histogram = Histogram(
    "quizd_event_loop_lag_seconds",
    "How late the Trio scheduler woke a sleeping task (event-loop lag).",
    buckets=_LAG_BUCKETS,
    registry=REGISTRY,
)

# --------------------------------------------------------------------------- initial values

BUILD_INFO.labels(version=__version__, python=platform.python_version()).set(1)
for _phase in PHASES:
    QUIZZES_LIVE.labels(phase=_phase).set(0)
for _type in RECEIVED_TYPES:
    MESSAGES_RECEIVED.labels(type=_type)
for _type in SENT_TYPES:
    MESSAGES_SENT.labels(type=_type)
for _code in ERROR_CODES:
    ERRORS.labels(code=_code)
for _outcome in ANSWER_OUTCOMES:
    ANSWERS.labels(outcome=_outcome)
for _result in CONFIG_RELOAD_RESULTS:
    CONFIG_RELOADS.labels(result=_result)
del _phase, _type, _code, _outcome, _result

# --------------------------------------------------------------------------- helpers


# The labelled children, looked up once: ``labels()`` takes a lock and builds a key on
# every call, which showed up at a few percent of a 5,000-player answer burst.
_RECEIVED_CHILDREN = {t: MESSAGES_RECEIVED.labels(type=t) for t in (*_RECEIVED_SET, _RECEIVED_FALLBACK)}
_SENT_CHILDREN = {t: MESSAGES_SENT.labels(type=t) for t in (*_SENT_SET, _SENT_FALLBACK)}
_ERROR_CHILDREN = {c: ERRORS.labels(code=c) for c in (*_ERROR_SET, _ERROR_FALLBACK)}


def count_received(type_: str | None) -> None:
    """Count one client message of ``type_``; unknown or missing types count as "invalid"."""
    child = _RECEIVED_CHILDREN.get(type_) if isinstance(type_, str) else None
    (child or _RECEIVED_CHILDREN[_RECEIVED_FALLBACK]).inc()


def count_sent(type_: str, n: int = 1) -> None:
    """Count ``n`` server messages of ``type_`` (``n`` recipients of one broadcast).

    Unknown types count as "other"; ``n <= 0`` counts nothing.
    """
    if n <= 0:
        return
    child = _SENT_CHILDREN.get(type_) if isinstance(type_, str) else None
    (child or _SENT_CHILDREN[_SENT_FALLBACK]).inc(n)


def count_error(code: str) -> None:
    """Count one protocol error sent to a client; unknown codes count as "internal"."""
    child = _ERROR_CHILDREN.get(code) if isinstance(code, str) else None
    (child or _ERROR_CHILDREN[_ERROR_FALLBACK]).inc()


async def measure_event_loop_lag(
    interval: float = 0.5,
    *,
    task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED,
) -> None:
    """Observe event-loop lag into :data:`EVENT_LOOP_LAG` until cancelled.

    Sleeps ``interval`` seconds at a time and records how much later than asked the task
    woke up: a callback that blocks the loop shows up here directly.  Uses
    :func:`trio.current_time`, so it follows the run's clock (MockClock in tests).
    Works with both ``nursery.start_soon`` and ``nursery.start``.
    """
    if interval <= 0:
        raise ValueError(f"interval must be > 0, got {interval!r}")
    task_status.started()
    while True:
        deadline = trio.current_time() + interval
        await trio.sleep_until(deadline)
        EVENT_LOOP_LAG.observe(max(0.0, trio.current_time() - deadline))


def render() -> tuple[bytes, str]:
    """Return the ``/metrics`` body and its content type."""
    return generate_latest(REGISTRY), CONTENT_TYPE_LATEST


# --------------------------------------------------------------------------- connection refusals

# Which cap refused a WebSocket connection (quizd.gateway.admission.Cap) and how:
# "refused" after a short handshake with close code 1013, "dropped" at once without one.
REFUSAL_REASONS = ("node_full", "per_ip", "descriptors")
REFUSAL_ACTIONS = ("refused", "dropped")
CONNECTIONS_REFUSED: Counter = Counter(
    "quizd_connections_refused",
    "WebSocket connections turned away by a cap, by cap (reason) and by how (action).",
    ["reason", "action"],
    registry=REGISTRY,
)
_REFUSED_CHILDREN = {
    (r, a): CONNECTIONS_REFUSED.labels(reason=r, action=a) for r in REFUSAL_REASONS for a in REFUSAL_ACTIONS
}


def count_refused(reason: str, action: str) -> None:
    """Count one connection turned away; an unknown pair counts as ("node_full", "dropped")."""
    child = _REFUSED_CHILDREN.get((reason, action)) or _REFUSED_CHILDREN[("node_full", "dropped")]
    child.inc()


# --------------------------------------------------------------------------- store (v2)

STORE_PENDING: Gauge = Gauge(
    "quizd_store_pending_events",
    "Events (answers, quiz starts, closes, results) waiting to be written to the database.",
    registry=REGISTRY,
)
STORE_DROPPED: Counter = Counter(
    "quizd_store_dropped_answers",
    "Answers dropped unwritten because the database stayed down past the writer's bound.",
    registry=REGISTRY,
)
STORE_REJECTED: Counter = Counter(
    "quizd_store_rejected_events",
    "Events the database refused for what they hold (written one by one, then given up and logged).",
    registry=REGISTRY,
)
STORE_WRITE_ERRORS: Counter = Counter(
    "quizd_store_write_errors",
    "Batch writes to the database that failed (and will be retried).",
    registry=REGISTRY,
)


# --------------------------------------------------------------------------- webhooks (v2)

WEBHOOK_RESULTS = ("delivered", "failed", "gave_up")
WEBHOOK_DELIVERIES: Counter = Counter(
    "quizd_webhook_deliveries",
    "Webhook delivery attempts by result: delivered (2xx within 10 s), failed (to be retried), "
    "gave_up (still failing 24 h after the event).",
    ["result"],
    registry=REGISTRY,
)
_WEBHOOK_CHILDREN = {r: WEBHOOK_DELIVERIES.labels(result=r) for r in WEBHOOK_RESULTS}
WEBHOOK_PENDING: Gauge = Gauge(
    "quizd_webhook_pending",
    "Webhook deliveries not yet made (the outbox rows of every node), as this node last counted them.",
    registry=REGISTRY,
)
WEBHOOK_OLDEST_PENDING_AGE: Gauge = Gauge(
    "quizd_webhook_oldest_pending_age_seconds",
    "Age of the oldest webhook event not yet delivered (0 when none is pending).",
    registry=REGISTRY,
)


def count_webhook(result: str) -> None:
    """Count one delivery attempt by result (one of ``WEBHOOK_RESULTS``)."""
    _WEBHOOK_CHILDREN[result].inc()
