"""The operator's name deny-list: which words, and how a name is found to hold one.

``[quizzes] name_denylist`` names a file of words, one a line (``#`` starts a comment,
blank lines are ignored).  A player name is refused (``name_invalid``, reason
``denied``) when it holds one of them anywhere.  Both the words and the name are
compared in their *folded* form, built in this order:

1. NFKC, casefold, NFKC again (the uniqueness key of ``quizd.game.names``), so case and
   width (``ＢＡＤ``, ``Bad``) do not matter;
2. the look-alikes of the wire contract mapped to letters: ``0->o 1->i 3->e 4->a 5->s
   7->t @->a $->s`` (``B4D`` is ``bad``);
3. separators removed: white space, ``.``, ``_`` (and every other connector punctuation)
   and ``-`` (and every other dash), so ``b.a.d`` and ``b a d`` are ``bad``.

A word matches wherever it occurs in the folded name.  One exception keeps ordinary
names usable: a match that only exists because step 3 glued the *end* of one word of the
name to the *start* of the next (``Rob Adams`` -> ``robadams`` holds ``bad``) does not
count.  A match that crosses separators counts as soon as it begins at the start of one
of the name's words, ends at the end of one, or covers a whole word between them, which
is what spelling a word out (``b.a.d``, ``ba d``, ``x b a d``) always does.

Pure functions and one frozen value: the node reads the file (in a worker thread) and
hands the parsed ``DenyList`` to its quizzes.
"""

from __future__ import annotations

import re
import unicodedata

import attrs

# The look-alikes the wire contract lists (protocol.md, "Names (v2)").
LOOKALIKES = str.maketrans({"0": "o", "1": "i", "3": "e", "4": "a", "5": "s", "7": "t", "@": "a", "$": "s"})
_SEPARATOR_CATEGORIES = frozenset({"Zs", "Zl", "Zp", "Pc", "Pd"})


def is_separator(ch: str) -> bool:
    """White space, dots, connector punctuation (``_``) and dashes: what may be put
    between the letters of a word to hide it."""
    return ch.isspace() or ch == "." or unicodedata.category(ch) in _SEPARATOR_CATEGORIES


def fold(text: str) -> str:
    """Steps 1 and 2: NFKC-casefolded with the look-alikes mapped (separators kept)."""
    key = unicodedata.normalize("NFKC", unicodedata.normalize("NFKC", text).casefold())
    return key.translate(LOOKALIKES)


def fold_word(word: str) -> str:
    """A deny-list word in the form it is searched for: folded, separators removed."""
    return "".join(ch for ch in fold(word) if not is_separator(ch))


@attrs.frozen
class _Spelled:
    """A folded name without its separators, and for each of its characters which word
    of the name it came from (with where each word starts and ends)."""

    text: str
    word_of: tuple[int, ...]
    starts: tuple[int, ...]
    ends: tuple[int, ...]

    @classmethod
    def of(cls, name: str) -> _Spelled:
        chars: list[str] = []
        word_of: list[int] = []
        starts: list[int] = []
        ends: list[int] = []
        in_word = False
        for ch in fold(name):
            if is_separator(ch):
                if in_word:
                    ends.append(len(chars))
                in_word = False
                continue
            if not in_word:
                starts.append(len(chars))
                in_word = True
            chars.append(ch)
            word_of.append(len(starts) - 1)
        if in_word:
            ends.append(len(chars))
        return cls("".join(chars), tuple(word_of), tuple(starts), tuple(ends))

    def counts(self, begin: int, end: int) -> bool:
        """Whether the match ``text[begin:end]`` counts (see the module docstring)."""
        first, last = self.word_of[begin], self.word_of[end - 1]
        return first == last or last - first >= 2 or begin == self.starts[first] or end == self.ends[last]


@attrs.frozen
class DenyList:
    """The folded words of one deny-list file, and one regular expression that finds any
    of them (so a name that holds none costs one search)."""

    words: tuple[str, ...] = ()
    _any: re.Pattern[str] | None = attrs.field(default=None, eq=False, repr=False)

    @classmethod
    def of(cls, words: list[str] | tuple[str, ...]) -> DenyList:
        """From raw words: folded, empty ones dropped, duplicates once, longest first."""
        folded = sorted({w for w in (fold_word(raw) for raw in words) if w}, key=lambda w: (-len(w), w))
        pattern = re.compile("|".join(re.escape(w) for w in folded)) if folded else None
        return cls(tuple(folded), pattern)

    def __bool__(self) -> bool:
        return bool(self.words)

    def find(self, name: str) -> str | None:
        """The (folded) deny-list word ``name`` holds, or None."""
        if self._any is None:
            return None
        spelled = _Spelled.of(name)
        if self._any.search(spelled.text) is None:
            return None
        for word in self.words:
            at = spelled.text.find(word)
            while at != -1:
                if spelled.counts(at, at + len(word)):
                    return word
                at = spelled.text.find(word, at + 1)
        return None


def parse_denylist(text: str) -> DenyList:
    """A deny-list file's text: one word a line; ``#`` to the end of the line is a
    comment; blank lines (and lines that hold only separators) are ignored."""
    words = [line.split("#", 1)[0].strip() for line in text.splitlines()]
    return DenyList.of([w for w in words if w])
