"""Generated player names: an adjective and an animal ("Brave Otter"), unique in a quiz.

The words are data files shipped with the package (``quizd/game/words/*.txt``: kind,
classroom-safe, at most 9 letters each), read once per process.  Which combination a
player gets comes from the quiz's own ``random.Random``, so a test that seeds it sees
the same names every run.

A candidate is used only if the quiz does not hold it yet (its uniqueness key) and the
operator's deny-list does not refuse it; ``is_free`` says both.  A few random
combinations are tried first; once they keep colliding (the quiz holds most of the
combinations) a number is added ("Brave Otter 7"), growing until a name is free, so a
name fits ``MAX_NAME_CODE_POINTS``.  Only a deny-list that refuses nearly every
combination (a one-letter word, say) can leave nothing free: after ``MAX_NUMBER`` the
search gives up with ``NameError_`` reason ``denied`` rather than hold the quiz's turn.
"""

from __future__ import annotations

import functools
import random
from collections.abc import Callable
from importlib import resources

import attrs

from quizd.game.names import MAX_NAME_CODE_POINTS, NameError_

RANDOM_TRIES = 20
MAX_NUMBER = 1000


@attrs.frozen
class Words:
    """The two word lists a generated name is made of."""

    adjectives: tuple[str, ...]
    animals: tuple[str, ...]


def _read_words(file: str) -> tuple[str, ...]:
    text = resources.files("quizd.game").joinpath("words", file).read_text(encoding="utf-8")
    words = (line.split("#", 1)[0].strip() for line in text.splitlines())
    return tuple(w for w in words if w)


@functools.cache
def shipped_words() -> Words:
    """The package's word lists (read once)."""
    return Words(_read_words("adjectives.txt"), _read_words("animals.txt"))


def generate_name(rng: random.Random, is_free: Callable[[str], bool], words: Words | None = None) -> str:
    """A name ``is_free`` accepts: a random combination, else one with a number added."""
    words = words or shipped_words()

    def combination() -> str:
        return f"{rng.choice(words.adjectives)} {rng.choice(words.animals)}"

    for _ in range(RANDOM_TRIES):
        candidate = combination()
        if is_free(candidate):
            return candidate
    for number in range(2, MAX_NUMBER + 1):
        for _ in range(RANDOM_TRIES):
            candidate = f"{combination()} {number}"
            if len(candidate) <= MAX_NAME_CODE_POINTS and is_free(candidate):
                return candidate
    raise NameError_("denied", "no generated name is free: the name deny-list refuses them")
