"""Participants that survive a cluster moving their quiz: they resume and keep every ack.

A ``Participant`` holds one WebSocket at a time, read by a background task into an
unbounded channel (so the server's close handshake and keepalive never wait on the
test).  When the connection is closed (1012, or 1006 when a node dies) it can
``resume()`` with its token on any node the test says is alive, honouring
``server_busy``.  ``answer()`` retries the same choice across resumes (the server
answers a repeated identical answer with the recorded result), and only an
``answer_result`` that actually arrived counts as acknowledged (``acks``).

Every close code, every resume (node, time, joined payload) and every message is kept
so the tests can assert on them afterwards.
"""

from __future__ import annotations

import json
import math
from collections import deque
from collections.abc import Callable
from typing import Any

import trio
from trio_websocket import ConnectionClosed, HandshakeError, connect_websocket_url

from quizd.client import _close_tcp

RESUME_TIMEOUT_S = 25.0


class Closed(Exception):
    """The current connection was closed by the server (``code``)."""

    def __init__(self, code: int | None) -> None:
        super().__init__(f"closed with {code}")
        self.code = code


class QuizEnded(Exception):
    """A resume was refused with ``quiz_ended``: the quiz ended while this participant was away."""


class _ConnectionCatcher:
    """A nursery stand-in that notes the connection whose reader task is started in it.

    ``connect_websocket_url`` opens the TCP stream, starts the connection's reader in
    the nursery and only then waits for the handshake; if that wait fails, the caller
    gets no connection to close.  The reader is a bound method of the connection.
    """

    def __init__(self, nursery: trio.Nursery) -> None:
        self.nursery = nursery
        self.connection: Any = None

    def start_soon(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> None:
        self.connection = getattr(fn, "__self__", None)
        self.nursery.start_soon(fn, *args, **kwargs)


class Participant:
    _ids = 0

    def __init__(self, nursery: trio.Nursery, quiz_id: str, name: str, urls: Callable[[], list[str]]) -> None:
        self.nursery = nursery
        self.quiz_id = quiz_id
        self.name = name
        self.urls = urls
        self.token: str | None = None
        self.is_host = False
        self.ws: Any = None
        self.url: str | None = None
        self._inbox: trio.MemoryReceiveChannel[Any] | None = None
        self._pending: deque[Any] = deque()  # read ahead by ensure(), not yet consumed
        self.closed_code: int | None = None
        self.closes: list[int | None] = []
        self.resumes: list[tuple[str, float, dict[str, Any]]] = []
        self.attempts: list[tuple[str, float, float, Any]] = []  # url, sent at, took, outcome
        self.joined: dict[str, Any] | None = None
        self.acks: dict[str, dict[str, Any]] = {}
        self.ack_log: list[tuple[float, dict[str, Any]]] = []
        self.busy_replies: list[tuple[float, dict[str, Any]]] = []
        self.messages: list[dict[str, Any]] = []
        self.phase: str | None = None
        self.question_index: int | None = None

    # ------------------------------------------------------------------ connection
    async def _open(self, url: str) -> None:
        if self.ws is not None:
            await _close_tcp(self.ws)  # the previous connection's socket (closed by the server or by us)
        catcher = _ConnectionCatcher(self.nursery)
        try:
            ws = await connect_websocket_url(catcher, url, message_queue_size=1)  # type: ignore[arg-type]
        except BaseException:
            # The handshake failed or was cancelled (a node dying, a test deadline):
            # trio-websocket leaves the TCP stream it opened to the garbage collector.
            if catcher.connection is not None:
                await _close_tcp(catcher.connection)
            raise
        send, receive = trio.open_memory_channel[Any](math.inf)
        self.ws, self.url, self._inbox, self.closed_code = ws, url, receive, None
        self._pending.clear()
        self.nursery.start_soon(self._reader, ws, send)

    async def _reader(self, ws: Any, send: trio.MemorySendChannel[Any]) -> None:
        try:
            while True:
                raw = await ws.get_message()
                send.send_nowait(json.loads(raw))
        except ConnectionClosed as closed:
            send.send_nowait(Closed(closed.reason.code if closed.reason else None))
        finally:
            # When the server closes first (1012 on a hand-over, 1006 when a node dies)
            # trio-websocket stops reading without closing the TCP stream; and when the
            # test ends, this task is cancelled with the connection still open.
            await _close_tcp(ws)

    async def recv(self, timeout: float = 10.0) -> dict[str, Any]:
        """The next message; raises ``Closed`` (once per connection) when it was closed."""
        if self.closed_code is not None or self._inbox is None:
            raise Closed(self.closed_code)
        if self._pending:
            item = self._pending.popleft()
        else:
            with trio.fail_after(timeout):
                item = await self._inbox.receive()
        if isinstance(item, Closed):
            self.closed_code = item.code if item.code is not None else 1006
            self.closes.append(self.closed_code)
            raise Closed(self.closed_code)
        self.messages.append(item)
        self._track(item)
        return item

    def _track(self, message: dict[str, Any]) -> None:
        payload = message.get("payload") or {}
        kind = message["type"]
        if kind == "joined":
            self.phase = payload["quiz"]["phase"]
            self.question_index = payload["quiz"]["questionIndex"]
        elif kind == "host_state":
            self.phase, self.question_index = payload["phase"], payload["questionIndex"]
        elif kind == "question":
            self.phase, self.question_index = "question", payload["index"]
        elif kind == "question_closed":
            self.phase = "reveal"
        elif kind == "quiz_ended":
            self.phase = "ended"

    @property
    def connected(self) -> bool:
        return self.ws is not None and self.closed_code is None

    async def wait_closed(self, timeout: float = 15.0) -> int:
        """Read (and keep) messages until the server closes this connection; the code."""
        with trio.fail_after(timeout):
            while True:
                try:
                    await self.recv(timeout)
                except Closed as closed:
                    assert closed.code is not None
                    return closed.code

    async def close(self) -> None:
        if self.ws is not None:
            with trio.move_on_after(2):
                await self.ws.aclose()
            await _close_tcp(self.ws)  # aclose() returns early when the server closed first

    async def call(self, msg_type: str, payload: dict[str, Any] | None = None, timeout: float = 10.0) -> dict[str, Any]:
        """Send and wait for the direct reply; raises ``Closed`` if the connection goes first."""
        if not self.connected:
            raise Closed(self.closed_code)
        Participant._ids += 1
        msg_id = Participant._ids
        try:
            await self.ws.send_message(json.dumps({"type": msg_type, "payload": payload or {}, "id": msg_id}))
        except ConnectionClosed:
            pass  # the close is reported by recv() below, after what already arrived
        with trio.fail_after(timeout):
            while True:
                message = await self.recv(timeout)
                if message.get("re") == msg_id:
                    return message

    async def expect(self, types: str | set[str], timeout: float = 10.0) -> dict[str, Any]:
        wanted = {types} if isinstance(types, str) else types
        with trio.fail_after(timeout):
            while True:
                message = await self.recv(timeout)
                if message["type"] in wanted:
                    return message

    # ------------------------------------------------------------------ joining
    async def join(self, url: str, **how: str) -> dict[str, Any]:
        """First join on ``url`` (``name=`` or ``hostToken=``); keeps the token."""
        await self._open(url)
        reply = await self.call("join", {"quizId": self.quiz_id, **how})
        assert reply["type"] == "joined", (self.name, reply)
        self.joined = reply["payload"]
        self.token = reply["payload"]["resumeToken"]
        self.is_host = reply["payload"]["role"] == "host"
        return reply["payload"]

    async def resume(self, timeout: float = RESUME_TIMEOUT_S, *, ended_ok: bool = False) -> dict[str, Any]:
        """Join again with the token on any live node, honouring ``server_busy``.

        With ``ended_ok`` a refusal with ``quiz_ended`` raises ``QuizEnded`` (the quiz ended
        while we were away); otherwise any refusal but ``server_busy`` fails the test.
        """
        assert self.token is not None
        deadline = trio.current_time() + timeout
        errors: list[Any] = []
        while trio.current_time() < deadline:
            for url in self.urls():
                try:
                    await self._open(url)
                except (OSError, HandshakeError, ConnectionClosed) as exc:
                    errors.append((url, repr(exc)))
                    continue
                sent = trio.current_time()
                try:
                    reply = await self.call("join", {"quizId": self.quiz_id, "resumeToken": self.token}, timeout=15)
                except Closed as closed:
                    errors.append((url, f"closed {closed.code} while joining"))
                    self.attempts.append((url, sent, trio.current_time() - sent, f"closed {closed.code}"))
                    continue
                self.attempts.append(
                    (
                        url,
                        sent,
                        trio.current_time() - sent,
                        reply["type"] if reply["type"] == "joined" else reply["payload"],
                    )
                )
                if reply["type"] == "joined":
                    self.joined = reply["payload"]
                    self.resumes.append((url, trio.current_time(), reply["payload"]))
                    return reply["payload"]
                errors.append((url, reply["payload"]))
                code = reply["payload"]["code"]
                if code == "quiz_ended" and ended_ok:
                    await self.close()
                    raise QuizEnded(self.name)
                assert code == "server_busy", (self.name, url, reply)
                await self.close()
                await trio.sleep(reply["payload"].get("details", {}).get("retryAfterMs", 200) / 1000)
            await trio.sleep(0.05)
        raise AssertionError(f"{self.name} could not resume within {timeout} s: {errors[-6:]}")

    async def ensure(self, *, ended_ok: bool = False) -> None:
        """Resume if the current connection has been closed (reading what is pending first)."""
        if self.connected:
            # Notice a close that is already queued behind messages (which stay queued).
            assert self._inbox is not None
            while True:
                try:
                    self._pending.append(self._inbox.receive_nowait())
                except trio.WouldBlock:
                    break
            closes = [item for item in self._pending if isinstance(item, Closed)]
            if not closes:
                return
            # Closed: what arrived before the close is history now (kept in ``messages``).
            for item in self._pending:
                if not isinstance(item, Closed):
                    self.messages.append(item)
                    self._track(item)
            self._pending.clear()
            self.closed_code = closes[0].code if closes[0].code is not None else 1006
            self.closes.append(self.closed_code)
        await self.resume(ended_ok=ended_ok)

    async def until_ended(self, timeout: float = 20.0) -> dict[str, Any] | None:
        """The ``quiz_ended`` payload.  If the quiz moved (1012) and ended while this
        participant was away, the resume is refused with ``quiz_ended``: None."""
        with trio.fail_after(timeout):
            while True:
                try:
                    return (await self.expect("quiz_ended", timeout))["payload"]
                except Closed as closed:
                    if closed.code not in (1012, 1006):
                        raise
                try:
                    await self.resume(ended_ok=True)
                except QuizEnded:
                    return None

    # ------------------------------------------------------------------ playing
    async def answer(self, question_id: str, choice: int, timeout: float = 40.0) -> dict[str, Any]:
        """Answer until acknowledged, resuming as often as needed; the ack's payload."""
        with trio.fail_after(timeout):
            while True:
                await self.ensure()
                try:
                    reply = await self.call("answer", {"questionId": question_id, "choice": choice}, timeout=20)
                except Closed:
                    continue
                if await self._moved_not_ended(reply):
                    continue
                assert reply["type"] == "answer_result", (self.name, reply)
                self.acks[question_id] = reply["payload"]
                self.ack_log.append((trio.current_time(), reply["payload"]))
                return reply["payload"]

    async def host_next(self, index: int, want_phase: str, timeout: float = 40.0) -> None:
        """Host: ``next`` on question ``index`` until the quiz has left that state.

        ``want_phase`` is the phase the command moves to (``reveal`` closes question
        ``index``; ``question``/``ended`` ends its reveal).  After a resume the joined
        payload says whether an earlier ``next`` already took effect, so no question is
        ever skipped.
        """
        with trio.fail_after(timeout):
            while True:
                try:
                    await self.ensure(ended_ok=want_phase == "ended")
                except QuizEnded:
                    self.phase = "ended"
                    return
                if self._passed(index, want_phase):
                    return
                try:
                    reply = await self.call("next", {"questionIndex": index}, timeout=20)
                except Closed:
                    continue
                if await self._moved_not_ended(reply):
                    continue
                assert reply["type"] == "host_state", (self.name, reply)
                return

    async def _moved_not_ended(self, reply: dict[str, Any]) -> bool:
        """A command that races a hand-over is answered ``server_busy`` (retry); the 1012
        close usually follows at once.  The command is sent again (after the resume).
        ``quiz_ended`` is never an acceptable answer for a quiz that only moved."""
        if reply["type"] != "error" or reply["payload"]["code"] != "server_busy":
            return False
        self.busy_replies.append((trio.current_time(), reply))
        try:
            await self.wait_closed(timeout=2)
        except trio.TooSlowError:
            await trio.sleep(reply["payload"].get("details", {}).get("retryAfterMs", 500) / 1000)
        return True

    def _passed(self, index: int, want_phase: str) -> bool:
        phase, current = self.phase, self.question_index
        if phase == "ended" or current is None:
            return phase == "ended"
        if want_phase == "reveal":
            return current > index or (current == index and phase in ("reveal", "ended"))
        return current > index

    def check_resumes(self) -> None:
        """Every resume showed at least the score of every answer acknowledged before it."""
        for url, at, joined in self.resumes:
            promised = max((ack["score"] for t, ack in self.ack_log if t < at), default=0)
            assert joined["score"] >= promised, (self.name, url, joined, self.ack_log)

    @property
    def score(self) -> int:
        """The score of the last acknowledged answer (what the server promised)."""
        if not self.acks:
            return 0
        return max(ack["score"] for ack in self.acks.values())
