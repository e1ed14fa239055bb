"""The phases of a quiz, as one closed enum.

A ``StrEnum`` so that the value on the wire (``joined``, ``host_state``, the HTTP
summary), in snapshots and in metric labels stays the plain string the contracts name
(``"lobby"``, ``"question"``, ...), while the code can only spell a phase that exists.
"""

from __future__ import annotations

import enum


class Phase(enum.StrEnum):
    """Where a quiz is: ``lobby`` -> ``starting`` -> (``question`` <-> ``reveal``)* -> ``ended``."""

    LOBBY = "lobby"
    STARTING = "starting"
    QUESTION = "question"
    REVEAL = "reveal"
    ENDED = "ended"
