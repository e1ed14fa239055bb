"""One quiz, one copy per node, even after a hand-over that did not stop its actor; and
the manager closes its Redis connections when it stops.

A real ClusterManager against a real redis-server (in-process, one node "n1").  The
quiz's actor ignores the hand-over (a stuck inbox): the hand-over gives up waiting,
forgets the quiz and releases the lease.  The ring still gives the quiz to this node,
so the next ticks try to adopt it.  That used to start a second actor that replaced
the first in the supervisor while the first kept running.  Now the adoption waits
until the old copy is gone, and the copy that then starts has a new epoch.
"""

from __future__ import annotations

import trio

from quizd.actors.actor import QuizActor
from quizd.actors.inbox import HandOver
from quizd.cluster.manager import ClusterManager
from quizd.cluster.messages import RpcCall
from quizd.config.model import ClusterSection, Config, NodeSection
from quizd.game.quiz import GameSettings
from tests.cluster.clusterkit import lease
from tests.unit.quizkit import definition


async def no_rpc(call: RpcCall) -> None:  # pragma: no cover - one node: no relayed requests
    raise AssertionError(call)


async def test_a_failed_hand_over_never_leaves_two_copies(redis_server, monkeypatch):
    config = Config(
        node=NodeSection(id="n1"),
        cluster=ClusterSection(redis_url=redis_server.url, heartbeat_ms=100, node_timeout_ms=1000),
    )
    manager = ClusterManager(config, GameSettings(), None, no_rpc)
    client = redis_server.client()  # closed when the fixture stops the server
    async with trio.open_nursery() as nursery:
        await nursery.start(manager.supervisor.run)
        await nursery.start(manager.run)
        await manager.create(definition(), "q1", None)
        first = manager.supervisor.actors["q1"]
        first_epoch = lease(client, "q1")[1]

        real_post, real_commit = first.post, first.store.commit
        monkeypatch.setattr(first, "post", lambda item: None)  # deaf: the hand-over times out

        async def idle_commit(game: object, events: int) -> None:
            """An idle copy writes nothing, so no fencing stops it."""

        monkeypatch.setattr(first.store, "commit", idle_commit)
        real_move_on_after = trio.move_on_after
        monkeypatch.setattr(trio, "move_on_after", lambda seconds: real_move_on_after(min(seconds, 0.3)))
        await manager.hand_over("q1", "test: a hand-over that fails")
        monkeypatch.setattr(trio, "move_on_after", real_move_on_after)
        assert "q1" not in manager.owned and lease(client, "q1") is None

        await trio.sleep(1.0)  # ten ticks: each would adopt the quiz, the old copy still runs
        assert manager.supervisor.actors["q1"] is first
        assert not first.finished
        assert "q1" not in manager.owned

        monkeypatch.setattr(first.store, "commit", real_commit)
        real_post(HandOver("test: now it stops"))  # the old copy goes at last
        with trio.fail_after(5):
            while manager.supervisor.actors.get("q1") in (None, first):
                await trio.sleep(0.05)
        second = manager.supervisor.actors["q1"]
        assert isinstance(second, QuizActor) and second is not first
        holder = lease(client, "q1")
        assert holder is not None and holder[1] > first_epoch
        assert manager.owned["q1"] == holder[1]
        nursery.cancel_scope.cancel()


async def test_the_manager_closes_its_redis_connections_when_it_stops(redis_server):
    config = Config(
        node=NodeSection(id="n1"),
        cluster=ClusterSection(redis_url=redis_server.url, heartbeat_ms=100, node_timeout_ms=1000),
    )
    manager = ClusterManager(config, GameSettings(), None, no_rpc)
    client = redis_server.client()  # the test's own connection, closed with the fixture

    def others() -> int:
        """Connections to the server besides the test's own."""
        return len(client.client_list()) - 1

    async with trio.open_nursery() as nursery:
        await nursery.start(manager.supervisor.run)
        await nursery.start(manager.run)
        assert others() > 0  # the manager's pools, the relay's blocking reads
        nursery.cancel_scope.cancel()
    with trio.fail_after(5):
        while others():
            await trio.sleep(0.05)
