"""Player display names: normalisation, validation and the uniqueness key.

Names are shown to every other player, so invisible and control characters are
refused, and two names that look alike (case, width, compatibility forms) count as
the same name.  ``NamePolicy`` holds the node's name settings (``[quizzes] names`` and the
deny-list of ``quizd.game.denylist``), shared by all of its quizzes.
"""

from __future__ import annotations

import enum
import unicodedata

from quizd.game.denylist import DenyList

MAX_NAME_CODE_POINTS = 24
_FORBIDDEN_CATEGORIES = frozenset({"Cc", "Cf", "Co", "Cs", "Cn"})
# Letters that draw nothing: the Hangul fillers and the blank Braille pattern.  A name with
# one of them could pass for another player's name, or for no name at all.
_FILLERS = frozenset("\u115f\u1160\u3164\uffa0\u2800")
# What a name made only of draws no visible glyph: spaces of every kind and marks with no
# base letter to sit on.
_BLANK_CATEGORIES = frozenset({"Zs", "Zl", "Zp", "Mn", "Mc", "Me"})


class NameError_(ValueError):
    """A name the contract refuses; the message says why, ``reason`` says it for a program
    (``empty``, ``too_long``, ``forbidden_character``, ``invisible_character``, ``blank``,
    ``denied``)."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


def normalize_name(raw: str) -> str:
    """Trim and NFC-normalise ``raw``, or raise ``NameError_`` saying what is wrong."""
    name = unicodedata.normalize("NFC", raw.strip())
    if not name:
        raise NameError_("empty", "name must not be empty")
    if len(name) > MAX_NAME_CODE_POINTS:
        raise NameError_("too_long", f"name must be at most {MAX_NAME_CODE_POINTS} characters")
    for ch in name:
        if unicodedata.category(ch) in _FORBIDDEN_CATEGORIES:
            raise NameError_("forbidden_character", f"name must not contain the character U+{ord(ch):04X}")
        if ch in _FILLERS:
            raise NameError_("invisible_character", f"name must not contain the invisible character U+{ord(ch):04X}")
    if all(ch.isspace() or unicodedata.category(ch) in _BLANK_CATEGORIES for ch in name):
        raise NameError_("blank", "name must show at least one letter, digit or symbol")
    return name


def name_key(name: str) -> str:
    """The key two names are compared by: NFKC-casefolded."""
    return unicodedata.normalize("NFKC", unicodedata.normalize("NFKC", name).casefold())


class NamesMode(enum.StrEnum):
    """``[quizzes] names``: where player names come from (the values are the config's)."""

    GIVEN = "given"  # players type their names; a join without one is invalid
    GENERATED = "generated"  # every player gets a generated name; a given one is ignored
    BOTH = "both"  # a given name is kept; a join without one gets a generated name


class NamePolicy:
    """The node's name rules, one object shared by every quiz of the node.

    ``mode`` is fixed at start.  ``denylist`` is replaced as a whole (``use``) when the
    node re-reads the deny-list file on SIGHUP; each join reads the current one, so live
    quizzes apply a new list from their next join on.
    """

    def __init__(self, mode: NamesMode = NamesMode.GIVEN, denylist: DenyList | None = None) -> None:
        self.mode = mode
        self.denylist = denylist if denylist is not None else DenyList()

    @property
    def generates(self) -> bool:
        """Whether a join without a name is a player join (it gets a generated name)."""
        return self.mode is not NamesMode.GIVEN

    def use(self, denylist: DenyList) -> None:
        """From now on, refuse the words of ``denylist``."""
        self.denylist = denylist

    def refuse_denied(self, name: str) -> None:
        """Raise ``NameError_`` reason ``denied`` when ``name`` holds a deny-list word."""
        if self.denylist.find(name) is not None:
            raise NameError_("denied", "name contains a word that is not allowed here")
