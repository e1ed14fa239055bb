"""The composition root: one node = supervisor + gateway + control plane + signals.

``run_node`` reads nothing but the ``Config`` it is given; the CLI loads the file.
Start-up order matters for readiness: the supervisor first, then the WebSocket
listener, then the HTTP listener; ``/readyz`` turns 200 (and the ready line is
printed) only once both listeners accept.
"""

from __future__ import annotations

import logging
import signal
import sys
from collections.abc import AsyncIterator
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, cast

import hypercorn.config
import hypercorn.trio
import trio

from quizd.catalog import DefinitionCatalog
from quizd.cluster.coordination import DuplicateNodeId
from quizd.cluster.placement import ClusterPlacement
from quizd.config import Config, ConfigError, DefinitionSet, load_config, load_definitions
from quizd.game.names import NamePolicy
from quizd.game.phase import Phase
from quizd.gateway.server import Gateway
from quizd.http.app import ControlPlane
from quizd.http.bounds import bound_connections
from quizd.http.web import WebPages
from quizd.ops import gc_tuning, metrics
from quizd.ops.logging import set_level
from quizd.ops.sdnotify import Notifier, status_loop, watchdog_loop
from quizd.placement import LocalPlacement, Placement, name_policy
from quizd.service import QuizService
from quizd.store.runtime import Store, StoreNotReady, open_store
from quizd.webhooks.outbox import Outbox
from quizd.webhooks.sender import WebhookSender

if TYPE_CHECKING:
    from hypercorn.typing import ASGIFramework

log = logging.getLogger("quizd.node")

EXIT_OK = 0
EXIT_FAILURE = 1
EXIT_INTERRUPTED = 130


def merge_reloaded(old: DefinitionSet, new: DefinitionSet) -> DefinitionSet:
    """A reload with broken files keeps the old definitions the new set lacks."""
    if not new.problems:
        return new
    merged = dict(old.definitions)
    merged.update(new.definitions)
    return DefinitionSet(definitions=merged, problems=new.problems)


class Node:
    def __init__(self, config: Config, notifier: Notifier | None = None) -> None:
        self.config = config
        self.notifier = notifier or Notifier()
        # [storage]: the database and its batch writer (None for url = "none"); nothing connects yet.
        self.store = open_store(config.storage, config.source, Outbox(config.webhooks) if config.webhooks else None)
        catalog = DefinitionCatalog(
            DefinitionSet(definitions={}, problems=()), self.store.database if self.store else None
        )
        # Shared by every quiz: a SIGHUP swaps its deny-list for all of them at once.
        self.names = name_policy(config)
        # The one choice between a single node and a cluster: everything else gets the placement.
        self.placement = self._placement(config, catalog, self.store, self.names)
        self.supervisor = self.placement.supervisor
        self.service = QuizService(self.placement, catalog, self.store)
        self.gateway = Gateway(config, self.placement.router)
        self.state = "starting"
        self.http_address: tuple[str, int] | None = None
        self.control_plane = ControlPlane(
            self.service,
            admin_token=config.admin_token,
            ready=lambda: None if self.state == "ready" else self.state,
            ws_url=self.ws_url,
            web_config=self.web_config,
            store=self.store,
        )

    @staticmethod
    def _placement(config: Config, catalog: DefinitionCatalog, store: Store | None, names: NamePolicy) -> Placement:
        if not config.cluster.redis_url:
            return LocalPlacement(config, store=store, names=names)
        if config.storage.kind != "postgresql":
            log.warning(
                "[storage] a cluster should share one PostgreSQL database (quizd check-config refuses "
                "%s): the results this node keeps are reported by this node only",
                config.storage.kind,
            )
        return ClusterPlacement(config, catalog.resolve, store, names)

    def ws_url(self) -> str:
        ws = self.config.websocket
        if ws.public_url:
            return ws.public_url
        host, port = self.gateway.address or (ws.host, ws.port)
        if ":" in host:
            host = f"[{host}]"
        return f"{self.gateway.scheme}://{host}:{port}/ws"

    def web_config(self) -> dict[str, object]:
        """What the browser pages need to find the WebSocket (``/web/config.json``): the
        configured ``public_url``, else the port and scheme, which the page joins to the
        host name it was itself loaded from (a bound 0.0.0.0 means nothing to a browser)."""
        ws = self.config.websocket
        port = self.gateway.address[1] if self.gateway.address else ws.port
        return {
            "wsUrl": ws.public_url or None,
            "wsPort": port,
            "wsTls": self.gateway.scheme == "wss",
            "names": str(self.names.mode),
        }

    async def load_definitions(self) -> DefinitionSet:
        directory = Path(self.config.quizzes.definitions_dir)
        definitions = await trio.to_thread.run_sync(load_definitions, directory)
        for problem in definitions.problems:
            log.error("quiz definition problem: %s", problem)
        return definitions

    async def _open_store(self) -> int | None:
        """``[storage]`` before anything listens: migrate (``auto_migrate``) or insist the
        schema is current.  The exit code when the node must not start, else None."""
        if self.store is None:
            return None
        try:
            await self.store.prepare()
        except StoreNotReady as exc:
            log.error("%s", exc)
            print(f"quizd: {exc}", file=sys.stderr, flush=True)
            self.store.database.dispose()
            return exc.exit_code
        return None

    async def run(self, task_status: trio.TaskStatus[Node] = trio.TASK_STATUS_IGNORED) -> int:
        refused = await self._open_store()
        if refused is not None:
            return refused
        try:
            return await self._run(task_status)
        finally:
            if self.store is not None:
                self.store.database.dispose()

    async def _run(self, task_status: trio.TaskStatus[Node]) -> int:
        self.service.replace_definitions(await self.load_definitions())
        if self.config.http.web:
            self.control_plane.web = await trio.to_thread.run_sync(WebPages.load)
        metrics.MAX_CONNECTIONS.set(self.config.websocket.max_connections)
        shutdown = trio.Event()
        with trio.open_signal_receiver(signal.SIGHUP, signal.SIGTERM, signal.SIGINT) as signals:
            async with trio.open_nursery() as nursery:
                if self.store is not None:
                    await nursery.start(self.store.writer.run)
                await nursery.start(self.supervisor.run)
                ws_host, ws_port = await nursery.start(self.gateway.serve)
                binds = await nursery.start(
                    # ControlPlane is an ASGI 3 app typed with our own Scope/Receive/Send (plain
                    # dicts); hypercorn's union of TypedDicts is narrower only on paper.
                    partial(
                        hypercorn.trio.serve,
                        cast("ASGIFramework", self.control_plane),
                        self._hypercorn_config(),
                        shutdown_trigger=shutdown.wait,
                    )
                )
                http = binds[0].split("://", 1)[1]
                host, _, port = http.rpartition(":")
                self.http_address = (host.strip("[]"), int(port))
                # In a cluster: READY only once this node is a member of the ring.
                info = {"node": self.config.node.id, "ws": self.ws_url(), "http": f"http://{http}"}
                await nursery.start(self.placement.run, info)
                nursery.start_soon(metrics.measure_event_loop_lag)
                self._start_webhooks(nursery)
                gc_tuning.tune()
                nursery.start_soon(gc_tuning.collect_when_quiet, self._timing_critical)
                nursery.start_soon(gc_tuning.collect_middle_when_quiet, self._questions_open, self._arriving)
                self.state = "ready"
                print(f"quizd ready node={self.config.node.id} ws={ws_host}:{ws_port} http={http}", flush=True)
                if self.control_plane.web is not None:
                    print(self._page_urls(), flush=True)
                self.notifier.ready(self.describe())
                nursery.start_soon(watchdog_loop, self.notifier)
                nursery.start_soon(status_loop, self.notifier, self.describe)
                log.info("node ready", extra={"node": self.config.node.id, "ws": f"{ws_host}:{ws_port}", "http": http})
                task_status.started(self)
                code = await self._signals(signals)
                shutdown.set()
                nursery.cancel_scope.cancel()
        return code

    def _start_webhooks(self, nursery: trio.Nursery) -> None:
        """``[[webhooks]]``: the sender task, which POSTs the outbox rows the batch writer
        wrote (nothing without endpoints, or with ``[storage] url = "none"``)."""
        if not self.config.webhooks:
            return
        if self.store is None:
            log.warning('webhooks: [storage] url = "none" keeps no outbox, so no webhook is sent')
            return
        sender = WebhookSender(self.store.database, self.config.webhooks, self.config.node.id)
        nursery.start_soon(sender.run)

    def _page_urls(self) -> str:
        """Where a person points a browser (a wildcard bind is reached on loopback)."""
        assert self.http_address is not None
        host, port = self.http_address
        if host in ("0.0.0.0", "::", ""):
            host = "127.0.0.1"
        scheme = "https" if self.config.http.tls_cert else "http"
        base = f"{scheme}://[{host}]:{port}" if ":" in host else f"{scheme}://{host}:{port}"
        return f"  host screen: {base}/host\n  player page: {base}/play"

    def _questions_open(self) -> bool:
        return any(actor.game.phase == Phase.QUESTION for actor in self.supervisor.actors.values())

    def _arriving(self) -> bool:
        return self.gateway.arriving(gc_tuning.ARRIVALS_QUIET_S)

    def _timing_critical(self) -> bool:
        """Whether players are waiting on the node now: a question is open (answers are
        timed), or players are arriving (a lobby filling up waits for its ``joined``).
        The full collection waits for neither; the young and middle ones are held while
        players arrive or a question is open, and collected when neither is the case, or
        before a question goes out (``gc_tuning.CollectionHold``)."""
        return self._arriving() or self._questions_open()

    def describe(self) -> str:
        """One line for ``systemctl status``."""
        players = sum(a.game.player_count for a in self.supervisor.actors.values())
        return (
            f"{self.state}: {players} players, {self.service.live_quizzes()} live quizzes, "
            f"{len(self.gateway.sessions)} connections"
        )

    def _hypercorn_config(self) -> hypercorn.config.Config:
        http = self.config.http
        hc = hypercorn.config.Config()
        host = f"[{http.host}]" if ":" in http.host else http.host
        hc.bind = [f"{host}:{http.port}"]
        hc.accesslog = None
        hc.errorlog = logging.getLogger("hypercorn.error")
        if http.tls_cert and http.tls_key:
            hc.certfile = http.tls_cert
            hc.keyfile = http.tls_key
        hc.graceful_timeout = 2.0
        bound_connections(hc)
        return hc

    async def _signals(self, signals: AsyncIterator[int]) -> int:
        async for signum in signals:
            if signum == signal.SIGHUP:
                await self.reload()
                continue
            return await self.drain(signals)
        return EXIT_OK

    async def reload(self) -> None:
        """SIGHUP: reload quiz definitions (live quizzes keep theirs), the log level and
        the name deny-list (read by ``load_config`` in the worker thread).

        A reload never takes the node down: a ``ConfigError`` is the expected failure,
        but any other exception from reading the config or the definitions is caught
        too (logged with its traceback, counted as a failed reload), because an escaped
        exception here would cancel every live quiz without writing its results.
        """
        self.notifier.reloading()
        config_ok = definitions_ok = True
        try:
            config = await trio.to_thread.run_sync(load_config, self.config.source)
            set_level(config.logging.level)
            self.names.use(config.name_denylist)
        except ConfigError as err:
            config_ok = False
            log.error("config reload: keeping the running settings: %s", err)
        except Exception:  # defence in depth, see the docstring
            config_ok = False
            log.exception("config reload failed unexpectedly: keeping the running settings")
        try:
            definitions = await self.load_definitions()
        except Exception:  # defence in depth, see the docstring
            definitions_ok = False
            log.exception("definitions reload failed unexpectedly: keeping the loaded definitions")
        else:
            definitions_ok = not definitions.problems
            self.service.replace_definitions(merge_reloaded(self.service.definitions, definitions))
            log.info(
                "definitions reloaded",
                extra={"definitions": len(self.service.definitions.definitions), "problems": len(definitions.problems)},
            )
        result = "success" if config_ok and definitions_ok else "failure"
        metrics.CONFIG_RELOADS.labels(result).inc()
        if result == "success":
            metrics.CONFIG_LAST_RELOAD_SUCCESS.set_to_current_time()
        self.notifier.ready(self.describe())

    async def drain(self, signals: AsyncIterator[int]) -> int:
        """SIGTERM/SIGINT: stop taking new work, let live quizzes finish, then end them.

        A second SIGTERM/SIGINT exits 130 at once.
        """
        log.info("draining", extra={"timeout_s": self.config.node.drain_timeout_s})
        self.state = "draining"
        self.placement.stop_taking_new()
        self.notifier.stopping(self.describe())
        self.gateway.draining = True
        self.service.draining = True
        interrupted = False
        async with trio.open_nursery() as nursery:

            async def second_signal() -> None:
                nonlocal interrupted
                async for signum in signals:
                    if signum in (signal.SIGTERM, signal.SIGINT):
                        interrupted = True
                        nursery.cancel_scope.cancel()
                        return

            nursery.start_soon(second_signal)
            drain_s = self.config.node.drain_timeout_s
            deadline = trio.current_time() + drain_s
            # Tell systemd the stop takes this long (plus the end, the store's writes and close below).
            self.notifier.extend_timeout(drain_s * (2 if self.store is not None else 1) + 20)
            with trio.move_on_at(deadline):
                while self.service.live_quizzes():
                    await trio.sleep(0.1)
            # A single node ends its quizzes; a cluster node hands them over (players resume).
            close = await self.placement.drain()
            self.gateway.close_all(close.code, close.reason)
            with trio.move_on_after(5):
                while self.gateway.sessions:
                    await trio.sleep(0.05)
            await self._drain_store(drain_s)
            nursery.cancel_scope.cancel()
        if interrupted:
            log.warning("second signal during drain: exiting now")
            return EXIT_INTERRUPTED
        log.info("drained; exiting")
        return EXIT_OK

    async def _drain_store(self, timeout: float) -> None:
        """What the quizzes recorded (their ends included) reaches the database, within ``timeout``."""
        if self.store is None:
            return
        if not await self.store.writer.drain(timeout):
            log.error("drain: %d store events could not be written in time; they are lost", self.store.writer.pending)


async def run_node(config: Config) -> int:
    return await Node(config).run()


def serve(config: Config) -> int:
    try:
        return trio.run(run_node, config)
    except KeyboardInterrupt:  # pragma: no cover - signals are handled inside
        return EXIT_INTERRUPTED
    except BaseExceptionGroup as group:
        duplicate, rest = group.split(DuplicateNodeId)
        if duplicate is None or rest is not None:
            raise
        # Already logged at error by the cluster manager; say it plainly on stderr too.
        print(f"quizd: {_first(duplicate)}", file=sys.stderr, flush=True)
        return EXIT_FAILURE


def _first(group: BaseException) -> BaseException:
    """The first leaf exception of a (nested) exception group."""
    while isinstance(group, BaseExceptionGroup):
        group = group.exceptions[0]
    return group


if __name__ == "__main__":  # pragma: no cover
    sys.exit(serve(load_config(None)))
