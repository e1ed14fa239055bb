"""The gateway side of the relay: this node's connections in quizzes owned elsewhere.

``RemoteQuizHandle`` is what the router gives a session for a quiz on another node:
posting a join, a command or a dropped connection sends it to the owner.  A join
waits (``pending_joins``) until the owner binds or refuses it.  The session's join
timeout cannot be atomic with the owner's decision across Redis, so an acceptance that
comes after the session gave up (it answered ``server_busy``) or after its connection
closed is undone: the owner is told (``JoinUndone``) to drop that binding, and a new
player with it, so no ghost keeps a name or counts as connected (issue 12).  What the owner sends
back (``ToGateway`` messages) is delivered here to the local sessions: a broadcast is
framed once and fanned out with the same non-blocking path as the node's own
quizzes, and the times the question frame reached each socket go back to the owner
(``RemoteHandoffs``: at once for the frames that went straight out, batched for
those that waited in a queue).  The control plane's requests to other nodes (``rpc``) wait
here for their ``RpcResult``.
"""

from __future__ import annotations

import itertools
from collections import defaultdict
from typing import TYPE_CHECKING, Any, cast

import trio

from quizd.actors.inbox import Command, ConnectionLost, InboxItem, JoinRequest, ReplySlot
from quizd.cluster.handoff_reports import RemoteHandoffs
from quizd.cluster.messages import (
    BroadcastAll,
    CloseOne,
    JoinAccepted,
    JoinRefused,
    JoinUndone,
    QuizMoved,
    RemoteCommand,
    RemoteJoin,
    RemoteLost,
    RpcCall,
    RpcOp,
    RpcResult,
    SendOne,
    ToGateway,
)
from quizd.cluster.transport import RelayTransport, to_wall, wall_ms
from quizd.game.quiz import AutoStart
from quizd.gateway.delivery import count_delivered, fan_out
from quizd.gateway.framing import text_frame
from quizd.protocol import errors as E
from quizd.protocol.errors import ProtocolError
from quizd.service_errors import ServiceError

if TYPE_CHECKING:
    from quizd.gateway.session import Session

RELAY_BUSY_RETRY_MS = 1000


class RemoteQuizHandle:
    """The gateway's handle for a quiz owned by another node: inbox items go by relay."""

    def __init__(self, quiz_id: str, owner: str, gateway: GatewaySide) -> None:
        self.quiz_id = quiz_id
        self.owner = owner
        self.gateway = gateway

    def post(self, item: InboxItem) -> None:
        """Relay ``item`` to the owner; ``server_busy`` when the relay's backlog is full
        (Redis away for long): the player retries instead of growing the queue."""
        gateway = self.gateway
        node_id = gateway.transport.node_id
        if isinstance(item, JoinRequest):
            session = cast("Session", item.endpoint)
            if session.conn_id in gateway.pending_joins:
                # An earlier join of this connection was given up (server_busy) and its
                # answer is still to come: this one gets a fresh relay id, so that late
                # answer is never taken for this join's (it is undone instead).
                session.conn_id = session.gateway.new_conn_id()
            if not gateway.transport.post(
                self.owner,
                RemoteJoin(
                    self.quiz_id,
                    item.kind,
                    item.value,
                    item.reply_to,
                    node_id,
                    session.conn_id,
                    wall_ms(),
                ),
            ):
                raise _relay_busy()
            gateway.pending_joins[session.conn_id] = (item, self)
        elif isinstance(item, Command):
            session = cast("Session", item.endpoint)  # as for a join: this gateway's own session
            # A hand-off still waiting for its batch goes first: an answer must never
            # reach the owner before the hand-off its window starts from.
            gateway.report_handoffs(self.quiz_id)
            if not gateway.transport.post(
                self.owner,
                RemoteCommand(
                    self.quiz_id,
                    item.participant_id,
                    node_id,
                    session.conn_id,
                    to_wall(item.received_at),
                    item.message,
                ),
            ):
                raise _relay_busy()
        elif isinstance(item, ConnectionLost):
            session = cast("Session", item.endpoint)  # as for a join: this gateway's own session
            gateway.forget_session(session)
            gateway.transport.post(
                self.owner,
                RemoteLost(
                    self.quiz_id,
                    item.participant_id,
                    node_id,
                    session.conn_id,
                ),
            )
        else:  # pragma: no cover - only the gateway's items travel this way
            raise TypeError(f"cannot relay {item!r}")


def _relay_busy() -> ProtocolError:
    return ProtocolError(E.SERVER_BUSY, "the cluster relay is backed up; retry", {"retryAfterMs": RELAY_BUSY_RETRY_MS})


class GatewaySide:
    """Local sessions in remote quizzes, and what their owners send them."""

    def __init__(self, transport: RelayTransport) -> None:
        self.transport = transport
        self.conns: dict[int, Session] = {}
        self.remote_sessions: dict[str, dict[int, Session]] = defaultdict(dict)
        self.remote_owner: dict[str, str] = {}
        self.pending_joins: dict[int, tuple[JoinRequest, RemoteQuizHandle]] = {}
        # Per remote quiz, its open question's hand-offs here (reported to the owner).
        self.handoffs: dict[str, RemoteHandoffs] = {}
        self._rpc_ids = itertools.count(1)
        self._rpc_waiting: dict[int, ReplySlot[Any]] = {}

    def handle(self, message: ToGateway) -> None:
        match message:
            case JoinAccepted():
                self._bound(message)
            case JoinRefused():
                pending = self.pending_joins.pop(message.conn, None)
                if pending is not None:
                    pending[0].reply.fail(message.error())
            case SendOne():
                session = self.conns.get(message.conn)
                if session is not None:
                    session.send_body(message.msg_type, message.body.encode())
            case BroadcastAll():
                self._broadcast(message)
            case CloseOne():
                session = self.conns.get(message.conn)
                if session is not None:
                    session.close_soon(message.code, message.reason)
            case QuizMoved():
                self.close_quiz_sessions(message.quiz_id, E.CLOSE_RESTARTING, "quiz moved; resume")
            case RpcResult():
                self._rpc_result(message)
            case _:  # pragma: no cover - every ToGateway class is matched above
                raise TypeError(f"not a gateway message: {message!r}")

    def _bound(self, m: JoinAccepted) -> None:
        pending = self.pending_joins.pop(m.conn, None)
        if pending is None:
            return
        request, handle = pending
        session = cast("Session", request.endpoint)
        # Claimed here, on this node's one thread, so the session's timeout and this
        # acceptance cannot both win: either the session waits for the answer below,
        # or it already answered server_busy and the owner's binding is undone.
        if not request.reply.claim() or session.out.closed:
            self._undo(m, handle.owner, new_player=request.kind == "player")
            request.reply.fail(ProtocolError(E.SERVER_BUSY, "the connection closed during its join"))
            return
        self.conns[m.conn] = session
        self.remote_sessions[m.quiz_id][m.conn] = session
        self.remote_owner[m.quiz_id] = handle.owner
        request.reply.set(m.participant_id)

    def _undo(self, m: JoinAccepted, owner: str, *, new_player: bool) -> None:
        """The owner bound ``m.conn`` after its session gave up or closed: unbind it
        there (a new player is removed, its name freed), never here."""
        self.transport.post(owner, JoinUndone(m.quiz_id, m.participant_id, self.transport.node_id, m.conn, new_player))

    def _broadcast(self, m: BroadcastAll) -> None:
        sessions = self.remote_sessions.get(m.quiz_id)
        if not sessions:
            return
        frame = text_frame(m.body.encode())
        handoffs = self._question_handoffs(m) if m.question_id else None
        # Only joined sessions are in remote_sessions, so each has its participant id.
        recipients = [(pid, session) for session in sessions.values() if (pid := session.participant_id) is not None]
        delivered = fan_out(recipients, frame, replaceable=m.replaceable, handoff=handoffs)
        count_delivered(m.msg_type, frame, delivered)
        if handoffs is not None:
            handoffs.flush()  # what went straight out: one report now

    def _question_handoffs(self, m: BroadcastAll) -> RemoteHandoffs | None:
        """The hand-off log of ``m``'s question here: frames that wait in a queue stamp
        it when they are written, and it reports them to the owner then."""
        owner = self.remote_owner.get(m.quiz_id)
        if owner is None or m.question_id is None:
            return None
        current = self.handoffs.get(m.quiz_id)
        if current is not None and current.question_id == m.question_id and current.owner == owner:
            return current
        if current is not None:
            current.close()
        self.handoffs[m.quiz_id] = log = RemoteHandoffs(m.quiz_id, m.question_id, owner, self.transport)
        return log

    def _rpc_result(self, m: RpcResult) -> None:
        slot = self._rpc_waiting.pop(m.rpc_id, None)
        if slot is None:
            return
        if m.failure is None:
            slot.set(m.value)
        else:
            slot.fail(ServiceError(m.failure.status, m.failure.code, m.failure.message))

    # ------------------------------------------------------------------ bookkeeping
    def close_quiz_sessions(self, quiz_id: str, code: int, reason: str) -> None:
        for session in list(self.remote_sessions.pop(quiz_id, {}).values()):
            self.conns.pop(session.conn_id, None)
            session.close_soon(code, reason)
        self.remote_owner.pop(quiz_id, None)
        self._forget_handoffs(quiz_id)

    def close_all(self, code: int, reason: str) -> None:
        for quiz_id in list(self.remote_sessions):
            self.close_quiz_sessions(quiz_id, code, reason)

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
                    self._forget_handoffs(session.quiz_id)

    def report_handoffs(self, quiz_id: str) -> None:
        """Report ``quiz_id``'s pending hand-offs now (before a command that may depend on them)."""
        handoffs = self.handoffs.get(quiz_id)
        if handoffs is not None:
            handoffs.flush()

    def _forget_handoffs(self, quiz_id: str) -> None:
        """No more players of ``quiz_id`` here: report what is pending, keep nothing."""
        handoffs = self.handoffs.pop(quiz_id, None)
        if handoffs is not None:
            handoffs.close()

    # ------------------------------------------------------------------ RPC
    async def rpc(
        self,
        node_id: str,
        op: RpcOp,
        quiz_id: str,
        *,
        definition_id: str | None = None,
        auto_start: AutoStart | None = None,
        timeout_s: float = 5.0,
    ) -> Any:
        """Run a control-plane request on ``node_id``; its JSON value, or its ``ServiceError``."""
        rpc_id = next(self._rpc_ids)
        slot: ReplySlot[Any] = ReplySlot()
        self._rpc_waiting[rpc_id] = slot
        if not self.transport.post(
            node_id, RpcCall(rpc_id, self.transport.node_id, op, quiz_id, definition_id, auto_start)
        ):
            del self._rpc_waiting[rpc_id]
            raise ServiceError(503, "server_busy", "the cluster relay is backed up; retry")
        try:
            with trio.fail_after(timeout_s):
                return await slot.wait()
        except trio.TooSlowError:
            raise ServiceError(503, "server_busy", f"node {node_id} did not answer") from None
        finally:
            self._rpc_waiting.pop(rpc_id, None)
