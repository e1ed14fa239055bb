"""Sentinel clients per lane, what the node reads of Redis replication, and relay position order."""

from __future__ import annotations

import redis.sentinel

from quizd.cluster.redis_port import RedisPort
from quizd.cluster.redis_watch import Replication
from quizd.cluster.transport import _stream_id


def test_replication_lag_is_the_furthest_replicas_distance_from_the_primary() -> None:
    info = {
        "role": "master",
        "connected_slaves": 2,
        "master_repl_offset": 5000,
        "slave0": {"ip": "10.0.0.2", "port": 6379, "state": "online", "offset": 4990, "lag": 0},
        "slave1": {"ip": "10.0.0.3", "port": 6379, "state": "online", "offset": 3000, "lag": 1},
    }
    assert Replication.from_info(info) == Replication(replicas=2, lag_bytes=2000)


def test_no_replica_is_no_lag() -> None:
    assert Replication.from_info({"role": "master", "connected_slaves": 0, "master_repl_offset": 10}) == Replication(
        replicas=0, lag_bytes=0
    )


def test_stream_ids_order_by_time_then_sequence() -> None:
    assert _stream_id(b"1700000000000-5") < _stream_id("1700000000001-0")
    assert _stream_id(b"1700000000000-10") > _stream_id(b"1700000000000-9")
    assert _stream_id(b"0-0") < _stream_id(b"1-0")


def test_a_sentinel_url_gives_each_lane_its_own_sentinel_managed_pool() -> None:
    """Each client asks the Sentinels for the primary on its own (no connection is made here)."""
    port = RedisPort("redis+sentinel://:pw@127.0.0.1:26379,127.0.0.1:26380/mymaster?db=2", timeout_s=0.5)
    try:
        pools = [port.client.connection_pool, port.control_client.connection_pool]
        assert all(isinstance(pool, redis.sentinel.SentinelConnectionPool) for pool in pools)
        assert pools[0] is not pools[1]
        assert all(pool.service_name == "mymaster" and pool.is_master for pool in pools)
        kwargs = pools[0].connection_kwargs
        assert (kwargs["db"], kwargs["password"]) == (2, "pw")
        assert port.sentinel is not None
        assert [
            (s.connection_pool.connection_kwargs["host"], s.connection_pool.connection_kwargs["port"])
            for s in port.sentinel.sentinels
        ] == [("127.0.0.1", 26379), ("127.0.0.1", 26380)]
    finally:
        port.close()
