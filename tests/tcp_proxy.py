"""A small Trio TCP proxy that a test controls, to cut a link it owns.

``TcpProxy(target_port)`` listens on a free loopback port and forwards every connection
to ``127.0.0.1:target_port`` (``target`` may be changed before the next connection).
Run it in the test's nursery (``await nursery.start(proxy.run)``), or in a thread of its
own with ``ProxyThread`` for synchronous tests (the browser tests), and point a client at
it: a node's ``redis_url`` at ``proxy.url`` (cuts a node off from Redis), or a node's
``[websocket] public_url`` at ``proxy.ws_url`` (cuts browsers off from the node).  Then:

* ``cut("reset")``: every open connection is reset (RST) and new ones are accepted and
  reset at once: the node sees ``connection refused/reset`` errors immediately;
* ``cut("blackhole")``: nothing is forwarded any more in either direction and new
  connections are accepted but never reach Redis: the node's calls hang until its socket
  timeouts, like a network partition that silently drops packets;
* ``heal()``: the connections held during the cut are reset (whatever was in flight is
  dropped, as a partition would) and new connections are forwarded again;
* ``delay_s``: while forwarding, every chunk waits that long in each direction (a slow
  link: a Redis round trip takes at least ``2 * delay_s``).
"""

from __future__ import annotations

import socket
import struct
import threading
from typing import Any

import trio

BUFSIZE = 65536


def _reset(stream: trio.SocketStream) -> None:
    """Close with RST (SO_LINGER 0) rather than FIN, like a dead path would look."""
    try:
        stream.socket.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    except OSError:
        pass
    stream.socket.close()


class _Link:
    """One proxied connection: its cancel scope and its sockets."""

    def __init__(self, client: trio.SocketStream) -> None:
        self.scope = trio.CancelScope()
        self.streams = [client]


class TcpProxy:
    def __init__(self, target_port: int, target_host: str = "127.0.0.1") -> None:
        self.target = (target_host, target_port)
        self.port: int | None = None
        self.mode = "forward"  # forward | reset | blackhole
        self._live: set[_Link] = set()
        self._changed = trio.Event()
        self.accepted = 0
        self.delay_s = 0.0

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    @property
    def ws_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/ws"

    async def run(self, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        listeners = await trio.open_tcp_listeners(0, host="127.0.0.1")
        self.port = listeners[0].socket.getsockname()[1]
        async with trio.open_nursery() as nursery:
            task_status.started()
            await trio.serve_listeners(self._handle, listeners, handler_nursery=nursery)

    # ------------------------------------------------------------------ control
    def cut(self, mode: str = "reset") -> None:
        assert mode in ("reset", "blackhole"), mode
        self.mode = mode
        if mode == "reset":
            self._drop_all()
        self._signal()

    def heal(self) -> None:
        self.mode = "forward"
        self._drop_all()  # connections held through a blackhole are dead now
        self._signal()

    def _drop_all(self) -> None:
        for link in list(self._live):
            for stream in link.streams:
                _reset(stream)
            link.scope.cancel()
        self._live.clear()

    def _signal(self) -> None:
        self._changed.set()
        self._changed = trio.Event()

    # ------------------------------------------------------------------ connections
    async def _handle(self, client: trio.SocketStream) -> None:
        self.accepted += 1
        link = _Link(client)
        streams = link.streams
        self._live.add(link)
        try:
            with link.scope:
                if self.mode == "reset":
                    _reset(client)
                    return
                while self.mode == "blackhole":
                    await self._changed.wait()  # held, never forwarded; heal() resets it
                try:
                    upstream = await trio.open_tcp_stream(*self.target)
                except OSError:
                    _reset(client)
                    return
                streams.append(upstream)
                async with trio.open_nursery() as nursery:
                    nursery.start_soon(self._pump, client, upstream, nursery.cancel_scope)
                    nursery.start_soon(self._pump, upstream, client, nursery.cancel_scope)
        finally:
            self._live.discard(link)
            for stream in streams:
                try:
                    stream.socket.close()
                except OSError:
                    pass

    async def _pump(self, source: trio.SocketStream, sink: trio.SocketStream, done: trio.CancelScope) -> None:
        try:
            while True:
                data = await source.receive_some(BUFSIZE)
                if not data:
                    break
                while self.mode == "blackhole":
                    await self._changed.wait()  # the bytes are held (and dropped by heal())
                if self.mode != "forward":
                    break
                if self.delay_s:
                    await trio.sleep(self.delay_s)
                await sink.send_all(data)
        except (trio.BrokenResourceError, trio.ClosedResourceError, OSError):
            pass
        done.cancel()


class ProxyThread:
    """A ``TcpProxy`` on its own Trio loop in a thread, for tests that are not async.

    ``with ProxyThread(target_port) as proxy:`` starts it; ``proxy.cut()``,
    ``proxy.heal()`` and ``proxy.retarget(port)`` run on the proxy's loop and return once
    done; leaving the block stops it.
    """

    def __init__(self, target_port: int = 0) -> None:
        self.proxy = TcpProxy(target_port)
        self._ready = threading.Event()
        self._token: trio.lowlevel.TrioToken | None = None
        self._stop: trio.Event | None = None
        self._thread = threading.Thread(target=trio.run, args=(self._main,), daemon=True)

    async def _main(self) -> None:
        self._stop = trio.Event()
        async with trio.open_nursery() as nursery:
            await nursery.start(self.proxy.run)
            self._token = trio.lowlevel.current_trio_token()
            self._ready.set()
            await self._stop.wait()
            nursery.cancel_scope.cancel()

    def __enter__(self) -> ProxyThread:
        self._thread.start()
        if not self._ready.wait(10):
            raise RuntimeError("the proxy did not start")
        return self

    def __exit__(self, *exc: Any) -> None:
        assert self._stop is not None
        self._call(self._stop.set)
        self._thread.join(10)

    def _call(self, fn: Any, *args: Any) -> Any:
        return trio.from_thread.run_sync(fn, *args, trio_token=self._token)

    @property
    def port(self) -> int:
        assert self.proxy.port is not None
        return self.proxy.port

    @property
    def ws_url(self) -> str:
        return self.proxy.ws_url

    @property
    def accepted(self) -> int:
        return self.proxy.accepted

    def retarget(self, port: int) -> None:
        self._call(setattr, self.proxy, "target", ("127.0.0.1", port))

    def cut(self, mode: str = "reset") -> None:
        self._call(self.proxy.cut, mode)

    def heal(self) -> None:
        self._call(self.proxy.heal)
