"""sd_notify against a real node: the test owns the notify socket, like systemd would."""

from __future__ import annotations

import os
import signal
import socket
import time
from pathlib import Path

import pytest
import trio
from trio_websocket import ConnectionClosed

from quizd.client import ControlClient, connect
from quizd.ops.sdnotify import Notifier
from tests.nodekit import quiz_toml


def _receive_all(sock: socket.socket, until: float) -> list[dict[str, str]]:
    messages = []
    sock.settimeout(0.05)
    while time.monotonic() < until:
        try:
            data = sock.recv(4096)
        except (TimeoutError, BlockingIOError):
            continue
        messages.append(dict(line.split("=", 1) for line in data.decode().splitlines()))
    return messages


def _wait_for(sock: socket.socket, key: str, timeout: float = 10.0) -> list[dict[str, str]]:
    deadline = time.monotonic() + timeout
    seen: list[dict[str, str]] = []
    sock.settimeout(0.1)
    while time.monotonic() < deadline:
        try:
            data = sock.recv(4096)
        except TimeoutError:
            continue
        seen.append(dict(line.split("=", 1) for line in data.decode().splitlines()))
        if key in seen[-1]:
            return seen
    raise AssertionError(f"no {key} within {timeout}s; got {seen}")


@pytest.fixture
def notify_socket(tmp_path: Path):
    path = tmp_path / "notify.sock"
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(str(path))
    yield path, sock
    sock.close()


def test_silent_without_notify_socket():
    notifier = Notifier(environ={})
    assert not notifier.enabled
    assert notifier.send(READY=1) is False


def test_abstract_socket_names_start_with_at():
    name = f"quizd-test-{os.getpid()}"
    server = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    server.bind(b"\0" + name.encode())
    notifier = Notifier(environ={"NOTIFY_SOCKET": "@" + name})
    try:
        assert notifier.send(READY=1)
        assert server.recv(100) == b"READY=1"
    finally:
        notifier.close()
        server.close()


def test_watchdog_interval_is_half_and_only_for_our_pid():
    assert Notifier(environ={"WATCHDOG_USEC": "2000000"}).watchdog_interval_s == 1.0
    assert Notifier(environ={"WATCHDOG_USEC": "2000000", "WATCHDOG_PID": "1"}).watchdog_interval_s is None
    assert Notifier(environ={}).watchdog_interval_s is None


async def test_node_lifecycle_under_systemd_notify(node_factory, notify_socket):
    path, sock = notify_socket
    node = node_factory(
        definitions={"q": quiz_toml("q", questions=3)},
        env={"NOTIFY_SOCKET": str(path), "WATCHDOG_USEC": "400000"},
        node={"drain_timeout_s": 1},
    )
    seen = _wait_for(sock, "READY")
    ready = next(m for m in seen if "READY" in m)
    assert "STATUS" in ready and "players" in ready["STATUS"]
    # READY comes after both listeners accept: they answer right away.
    control = ControlClient(node.http_url, node.token)
    status, _ = await control.request("GET", "/readyz")
    assert status == 200
    pings = [m for m in _receive_all(sock, time.monotonic() + 0.7) if "WATCHDOG" in m]
    assert len(pings) >= 2, "watchdog pings every WATCHDOG_USEC/2"

    node.signal(signal.SIGHUP)
    seen = _wait_for(sock, "READY")
    reloading = [m for m in seen if "RELOADING" in m]
    assert reloading and int(reloading[0]["MONOTONIC_USEC"]) > 0
    assert seen.index(reloading[0]) < max(i for i, m in enumerate(seen) if "READY" in m)

    created = await control.create_quiz("q")
    async with connect(node.ws_url) as host, connect(node.ws_url) as player:
        await host.join(created["quizId"], hostToken=created["hostToken"])
        await player.join(created["quizId"], name="Ann")
        await host.request("start")
        await player.expect("question")
        node.signal(signal.SIGTERM)
        stopping = _wait_for(sock, "STOPPING")
        assert any("EXTEND_TIMEOUT_USEC" in m for m in stopping + _receive_all(sock, time.monotonic() + 0.3))
        # Single node, no Redis: the unfinished quiz ends with its standings, players get 4004.
        ended = await player.expect("quiz_ended", timeout=10)
        assert "you" in ended["payload"]
        with pytest.raises(ConnectionClosed) as closed:
            with trio.fail_after(10):
                while True:
                    await player.recv()
        assert closed.value.reason.code == 4004
    assert await trio.to_thread.run_sync(node.wait, 15) == 0
    assert (node.results_dir / f"{created['quizId']}.json").exists()
