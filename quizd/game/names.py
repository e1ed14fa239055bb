"""Player display names: normalisation, validation and the uniqueness key.

Names are shown to every other player, so invisible and control characters are
refused, and two names that look alike (case, width, compatibility forms) count as
the same name.
"""

from __future__ import annotations

import unicodedata

MAX_NAME_CODE_POINTS = 24
_FORBIDDEN_CATEGORIES = frozenset({"Cc", "Cf", "Co", "Cs", "Cn"})


class NameError_(ValueError):
    """A name the contract refuses; the message says why."""


def normalize_name(raw: str) -> str:
    """Trim and NFC-normalise ``raw``, or raise ``NameError_`` saying what is wrong."""
    name = unicodedata.normalize("NFC", raw.strip())
    if not name:
        raise NameError_("name must not be empty")
    if len(name) > MAX_NAME_CODE_POINTS:
        raise NameError_(f"name must be at most {MAX_NAME_CODE_POINTS} characters")
    for ch in name:
        if unicodedata.category(ch) in _FORBIDDEN_CATEGORIES:
            raise NameError_(f"name must not contain the character U+{ord(ch):04X}")
    return name


def name_key(name: str) -> str:
    """The key two names are compared by: NFKC-casefolded."""
    return unicodedata.normalize("NFKC", unicodedata.normalize("NFKC", name).casefold())
