"""The owner side of the relay: what gateways send about quizzes this node runs.

A gateway relays its connections' joins, commands and dropped connections, reports
when it handed a question to its players, and forwards control-plane requests (RPC).
A join the gateway gave up on before this node's acceptance reached it comes back as
``JoinUndone``: the actor unbinds it (and removes a new player), so no ghost remains.
Here they become the same inbox items a local connection would post, addressed to a
``RemoteEndpoint`` instead of a local session.  A quiz that is not (any more) here
answers ``QuizMoved`` (its players resume elsewhere) or, for a join, ``server_busy``.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

import attrs
import orjson

from quizd.actors.inbox import Command, ConnectionLost, HandoffReport, JoinRequest, ReplySlot, UndoJoin
from quizd.cluster.messages import (
    HandoffTimes,
    JoinRefused,
    JoinUndone,
    QuizMoved,
    RemoteCommand,
    RemoteJoin,
    RemoteLost,
    RpcCall,
    RpcFailure,
    RpcResult,
    SendOne,
    ToOwner,
)
from quizd.cluster.transport import RelayTransport, to_monotonic
from quizd.protocol import errors as E
from quizd.protocol.errors import ProtocolError
from quizd.service_errors import ServiceError

if TYPE_CHECKING:
    from quizd.router import QuizHandle

log = logging.getLogger("quizd.cluster")

RpcHandler = Callable[[RpcCall], Awaitable[Any]]
"""Runs a control-plane request on this node; returns a JSON value or raises ``ServiceError``."""


@attrs.frozen(slots=True)
class RemoteEndpoint:
    """A connection on another node's gateway, as the owner addresses it."""

    node: str
    conn: int


class RemoteJoinReply(ReplySlot[str]):
    """The owner's side of a remote join: a refusal travels back to the gateway."""

    __slots__ = ("_transport", "_endpoint")

    def __init__(self, transport: RelayTransport, endpoint: RemoteEndpoint) -> None:
        super().__init__()
        self._transport = transport
        self._endpoint = endpoint

    def fail(self, error: BaseException) -> None:
        super().fail(error)
        if not isinstance(error, ProtocolError):
            error = ProtocolError(E.INTERNAL, "internal")
        self._transport.post(self._endpoint.node, JoinRefused.of(self._endpoint.conn, error))


class OwnerSide:
    """Turns ``ToOwner`` messages into inbox items of this node's quiz actors."""

    def __init__(
        self,
        transport: RelayTransport,
        local_actor: Callable[[str], QuizHandle | None],
        on_rpc: RpcHandler,
    ) -> None:
        self.transport = transport
        self.local_actor = local_actor
        self.on_rpc = on_rpc

    def handle(self, message: ToOwner) -> None:
        match message:
            case RemoteJoin():
                self._join(message)
            case RemoteCommand():
                self._command(message)
            case RemoteLost():
                self._lost(message)
            case JoinUndone():
                self._undo(message)
            case HandoffTimes():
                self._handoffs(message)
            case RpcCall():
                self.transport.start_soon(lambda: self._rpc(message))
            case _:  # pragma: no cover - every ToOwner class is matched above
                raise TypeError(f"not an owner message: {message!r}")

    def _actor_or_moved(self, quiz_id: str, gateway: str) -> QuizHandle | None:
        actor = self.local_actor(quiz_id)
        if actor is None:
            # Not ours (any more): the gateway closes its players with 1012 and they resume.
            self.transport.post(gateway, QuizMoved(quiz_id))
        return actor

    def _join(self, m: RemoteJoin) -> None:
        endpoint = RemoteEndpoint(m.gateway, m.conn)
        actor = self.local_actor(m.quiz_id)
        if actor is None:
            retry = ProtocolError(E.SERVER_BUSY, "the quiz is moving; retry", {"retryAfterMs": 500})
            self.transport.post(m.gateway, JoinRefused.of(m.conn, retry))
            return
        request = JoinRequest(
            m.kind,
            m.value,
            m.reply_to,
            endpoint,
            to_monotonic(m.received_at_ms),
            reply=RemoteJoinReply(self.transport, endpoint),
        )
        try:
            actor.post(request)
        except ProtocolError as err:
            request.reply.fail(err)

    def _command(self, m: RemoteCommand) -> None:
        actor = self._actor_or_moved(m.quiz_id, m.gateway)
        if actor is None:
            return
        endpoint = RemoteEndpoint(m.gateway, m.conn)
        try:
            actor.post(Command(m.participant_id, endpoint, m.message, to_monotonic(m.received_at_ms)))
        except ProtocolError as err:
            body = orjson.dumps({"type": "error", "payload": err.payload(), "re": m.message.id}).decode()
            self.transport.post(m.gateway, SendOne(m.conn, "error", body))

    def _lost(self, m: RemoteLost) -> None:
        actor = self.local_actor(m.quiz_id)
        if actor is not None:
            try:
                actor.post(ConnectionLost(m.participant_id, RemoteEndpoint(m.gateway, m.conn)))
            except ProtocolError:
                pass

    def _undo(self, m: JoinUndone) -> None:
        """A late acceptance: the actor drops the binding like a lost connection, and
        removes a new player outright (it never learnt it had joined)."""
        actor = self.local_actor(m.quiz_id)
        if actor is not None:
            try:
                actor.post(UndoJoin(m.participant_id, RemoteEndpoint(m.gateway, m.conn), m.new_player))
            except ProtocolError:
                pass

    def _handoffs(self, m: HandoffTimes) -> None:
        """The gateway's hand-off times go to the actor like everything else (its inbox)."""
        actor = self.local_actor(m.quiz_id)
        if actor is None:
            return
        times = tuple((pid, to_monotonic(wall)) for pid, wall in m.times)
        try:
            actor.post(HandoffReport(m.question_id, times))
        except ProtocolError:
            pass

    async def _rpc(self, m: RpcCall) -> None:
        try:
            reply = RpcResult(m.rpc_id, value=await self.on_rpc(m))
        except ServiceError as err:
            reply = RpcResult(m.rpc_id, failure=RpcFailure(err.status, err.code, err.message))
        except Exception as exc:  # the caller gets the error, the node carries on
            log.warning("relayed request failed: %s", exc)
            reply = RpcResult(m.rpc_id, failure=RpcFailure(500, E.INTERNAL, str(exc)))
        self.transport.post(m.gateway, reply)
