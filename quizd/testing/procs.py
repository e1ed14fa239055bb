"""Real processes for tests and benchmarks: quizd nodes and redis-server on loopback.

* ``free_port`` asks the kernel for a free loopback TCP port;
* ``read_line`` waits for one whole stdout line of a child, with a deadline;
* ``NodeProcess`` is one ``python -m quizd serve --config FILE`` child: it is ready when
  it prints its ready line (``quizd ready node=… ws=… http=…``, docs/operations.md),
  which also says the ports it bound (a config may ask for port 0);
* ``RedisServer`` is one redis-server child in its own directory, listening on
  127.0.0.1 only, that keeps its port across restarts so clients find it again;
* ``SentinelGroup`` is a replicated Redis watched by Sentinel: one primary, one replica
  (``--replicaof``) and three ``redis-sentinel`` processes (Debian's ``redis-sentinel``
  package), each on a free loopback port, with short failover timings;
* ``PostgresServer`` is one PostgreSQL cluster (Debian's ``postgresql`` package:
  ``initdb`` and ``postgres`` under /usr/lib/postgresql/<ver>/bin) in a temporary
  directory, on a free loopback port, run as a non-root user when we are root.

Both stop with SIGTERM and a deadline, then SIGKILL; ``kill`` is the crash (SIGKILL
straight away).  A ``wrap`` callable may prefix the command line (the benchmark pins
processes to a core with ``taskset`` and ``nice``).
"""

from __future__ import annotations

import glob
import os
import pwd
import select
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import IO, Any

import attrs
import redis

REDIS_SERVER = shutil.which("redis-server")
REDIS_SENTINEL = shutil.which("redis-sentinel")
READY_PREFIX = "quizd ready "

Wrap = Callable[[list[str]], list[str]]


def _as_is(argv: list[str]) -> list[str]:
    return argv


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port that was free a moment ago (someone may still take it before us)."""
    with socket.socket() as sock:
        sock.bind((host, 0))
        port: int = sock.getsockname()[1]
        return port


def stop_process(process: subprocess.Popen[str] | subprocess.Popen[bytes], timeout: float) -> None:
    """SIGTERM, wait up to ``timeout``, then SIGKILL; nothing when it already exited."""
    if process.poll() is not None:
        return
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=5)


def read_line(process: subprocess.Popen[str], prefix: str, timeout: float) -> str:
    """The next complete stdout line of ``process`` that starts with ``prefix``.

    Only whole lines count: a long line can arrive in several reads and its first part
    is not the line yet.  What was read after the line is kept for the next call.
    Raises ``RuntimeError`` (with what was read) on timeout, EOF or exit.
    """
    assert process.stdout is not None
    end = time.monotonic() + timeout
    buf: str = getattr(process, "_procs_rest", "")
    fd = process.stdout.fileno()
    while True:
        while "\n" in buf:
            line, buf = buf.split("\n", 1)
            if line.startswith(prefix):
                process._procs_rest = buf  # type: ignore[attr-defined]
                return line
        if time.monotonic() >= end:
            break
        ready, _, _ = select.select([fd], [], [], 0.1)
        if ready:
            chunk = os.read(fd, 65536).decode()
            if not chunk:
                break
            buf += chunk
        elif process.poll() is not None:
            break
    process._procs_rest = buf  # type: ignore[attr-defined]
    raise RuntimeError(f"no {prefix!r} line within {timeout}s; got {buf[-2000:]!r}")


@attrs.frozen
class ReadyLine:
    """What a node's ready line says: its id and the addresses it listens on."""

    node_id: str
    ws_address: str
    http_address: str

    @classmethod
    def parse(cls, line: str) -> ReadyLine:
        fields = dict(part.split("=", 1) for part in line.split()[2:])
        return cls(node_id=fields["node"], ws_address=fields["ws"], http_address=fields["http"])

    @property
    def ws_port(self) -> int:
        return int(self.ws_address.rsplit(":", 1)[1])


class NodeProcess:
    """One ``python -m quizd serve --config FILE`` child process.

    ``start`` = ``launch`` + ``wait_ready``; the two halves are separate so that several
    nodes can boot at once.  stdout is read for the ready line; stderr (the node's log)
    goes to ``stderr_path``.
    """

    def __init__(
        self,
        config_path: Path,
        stderr_path: Path,
        *,
        python: str = sys.executable,
        env: Mapping[str, str] | None = None,
        wrap: Wrap = _as_is,
        cwd: Path | None = None,
    ) -> None:
        self.config_path = config_path
        self.stderr_path = stderr_path
        self.python = python
        self.env = env
        self.wrap = wrap
        self.cwd = cwd
        self._process: subprocess.Popen[str] | None = None
        self._ready: ReadyLine | None = None
        self._stderr: IO[str] | None = None

    # ------------------------------------------------------------------ lifecycle
    def launch(self) -> None:
        """Start the child; do not wait for it."""
        argv = [self.python, "-m", "quizd", "serve", "--config", str(self.config_path)]
        self._stderr = open(self.stderr_path, "w")  # noqa: SIM115 - closed with the process
        self._process = subprocess.Popen(
            self.wrap(argv),
            stdout=subprocess.PIPE,
            stderr=self._stderr,
            text=True,
            env={**os.environ, **self.env} if self.env else None,
            cwd=self.cwd,
        )

    def wait_ready(self, timeout: float) -> ReadyLine:
        """Wait for the ready line; on failure kill the child and raise with its log."""
        try:
            self._ready = ReadyLine.parse(read_line(self.process, READY_PREFIX, timeout))
        except RuntimeError as exc:
            self.kill()
            raise RuntimeError(f"quizd did not become ready ({exc}); its log:\n{self.log()}") from None
        return self._ready

    def start(self, timeout: float) -> ReadyLine:
        self.launch()
        return self.wait_ready(timeout)

    def signal(self, signum: int) -> None:
        self.process.send_signal(signum)

    def wait(self, timeout: float) -> int:
        return self.process.wait(timeout=timeout)

    def stop(self, timeout: float = 15) -> None:
        """SIGTERM (the node drains), then SIGKILL after ``timeout``."""
        if self._process is not None:
            stop_process(self._process, timeout)
        self._close_log()

    def kill(self) -> None:
        """A crash: SIGKILL, no drain."""
        if self._process is not None and self._process.poll() is None:
            self._process.kill()
            self._process.wait(timeout=10)
        self._close_log()

    def _close_log(self) -> None:
        """Close our ends (the stdout pipe, the log file) once the child is gone."""
        if self._process is None or self._process.poll() is None:
            return
        if self._process.stdout is not None and not self._process.stdout.closed:
            self._process.stdout.close()
        if self._stderr is not None:
            self._stderr.close()
            self._stderr = None

    # ------------------------------------------------------------------ facts
    @property
    def process(self) -> subprocess.Popen[str]:
        if self._process is None:
            raise RuntimeError("the node was not launched")
        return self._process

    @property
    def pid(self) -> int:
        return self.process.pid

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    @property
    def ready(self) -> ReadyLine:
        if self._ready is None:
            raise RuntimeError("the node is not ready yet")
        return self._ready

    @property
    def node_id(self) -> str:
        return self.ready.node_id

    @property
    def ws_address(self) -> str:
        return self.ready.ws_address

    @property
    def http_address(self) -> str:
        return self.ready.http_address

    @property
    def ws_url(self) -> str:
        return f"ws://{self.ws_address}/ws"

    @property
    def http_url(self) -> str:
        return f"http://{self.http_address}"

    def log(self) -> str:
        try:
            return self.stderr_path.read_text()
        except OSError:
            return ""


class RedisServer:
    """redis-server on a free loopback port in ``directory``, started and stopped by us.

    The port is chosen once, so a server stopped or killed and started again is found at
    the same URL.  Only when the very first start fails (another process took the free
    port first) is a new port tried.
    """

    # Persistence flags; a subclass may ask for an fsync'ed append-only file.
    persistence: tuple[str, ...] = ("--save", "", "--appendonly", "no")
    START_TIMEOUT_S = 10.0
    PORT_ATTEMPTS = 3

    def __init__(
        self,
        directory: Path,
        *,
        extra_args: Sequence[str] = (),
        log_path: Path | None = None,
        wrap: Wrap = _as_is,
    ) -> None:
        self.directory = directory
        self.extra_args = tuple(extra_args)
        self.log_path = log_path
        self.wrap = wrap
        self.port = free_port()
        self.process: subprocess.Popen[bytes] | None = None
        self._has_run = False
        self._clients: list[redis.Redis] = []

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    def client(self) -> redis.Redis:
        """A client of this server; ``stop()`` closes it (it reconnects if used again).

        A client dropped unclosed leaves its pooled socket to the garbage collector,
        which may run during a later test (a ResourceWarning there).
        """
        client = redis.Redis(port=self.port)
        self._clients.append(client)
        return client

    def close_clients(self) -> None:
        for client in self._clients:
            try:
                client.close()
            except Exception:
                pass
        self._clients.clear()

    def ping(self) -> bool:
        """True once the server answers PING (not while it still loads its data)."""
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=0.5) as sock:
                sock.sendall(b"PING\r\n")
                return sock.recv(64).startswith(b"+PONG")
        except OSError:
            return False

    def start(self) -> None:
        if REDIS_SERVER is None:
            raise RuntimeError("redis-server is not installed")
        self.directory.mkdir(parents=True, exist_ok=True)
        for _ in range(1 if self._has_run else self.PORT_ATTEMPTS):
            if self._try_start(REDIS_SERVER):
                self._has_run = True
                return
            self.stop()
            if not self._has_run:
                self.port = free_port()
        tail = self.log_path.read_text()[-1000:] if self.log_path and self.log_path.exists() else ""
        raise RuntimeError(f"redis-server did not start: {tail}")

    def _try_start(self, executable: str) -> bool:
        argv = [
            executable,
            "--port",
            str(self.port),
            "--bind",
            "127.0.0.1",
            *self.persistence,
            "--dir",
            str(self.directory),
            "--protected-mode",
            "yes",
            *self.extra_args,
        ]
        out: IO[bytes] | int = open(self.log_path, "ab") if self.log_path else subprocess.DEVNULL  # noqa: SIM115
        try:
            self.process = subprocess.Popen(self.wrap(argv), stdout=out, stderr=subprocess.STDOUT)
        finally:
            if not isinstance(out, int):
                out.close()  # the child has its own copy
        end = time.monotonic() + self.START_TIMEOUT_S
        while time.monotonic() < end and self.process.poll() is None:
            if self.ping():
                return True
            time.sleep(0.02)
        return False

    def stop(self) -> None:
        self.close_clients()
        if self.process is not None:
            stop_process(self.process, 10)
        self.process = None

    def kill(self) -> None:
        """A crash: SIGKILL, no shutdown work."""
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=10)
        self.process = None


class SentinelProcess:
    """One ``redis-sentinel`` with its own (rewritable) config file in ``directory``."""

    START_TIMEOUT_S = 10.0

    def __init__(
        self,
        directory: Path,
        service: str,
        primary_port: int,
        *,
        quorum: int,
        down_after_ms: int,
        failover_timeout_ms: int,
    ) -> None:
        self.directory = directory
        self.port = free_port()
        self.service = service
        self.primary_port = primary_port
        self.quorum = quorum
        self.down_after_ms = down_after_ms
        self.failover_timeout_ms = failover_timeout_ms
        self.process: subprocess.Popen[bytes] | None = None

    def client(self) -> redis.Redis:
        """A new client; the caller closes it (``with``)."""
        return redis.Redis(port=self.port, socket_timeout=2)

    def start(self) -> None:
        if REDIS_SENTINEL is None:
            raise RuntimeError("redis-sentinel is not installed (Debian package redis-sentinel)")
        self.directory.mkdir(parents=True, exist_ok=True)
        conf = self.directory / "sentinel.conf"
        conf.write_text(
            "\n".join(
                [
                    f"port {self.port}",
                    "bind 127.0.0.1",
                    "protected-mode no",
                    f"dir {self.directory}",
                    "sentinel announce-ip 127.0.0.1",
                    f"sentinel monitor {self.service} 127.0.0.1 {self.primary_port} {self.quorum}",
                    f"sentinel down-after-milliseconds {self.service} {self.down_after_ms}",
                    f"sentinel failover-timeout {self.service} {self.failover_timeout_ms}",
                    f"sentinel parallel-syncs {self.service} 1",
                    "",
                ]
            )
        )
        with open(self.directory / "sentinel.log", "ab") as out:
            self.process = subprocess.Popen([REDIS_SENTINEL, str(conf)], stdout=out, stderr=subprocess.STDOUT)
        end = time.monotonic() + self.START_TIMEOUT_S
        while time.monotonic() < end and self.process.poll() is None:
            try:
                with self.client() as client:
                    client.ping()
                return
            except redis.RedisError:
                time.sleep(0.05)
        raise RuntimeError(f"redis-sentinel did not start: {self.log()[-1000:]}")

    def log(self) -> str:
        path = self.directory / "sentinel.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def stop(self) -> None:
        if self.process is not None:
            stop_process(self.process, 10)
        self.process = None


class SentinelGroup:
    """A primary, a replica and three Sentinels (quorum 2) watching them as ``service``.

    ``url`` is what a node's ``[cluster] redis_url`` takes.  ``servers`` are both data
    nodes by port; which one is the primary changes with a failover, so ask
    ``primary_port`` (the Sentinels' answer) rather than remembering it.
    """

    def __init__(
        self,
        directory: Path,
        *,
        service: str = "mymaster",
        down_after_ms: int = 1000,
        failover_timeout_ms: int = 3000,
        timeout_s: float = 20.0,
    ) -> None:
        self.directory = directory
        self.service = service
        self.timeout_s = timeout_s
        self.primary = RedisServer(directory / "primary", log_path=directory / "primary.log")
        self.replica = RedisServer(
            directory / "replica",
            log_path=directory / "replica.log",
            extra_args=("--replicaof", "127.0.0.1", str(self.primary.port)),
        )
        self.sentinels = [
            SentinelProcess(
                directory / f"sentinel{i}",
                service,
                self.primary.port,
                quorum=2,
                down_after_ms=down_after_ms,
                failover_timeout_ms=failover_timeout_ms,
            )
            for i in range(3)
        ]

    @property
    def url(self) -> str:
        hosts = ",".join(f"127.0.0.1:{s.port}" for s in self.sentinels)
        return f"redis+sentinel://{hosts}/{self.service}"

    @property
    def servers(self) -> dict[int, RedisServer]:
        return {self.primary.port: self.primary, self.replica.port: self.replica}

    def start(self) -> None:
        (self.directory / "primary").mkdir(parents=True, exist_ok=True)
        self.primary.start()
        self.replica.start()
        self._until(lambda: self._link_up(self.replica.port), "the replica to sync")
        for sentinel in self.sentinels:
            sentinel.start()
        # Ready when every Sentinel knows the replica and the two other Sentinels.
        self._until(self._sentinels_agree, "the Sentinels to find each other and the replica")

    def _until(self, ready: Callable[[], bool], what: str, timeout: float | None = None) -> None:
        end = time.monotonic() + (timeout or self.timeout_s)
        while time.monotonic() < end:
            try:
                if ready():
                    return
            except redis.RedisError:
                pass
            time.sleep(0.1)
        raise RuntimeError(f"timed out waiting for {what}")

    @staticmethod
    def _replication(port: int) -> dict[str, Any]:
        with redis.Redis(port=port, socket_timeout=1) as client:
            info: dict[str, Any] = client.info("replication")
            return info

    def _link_up(self, port: int) -> bool:
        info = self._replication(port)
        return info.get("role") == "slave" and info.get("master_link_status") == "up"

    def _sentinels_agree(self) -> bool:
        for sentinel in self.sentinels:
            with sentinel.client() as client:
                state = client.sentinel_master(self.service)
            if int(state["num-slaves"]) < 1 or int(state["num-other-sentinels"]) < 2:
                return False
        return True

    def _named_primaries(self) -> list[int]:
        ports = []
        for sentinel in self.sentinels:
            try:
                with sentinel.client() as client:
                    _host, port = client.sentinel_get_master_addr_by_name(self.service)
                ports.append(int(port))
            except (redis.RedisError, TypeError):
                continue
        return ports

    def primary_port(self) -> int:
        """The primary's port as the Sentinels' majority names it now."""
        ports = self._named_primaries()
        return max(set(ports), key=ports.count)

    def primary_client(self) -> redis.Redis:
        """A new client of the primary; the caller closes it (``with``)."""
        return redis.Redis(port=self.primary_port(), socket_timeout=2)

    def wait_promoted(self, old_port: int, timeout: float | None = None) -> int:
        """Until every Sentinel names a primary other than ``old_port`` that says it is one."""

        def promoted() -> bool:
            named = self._named_primaries()
            if len(named) < len(self.sentinels) or old_port in named:
                return False
            return bool(self._replication(self.primary_port())["role"] == "master")

        self._until(promoted, "a replica to be promoted", timeout)
        return self.primary_port()

    def wait_replica_of(self, port: int, primary_port: int, timeout: float | None = None) -> None:
        """Until the server on ``port`` replicates ``primary_port`` and is in sync."""

        def synced() -> bool:
            info = self._replication(port)
            return (
                info.get("role") == "slave"
                and int(info.get("master_port", 0)) == primary_port
                and info.get("master_link_status") == "up"
            )

        self._until(synced, f"the server on {port} to replicate {primary_port}", timeout)

    def stop(self) -> None:
        for sentinel in self.sentinels:
            sentinel.stop()
        self.replica.stop()
        self.primary.stop()


def postgres_bin_dir() -> Path | None:
    """The newest /usr/lib/postgresql/<ver>/bin that has ``initdb`` (Debian's layout)."""
    found = [Path(p).parent for p in glob.glob("/usr/lib/postgresql/*/bin/initdb")]
    found.sort(key=lambda p: int(p.parent.name) if p.parent.name.isdigit() else 0)
    return found[-1] if found else None


class PostgresServer:
    """A throwaway PostgreSQL server: ``initdb`` once, then ``postgres`` started and stopped.

    Everything lives in a fresh temporary directory (data, unix sockets, log) that
    ``cleanup`` removes.  The server listens on 127.0.0.1 at a port chosen once, so a
    stopped server started again is found at the same URL.  ``initdb`` and ``postgres``
    refuse to run as root, so as root they run as ``nobody``, owning the directory.
    Authentication is ``trust`` on loopback; the superuser is ``quizd``.  Durability
    is off (``fsync``), which a test server does not need.
    """

    SUPERUSER = "quizd"
    START_TIMEOUT_S = 30.0
    RUN_AS = "nobody"

    def __init__(self, *, base: Path | None = None) -> None:
        bin_dir = postgres_bin_dir()
        if bin_dir is None:
            raise RuntimeError("PostgreSQL is not installed (Debian package postgresql)")
        self.bin_dir = bin_dir
        self.directory = Path(tempfile.mkdtemp(prefix="quizd-pg-", dir=base))
        self.data = self.directory / "data"
        self.log_path = self.directory / "postgres.log"
        self.port = free_port()
        self.process: subprocess.Popen[bytes] | None = None
        self._user: pwd.struct_passwd | None = pwd.getpwnam(self.RUN_AS) if os.geteuid() == 0 else None
        if self._user is not None:
            os.chown(self.directory, self._user.pw_uid, self._user.pw_gid)
        self._initialised = False

    @property
    def url(self) -> str:
        """The server's ``postgres`` database (create others with ``create_database``)."""
        return self.database_url("postgres")

    def database_url(self, name: str) -> str:
        return f"postgresql://{self.SUPERUSER}@127.0.0.1:{self.port}/{name}"

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    def _as_user(self) -> tuple[int | None, int | None, list[int] | None, dict[str, str] | None]:
        """``user``, ``group``, ``extra_groups`` and ``env`` for subprocess: ours, or the run-as user's."""
        if self._user is None:
            return None, None, None, None
        return self._user.pw_uid, self._user.pw_gid, [], {**os.environ, "HOME": str(self.directory)}

    def _initdb(self) -> None:
        user, group, extra_groups, env = self._as_user()
        subprocess.run(
            [
                str(self.bin_dir / "initdb"),
                "-D",
                str(self.data),
                "-U",
                self.SUPERUSER,
                "--auth=trust",
                "--encoding=UTF8",
                "--locale=C.UTF-8",
                "--no-sync",
            ],
            check=True,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            cwd=self.directory,
            user=user,
            group=group,
            extra_groups=extra_groups,
            env=env,
        )
        self._initialised = True

    def ping(self) -> bool:
        """True once the server accepts connections."""
        import psycopg

        try:
            with psycopg.connect(self.url, connect_timeout=1):
                return True
        except psycopg.Error:
            return False

    def start(self) -> None:
        if not self._initialised:
            self._initdb()
        argv = [
            str(self.bin_dir / "postgres"),
            "-D",
            str(self.data),
            "-p",
            str(self.port),
            "-h",
            "127.0.0.1",
            "-k",
            str(self.directory),
            "-c",
            "fsync=off",
            "-c",
            "full_page_writes=off",
            "-c",
            "synchronous_commit=off",
            "-c",
            "max_connections=100",
        ]
        with open(self.log_path, "ab") as out:
            if self._user is not None:
                os.chown(self.log_path, self._user.pw_uid, self._user.pw_gid)
            user, group, extra_groups, env = self._as_user()
            self.process = subprocess.Popen(
                argv,
                stdout=out,
                stderr=subprocess.STDOUT,
                cwd=self.directory,
                user=user,
                group=group,
                extra_groups=extra_groups,
                env=env,
            )
        end = time.monotonic() + self.START_TIMEOUT_S
        while time.monotonic() < end and self.process.poll() is None:
            if self.ping():
                return
            time.sleep(0.05)
        tail = self.log_path.read_text(errors="replace")[-2000:]
        self.kill()
        raise RuntimeError(f"postgres did not start: {tail}")

    def create_database(self, name: str) -> str:
        """Create database ``name`` and return its URL."""
        import psycopg
        from psycopg import sql

        with psycopg.connect(self.url, autocommit=True) as conn:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
        return self.database_url(name)

    def stop(self) -> None:
        """``pg_ctl stop -m fast``: clients are disconnected, the server shuts down cleanly."""
        if self.process is not None and self.process.poll() is None:
            user, group, extra_groups, env = self._as_user()
            subprocess.run(
                [str(self.bin_dir / "pg_ctl"), "-D", str(self.data), "stop", "-m", "fast", "-w"],
                check=False,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                user=user,
                group=group,
                extra_groups=extra_groups,
                env=env,
            )
            stop_process(self.process, 10)
        self.process = None

    def kill(self) -> None:
        """A crash: SIGKILL, no shutdown work."""
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=10)
        self.process = None

    def cleanup(self) -> None:
        """Stop the server and remove its directory."""
        self.stop()
        shutil.rmtree(self.directory, ignore_errors=True)
