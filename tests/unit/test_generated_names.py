"""Generated player names (quizd.game.namegen) and the names modes of a quiz
(protocol.md section 3, "Names (v2)"): unique in the quiz, never denied, repeatable
under a seeded random source."""

from __future__ import annotations

import random

import pytest

from quizd.game.denylist import DenyList
from quizd.game.namegen import Words, generate_name, shipped_words
from quizd.game.names import MAX_NAME_CODE_POINTS, NameError_, NamePolicy, NamesMode, name_key, normalize_name
from quizd.game.quiz import GameSettings, QuizGame
from quizd.protocol import errors as E
from quizd.protocol.errors import ProtocolError
from tests.unit.quizkit import make_game, reply


def game_with(mode: NamesMode, denylist: DenyList | None = None, **kwargs: object) -> QuizGame:
    settings = GameSettings(max_players=20000, names=NamePolicy(mode, denylist))
    return make_game(settings=settings, **kwargs)  # type: ignore[arg-type]


def joined_name(game: QuizGame, name: str | None, now: float = 1.0) -> str:
    result = game.join_player(name, now)
    return str(reply(result.effects, result.participant_id, "joined").payload["name"])


# ------------------------------------------------------------------ the word lists
def test_shipped_word_lists_hold_a_few_hundred_short_distinct_words() -> None:
    words = shipped_words()
    for words_list in (words.adjectives, words.animals):
        assert 150 <= len(words_list) <= 1000
        assert len(set(words_list)) == len(words_list)
        assert all(w.isalpha() and w.isascii() and w[0].isupper() and len(w) <= 9 for w in words_list)


# ------------------------------------------------------------------ the generator
def test_a_generated_name_is_an_adjective_and_an_animal() -> None:
    name = generate_name(random.Random(1), lambda _: True)
    adjective, animal = name.split(" ")
    assert adjective in shipped_words().adjectives and animal in shipped_words().animals


def test_a_number_is_added_once_the_combinations_are_taken() -> None:
    words = Words(("Brave",), ("Otter", "Owl"))
    taken: set[str] = set()
    for _ in range(6):
        taken.add(generate_name(random.Random(len(taken)), lambda n: n not in taken, words))
    assert {"Brave Otter", "Brave Owl"} <= taken
    assert all(n.rsplit(" ", 1)[1].isdigit() for n in taken - {"Brave Otter", "Brave Owl"})


def test_nothing_free_gives_up_with_reason_denied() -> None:
    with pytest.raises(NameError_) as info:
        generate_name(random.Random(1), lambda _: False, Words(("Brave",), ("Otter",)))
    assert info.value.reason == "denied"


# ------------------------------------------------------------------ in a quiz
def test_generated_names_are_unique_and_valid_across_5000_joins() -> None:
    game = game_with(NamesMode.BOTH)
    names = [joined_name(game, None, now=1.0 + i / 1000) for i in range(5000)]
    assert len({name_key(n) for n in names}) == 5000
    assert all(normalize_name(n) == n and len(n) <= MAX_NAME_CODE_POINTS for n in names)
    assert game.player_count == 5000


def test_the_same_seed_gives_the_same_names() -> None:
    first = game_with(NamesMode.BOTH)
    again = game_with(NamesMode.BOTH)
    assert [joined_name(first, None) for _ in range(20)] == [joined_name(again, None) for _ in range(20)]


def test_a_given_random_source_is_used() -> None:
    settings = GameSettings(names=NamePolicy(NamesMode.BOTH))
    games = [QuizGame("q", make_game().definition, settings, 0.0, rng=random.Random(7)) for _ in range(2)]
    assert joined_name(games[0], None) == joined_name(games[1], None)


def test_both_keeps_a_given_name() -> None:
    assert joined_name(game_with(NamesMode.BOTH), "Ann") == "Ann"


def test_generated_ignores_a_given_name() -> None:
    name = joined_name(game_with(NamesMode.GENERATED), "Ann")
    assert name != "Ann" and name.split(" ")[1] in shipped_words().animals


def test_generated_ignores_even_a_name_it_would_refuse() -> None:
    game = game_with(NamesMode.GENERATED, DenyList.of(["bad"]))
    assert joined_name(game, "bad") != "bad"


def test_a_denied_given_name_is_name_invalid_denied_and_changes_nothing() -> None:
    game = game_with(NamesMode.GIVEN, DenyList.of(["bad"]))
    with pytest.raises(ProtocolError) as info:
        game.join_player("Not B.4.D", 1.0)
    assert info.value.code == E.NAME_INVALID
    assert info.value.details == {"reason": "denied"}
    assert game.player_count == 0


def test_a_new_denylist_applies_from_the_next_join() -> None:
    policy = NamePolicy(NamesMode.GIVEN)
    game = make_game(settings=GameSettings(names=policy))
    joined_name(game, "Badger")
    policy.use(DenyList.of(["badger"]))
    with pytest.raises(ProtocolError):
        game.join_player("badg3r two", 2.0)


def test_generated_names_never_hold_a_denied_word() -> None:
    words = shipped_words()
    denied = DenyList.of([*words.animals[::2], *words.adjectives[::3]])
    game = game_with(NamesMode.BOTH, denied)
    for _ in range(500):
        name = joined_name(game, None)
        assert denied.find(name) is None
