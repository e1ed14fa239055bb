"""Membership, leases and fencing against a real redis-server."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest
import trio

from quizd.cluster.coordination import DuplicateNodeId, Leases, Membership
from quizd.cluster.redis_port import RedisPort
from quizd.cluster.store import Fenced, SnapshotStore
from quizd.game.quiz import GameSettings, QuizGame
from tests.unit.quizkit import make_game


@pytest.fixture
def open_port(redis_server) -> Iterator[Callable[[], RedisPort]]:
    """``RedisPort``s on the test's server, closed after the test: a port dropped
    unclosed leaves its pooled sockets to the garbage collector (a ResourceWarning,
    often raised during a later test)."""
    ports: list[RedisPort] = []

    def open_() -> RedisPort:
        port = RedisPort(redis_server.url)
        ports.append(port)
        return port

    yield open_
    for port in ports:
        port.close()


async def test_members_see_each_other_and_agree_on_owners(open_port):
    ports = [open_port() for _ in range(3)]
    nodes = [Membership(p, f"n{i}", {"i": i}, 3000) for i, p in enumerate(ports)]
    for node in nodes:
        await node.heartbeat()
    for node in nodes:
        await node.heartbeat()
    assert all(node.members == ["n0", "n1", "n2"] for node in nodes)
    owners = {node.owner(f"quiz-{k}") for node in nodes for k in range(50)}
    assert owners <= {"n0", "n1", "n2"} and len(owners) == 3
    assert len({tuple(node.owner(f"quiz-{k}") for k in range(50)) for node in nodes}) == 1


async def test_removing_a_member_moves_only_its_quizzes(open_port):
    port = open_port()
    nodes = {n: Membership(port, n, {}, 3000) for n in ("a", "b", "c", "d")}
    a = nodes["a"]
    for member in nodes.values():
        await member.heartbeat()
    await a.heartbeat()
    before = {f"q{k}": a.owner(f"q{k}") for k in range(400)}
    await nodes["d"].leave()
    await a.heartbeat()
    moved = [q for q, owner in before.items() if a.owner(q) != owner]
    assert all(before[q] == "d" for q in moved)
    assert 0.1 < len(moved) / 400 < 0.45  # about 1/4 of the quizzes


async def test_a_lease_has_one_holder_and_epochs_only_grow(open_port):
    port = open_port()
    a, b = Leases(port, "a", 300), Leases(port, "b", 300)
    first = await a.acquire("quiz")
    assert first == 1
    assert await b.acquire("quiz") is None
    assert await a.acquire("quiz") is None  # a held lease is never handed back, not even to its holder
    await trio.sleep(0.4)  # a stops renewing: the lease expires
    second = await b.acquire("quiz")
    assert second == 2
    assert (await a.renew_all({"quiz": 1})) == {"quiz": False}
    assert await b.holder("quiz") == ("b", 2)


async def test_a_stale_owner_cannot_write_its_snapshot(open_port):
    port = open_port()
    a, b = Leases(port, "a", 200), Leases(port, "b", 5000)
    store = SnapshotStore(port, ttl_ms=60_000)
    game = make_game(0.0, quiz_id="quiz")
    epoch_a = await a.acquire("quiz")
    await store.create(game, a.token(epoch_a), 0.0)
    game.join_player("Ann", 0.1)
    await store.commit(game, a.token(epoch_a), 0.1)
    await trio.sleep(0.3)
    epoch_b = await b.acquire("quiz")
    game.join_player("Bob", 0.2)
    try:
        await store.commit(game, a.token(epoch_a), 0.2)
    except Fenced:
        pass
    else:
        raise AssertionError("the stale owner's write went through")
    definition, meta, participants = await store.load("quiz")
    restored = QuizGame.from_snapshot(definition, GameSettings(), meta, participants, 1.0, 0)
    assert sorted(p.name for p in restored.participants.values() if not p.is_host) == ["Ann"]
    assert epoch_b == epoch_a + 1


async def test_a_second_process_with_a_live_members_id_is_refused(open_port):
    port = open_port()
    first, second = Membership(port, "a", {}, 3000), Membership(port, "a", {}, 3000)
    await first.heartbeat()
    try:
        await second.heartbeat()
    except DuplicateNodeId as err:
        assert "'a'" in str(err)
    else:
        raise AssertionError("a second process joined under a live member's id")
    assert await first.heartbeat() is False  # the first keeps its place, unchanged
    assert first.members == ["a"]
    await second.leave()  # not its claim: leaves nothing
    await first.heartbeat()
    assert first.members == ["a"]


async def test_a_lease_is_tied_to_its_process_not_only_to_the_node_id(open_port):
    port = open_port()
    a1, a2 = Leases(port, "a", 5000), Leases(port, "a", 5000)
    epoch = await a1.acquire("quiz")
    assert epoch is not None
    assert await a2.acquire("quiz") is None  # the same id in another process gets nothing
    assert await a2.renew_all({"quiz": epoch}) == {"quiz": False}
    assert await a2.release("quiz", epoch) is False
    assert await a1.renew_all({"quiz": epoch}) == {"quiz": True}
    assert await a1.holder("quiz") == ("a", epoch)


async def test_a_reacquired_lease_gets_a_new_epoch(open_port):
    port = open_port()
    a = Leases(port, "a", 5000)
    first = await a.acquire("quiz")
    assert first is not None
    assert await a.release("quiz", first)
    second = await a.acquire("quiz")
    assert second is not None and second > first
    assert await a.renew_all({"quiz": first}) == {"quiz": False}  # the old copy's token is dead


async def test_a_crashed_processs_id_is_free_after_the_node_timeout(open_port):
    port = open_port()
    crashed, restarted = Membership(port, "a", {}, 300), Membership(port, "a", {}, 300)
    await crashed.heartbeat()  # then it stops heartbeating, without leaving
    await trio.sleep(0.4)
    await restarted.heartbeat()
    assert restarted.members == ["a"]
