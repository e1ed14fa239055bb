"""The relay: messages between gateways and quiz owners through Redis Streams.

A player's connection stays on the node it reached (its gateway); the quiz runs on
its owner.  Each node reads two streams of its own: ``quizd:in:<node>`` (join,
commands, dropped connections, hand-off reports and RPCs for quizzes it owns) and
``quizd:out:<node>`` (what its local connections must receive).  Streams keep their
entries, and each reader keeps the id of the last entry it handled, so a Redis
reconnect resumes exactly where it stopped: nothing is lost and nothing repeats.

A broadcast crosses Redis once per gateway node (one ``bc`` entry), never once per
player; the gateway frames it once and fans it out with the same non-blocking path as
its own quizzes.  Writes are batched: whatever the node produced since the last flush
goes out in one pipelined round trip, in order.
"""

from __future__ import annotations

import itertools
import logging
import time
from collections import defaultdict
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import attrs
import orjson
import redis
import trio

from quizd.actors.inbox import Command, ConnectionLost, JoinRequest, ReplySlot
from quizd.cluster.redis_port import RedisPort
from quizd.convert import converter
from quizd.game.handoffs import HandoffLog
from quizd.gateway.delivery import count_delivered, fan_out
from quizd.gateway.framing import text_frame
from quizd.ops import metrics
from quizd.protocol import errors as E
from quizd.protocol.errors import ProtocolError
from quizd.protocol.messages import parse_message

if TYPE_CHECKING:
    from quizd.gateway.session import Session

log = logging.getLogger("quizd.cluster")

STREAM_MAXLEN = 200_000
READ_COUNT = 1000
READ_BLOCK_MS = 500


def inbox_stream(node_id: str) -> str:
    return f"quizd:in:{node_id}"


def outbox_stream(node_id: str) -> str:
    return f"quizd:out:{node_id}"


def wall_ms() -> int:
    return int(time.time() * 1000)


@attrs.frozen(slots=True)
class RemoteEndpoint:
    """A connection on another node's gateway, as the owner addresses it."""

    node: str
    conn: int


class RemoteJoinReply(ReplySlot[str]):
    """The owner's side of a remote join: a refusal travels back to the gateway."""

    __slots__ = ("_relay", "_endpoint")

    def __init__(self, relay: Relay, endpoint: RemoteEndpoint) -> None:
        super().__init__()
        self._relay = relay
        self._endpoint = endpoint

    def fail(self, error: BaseException) -> None:
        super().fail(error)
        payload = error.payload() if isinstance(error, ProtocolError) else {"code": E.INTERNAL, "message": "internal"}
        self._relay.post(self._endpoint.node, {"k": "jerr", "c": self._endpoint.conn, "e": payload})


class RemoteQuizHandle:
    """The gateway's handle for a quiz owned by another node: inbox items go by relay."""

    def __init__(self, quiz_id: str, owner: str, relay: Relay) -> None:
        self.quiz_id = quiz_id
        self.owner = owner
        self.relay = relay

    def post(self, item: Any) -> None:
        relay = self.relay
        if isinstance(item, JoinRequest):
            session = item.endpoint
            relay.pending_joins[session.conn_id] = (item, self)
            relay.post(self.owner, {
                "k": "join", "q": self.quiz_id, "kind": item.kind, "v": item.value, "re": item.reply_to,
                "gw": relay.node_id, "c": session.conn_id, "t": wall_ms(),
            })
        elif isinstance(item, Command):
            msg = item.message
            relay.post(self.owner, {
                "k": "cmd", "q": self.quiz_id, "pid": item.participant_id, "gw": relay.node_id,
                "c": item.endpoint.conn_id, "t": relay.to_wall(item.received_at),
                "m": {"type": msg.type, "payload": converter.unstructure(msg.payload), "id": msg.id},
            })
        elif isinstance(item, ConnectionLost):
            relay.forget_session(item.endpoint)
            relay.post(self.owner, {
                "k": "lost", "q": self.quiz_id, "pid": item.participant_id, "gw": relay.node_id,
                "c": item.endpoint.conn_id,
            })
        else:  # pragma: no cover - only the gateway's items travel this way
            raise TypeError(f"cannot relay {item!r}")


class Relay:
    def __init__(self, port: RedisPort, node_id: str) -> None:
        self.port = port
        self.node_id = node_id
        self._outgoing: dict[str, list[bytes]] = defaultdict(list)
        self._wake = trio.Event()
        # Gateway side: local sessions in quizzes owned elsewhere.
        self.conns: dict[int, Session] = {}
        self.remote_sessions: dict[str, dict[int, Session]] = defaultdict(dict)
        self.remote_owner: dict[str, str] = {}
        self.pending_joins: dict[int, tuple[JoinRequest, RemoteQuizHandle]] = {}
        # Owner side: how to reach the local actors (set by the cluster manager).
        self.local_actor: Callable[[str], Any] = lambda quiz_id: None
        self.on_rpc: Callable[[str, dict[str, Any]], Any] | None = None
        self._rpc_ids = itertools.count(1)
        self._rpc_waiting: dict[int, ReplySlot[Any]] = {}
        self._last_ids = {inbox_stream(node_id): b"$", outbox_stream(node_id): b"$"}
        self._nursery: trio.Nursery | None = None

    @staticmethod
    def to_wall(monotonic: float) -> int:
        return int((time.time() - (trio.current_time() - monotonic)) * 1000)

    @staticmethod
    def to_monotonic(wall: int) -> float:
        return trio.current_time() - (time.time() - wall / 1000)

    # ------------------------------------------------------------------ writing
    def post(self, node_id: str, message: dict[str, Any]) -> None:
        """Queue one message for ``node_id`` (its inbox or outbox by message kind)."""
        stream = inbox_stream(node_id) if message["k"] in _TO_OWNER else outbox_stream(node_id)
        message["ts"] = wall_ms()
        self._outgoing[stream].append(orjson.dumps(message))
        self._wake.set()

    async def run(self, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        async with trio.open_nursery() as nursery:
            self._nursery = nursery
            await self._start_positions()
            nursery.start_soon(self._writer)
            nursery.start_soon(self._reader)
            task_status.started()

    async def _start_positions(self) -> None:
        """Read from the current end of our streams (not "$" on every read, which
        would skip whatever arrives between two reads before the first entry)."""
        for stream in list(self._last_ids):
            for _ in range(50):
                try:
                    last = await self.port.call(self.port.client.xrevrange, stream, count=1)
                    break
                except redis.RedisError:
                    await trio.sleep(0.1)
            else:
                last = []
            self._last_ids[stream] = last[0][0] if last else b"0-0"

    async def _writer(self) -> None:
        backoff = 0.05
        while True:
            await self._wake.wait()
            self._wake = trio.Event()
            batch, self._outgoing = self._outgoing, defaultdict(list)

            def write() -> None:
                # MULTI/EXEC: a batch lands whole or not at all, so a retry never doubles it.
                pipe = self.port.client.pipeline(transaction=True)
                for stream, entries in batch.items():
                    for entry in entries:
                        pipe.xadd(stream, {b"m": entry}, maxlen=STREAM_MAXLEN, approximate=True)
                pipe.execute()

            while True:
                try:
                    await self.port.call(write)
                    metrics.RELAY_MESSAGES.labels("out").inc(sum(len(v) for v in batch.values()))
                    backoff = 0.05
                    break
                except redis.RedisError as exc:
                    log.warning("relay write failed; retrying: %s", exc)
                    await trio.sleep(backoff)
                    backoff = min(backoff * 2, 1.0)

    async def _reader(self) -> None:
        backoff = 0.05
        while True:
            try:
                response = await self.port.call(
                    self.port.client.xread, dict(self._last_ids), count=READ_COUNT, block=READ_BLOCK_MS,
                    blocking=True,
                )
                backoff = 0.05
            except redis.RedisError as exc:
                log.warning("relay read failed; retrying: %s", exc)
                await trio.sleep(backoff)
                backoff = min(backoff * 2, 1.0)
                continue
            for stream, entries in response or []:
                name = stream.decode() if isinstance(stream, bytes) else stream
                for entry_id, fields in entries:
                    self._last_ids[name] = entry_id
                    try:
                        message = orjson.loads(fields[b"m"])
                        metrics.RELAY_LAG.observe(max(0.0, (wall_ms() - message.get("ts", wall_ms())) / 1000))
                        self._dispatch(message)
                    except Exception:
                        log.exception("bad relay message")
                metrics.RELAY_MESSAGES.labels("in").inc(len(entries))

    # ------------------------------------------------------------------ reading
    def _dispatch(self, m: dict[str, Any]) -> None:
        kind = m["k"]
        log.debug("relay in %s", kind, extra={"relay": m})
        handler = getattr(self, f"_on_{kind}", None)
        if handler is None:
            log.warning("unknown relay message kind %r", kind)
            return
        if kind == "rpc":
            # An RPC may take seconds (ending a quiz): never hold up the relay for it.
            assert self._nursery is not None
            self._nursery.start_soon(handler, m)
            return
        handler(m)

    # Owner side -------------------------------------------------------
    def _actor_or_moved(self, m: dict[str, Any]) -> Any:
        actor = self.local_actor(m["q"])
        if actor is None:
            # Not ours (any more): the gateway closes its players with 1012 and they resume.
            self.post(m["gw"], {"k": "moved", "q": m["q"]})
        return actor

    def _on_join(self, m: dict[str, Any]) -> None:
        endpoint = RemoteEndpoint(m["gw"], m["c"])
        actor = self.local_actor(m["q"])
        if actor is None:
            retry = ProtocolError(E.SERVER_BUSY, "the quiz is moving; retry", {"retryAfterMs": 500})
            self.post(m["gw"], {"k": "jerr", "c": m["c"], "e": retry.payload()})
            return
        request = JoinRequest(m["kind"], m["v"], m["re"], endpoint, self.to_monotonic(m["t"]),
                              reply=RemoteJoinReply(self, endpoint))
        try:
            actor.post(request)
        except ProtocolError as err:
            request.reply.fail(err)

    def _on_cmd(self, m: dict[str, Any]) -> None:
        actor = self._actor_or_moved(m)
        if actor is None:
            return
        message = parse_message(m["m"])
        try:
            actor.post(Command(m["pid"], RemoteEndpoint(m["gw"], m["c"]), message, self.to_monotonic(m["t"])))
        except ProtocolError as err:
            self.post(m["gw"], {"k": "send", "c": m["c"], "ty": "error",
                                "b": orjson.dumps({"type": "error", "payload": err.payload(), "re": message.id}).decode()})

    def _on_lost(self, m: dict[str, Any]) -> None:
        actor = self.local_actor(m["q"])
        if actor is not None:
            try:
                actor.post(ConnectionLost(m["pid"], RemoteEndpoint(m["gw"], m["c"])))
            except ProtocolError:
                pass

    def _on_ho(self, m: dict[str, Any]) -> None:
        actor = self.local_actor(m["q"])
        log_ = actor.game.handoffs if actor is not None else None
        if log_ is None or log_.question_id != m["qid"]:
            return
        for pid, wall in m["h"]:
            log_.handed(pid, self.to_monotonic(wall))

    async def _on_rpc(self, m: dict[str, Any]) -> None:
        reply: dict[str, Any] = {"k": "rres", "id": m["id"]}
        try:
            assert self.on_rpc is not None
            reply["v"] = await self.on_rpc(m["op"], m["a"])
            reply["ok"] = True
        except Exception as exc:  # the caller gets the error, the node carries on
            reply["ok"] = False
            reply["e"] = [getattr(exc, "status", 500), getattr(exc, "code", "internal"), str(exc)]
        self.post(m["gw"], reply)

    # Gateway side -----------------------------------------------------
    def _on_bind(self, m: dict[str, Any]) -> None:
        pending = self.pending_joins.pop(m["c"], None)
        if pending is None:
            return
        request, handle = pending
        session = request.endpoint
        self.conns[m["c"]] = session
        self.remote_sessions[m["q"]][m["c"]] = session
        self.remote_owner[m["q"]] = handle.owner
        request.reply.set(m["pid"])

    def _on_jerr(self, m: dict[str, Any]) -> None:
        pending = self.pending_joins.pop(m["c"], None)
        if pending is not None:
            e = m["e"]
            pending[0].reply.fail(ProtocolError(e["code"], e["message"], e.get("details")))

    def _on_send(self, m: dict[str, Any]) -> None:
        session = self.conns.get(m["c"])
        if session is not None:
            session.send_body(m["ty"], m["b"].encode())

    def _on_bc(self, m: dict[str, Any]) -> None:
        sessions = self.remote_sessions.get(m["q"])
        if not sessions:
            return
        frame = text_frame(m["b"].encode())
        qid = m.get("qid")
        log_ = HandoffLog(qid, trio.current_time(), 3600.0) if qid else None
        recipients = [(session.participant_id, session) for session in sessions.values()]
        delivered = fan_out(recipients, frame, replaceable=m.get("r", False), handoff=log_)
        count_delivered(m["ty"], frame, delivered)
        if log_ is not None and log_.times:
            owner = self.remote_owner.get(m["q"])
            if owner is not None:
                self.post(owner, {"k": "ho", "q": m["q"], "qid": qid,
                                  "h": [[pid, self.to_wall(at)] for pid, at in log_.times.items()]})

    def _on_close(self, m: dict[str, Any]) -> None:
        session = self.conns.get(m["c"])
        if session is not None:
            session.close_soon(m["code"], m.get("reason", ""))

    def _on_moved(self, m: dict[str, Any]) -> None:
        self.close_quiz_sessions(m["q"], E.CLOSE_RESTARTING, "quiz moved; resume")

    def _on_rres(self, m: dict[str, Any]) -> None:
        slot = self._rpc_waiting.pop(m["id"], None)
        if slot is None:
            return
        if m["ok"]:
            slot.set(m.get("v"))
        else:
            status, code, message = m["e"]
            slot.fail(RpcError(status, code, message))

    # ------------------------------------------------------------------ helpers
    def close_quiz_sessions(self, quiz_id: str, code: int, reason: str) -> None:
        for session in list(self.remote_sessions.pop(quiz_id, {}).values()):
            self.conns.pop(session.conn_id, None)
            session.close_soon(code, reason)
        self.remote_owner.pop(quiz_id, None)

    def owner_gone(self, node_id: str) -> None:
        """A member died: its quizzes' players here resume elsewhere (1012), and joins
        still waiting on it are told to retry instead of waiting for a dead node."""
        for quiz_id, owner in list(self.remote_owner.items()):
            if owner == node_id:
                self.close_quiz_sessions(quiz_id, E.CLOSE_RESTARTING, "quiz owner lost; resume")
        retry = ProtocolError(E.SERVER_BUSY, "the quiz is being taken over; retry", {"retryAfterMs": 500})
        for conn_id, (request, handle) in list(self.pending_joins.items()):
            if handle.owner == node_id:
                del self.pending_joins[conn_id]
                request.reply.fail(retry)

    def forget_session(self, session: Session) -> None:
        self.conns.pop(session.conn_id, None)
        if session.quiz_id is not None:
            sessions = self.remote_sessions.get(session.quiz_id)
            if sessions is not None:
                sessions.pop(session.conn_id, None)
                if not sessions:
                    del self.remote_sessions[session.quiz_id]
                    self.remote_owner.pop(session.quiz_id, None)

    async def rpc(self, node_id: str, op: str, args: dict[str, Any], timeout_s: float = 5.0) -> Any:
        rpc_id = next(self._rpc_ids)
        slot: ReplySlot[Any] = ReplySlot()
        self._rpc_waiting[rpc_id] = slot
        self.post(node_id, {"k": "rpc", "id": rpc_id, "gw": self.node_id, "op": op, "a": args})
        try:
            with trio.fail_after(timeout_s):
                return await slot.wait()
        except trio.TooSlowError:
            raise RpcError(503, "server_busy", f"node {node_id} did not answer") from None
        finally:
            self._rpc_waiting.pop(rpc_id, None)


class RpcError(Exception):
    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message


_TO_OWNER = frozenset({"join", "cmd", "lost", "ho", "rpc"})
