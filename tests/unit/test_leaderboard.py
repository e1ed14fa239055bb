"""The leaderboard: competition ranks, ties by who reached the score first."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule

from quizd.game.leaderboard import Leaderboard


def board(*entries: tuple[str, int, int]) -> Leaderboard:
    lb = Leaderboard()
    for pid, score, reached in entries:
        lb.set(pid, pid.upper(), score, reached)
    return lb


def ranks(lb: Leaderboard) -> list[int]:
    return [e["rank"] for e in lb.iter_entries()]


def order(lb: Leaderboard) -> list[str]:
    return [e["participantId"] for e in lb.iter_entries()]


def test_competition_ranks_share_and_skip():
    lb = board(("a", 30, 1), ("b", 20, 2), ("c", 20, 3), ("d", 10, 4))
    assert ranks(lb) == [1, 2, 2, 4]


def test_all_equal_scores_share_rank_one():
    lb = board(("a", 0, 1), ("b", 0, 2), ("c", 0, 3))
    assert ranks(lb) == [1, 1, 1]


def test_equal_scores_ordered_by_who_reached_first():
    lb = board(("late", 20, 9), ("early", 20, 3), ("mid", 20, 5))
    assert order(lb) == ["early", "mid", "late"]


def test_higher_score_comes_first_regardless_of_reached():
    lb = board(("a", 10, 1), ("b", 20, 100))
    assert order(lb) == ["b", "a"]


def test_entry_shape():
    lb = board(("p1", 42, 1))
    assert lb.top(10) == [{"rank": 1, "participantId": "p1", "name": "P1", "score": 42}]


def test_top_n_holds_exactly_n():
    lb = board(*[(f"p{i}", i, i) for i in range(20)])
    top = lb.top(10)
    assert len(top) == 10
    assert [e["score"] for e in top] == list(range(19, 9, -1))


def test_top_n_with_fewer_players_holds_all():
    lb = board(("a", 1, 1), ("b", 2, 2))
    assert len(lb.top(10)) == 2


def test_top_n_keeps_competition_ranks_at_the_cut():
    lb = board(("a", 30, 1), ("b", 20, 2), ("c", 20, 3), ("d", 20, 4))
    assert [e["rank"] for e in lb.top(3)] == [1, 2, 2]


def test_top_is_kept_only_while_it_stays_the_same():
    lb = Leaderboard()
    lb.set("p1", "A", 0, 1)
    lb.set("p2", "B", 0, 2)
    first = lb.top(3)
    assert lb.top(3) is first  # nothing changed: the same list
    lb.set("p3", "C", 0, 3)  # last in order, but the top 3 was not full
    assert [e["participantId"] for e in lb.top(3)] == ["p1", "p2", "p3"]
    full = lb.top(3)
    lb.set("p4", "D", 0, 4)  # below a full top 3: it stays
    assert lb.top(3) is full
    lb.set("p4", "D", 100, 5)  # into the top
    assert [e["participantId"] for e in lb.top(3)] == ["p4", "p1", "p2"]
    lb.remove("p1")
    assert [e["participantId"] for e in lb.top(3)] == ["p4", "p2", "p3"]
    assert [e["participantId"] for e in lb.top(2)] == ["p4", "p2"]


def test_rank_of_any_player_outside_top():
    lb = board(*[(f"p{i}", 100 - i, i) for i in range(50)])
    assert lb.rank("p40") == 41


def test_rank_of_tied_player():
    lb = board(("a", 30, 1), ("b", 20, 2), ("c", 20, 3), ("d", 10, 4))
    assert lb.rank("c") == 2
    assert lb.rank("d") == 4


def test_set_moves_an_existing_player():
    lb = board(("a", 10, 1), ("b", 20, 2))
    lb.set("a", "A", 30, 3)
    assert order(lb) == ["a", "b"]
    assert lb.score("a") == 30
    assert len(lb) == 2


def test_remove_takes_player_off_and_ranks_close_up():
    lb = board(("a", 30, 1), ("b", 20, 2), ("c", 10, 3))
    lb.remove("a")
    assert "a" not in lb
    assert len(lb) == 2
    assert lb.rank("b") == 1
    assert ranks(lb) == [1, 2]


def test_remove_unknown_is_a_noop():
    lb = board(("a", 30, 1))
    lb.remove("zzz")
    assert len(lb) == 1


def test_top_signature_changes_when_top_changes():
    lb = board(("a", 30, 1), ("b", 20, 2), ("c", 10, 3))
    before = lb.top_signature(2)
    lb.set("c", "C", 5, 4)  # outside the top 2
    assert lb.top_signature(2) == before
    lb.set("c", "C", 25, 5)
    assert lb.top_signature(2) != before


# ---------------------------------------------------------------- brute-force model
def model_entries(model: dict[str, tuple[int, int]]) -> list[tuple[int, str, int]]:
    ordered = sorted(model.items(), key=lambda kv: (-kv[1][0], kv[1][1]))
    return [(1 + sum(1 for s, _ in model.values() if s > score), pid, score) for pid, (score, _r) in ordered]


ops = st.lists(
    st.one_of(
        st.tuples(st.just("set"), st.integers(0, 15), st.integers(0, 5)),
        st.tuples(st.just("remove"), st.integers(0, 15), st.just(0)),
    ),
    max_size=60,
)


@given(ops)
def test_matches_brute_force_model(operations):
    lb = Leaderboard()
    model: dict[str, tuple[int, int]] = {}
    seq = 0
    for op, who, score in operations:
        pid = f"p{who}"
        if op == "set":
            seq += 1
            lb.set(pid, pid, score * 100, seq)
            model[pid] = (score * 100, seq)
        else:
            lb.remove(pid)
            model.pop(pid, None)
    expected = model_entries(model)
    got = [(e["rank"], e["participantId"], e["score"]) for e in lb.iter_entries()]
    assert got == expected
    for rank, pid, score in expected:
        assert lb.rank(pid) == rank
        assert lb.score(pid) == score
    assert len(lb) == len(model)


class LeaderboardMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.lb = Leaderboard()
        self.model: dict[str, tuple[int, int]] = {}
        self.names: dict[str, str] = {}
        self.seq = 0

    @rule(who=st.integers(0, 9), score=st.integers(0, 5), name=st.sampled_from(["Ann", "Bo"]))
    def set_score(self, who, score, name):
        self.seq += 1
        pid = f"p{who}"
        self.lb.set(pid, f"{pid}-{name}", score, self.seq)
        self.model[pid] = (score, self.seq)
        self.names[pid] = f"{pid}-{name}"

    @rule(who=st.integers(0, 9))
    def remove(self, who):
        pid = f"p{who}"
        self.lb.remove(pid)
        self.model.pop(pid, None)

    @rule(n=st.integers(0, 12))
    def top_is_a_prefix(self, n):
        # top(n) keeps its answer while the top n stays the same: asked again and again
        # between changes, it must still be the model's, names included.
        expected = model_entries(self.model)[:n]
        top = self.lb.top(n)
        assert [(e["rank"], e["participantId"], e["score"]) for e in top] == expected
        assert [e["name"] for e in top] == [self.names[pid] for _rank, pid, _score in expected]

    @invariant()
    def ranks_agree(self):
        for pid, (score, _r) in self.model.items():
            assert self.lb.rank(pid) == 1 + sum(1 for s, _ in self.model.values() if s > score)
        assert len(self.lb) == len(self.model)


TestLeaderboardMachine = LeaderboardMachine.TestCase
TestLeaderboardMachine.settings = settings(max_examples=50, stateful_step_count=30, deadline=None)
