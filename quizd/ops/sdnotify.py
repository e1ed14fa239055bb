"""systemd's notify protocol (``sd_notify``) without a dependency.

The protocol is one datagram of ``KEY=VALUE`` lines sent to the ``AF_UNIX`` socket
named in ``$NOTIFY_SOCKET`` (a name starting with ``@`` is in the abstract namespace).
Without ``NOTIFY_SOCKET`` every call is silent, so the node behaves the same under
systemd, in a terminal and in tests.

The watchdog ping is sent by a task on the Trio loop itself: if the loop is stuck,
the pings stop and systemd restarts the node, which is the whole point of it.
"""

from __future__ import annotations

import logging
import os
import socket
import time
from collections.abc import Callable, Mapping

import trio

log = logging.getLogger("quizd.sdnotify")


class Notifier:
    def __init__(self, environ: Mapping[str, str] = os.environ) -> None:
        self._address: str | bytes | None = None
        path = environ.get("NOTIFY_SOCKET", "")
        if path:
            self._address = b"\0" + path[1:].encode() if path.startswith("@") else path
        self._socket: socket.socket | None = None
        self.watchdog_interval_s = _watchdog_interval(environ)

    @property
    def enabled(self) -> bool:
        return self._address is not None

    def send(self, **fields: object) -> bool:
        """Send ``KEY=value`` lines; True when a datagram went out."""
        if self._address is None:
            return False
        message = "\n".join(f"{key}={value}" for key, value in fields.items()).encode()
        try:
            if self._socket is None:
                self._socket = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC)
                self._socket.setblocking(False)
            self._socket.sendto(message, self._address)
            return True
        except OSError as exc:  # a missing or full socket must never take the node down
            log.warning("sd_notify failed: %s", exc)
            return False

    def ready(self, status: str | None = None) -> None:
        fields: dict[str, object] = {"READY": 1}
        if status:
            fields["STATUS"] = status
        self.send(**fields)

    def reloading(self) -> None:
        self.send(RELOADING=1, MONOTONIC_USEC=time.monotonic_ns() // 1000)

    def stopping(self, status: str = "draining") -> None:
        self.send(STOPPING=1, STATUS=status)

    def status(self, text: str) -> None:
        self.send(STATUS=text)

    def extend_timeout(self, seconds: float) -> None:
        self.send(EXTEND_TIMEOUT_USEC=int(seconds * 1_000_000))

    def watchdog(self) -> None:
        self.send(WATCHDOG=1)

    def close(self) -> None:
        if self._socket is not None:
            self._socket.close()
            self._socket = None


def _watchdog_interval(environ: Mapping[str, str]) -> float | None:
    """Half of ``WATCHDOG_USEC`` (systemd's advice), if the watchdog is meant for us."""
    usec = environ.get("WATCHDOG_USEC", "")
    pid = environ.get("WATCHDOG_PID", "")
    if not usec.isdigit() or int(usec) == 0:
        return None
    if pid and pid.isdigit() and int(pid) != os.getpid():
        return None
    return int(usec) / 1_000_000 / 2


async def watchdog_loop(notifier: Notifier) -> None:
    """Ping the watchdog from the event loop, at half of ``WATCHDOG_USEC``."""
    interval = notifier.watchdog_interval_s
    if interval is None or not notifier.enabled:
        return
    while True:
        notifier.watchdog()
        await trio.sleep(interval)


async def status_loop(notifier: Notifier, describe: Callable[[], str], interval_s: float = 5.0) -> None:
    """Keep ``systemctl status`` showing players, live quizzes and connections."""
    if not notifier.enabled:
        return
    last = ""
    while True:
        text = describe()
        if text != last:
            notifier.status(text)
            last = text
        await trio.sleep(interval_s)
