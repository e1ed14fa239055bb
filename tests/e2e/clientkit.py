"""A kit of raw WebSocket clients for the e2e tests (no quizd.client conveniences), and the helpers built on them."""

from __future__ import annotations

import json
import socket
from typing import Any

import trio
from wsproto import ConnectionType, WSConnection
from wsproto.events import AcceptConnection, RejectConnection, Request, TextMessage


class RawClient:
    """A WebSocket client on a plain socket: wsproto makes the bytes, we decide when to read."""

    def __init__(self, stream: trio.SocketStream, ws: WSConnection) -> None:
        self.stream = stream
        self.ws = ws
        self.events: list[Any] = []

    @classmethod
    async def connect(
        cls, address: str, *, rcvbuf: int | None = None, mss: int | None = None, path: str = "/ws"
    ) -> RawClient:
        host, port = address.rsplit(":", 1)
        sock = trio.socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        if rcvbuf is not None:  # before connect, so the window is small from the start
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        if mss is not None:  # small segments also keep the server's send buffer small
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_MAXSEG, mss)
        await sock.connect((host, int(port)))
        client = cls(trio.SocketStream(sock), WSConnection(ConnectionType.CLIENT))
        await client.stream.send_all(client.ws.send(Request(host=address, target=path)))
        with trio.fail_after(5):
            while True:
                data = await client.stream.receive_some(65536)
                assert data, "server closed during the handshake"
                client.ws.receive_data(data)
                for event in client.ws.events():
                    if isinstance(event, AcceptConnection):
                        client.events.extend(client.ws.events())
                        return client
                    assert not isinstance(event, RejectConnection), event

    async def send_json(self, msg_type: str, payload: dict[str, Any] | None = None, msg_id: Any = None) -> None:
        await self.stream.send_all(self.encode(msg_type, payload, msg_id))

    def encode(self, msg_type: str, payload: dict[str, Any] | None = None, msg_id: Any = None) -> bytes:
        envelope: dict[str, Any] = {"type": msg_type, "payload": payload or {}}
        if msg_id is not None:
            envelope["id"] = msg_id
        return self.ws.send(TextMessage(data=json.dumps(envelope)))

    async def recv_json(self, timeout: float = 5.0) -> dict[str, Any]:
        """The next text message (pings are noted, never answered)."""
        with trio.fail_after(timeout):
            while True:
                for i, event in enumerate(self.events):
                    if isinstance(event, TextMessage):
                        del self.events[i]  # other events (pings) stay on record
                        return json.loads(event.data)
                data = await self.stream.receive_some(65536)
                assert data, "server closed the connection"
                self.ws.receive_data(data)
                self.events.extend(self.ws.events())

    async def wait_server_close(self, timeout: float) -> None:
        """Read (never write) until the server closes the TCP connection."""
        with trio.fail_after(timeout):
            while True:
                try:
                    data = await self.stream.receive_some(65536)
                except trio.BrokenResourceError:  # reset: the server aborted with data unread
                    return
                if not data:
                    return
                self.ws.receive_data(data)
                self.events.extend(self.ws.events())

    async def aclose(self) -> None:
        await trio.aclose_forcefully(self.stream)


class BacklogClient(RawClient):
    """A ``RawClient`` that reads big backlogs: messages may arrive in fragments."""

    def __init__(self, *args: Any) -> None:
        super().__init__(*args)
        self._partial: list[str] = []

    async def pile_up_replies(self, rounds: int) -> None:
        """Send ``rounds`` batches of 500 ``get_leaderboard`` and read none of the replies:
        they pile up in the node's queue for this connection, far beyond the kernel's
        buffers, so a later frame (a ``question``) waits behind them."""
        batch = b"".join(self.encode("get_leaderboard", {}, i) for i in range(500))
        for _ in range(rounds):
            await self.stream.send_all(batch)

    async def recv_whole(self) -> dict[str, Any]:
        """The next complete text message."""
        while True:
            for i, event in enumerate(self.events):
                if isinstance(event, TextMessage):
                    del self.events[i]
                    self._partial.append(event.data)
                    if event.message_finished:
                        data, self._partial = "".join(self._partial), []
                        return json.loads(data)
                    break
            else:
                data_in = await self.stream.receive_some(65536)
                assert data_in, "server closed the connection"
                self.ws.receive_data(data_in)
                self.events.extend(self.ws.events())


async def join_and_drop(address: str, quiz_id: str, name: str) -> None:
    """Join as a new player over a bare wsproto socket, then drop the connection."""
    host, port = address.rsplit(":", 1)
    stream = await trio.open_tcp_stream(host, int(port))
    try:
        ws = WSConnection(ConnectionType.CLIENT)
        await stream.send_all(ws.send(Request(host=address, target="/ws")))
        frame = json.dumps({"type": "join", "id": 1, "payload": {"quizId": quiz_id, "name": name}})
        text = ""
        sent = False
        while True:
            data = await stream.receive_some(65536)
            assert data, "the node closed before answering the join"
            ws.receive_data(data)
            for event in ws.events():
                if isinstance(event, AcceptConnection) and not sent:
                    await stream.send_all(ws.send(TextMessage(frame)))
                    sent = True
                elif isinstance(event, TextMessage):
                    text += event.data
                    if event.message_finished:
                        message = json.loads(text)
                        text = ""
                        if message.get("re") == 1:
                            assert message["type"] == "joined", message
                            return
    finally:
        await stream.aclose()
