"""Store events as row writes: one transaction per batch, safe to repeat, little Python.

A batch whose commit was lost (the database went away after committing, before saying
so) is written again, so every write is idempotent: inserts are insert-or-ignore on the
primary key (``ON CONFLICT DO NOTHING`` on SQLite and PostgreSQL), and the updates set
the same values again.

Within a batch the writes go by kind in the order a quiz lives (created, started,
answers, closes, ended), which is the order of any one quiz's events, so grouping keeps
each quiz's facts consistent while each table's rows go in as one statement.

**Why the rows travel as one JSON array.**  The batch is written in a worker thread
while the node's event loop runs on; Python work in that thread holds the GIL, which the
loop gets back only every ``sys.getswitchinterval()``, so every bit of per-row Python
(statement compilation, bind processing, a driver's executemany loop, psycopg's array
dumpers) shows up as a stall in the answer burst.  :func:`insert_ignore` therefore sends
each table's rows as *one* parameter: the rows as tuples, serialised by ``orjson`` in C,
unpacked by the database itself (``json_each`` on SQLite, with the GIL released around
the whole statement; ``jsonb_array_elements`` on PostgreSQL, one round trip).  On SQLite
this beat the sqlite3 module's ``executemany`` although it costs a little more CPU: that
takes the GIL back after each row's step, and a thread that waits for the GIL meanwhile
(the event loop back from ``epoll``) can wait a whole switch interval.  The per-row
work left in Python is C-level (``attrgetter``, ``map``, ``zip``).  The statement of each
(dialect, table, columns) is built once from the table's SQLAlchemy Core definition
(:mod:`quizd.store.schema` stays the one schema of both dialects) and cached.

Column types are the table's: SQLite stores the values ``->>`` extracts (TEXT,
INTEGER, NULL; a JSON ``true`` is 1, as the driver would bind it); PostgreSQL casts each
non-text value to its column's type and lets text columns take the assignment cast, so
a value longer than a ``VARCHAR(n)`` is refused as before (an explicit cast to
``VARCHAR(n)`` would truncate it silently).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from functools import lru_cache
from operator import attrgetter

import orjson
from sqlalchemy import Connection, String, Table, update
from sqlalchemy.engine import Dialect

from quizd.store import schema
from quizd.store.events import AnswerRecorded, QuestionClosed, QuizCreated, QuizEnded, QuizStarted, StoreEvent

# The answers' columns, in the order AnswerRecorded's fields are read into a row.
ANSWER_COLUMNS = (
    "quiz_id",
    "participant_id",
    "question_id",
    "question_index",
    "answer",
    "correct",
    "points",
    "elapsed_ms",
    "arrived_at",
)
_ANSWER_ROW = attrgetter(*ANSWER_COLUMNS)
_ANSWER_JSON = ANSWER_COLUMNS.index("answer")
PLAYER_COLUMNS = ("quiz_id", "participant_id", "name", "score", "rank", "correct_count")
QUIZ_COLUMNS = (
    "quiz_id",
    "definition_id",
    "definition_version",
    "title",
    "node",
    "created_at",
    "players",
    "questions",
)
CLOSED_COLUMNS = ("quiz_id", "question_id", "question_index", "kind", "text", "closed")


def _json(value: object) -> str:
    return orjson.dumps(value).decode()


@lru_cache(maxsize=64)
def insert_ignore_sql(dialect: Dialect, table: Table, columns: tuple[str, ...]) -> str:
    """The insert-or-ignore statement of ``columns`` of ``table`` whose one parameter is
    the rows as a JSON array of arrays (built once per engine's dialect, table and columns)."""
    if dialect.name not in ("sqlite", "postgresql"):
        raise ValueError(f"no row writes for the {dialect.name!r} dialect")
    quote = dialect.identifier_preparer.quote
    names = ", ".join(quote(name) for name in columns)
    if dialect.name == "sqlite":
        values = ", ".join(f"value ->> {i}" for i in range(len(columns)))
        # "WHERE true": without it SQLite would read ON CONFLICT as a join's ON clause.
        source = "json_each(?) WHERE true"
    else:
        exprs = []
        for i, name in enumerate(columns):
            type_ = table.c[name].type
            value = f"r.value ->> {i}"
            exprs.append(value if isinstance(type_, String) else f"CAST({value} AS {type_.compile(dialect=dialect)})")
        values = ", ".join(exprs)
        source = "jsonb_array_elements(CAST(%s AS JSONB)) AS r"
    return f"INSERT INTO {quote(table.name)} ({names}) SELECT {values} FROM {source} ON CONFLICT DO NOTHING"


def insert_ignore(
    connection: Connection, table: Table, columns: Sequence[str], rows: Sequence[Sequence[object]]
) -> None:
    """Insert ``rows`` (values in the order of ``columns``), skipping those whose primary
    key is already there: one statement, the rows as one JSON parameter."""
    if not rows:
        return
    sql = insert_ignore_sql(connection.dialect, table, tuple(columns))
    connection.exec_driver_sql(sql, (orjson.dumps(rows).decode(),))


def answer_rows(answers: Sequence[AnswerRecorded]) -> list[tuple[object, ...]]:
    """The ``answers`` rows (:data:`ANSWER_COLUMNS`) of ``answers``: read and JSON-encoded
    column by column with C-level ``map`` and ``zip``, no Python frame per answer."""
    if not answers:
        return []
    columns = list(zip(*map(_ANSWER_ROW, answers), strict=True))
    columns[_ANSWER_JSON] = tuple(map(bytes.decode, map(orjson.dumps, columns[_ANSWER_JSON])))
    return list(zip(*columns, strict=True))


def write_batch(connection: Connection, events: Iterable[StoreEvent]) -> None:
    """Write ``events`` on ``connection`` (the caller owns the transaction)."""
    created: list[tuple[object, ...]] = []
    started: list[QuizStarted] = []
    answers: list[AnswerRecorded] = []
    closed: list[tuple[object, ...]] = []
    ended: list[QuizEnded] = []
    for event in events:
        if isinstance(event, AnswerRecorded):
            answers.append(event)
        elif isinstance(event, QuizCreated):
            created.append(
                (
                    event.quiz_id,
                    event.definition_id,
                    event.definition_version,
                    event.title,
                    event.node,
                    event.created_at,
                    0,
                    event.questions,
                )
            )
        elif isinstance(event, QuizStarted):
            started.append(event)
        elif isinstance(event, QuestionClosed):
            closed.append(
                (
                    event.quiz_id,
                    event.question_id,
                    event.question_index,
                    event.kind,
                    event.text,
                    _json(event.payload),
                )
            )
        else:
            ended.append(event)
    insert_ignore(connection, schema.quizzes, QUIZ_COLUMNS, created)
    quizzes = schema.quizzes
    for s in started:
        connection.execute(update(quizzes).where(quizzes.c.quiz_id == s.quiz_id).values(started_at=s.started_at))
    insert_ignore(connection, schema.answers, ANSWER_COLUMNS, answer_rows(answers))
    insert_ignore(connection, schema.question_results, CLOSED_COLUMNS, closed)
    for e in ended:
        connection.execute(
            update(quizzes).where(quizzes.c.quiz_id == e.quiz_id).values(ended_at=e.ended_at, players=len(e.players))
        )
        insert_ignore(
            connection,
            schema.players,
            PLAYER_COLUMNS,
            [(e.quiz_id, p.participant_id, p.name, p.score, p.rank, p.correct_count) for p in e.players],
        )
