"""The WebSocket admission verdicts (quizd.gateway.admission), without sockets."""

from __future__ import annotations

from quizd.gateway.admission import (
    NODE_FULL_MARGIN,
    PER_IP_MARGIN,
    Admission,
    Cap,
    DescriptorLimit,
    Verdict,
    descriptor_reserve,
)


def verdicts(admission: Admission, remote: str, n: int, max_connections: int, per_ip: int) -> list[Verdict]:
    return [admission.admit(remote, max_connections, per_ip).verdict for _ in range(n)]


def test_node_cap_refuses_then_drops_beyond_the_margin() -> None:
    admission = Admission(websocket_budget=10_000)
    got = verdicts(admission, "a", 2 + NODE_FULL_MARGIN + 1, max_connections=2, per_ip=0)
    assert got[:2] == [Verdict.ADMIT] * 2
    assert got[2:-1] == [Verdict.REFUSE] * NODE_FULL_MARGIN
    assert got[-1] is Verdict.DROP
    assert admission.admit("b", 2, 0).cap is Cap.NODE_FULL


def test_per_ip_cap_counts_each_address() -> None:
    admission = Admission(websocket_budget=10_000)
    got = verdicts(admission, "a", 1 + PER_IP_MARGIN + 1, max_connections=100, per_ip=1)
    assert got == [Verdict.ADMIT] + [Verdict.REFUSE] * PER_IP_MARGIN + [Verdict.DROP]
    assert admission.admit("b", 100, 1).verdict is Verdict.ADMIT


def test_release_frees_the_place() -> None:
    admission = Admission(websocket_budget=10_000)
    assert admission.admit("a", 1, 1).verdict is Verdict.ADMIT
    assert admission.admit("a", 1, 1).verdict is Verdict.REFUSE
    admission.release("a")
    admission.release("a")
    assert admission.open == 0 and not admission.per_ip
    assert admission.admit("a", 1, 1).verdict is Verdict.ADMIT


def test_descriptor_budget_drops_first() -> None:
    admission = Admission(websocket_budget=1)
    assert admission.admit("a", 100, 0).verdict is Verdict.ADMIT
    decision = admission.admit("b", 100, 0)
    assert (decision.verdict, decision.cap) == (Verdict.DROP, Cap.DESCRIPTORS)


def test_descriptor_budget_keeps_the_reserve() -> None:
    assert descriptor_reserve(200) == 64
    assert descriptor_reserve(4096) == 512
    assert descriptor_reserve(1 << 20) == 1024
    assert DescriptorLimit(soft=200, hard=200, in_use=8).websocket_budget == 200 - 8 - 64
    assert DescriptorLimit(soft=50, hard=50, in_use=8).websocket_budget == 0
