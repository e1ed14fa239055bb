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
from functools import partial
from pathlib import Path

import hypercorn.config
import hypercorn.trio
import trio

from quizd.config import Config
from quizd.config import ConfigError, load_config
from quizd.config import DefinitionSet, load_definitions
from quizd.gateway.server import Gateway
from quizd.http.app import ControlPlane
from quizd.http.bounds import bound_connections
from quizd.http.web import WebPages
from quizd.ops import gc_tuning, metrics
from quizd.ops.logging import set_level
from quizd.ops.sdnotify import Notifier, status_loop, watchdog_loop
from quizd.cluster.placement import ClusterPlacement
from quizd.game.phase import Phase
from quizd.game.names import NamePolicy
from quizd.placement import LocalPlacement, Placement, name_policy
from quizd.service import DefinitionCatalog, QuizService

log = logging.getLogger("quizd.node")

EXIT_OK = 0
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
        catalog = DefinitionCatalog(DefinitionSet(definitions={}, problems=()))
        # Shared by every quiz: a SIGHUP swaps its deny-list for all of them at once.
        self.names = name_policy(config)
        # The one choice between a single node and a cluster: everything else gets the placement.
        self.placement = self._placement(config, catalog, self.names)
        self.supervisor = self.placement.supervisor
        self.service = QuizService(self.placement, catalog)
        self.gateway = Gateway(config, self.placement.router)
        self.state = "starting"
        self.http_address: tuple[str, int] | None = None
        self.control_plane = ControlPlane(
            self.service,
            admin_token=config.admin_token,
            ready=lambda: None if self.state == "ready" else self.state,
            ws_url=self.ws_url,
            web_config=self.web_config,
        )

    @staticmethod
    def _placement(config: Config, catalog: DefinitionCatalog, names: NamePolicy) -> Placement:
        if not config.cluster.redis_url:
            return LocalPlacement(config, names=names)
        return ClusterPlacement(config, catalog.get, names)

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
        return {"wsUrl": ws.public_url or None, "wsPort": port, "wsTls": self.gateway.scheme == "wss",
                "names": str(self.names.mode)}

    async def load_definitions(self) -> DefinitionSet:
        directory = Path(self.config.quizzes.definitions_dir)
        definitions = await trio.to_thread.run_sync(load_definitions, directory)
        for problem in definitions.problems:
            log.error("quiz definition problem: %s", problem)
        return definitions

    async def run(self, task_status: trio.TaskStatus[Node] = trio.TASK_STATUS_IGNORED) -> int:
        self.service.replace_definitions(await self.load_definitions())
        if self.config.http.web:
            self.control_plane.web = await trio.to_thread.run_sync(WebPages.load)
        metrics.MAX_CONNECTIONS.set(self.config.websocket.max_connections)
        shutdown = trio.Event()
        with trio.open_signal_receiver(signal.SIGHUP, signal.SIGTERM, signal.SIGINT) as signals:
            async with trio.open_nursery() as nursery:
                await nursery.start(self.supervisor.run)
                ws_host, ws_port = await nursery.start(self.gateway.serve)
                binds = await nursery.start(
                    partial(hypercorn.trio.serve, self.control_plane, self._hypercorn_config(),
                            shutdown_trigger=shutdown.wait)
                )
                http = binds[0].split("://", 1)[1]
                host, _, port = http.rpartition(":")
                self.http_address = (host.strip("[]"), int(port))
                # In a cluster: READY only once this node is a member of the ring.
                info = {"node": self.config.node.id, "ws": self.ws_url(), "http": f"http://{http}"}
                await nursery.start(self.placement.run, info)
                nursery.start_soon(metrics.measure_event_loop_lag)
                gc_tuning.tune()
                nursery.start_soon(gc_tuning.collect_when_quiet, self._questions_open)
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

    async def _signals(self, signals: trio.abc.ReceiveChannel[int] | object) -> int:
        async for signum in signals:  # type: ignore[attr-defined]
            if signum == signal.SIGHUP:
                await self.reload()
                continue
            return await self.drain(signals)
        return EXIT_OK

    async def reload(self) -> None:
        """SIGHUP: reload quiz definitions (live quizzes keep theirs), the log level and
        the name deny-list (read by ``load_config`` in the worker thread)."""
        self.notifier.reloading()
        config_ok = True
        try:
            config = await trio.to_thread.run_sync(load_config, self.config.source)
            set_level(config.logging.level)
            self.names.use(config.name_denylist)
        except ConfigError as err:
            config_ok = False
            log.error("config reload: keeping the running settings: %s", err)
        definitions = await self.load_definitions()
        self.service.replace_definitions(merge_reloaded(self.service.definitions, definitions))
        result = "success" if config_ok and not definitions.problems else "failure"
        metrics.CONFIG_RELOADS.labels(result).inc()
        if result == "success":
            metrics.CONFIG_LAST_RELOAD_SUCCESS.set_to_current_time()
        log.info("definitions reloaded", extra={"definitions": len(self.service.definitions.definitions),
                                                 "problems": len(definitions.problems)})
        self.notifier.ready(self.describe())

    async def drain(self, signals: object) -> int:
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
                async for signum in signals:  # type: ignore[attr-defined]
                    if signum in (signal.SIGTERM, signal.SIGINT):
                        interrupted = True
                        nursery.cancel_scope.cancel()
                        return

            nursery.start_soon(second_signal)
            drain_s = self.config.node.drain_timeout_s
            deadline = trio.current_time() + drain_s
            # Tell systemd the stop takes this long (plus the end and close below).
            self.notifier.extend_timeout(drain_s + 20)
            with trio.move_on_at(deadline):
                while self.service.live_quizzes():
                    await trio.sleep(0.1)
            # A single node ends its quizzes; a cluster node hands them over (players resume).
            close = await self.placement.drain()
            self.gateway.close_all(close.code, close.reason)
            with trio.move_on_after(5):
                while self.gateway.sessions:
                    await trio.sleep(0.05)
            nursery.cancel_scope.cancel()
        if interrupted:
            log.warning("second signal during drain: exiting now")
            return EXIT_INTERRUPTED
        log.info("drained; exiting")
        return EXIT_OK


async def run_node(config: Config) -> int:
    return await Node(config).run()


def serve(config: Config) -> int:
    try:
        return trio.run(run_node, config)
    except KeyboardInterrupt:  # pragma: no cover - signals are handled inside
        return EXIT_INTERRUPTED


if __name__ == "__main__":  # pragma: no cover
    sys.exit(serve(load_config(None)))
