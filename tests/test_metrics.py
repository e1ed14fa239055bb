"""The node's Prometheus metrics: names, conventions, bounded labels, the lag task."""

from __future__ import annotations

import shutil
import subprocess

import pytest
import trio
import trio.testing
from prometheus_client.parser import text_string_to_metric_families

from quizd.ops import metrics as m

# (exposed family name, type) of every quizd_ metric; counters lose "_total" in the family.
EXPECTED: dict[str, str] = {
    "quizd_cluster_members": "gauge",
    "quizd_cluster_ring_hash": "gauge",
    "quizd_cluster_quizzes_owned": "gauge",
    "quizd_cluster_takeovers": "counter",
    "quizd_cluster_handovers": "counter",
    "quizd_cluster_relay_messages": "counter",
    "quizd_cluster_relay_lag_seconds": "histogram",
    "quizd_cluster_snapshot_writes": "counter",
    "quizd_cluster_snapshot_write_seconds": "histogram",
    "quizd_cluster_group_commit_events": "histogram",
    "quizd_redis_errors": "counter",
    "quizd_connections_refused": "counter",
    "quizd_store_pending_events": "gauge",
    "quizd_store_dropped_answers": "counter",
    "quizd_store_write_errors": "counter",
    "quizd_store_rejected_events": "counter",
    "quizd_webhook_deliveries": "counter",
    "quizd_webhook_pending": "gauge",
    "quizd_webhook_oldest_pending_age_seconds": "gauge",
    "quizd_cluster_lease_conflicts": "counter",
    "quizd_cluster_duplicate_node_id": "counter",
    "quizd_cluster_relay_backlog_bytes": "gauge",
    "quizd_cluster_relay_backlog_messages": "gauge",
    "quizd_cluster_relay_refused": "counter",
    "quizd_acks_not_durable": "counter",
    "quizd_redis_wait_timeouts": "counter",
    "quizd_redis_wait_replicas": "histogram",
    "quizd_redis_primary_changes": "counter",
    "quizd_redis_connected_replicas": "gauge",
    "quizd_redis_replication_lag_bytes": "gauge",
    "quizd_connections_open": "gauge",
    "quizd_max_connections": "gauge",
    "quizd_quizzes_live": "gauge",
    "quizd_players": "gauge",
    "quizd_messages_received": "counter",
    "quizd_messages_sent": "counter",
    "quizd_sent_bytes": "counter",
    "quizd_answers": "counter",
    "quizd_answer_handling_seconds": "histogram",
    "quizd_broadcast_fanout_seconds": "histogram",
    "quizd_slow_consumer_disconnects": "counter",
    "quizd_rate_limited_messages": "counter",
    "quizd_actor_crashes": "counter",
    "quizd_actor_restarts": "counter",
    "quizd_errors": "counter",
    "quizd_quizzes_created": "counter",
    "quizd_quizzes_ended": "counter",
    "quizd_quizzes_refused": "counter",
    "quizd_build_info": "gauge",
    "quizd_config_reloads": "counter",
    "quizd_config_last_reload_success_timestamp_seconds": "gauge",
    "quizd_event_loop_lag_seconds": "histogram",
}


def _text() -> str:
    body, _ = m.render()
    return body.decode()


def _value(name: str, labels: dict[str, str] | None = None) -> float:
    value = m.REGISTRY.get_sample_value(name, labels or {})
    assert value is not None, (name, labels)
    return value


def _label_values(family: str, label: str) -> set[str]:
    values: set[str] = set()
    for fam in text_string_to_metric_families(_text()):
        if fam.name == family:
            for sample in fam.samples:
                if label in sample.labels:
                    values.add(sample.labels[label])
    return values


def test_render_has_help_and_type_for_every_quizd_metric() -> None:
    text = _text()
    for name, kind in EXPECTED.items():
        exposed = f"{name}_total" if kind == "counter" else name
        assert f"# HELP {exposed} " in text, name
        assert f"# TYPE {exposed} {kind}\n" in text, name
    families = {f.name for f in text_string_to_metric_families(text) if f.name.startswith("quizd_")}
    # Nothing quizd_ beyond the list (ignoring prometheus_client's *_created companions).
    companions = {f"{name}_created" for name, kind in EXPECTED.items() if kind != "gauge"}
    assert families - companions == set(EXPECTED)


def test_render_returns_text_format_content_type() -> None:
    body, content_type = m.render()
    assert isinstance(body, bytes)
    assert content_type.startswith("text/plain")


def test_process_and_platform_collectors_registered() -> None:
    text = _text()
    assert "process_start_time_seconds " in text
    assert "python_info{" in text


def test_build_info_is_one() -> None:
    import platform

    from quizd import __version__

    labels = {"version": __version__, "python": platform.python_version()}
    assert _value("quizd_build_info", labels) == 1.0


def test_phases_pre_initialised() -> None:
    assert _label_values("quizd_quizzes_live", "phase") == set(m.PHASES)
    assert set(m.PHASES) == {"lobby", "starting", "question", "reveal", "ended"}


def test_count_received_bounds_labels() -> None:
    before_join = _value("quizd_messages_received_total", {"type": "join"})
    before_invalid = _value("quizd_messages_received_total", {"type": "invalid"})
    m.count_received("join")
    m.count_received("definitely-not-a-type")
    m.count_received("")
    m.count_received(None)
    assert _value("quizd_messages_received_total", {"type": "join"}) == before_join + 1
    assert _value("quizd_messages_received_total", {"type": "invalid"}) == before_invalid + 3
    assert _label_values("quizd_messages_received", "type") == set(m.RECEIVED_TYPES)


def test_count_sent_bounds_labels_and_counts_n() -> None:
    before_lb = _value("quizd_messages_sent_total", {"type": "leaderboard"})
    before_other = _value("quizd_messages_sent_total", {"type": "other"})
    m.count_sent("leaderboard", 250)
    m.count_sent("leaderboard")
    m.count_sent("surprise")
    m.count_sent("surprise", 0)
    assert _value("quizd_messages_sent_total", {"type": "leaderboard"}) == before_lb + 251
    assert _value("quizd_messages_sent_total", {"type": "other"}) == before_other + 1
    assert _label_values("quizd_messages_sent", "type") == set(m.SENT_TYPES)


def test_count_error_bounds_labels() -> None:
    before_full = _value("quizd_errors_total", {"code": "quiz_full"})
    before_internal = _value("quizd_errors_total", {"code": "internal"})
    m.count_error("quiz_full")
    m.count_error("made_up_code")
    assert _value("quizd_errors_total", {"code": "quiz_full"}) == before_full + 1
    assert _value("quizd_errors_total", {"code": "internal"}) == before_internal + 1
    assert _label_values("quizd_errors", "code") == set(m.ERROR_CODES)


def test_other_label_sets_pre_initialised() -> None:
    assert _label_values("quizd_answers", "outcome") == {"correct", "wrong", "rejected"}
    assert _label_values("quizd_config_reloads", "result") == {"success", "failure"}


def test_event_loop_lag_observed_under_mock_clock() -> None:
    clock = trio.testing.MockClock(autojump_threshold=0)
    count_before = _value("quizd_event_loop_lag_seconds_count")
    sum_before = _value("quizd_event_loop_lag_seconds_sum")

    async def main() -> None:
        async with trio.open_nursery() as nursery:
            await nursery.start(m.measure_event_loop_lag, 0.5)
            await trio.sleep(0.2)
            # Simulate a loop blocked for a second while the lag task sleeps until t=0.5:
            # it wakes at t=1.2, i.e. 0.7 s late.
            clock.jump(1.0)
            await trio.sleep(2.0)
            nursery.cancel_scope.cancel()

    trio.run(main, clock=clock)

    observed = _value("quizd_event_loop_lag_seconds_count") - count_before
    assert observed >= 4
    assert _value("quizd_event_loop_lag_seconds_sum") - sum_before == pytest.approx(0.7, abs=1e-6)


def test_event_loop_lag_rejects_non_positive_interval() -> None:
    async def main() -> None:
        await m.measure_event_loop_lag(0)

    with pytest.raises(ValueError):
        trio.run(main)


@pytest.mark.skipif(shutil.which("promtool") is None, reason="promtool not installed")
def test_promtool_check_metrics() -> None:
    body, _ = m.render()
    result = subprocess.run(["promtool", "check", "metrics"], input=body, capture_output=True, timeout=30)
    assert result.returncode == 0, (result.stdout + result.stderr).decode()
