"""The plain-data form of a quiz snapshot: what a cluster stores so another node can take over.

``QuizGame`` owns its snapshot (``to_snapshot``, ``take_changes``, ``from_snapshot``):
only it knows which of its fields make up its state.  This module holds what is plain
data about the form itself: the record shapes, the version, and the definition's
encoding.  The snapshot is incremental by design: one small ``meta`` record for the
quiz and one record per participant, so an answer rewrites one participant's record,
never the whole quiz.  Times are stored as wall-clock milliseconds (monotonic clocks
mean nothing on another node).
"""

from __future__ import annotations

from typing import Any

from quizd.convert import converter
from quizd.game.definitions import Kind, QuizDefinition

SNAPSHOT_VERSION = 1

#: One JSON-ready record (the quiz's ``meta``, or one participant).
Record = dict[str, Any]
#: A full snapshot: (meta, participant id -> record).
Snapshot = tuple[Record, dict[str, Record]]
#: What changed since the last write: (meta, changed participants, removed participant ids).
Changes = tuple[Record, dict[str, Record], list[str]]


def _structure_kind(value: Any, _type: type) -> Kind:
    # A StrEnum is a str, so the converter's strict str hook would keep the bare string.
    return Kind(value)


converter.register_structure_hook(Kind, _structure_kind)


def definition_record(definition: QuizDefinition) -> Record:
    record: Record = converter.unstructure(definition)
    return record


def definition_from_record(record: Record) -> QuizDefinition:
    return converter.structure(record, QuizDefinition)
