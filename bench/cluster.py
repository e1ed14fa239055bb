"""The cluster scenarios: redis-server and three quizd nodes, bursts and a kill -9 takeover."""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import time
from collections import Counter
from functools import partial
from pathlib import Path
from typing import Any

from bench.common import CLIENT_CPU, SERVER_CPU, TOKEN, core_busy, core_times, log, pinned, total_cpu_s
from bench.scenarios import scenario_load
from bench.servers import QuizdServer
from quizd.client import ControlClient
from quizd.loadgen.stats import median
from quizd.testing.procs import REDIS_SERVER, RedisServer

# ---------------------------------------------------------------------- cluster
# Three quizd nodes and one redis-server, all on the server core (core 0) like the single
# node, the clients on core 1: the same CPU budget, so cluster ÷ single node is the cost of
# the relay and the durable writes, not a scale-out figure (the nodes share one core).
CLUSTER_NODES = 3
CLUSTER_HEARTBEAT_MS = 200
CLUSTER_NODE_TIMEOUT_MS = 1000
CLUSTER_MAX_N = 5000  # the full run's time budget: 10,000 through the cluster would add minutes
PROBE_POLL_S = 0.05


class ClusterNode(QuizdServer):
    drain_timeout_s = 0

    def __init__(self, work: Path, settings: argparse.Namespace, node_id: str, redis_url: str) -> None:
        super().__init__(work, settings)
        self.node_id = node_id
        self.cluster_toml = (
            f'[cluster]\nredis_url = "{redis_url}"\nheartbeat_ms = {CLUSTER_HEARTBEAT_MS}\n'
            f"node_timeout_ms = {CLUSTER_NODE_TIMEOUT_MS}\n"
        )

    def metrics(self) -> dict[str, float]:
        _status, text = ControlClient(self.http_url, TOKEN, timeout=20).request_sync("GET", "/metrics", raw=True)
        out = {}
        for line in text.decode().splitlines():
            if line and not line.startswith("#"):
                name, _, value = line.rpartition(" ")
                try:
                    out[name] = float(value)
                except ValueError:
                    pass
        return out

    def metric(self, name: str) -> float | None:
        return self.metrics().get(name)

    def health(self) -> dict[str, Any]:
        """Moves and event-loop stalls so far: what a too-tight node_timeout_ms shows as."""
        out: dict[str, Any] = {}
        try:
            m = self.metrics()
            count = m.get("quizd_event_loop_lag_seconds_count", 0)
            out.update(
                {
                    "takeovers": m.get("quizd_cluster_takeovers_total"),
                    "handovers": m.get("quizd_cluster_handovers_total"),
                    "lag_samples": count,
                    "lag_over_0_5s": count - m.get('quizd_event_loop_lag_seconds_bucket{le="0.5"}', count),
                    "lag_over_1s": count - m.get('quizd_event_loop_lag_seconds_bucket{le="1.0"}', count),
                }
            )
        except OSError as exc:
            out["metrics_error"] = str(exc)
        warnings: Counter[str] = Counter()
        try:
            for line in (self.work / "quizd.stderr.log").read_text().splitlines():
                try:
                    rec = json.loads(line)
                    warnings[rec.get("msg", "?")[:80]] += 1
                except ValueError:
                    warnings[line[:80]] += 1
        except OSError:
            pass
        out["log"] = dict(warnings)
        return out


class Cluster:
    """redis-server + three quizd nodes (cluster mode), every process started and stopped here."""

    kind = "cluster"

    def __init__(self, work: Path, settings: argparse.Namespace) -> None:
        self.work = work
        self.settings = settings
        redis_dir = work / "redis"
        self.redis = RedisServer(
            redis_dir,
            extra_args=("--maxclients", "1000"),
            log_path=redis_dir / "redis.log",
            wrap=partial(pinned, SERVER_CPU),
        )
        self.nodes: list[ClusterNode] = []

    @property
    def ws_urls(self) -> list[str]:
        return [n.ws_url for n in self.nodes]

    @property
    def pids(self) -> list[int]:
        return [self.redis.pid, *(n.pid for n in self.nodes if n.proc is not None and n.proc.poll() is None)]

    def start(self) -> None:
        t0 = time.monotonic()
        self.redis.start()
        for i in range(CLUSTER_NODES):
            work = self.work / f"node{i}"
            work.mkdir(parents=True, exist_ok=True)
            node = ClusterNode(work, self.settings, f"bench-c{i}", self.redis.url)
            self.nodes.append(node)
            node.launch()
        for node in self.nodes:
            node.wait_ready(45)
        end = time.monotonic() + 30
        for node in self.nodes:
            while True:
                members = node.metric("quizd_cluster_members")
                if members is not None and members >= CLUSTER_NODES:
                    break
                if time.monotonic() > end:
                    raise RuntimeError(f"{node.node_id} sees {members} cluster members, not {CLUSTER_NODES}")
                time.sleep(0.1)
        self.start_s = round(time.monotonic() - t0, 2)

    def health(self) -> dict[str, Any]:
        return {n.node_id: n.health() for n in self.nodes if n.proc is not None and n.proc.poll() is None}

    def node(self, node_id: str) -> ClusterNode:
        return next(n for n in self.nodes if n.node_id == node_id)

    def new_quiz(self, definition: str) -> tuple[str, str]:
        return self.nodes[0].new_quiz(definition)

    def load_args(self, definition: str) -> list[str]:
        return self.nodes[0].load_args(definition)

    def owner_of(self, quiz_id: str, via: ClusterNode | None = None) -> str | None:
        via = via or self.nodes[0]
        try:
            status, body = via.control.request_sync("GET", f"/api/quizzes/{quiz_id}")
        except OSError:
            return None
        return body.get("node") if status == 200 and isinstance(body, dict) else None

    def stop(self) -> None:
        # SIGTERM to every live node at once (drain_timeout_s = 0), then wait; Redis last.
        for node in self.nodes:
            if node.proc is not None and node.proc.poll() is None:
                node.proc.send_signal(signal.SIGTERM)
        for node in self.nodes:
            node.stop()
        self.redis.stop()


def scenario_takeover(cluster: Cluster, players: int) -> dict[str, Any]:
    """Players spread over the three nodes in a live question; ``kill -9`` of the quiz's owner.

    Measures (a) kill → the first resume ``join`` that succeeds on a survivor (a probe that
    was connected to the owner, polling every 50 ms through ``server_busy``), and (b) kill →
    every player resumed (each reconnects when its connection closes and honours
    ``retryAfterMs``, as a client would).
    """
    import trio
    from trio_websocket import ConnectionClosed, HandshakeError

    from quizd.client import connect

    quiz_id, host_token = cluster.new_quiz("bench-takeover")
    owner_id = cluster.owner_of(quiz_id)
    if owner_id is None:
        raise RuntimeError(f"GET /api/quizzes/{quiz_id} did not name an owner")
    owner = cluster.node(owner_id)
    survivors = [n for n in cluster.nodes if n is not owner]
    surv_urls = [n.ws_url for n in survivors]
    recs: list[dict[str, Any]] = []
    out: dict[str, Any] = {"players": players, "owner": owner_id, "survivors": [n.node_id for n in survivors]}

    async def read_until(conn: Any, msg_id: Any, timeout: float) -> dict[str, Any]:
        with trio.fail_after(timeout):
            while True:
                reply = await conn.recv(timeout)
                if reply.get("re") == msg_id:
                    return reply

    async def drain(conn: Any, scopes: list[trio.CancelScope]) -> int | None:
        """Read (and drop) until the connection closes or the scope is cancelled; the close code."""
        with trio.CancelScope() as scope:
            scopes.append(scope)
            try:
                while True:
                    await conn.ws.get_message()
            except ConnectionClosed as closed:
                return closed.reason.code if closed.reason else None
        return None

    async def main() -> None:
        state: dict[str, Any] = {"joined": 0, "ready": 0, "resumed": 0, "kill_at": None}
        all_joined, all_ready, kill_done, all_resumed = trio.Event(), trio.Event(), trio.Event(), trio.Event()
        hold_scopes: list[trio.CancelScope] = []
        connect_limit = trio.Semaphore(64)

        def since_kill() -> float | None:
            return None if state["kill_at"] is None else round(trio.current_time() - state["kill_at"], 3)

        async def resume(rec: dict[str, Any], token: str, first: int, poll_s: float | None) -> None:
            """join with the token on the survivors until it succeeds; then stay connected."""
            deadline = trio.current_time() + 30
            attempt = 0
            while trio.current_time() < deadline:
                url = surv_urls[(first + attempt) % len(surv_urls)]
                attempt += 1
                rec["attempts"] = attempt
                wait_s = 0.1
                try:
                    async with connect(url) as conn:
                        msg_id = await conn.send("join", {"quizId": quiz_id, "resumeToken": token})
                        reply = await read_until(conn, msg_id, 15)
                        if reply["type"] == "joined":
                            rec["resumed_s"] = since_kill()
                            p = reply["payload"]
                            q = p.get("question") or {}
                            rec["phase"] = p.get("quiz", {}).get("phase")
                            rec["answered_after"] = q.get("answered")
                            rec["score_after"] = p.get("score")
                            state["resumed"] += 1
                            if state["resumed"] == players + 1:  # the probe too
                                all_resumed.set()
                            await drain(conn, hold_scopes)
                            return
                        code = reply["payload"].get("code")
                        rec.setdefault("refusals", Counter())[code] += 1
                        if code != "server_busy":
                            rec["error"] = reply["payload"]
                            return
                        retry = reply["payload"].get("details", {}).get("retryAfterMs", 500) / 1000
                        wait_s = poll_s if poll_s is not None else retry
                except (OSError, HandshakeError, ConnectionClosed, trio.TooSlowError) as exc:
                    rec.setdefault("refusals", Counter())[type(exc).__name__] += 1
                await trio.sleep(wait_s)
            rec["error"] = "not resumed within 30 s"

        async def player(nursery: trio.Nursery, i: int, url: str, answer: bool, probe: bool = False) -> None:
            rec: dict[str, Any] = {
                "i": i,
                "gateway": cluster.nodes[i % CLUSTER_NODES].node_id if not probe else owner_id,
                "probe": probe,
            }
            recs.append(rec)
            async with connect_limit:
                cm = connect(url)
                conn = await cm.__aenter__()
            try:
                joined = await conn.join(quiz_id, name=("probe" if probe else f"t{i}"))
                if joined["type"] != "joined":
                    raise RuntimeError(f"join refused: {joined}")
                token = joined["payload"]["resumeToken"]
                state["joined"] += 1
                if state["joined"] == players + 1:
                    all_joined.set()
                question = await conn.expect("question", 60)
                if answer:
                    result = await conn.request(
                        "answer", {"questionId": question["payload"]["questionId"], "choice": 0}, 60
                    )
                    rec["acked"] = result["type"] == "answer_result"
                    rec["score_before"] = result["payload"].get("score")
                state["ready"] += 1
                if state["ready"] == players + 1:
                    all_ready.set()
                if probe:
                    # Resumes from the moment of the kill, polling; its old connection just goes.
                    await kill_done.wait()
                    nursery.start_soon(resume, rec, token, 0, PROBE_POLL_S)
                else:
                    rec["close_code"] = await drain(conn, [])
                    rec["closed_s"] = since_kill()
                    # Reconnect at once (the old connection's clean-up must not delay it).
                    nursery.start_soon(resume, rec, token, i, None)
            finally:
                with trio.move_on_after(2) as cleanup:
                    cleanup.shield = True
                    try:
                        await cm.__aexit__(None, None, None)
                    except Exception:  # the connection is gone either way
                        pass

        with trio.fail_after(120):
            async with connect(surv_urls[0]) as host:
                reply = await host.join(quiz_id, hostToken=host_token)
                if reply["type"] != "joined":
                    raise RuntimeError(f"host join refused: {reply}")
                async with trio.open_nursery() as nursery:
                    t_join = trio.current_time()
                    # The probe is a player connected to the owner: its connection dies with it.
                    nursery.start_soon(player, nursery, -1, owner.ws_url, False, True)
                    for i in range(players):
                        # Round-robin over the nodes; two players in three answer before the kill.
                        nursery.start_soon(
                            player, nursery, i, cluster.nodes[i % CLUSTER_NODES].ws_url, (i // 3) % 3 != 2
                        )
                    await all_joined.wait()  # start once everyone is in the quiz
                    out["join_s"] = round(trio.current_time() - t_join, 2)
                    await host.request("start", {}, 30)
                    nursery.start_soon(drain, host, hold_scopes)
                    await all_ready.wait()
                    out["ready_s"] = round(trio.current_time() - t_join, 2)
                    await trio.sleep(0.5)  # every ack is durable already; let the relay go quiet
                    state["kill_at"] = trio.current_time()
                    os.kill(owner.pid, signal.SIGKILL)
                    out["killed"] = True
                    kill_done.set()
                    with trio.move_on_after(40):
                        await all_resumed.wait()
                    out["wait_s"] = since_kill()
                    for scope in hold_scopes:
                        scope.cancel()
                    nursery.cancel_scope.cancel()

    try:
        trio.run(main)
    finally:
        if out.get("killed"):
            owner.proc.wait(timeout=10)  # reap the killed node
    out["new_owner"] = cluster.owner_of(quiz_id, survivors[0])
    probe = next((r for r in recs if r["probe"]), {})
    ps = [r for r in recs if not r["probe"]]
    resumed = sorted(r["resumed_s"] for r in ps if "resumed_s" in r)
    closes: Counter[str] = Counter(str(r.get("close_code")) for r in ps)
    by_gateway_closed = {}
    for gw in {r["gateway"] for r in ps}:
        times = [r["closed_s"] for r in ps if r["gateway"] == gw and r.get("closed_s") is not None]
        by_gateway_closed[gw] = median(times)
    acked = [r for r in ps if r.get("acked")]
    busy = sum(r.get("refusals", {}).get("server_busy", 0) for r in ps)
    out.update(
        {
            "first_resume_s": probe.get("resumed_s"),
            "probe_attempts": probe.get("attempts"),
            "probe_refusals": dict(probe.get("refusals", {})),
            "all_resumed_s": resumed[-1] if len(resumed) == players else None,
            "resumed": len(resumed),
            "first_player_resumed_s": resumed[0] if resumed else None,
            "median_player_resumed_s": median(resumed),
            "close_codes": dict(closes),
            "median_closed_s_by_gateway": by_gateway_closed,
            "server_busy_replies": busy,
            "acked_before_kill": len(acked),
            "acks_kept": sum(
                1 for r in acked if r.get("answered_after") is True and r.get("score_after") == r.get("score_before")
            ),
            "phase_after": dict(Counter(str(r.get("phase")) for r in ps if "resumed_s" in r)),
            "errors": [f"t{r['i']}: {r['error']}" for r in recs if "error" in r][:10],
        }
    )
    return out


def run_cluster_scenarios(settings: argparse.Namespace, results: dict[str, Any], tmp: Path) -> dict[str, Any]:
    """Cluster mode: three quizd nodes + Redis, players spread round-robin over the nodes.

    For each cluster N: the burst scenarios with ``quizd-load`` (three ``--ws`` URLs), to
    compare with the single-node quizd of the same run.  Then the takeover after ``kill -9``
    of a quiz's owner, ``settings.takeover_trials`` times on a fresh cluster each.
    """
    s = settings
    if REDIS_SERVER is None:
        return {"skipped": "redis-server is not installed (apt-get install redis-server)"}
    t0 = time.monotonic()
    out: dict[str, Any] = {
        "nodes": CLUSTER_NODES,
        "ns": s.cluster_ns,
        "config": {
            "heartbeat_ms": CLUSTER_HEARTBEAT_MS,
            "node_timeout_ms": CLUSTER_NODE_TIMEOUT_MS,
            "drain_timeout_s": 0,
            "redis": "--save '' --appendonly no",
        },
        "pinning": f"3 nodes and redis-server: taskset -c {SERVER_CPU}; quizd-load and the takeover driver: "
        f"taskset -c {CLIENT_CPU}",
        "redis_version": subprocess.run([REDIS_SERVER, "--version"], capture_output=True, text=True).stdout.strip(),
        "runs": {},
        "takeover": {"players": s.takeover_players, "trials": []},
    }
    key = [q["answer"] for q in s.questions_burst]
    for n in s.cluster_ns:
        block: dict[str, Any] = {"errors": {}}
        out["runs"][str(n)] = block
        cluster = Cluster(tmp / f"cluster-{n}", s)

        def attempt(
            name: str, what: str, fn: Any, n: int = n, block: dict[str, Any] = block, cluster: Cluster = cluster
        ) -> None:
            # Once more after a failure: with node_timeout_ms 1000 and three nodes on one core,
            # a stalled node can lose a lease under load and the quiz moves mid-run (quizd-load
            # does not survive its host being moved).  The failure stays in the results.
            for tries in (1, 2):
                log(f"cluster N={n}: {what}" + (" (again)" if tries > 1 else ""))
                try:
                    block[name] = fn()
                    block[name]["tries"] = tries
                    block[name]["cluster_health"] = cluster.health()
                    return
                except Exception as exc:  # one failed scenario must not lose the rest
                    log(f"cluster N={n}: {name} failed: {str(exc)[-300:]}")
                    block["errors"][name if tries == 1 else f"{name} (2nd try)"] = str(exc)[-2000:]
                    block.setdefault("health_after_failure", {})[name] = cluster.health()

        try:
            log(f"cluster N={n}: starting redis-server and {CLUSTER_NODES} nodes")
            cluster.start()
            block["start_s"] = cluster.start_s
            cores0, cpu0, w0 = core_times(), total_cpu_s(cluster.pids), time.monotonic()
            attempt(
                "burst_1s",
                "burst, answers within 1 s (players spread over 3 nodes)",
                lambda cluster=cluster, n=n: scenario_load(
                    cluster, n, "bench-burst", "uniform:0-1000", s.burst_questions, key
                ),
            )
            fan_ms = (block.get("burst_1s") or {}).get("fanout_median_trigger_to_last_ms") or 100
            sync_ms = int(max(300, 3 * fan_ms))
            attempt(
                "burst_once",
                f"burst, all answers at once ({sync_ms} ms after the question is sent)",
                lambda cluster=cluster, n=n, sync_ms=sync_ms: scenario_load(
                    cluster, n, "bench-burst", f"sync:{sync_ms}", s.burst_questions, key
                ),
            )
            block["sync_ms"] = sync_ms
            for sc in ("burst_1s", "burst_once"):
                if sc in block and block[sc].get("quiz_id"):
                    block[sc]["owner"] = cluster.owner_of(block[sc]["quiz_id"])
            wall = time.monotonic() - w0
            block["wall_s"] = round(wall, 2)
            block["server_cpu_s"] = round(total_cpu_s(cluster.pids) - cpu0, 2)
            block["server_core_share"] = round(block["server_cpu_s"] / wall, 3)
            block["core_busy"] = core_busy(cores0, core_times())
        except Exception as exc:
            log(f"cluster N={n}: failed: {exc}")
            block["errors"]["cluster"] = str(exc)[-2000:]
        finally:
            cluster.stop()
        single = results["runs"].get(str(n), {}).get("quizd", {})
        try:
            log(
                f"cluster N={n}: within 1 s p50/p99 {block['burst_1s']['p50_ms']}/{block['burst_1s']['p99_ms']} ms "
                f"(single node {single.get('burst_1s', {}).get('p50_ms')}/{single.get('burst_1s', {}).get('p99_ms')}), "
                f"at once {block['burst_once']['p50_ms']}/{block['burst_once']['p99_ms']} ms "
                f"(single node {single.get('burst_once', {}).get('p50_ms')}/"
                f"{single.get('burst_once', {}).get('p99_ms')})"
            )
        except KeyError:
            pass
    for trial in range(s.takeover_trials):
        cluster = Cluster(tmp / f"cluster-takeover-{trial}", s)
        log(f"cluster takeover {trial + 1}/{s.takeover_trials}: {s.takeover_players} players, kill -9 of the owner")
        try:
            cluster.start()
            res = scenario_takeover(cluster, s.takeover_players)
            log(
                f"cluster takeover {trial + 1}: first resume {res['first_resume_s']} s, all {res['resumed']} "
                f"resumed {res['all_resumed_s']} s, acks kept {res['acks_kept']}/{res['acked_before_kill']}"
            )
        except Exception as exc:
            log(f"cluster takeover {trial + 1}: failed: {exc!r}")
            res = {"error": repr(exc)[-2000:]}
        finally:
            cluster.stop()
        out["takeover"]["trials"].append(res)
    trials = out["takeover"]["trials"]
    out["takeover"]["median_first_resume_s"] = median([t.get("first_resume_s") for t in trials])
    out["takeover"]["median_all_resumed_s"] = median([t.get("all_resumed_s") for t in trials])
    out["duration_s"] = round(time.monotonic() - t0, 1)
    return out
