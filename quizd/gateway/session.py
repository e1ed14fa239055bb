"""One player's or host's connection, from the first frame to the close.

The session reads the connection in its own task, the connection's only one (no
reader task, no channel: :mod:`quizd.gateway.websocket`) until it has joined; then the
gateway's read poller reads it (:mod:`quizd.gateway.poller`: one task for every joined
plain socket) and the session's task waits for the end.  It enforces the
per-connection limits (rate, size, binary frames, join-first), parses each message with
the sans-IO protocol module and posts it to its quiz's actor.  It never waits on the
actor except for ``join``, whose answer decides which participant this connection is.
Everything sent to the client goes through ``out`` (the connection's bounded
``OutboundStream``).
"""

from __future__ import annotations

import enum
import logging
import time
from typing import TYPE_CHECKING, Any, Literal

import trio

from quizd.actors.inbox import Command, ConnectionLost, JoinRequest, ReplyAbandoned
from quizd.game.names import NamesMode
from quizd.gateway.framing import text_frame
from quizd.gateway.outbound import OutboundStream
from quizd.gateway.poller import ReadPoller
from quizd.gateway.ratelimit import RateLimiter, Verdict
from quizd.gateway.websocket import Kind, Messages, Reader
from quizd.ops import metrics
from quizd.protocol import errors as E
from quizd.protocol.errors import ProtocolError
from quizd.protocol.messages import ClientMessage, JoinPayload, decode, encode, extract_id, parse_message

if TYPE_CHECKING:
    from quizd.gateway.server import Gateway

log = logging.getLogger("quizd.gateway")


class _Read(enum.Enum):
    END = "end"  # what ``Session._check`` returns at the close: the reading is over


JOIN_TIMEOUT_S = 10.0
# A connection must have joined a quiz this long after its handshake, or it is closed
# (1008): an open socket that never joins holds a descriptor and a slot of the caps.
FIRST_JOIN_DEADLINE_S = 10.0
CLOSE_TIMEOUT_S = 5.0


class Session:
    # Slots: one of these per connection, 10,000 per quiz; a __dict__ each adds up.
    __slots__ = (
        "gateway",
        "messages",
        "reader",
        "out",
        "remote",
        "limiter",
        "quiz",
        "quiz_id",
        "participant_id",
        "is_host",
        "last_ping_at",
        "_closing",
        "_scope",
        "conn_id",
        "_poller",
        "_reading",
        "__weakref__",
    )

    def __init__(self, gateway: Gateway, messages: Messages, reader: Reader, remote: str) -> None:
        self.gateway = gateway
        self.messages = messages
        self.reader = reader
        self.out: OutboundStream = reader.out
        self.remote = remote
        limits = gateway.config.limits
        self.limiter = RateLimiter(limits.messages_per_second, limits.burst, trio.current_time())
        self.quiz: Any = None  # the quiz handle (actor) once joined
        self.quiz_id: str | None = None
        self.participant_id: str | None = None
        self.is_host = False
        # When the last keepalive ping went out; none yet, so nothing to miss.
        self.last_ping_at = float("-inf")
        self._closing = False
        # Bounds the reading once a close is under way (``close_soon`` sets its deadline).
        self._scope = trio.CancelScope()
        # Names this connection to a quiz owner on another node (cluster relay).
        self.conn_id = gateway.new_conn_id()
        # Reads this connection once it has joined (plain sockets; TLS reads in its task).
        self._poller: ReadPoller | None = gateway.poller if self.out.fd is not None else None
        self._reading: trio.lowlevel.Task | None = None  # this task, while the poller reads

    # ------------------------------------------------------------------ sending
    def send(self, msg_type: str, payload: Any, re: str | int | None = None) -> None:
        self.send_body(msg_type, encode(msg_type, payload, re))

    def send_body(self, msg_type: str, body: bytes) -> None:
        """Frame one JSON body for this connection and hand it on (never blocks)."""
        frame = text_frame(body)
        if self.out.push(frame):
            metrics.count_sent(msg_type)
            metrics.BYTES_SENT.inc(len(frame))

    def send_error(self, err: ProtocolError, re: str | int | None = None) -> None:
        metrics.count_error(err.code)
        self.send("error", err.payload(), re)

    def close_soon(self, code: int, reason: str) -> None:
        """Close after what is already queued: the close frame now, the socket once the
        peer answers it, or ``CLOSE_TIMEOUT_S`` from now."""
        if self._closing:
            return
        self._closing = True
        self.messages.close(code, reason)
        self._scope.deadline = min(self._scope.deadline, trio.current_time() + CLOSE_TIMEOUT_S)

    # ------------------------------------------------------------------ reading
    async def run(self) -> None:
        """Read until the connection closes; the quiz hears that it was lost.

        Messages are read until the peer closes, or the close handshake is over.
        Before the first join, only the wait for bytes is bounded (by
        ``FIRST_JOIN_DEADLINE_S``): a join the actor is deciding is never cut.  Once
        joined, a plain socket is read by the gateway's read poller instead
        (:meth:`_read_polled`); TLS stays here.

        This frame waits for as long as the player stays, so it keeps little: each
        read is handled in :meth:`_read_some`, whose frame ends with it (what it held,
        the join's batch, message and payload, would stay otherwise: memory, and
        objects every collection of the old generation walks)."""
        try:
            with self._scope:
                join_by = trio.current_time() + FIRST_JOIN_DEADLINE_S
                first = True
                while True:
                    if self.quiz is not None and self._poller is not None and await self._read_polled():
                        return
                    reads = not self.messages.pending
                    if not await self._read_some(join_by, first):
                        return
                    if reads:
                        first = False
        finally:
            if self.quiz is not None and self.participant_id is not None:
                try:
                    self.quiz.post(ConnectionLost(self.participant_id, self))
                except ProtocolError:
                    pass

    async def _read_some(self, join_by: float, first: bool) -> bool:
        """One read (or the frames left from the last one) and what it held; False once
        the reading is over.  ``first``: nothing was read yet, what came with the
        handshake may already be there."""
        messages = self.messages
        if messages.pending:
            # The last read held more frames than one batch: the rest of them, but
            # first let the other connections and the quizzes run.
            await trio.lowlevel.checkpoint()
            batch = messages.feed(b"")
        else:
            if self.quiz is None and not self._closing:
                data = await self.reader.receive_before(join_by, try_first=first)
                if data is None:
                    metrics.count_error(E.NOT_JOINED)
                    self.close_soon(E.CLOSE_ABUSE, f"no join within {FIRST_JOIN_DEADLINE_S:g} s")
                    return True
            else:
                data = await self.reader.receive()
            if not data:
                return False
            batch = messages.feed(data)
        if self.quiz is not None:
            return self._handle(batch)
        for kind, message in batch:
            checked = self._check(kind, message)
            if checked is _Read.END:
                return False
            if checked is None:
                continue
            msg, now = checked
            if self.quiz is None:
                await self._join_first(msg, now)
            else:  # what followed the join in the same read
                self._joined(msg, now)
        return True

    def _handle(self, batch: list[tuple[Kind, str | bytes]]) -> bool:
        """A joined connection's messages (the hot path: nothing awaited); False once
        the reading is over."""
        for kind, message in batch:
            checked = self._check(kind, message)
            if checked is _Read.END:
                return False
            if checked is not None:
                self._joined(*checked)
        return True

    def _check(self, kind: Kind, message: str | bytes) -> tuple[ClientMessage, float] | Literal[_Read.END] | None:
        """One item of a batch: the typed message and its arrival time; None when it was
        dealt with here (closing, too big, rate-limited, invalid); ``_Read.END`` at the close."""
        if kind is Kind.CLOSED:
            return _Read.END
        if self._closing:
            return None  # only the peer's close matters now
        if kind is Kind.TOO_BIG:
            # The protocol has failed the connection with 1009 (and reads nothing more):
            # what is queued goes, then the socket closes.
            limit = self.gateway.config.websocket.max_message_bytes
            self.close_soon(E.CLOSE_TOO_BIG, f"message larger than {limit} bytes")
            return _Read.END
        now = trio.current_time()
        if not self._admit(now):
            return None
        msg = self._parse(message)
        return None if msg is None else (msg, now)

    def _joined(self, msg: ClientMessage, now: float) -> None:
        try:
            self._after_join(msg, now)
        except ProtocolError as err:
            self.send_error(err, msg.id)

    # ------------------------------------------------------------------ read by the poller
    @property
    def fd(self) -> int:
        fd = self.out.fd
        assert fd is not None  # only plain sockets are polled
        return fd

    async def _read_polled(self) -> bool:
        """Wait while the read poller reads this connection, until the reading is over
        (the peer's close or EOF), the socket is closed, or the close deadline.  False
        when the poller could not take it (stopped: the node is shutting down; or the
        kernel refused the registration): this task reads it then."""
        poller = self._poller
        assert poller is not None
        if self.out.closed:
            return True
        try:
            poller.add(self)
        except (OSError, ValueError):
            self._poller = None
            return False
        self._reading = trio.lowlevel.current_task()
        self.out.on_close = self._stop_polled
        try:
            if self.messages.pending:
                poller.again(self)
            await trio.lowlevel.wait_task_rescheduled(self._abort_polled)
        finally:
            self._reading = None
            self.out.on_close = None
            poller.discard(self)
        return True

    def _abort_polled(self, _: object) -> trio.lowlevel.Abort:
        """Cancelled while the poller reads (a bound method: a closure here would keep
        a function, a cell and a tuple per idle player)."""
        self._reading = None
        return trio.lowlevel.Abort.SUCCEEDED

    def on_readable(self) -> None:
        """The poller's call: hand on frames left from the last read, else read once."""
        messages = self.messages
        if messages.pending:
            batch = messages.feed(b"")
        else:
            data = self.reader.read_now()
            if data is None:
                return
            if not data:
                self._stop_polled()
                return
            batch = messages.feed(data)
        if not self._handle(batch):
            self._stop_polled()
        elif messages.pending and self._poller is not None:
            self._poller.again(self)

    def on_read_error(self) -> None:
        self._stop_polled()
        self.out.abort()

    def _stop_polled(self) -> None:
        """The reading is over: unregister (the socket is still open) and wake the task."""
        if self._poller is not None:
            self._poller.discard(self)
        task, self._reading = self._reading, None
        if task is not None:
            trio.lowlevel.reschedule(task)

    def _admit(self, now: float) -> bool:
        verdict = self.limiter.check(now)
        if verdict is Verdict.ACCEPT:
            return True
        metrics.RATE_LIMITED.inc()
        if verdict is Verdict.ABUSE:
            self.close_soon(E.CLOSE_ABUSE, "too many messages")
        elif verdict is Verdict.DROP_AND_TELL:
            self.send_error(ProtocolError(E.RATE_LIMITED, "too many messages; some were dropped"))
        return False

    def _parse(self, frame: str | bytes) -> ClientMessage | None:
        """The typed message, or None once its error went back (binary, JSON, shape)."""
        if not isinstance(frame, str):
            metrics.count_received("invalid")
            self.send_error(ProtocolError(E.INVALID_MESSAGE, "binary frames are not supported; send JSON text"))
            return None
        raw: Any = None
        try:
            raw = decode(frame)
            msg = parse_message(raw)
        except ProtocolError as err:
            metrics.count_received("invalid")
            self.send_error(err, extract_id(raw))
            return None
        metrics.count_received(msg.type)
        return msg

    async def _join_first(self, msg: ClientMessage, now: float) -> None:
        try:
            await self._before_join(msg, now)
        except ProtocolError as err:
            self.send_error(err, msg.id)

    async def _before_join(self, msg: ClientMessage, now: float) -> None:
        if msg.type != "join":
            raise ProtocolError(E.NOT_JOINED, "send 'join' first")
        payload = msg.payload
        assert isinstance(payload, JoinPayload)  # parse_message gives a join its JoinPayload
        given: list[tuple[str, str | None]] = [
            (k, v)
            for k, v in (("player", payload.name), ("resume", payload.resumeToken), ("host", payload.hostToken))
            if v is not None
        ]
        mode = self.gateway.config.quizzes.names
        if not given and mode is not NamesMode.GIVEN:
            given = [("player", None)]  # only a quizId: a player asking for a generated name
        if len(given) != 1:
            raise ProtocolError(
                E.INVALID_MESSAGE,
                "join needs exactly one of 'name', 'resumeToken' or 'hostToken'",
                {"path": "payload", "problem": "exactly one of name, resumeToken, hostToken"},
            )
        kind, value = given[0]
        if kind == "player" and self.gateway.draining:
            raise ProtocolError(E.SERVER_BUSY, "this node is draining", {"retryAfterMs": 1000})
        quiz = await self.gateway.router.lookup(payload.quizId)
        if quiz is None:
            raise ProtocolError(E.QUIZ_NOT_FOUND, f"no live quiz {payload.quizId!r}")
        request = JoinRequest(kind, value, msg.id, self, now)
        quiz.post(request)
        try:
            participant_id = await self._join_answer(request)
        except ReplyAbandoned:
            raise ProtocolError(E.SERVER_BUSY, "the quiz did not answer in time", {"retryAfterMs": 1000}) from None
        self.quiz = quiz
        self.quiz_id = payload.quizId
        self.participant_id = participant_id
        self.is_host = kind == "host" or participant_id == "host"

    async def _join_answer(self, request: JoinRequest) -> str:
        """The participant the quiz made of this connection.

        Gives up only if the quiz has not started deciding (``ReplyAbandoned`` after
        ``JOIN_TIMEOUT_S``, or at once when the session is cancelled: a close under
        way, the node stopping): the quiz then skips the join, or undoes a late
        acceptance.  A join it claimed is always waited for, shielded, so no player is
        left bound to a connection that did not hear of it: the session becomes that
        participant and, cancelled, the quiz hears at once that it is lost.  No bound
        on that wait: the claimer answers every claimed slot, also when it crashes or
        stops (``QuizActor.forget``), and a bound that expired would leave the join's
        outcome unknown.  (Trio's cancellation stays: the next read raises it again.)
        """
        slot = request.reply
        try:
            return await slot.wait_or_abandon(JOIN_TIMEOUT_S)
        except trio.Cancelled:
            if slot.abandon():
                raise
        with trio.CancelScope(shield=True):  # never cancelled itself: no deadline
            participant_id = await slot.wait()
        return participant_id

    def _after_join(self, msg: ClientMessage, now: float) -> None:
        if msg.type == "join":
            raise ProtocolError(E.ALREADY_JOINED, "this connection has already joined a quiz")
        if msg.type == "ping":
            self.send("pong", {"serverTime": int(time.time() * 1000)}, msg.id)
            return
        assert self.participant_id is not None
        self.quiz.post(Command(self.participant_id, self, msg, now))
