"""The database schema: one SQLAlchemy Core ``MetaData`` for SQLite and PostgreSQL.

Times are integer epoch milliseconds (``BigInteger``), the same on both dialects and in
the JSON the data API serves.  JSON documents (a whole definition, an answer's echo
object, a ``question_closed`` payload, a webhook payload) are kept as text: the store
writes and reads them whole and never queries inside them, so a JSON column type would
only add a dialect difference.

The Alembic migrations in ``quizd/store/migrations/versions`` must build exactly this
schema; a test compares them with Alembic's ``compare_metadata`` on both dialects.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Index,
    Integer,
    MetaData,
    PrimaryKeyConstraint,
    String,
    Table,
    Text,
)

# Named constraints so that migrations (and SQLite batch operations) can refer to them.
NAMING = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "pk": "pk_%(table_name)s",
}

metadata = MetaData(naming_convention=NAMING)

ID = 64  # quiz ids, participant ids, definition ids, question ids, node ids
NAME = 200  # titles, names, question kinds

definitions = Table(
    "definitions",
    metadata,
    Column("id", String(ID), nullable=False),
    Column("version", Integer, nullable=False),
    Column("source", String(8), nullable=False),  # "file" | "api"
    Column("title", String(NAME), nullable=False),
    Column("body", Text, nullable=False),  # the whole definition as JSON
    Column("created_at", BigInteger, nullable=False),
    Column("deleted_at", BigInteger, nullable=True),
    PrimaryKeyConstraint("id", "version"),
)

quizzes = Table(
    "quizzes",
    metadata,
    Column("quiz_id", String(ID), primary_key=True),
    Column("definition_id", String(ID), nullable=False),
    Column("definition_version", Integer, nullable=False),
    Column("title", String(NAME), nullable=False),
    Column("node", String(ID), nullable=False),
    Column("created_at", BigInteger, nullable=False),
    Column("started_at", BigInteger, nullable=True),
    Column("ended_at", BigInteger, nullable=True),
    Column("players", Integer, nullable=False, default=0),
    Column("questions", Integer, nullable=False),
    # History, newest first, paged by the cursor (ended_at, quiz_id).
    Index(None, "ended_at", "quiz_id"),
    Index(None, "definition_id", "ended_at", "quiz_id"),
)

players = Table(
    "players",
    metadata,
    Column("quiz_id", String(ID), nullable=False),
    Column("participant_id", String(ID), nullable=False),
    Column("name", String(NAME), nullable=False),
    Column("score", Integer, nullable=False),
    Column("rank", Integer, nullable=False),
    Column("correct_count", Integer, nullable=False),
    PrimaryKeyConstraint("quiz_id", "participant_id"),
)

answers = Table(
    "answers",
    metadata,
    Column("quiz_id", String(ID), nullable=False),
    Column("participant_id", String(ID), nullable=False),
    Column("question_id", String(ID), nullable=False),
    Column("question_index", Integer, nullable=False),
    Column("answer", Text, nullable=False),  # the echo object of protocol section 3, as JSON
    Column("correct", Boolean(create_constraint=False), nullable=True),  # null: a poll
    Column("points", Integer, nullable=False),
    Column("elapsed_ms", Integer, nullable=False),
    Column("arrived_at", BigInteger, nullable=False),
    # One answer per player and question: a retried batch inserts nothing twice.
    PrimaryKeyConstraint("quiz_id", "participant_id", "question_id"),
    Index(None, "quiz_id", "question_index"),
)

question_results = Table(
    "question_results",
    metadata,
    Column("quiz_id", String(ID), nullable=False),
    Column("question_id", String(ID), nullable=False),
    Column("question_index", Integer, nullable=False),
    Column("kind", String(NAME), nullable=False),
    Column("text", Text, nullable=False),
    Column("closed", Text, nullable=False),  # the question_closed payload as JSON
    PrimaryKeyConstraint("quiz_id", "question_id"),
)

webhook_outbox = Table(
    "webhook_outbox",
    metadata,
    Column("id", String(ID), nullable=False),  # the webhook-id: the same on every retry
    Column("url", Text, nullable=False),
    Column("event_type", String(NAME), nullable=False),
    Column("payload", Text, nullable=False),
    Column("attempts", Integer, nullable=False, default=0),
    Column("next_attempt_at", BigInteger, nullable=False),
    Column("claimed_by", String(ID), nullable=True),
    Column("claimed_until", BigInteger, nullable=True),
    Column("delivered_at", BigInteger, nullable=True),
    Column("last_error", Text, nullable=True),
    Column("created_at", BigInteger, nullable=False),
    # One event goes to each endpoint once.
    PrimaryKeyConstraint("id", "url"),
    # Due rows: not delivered yet, by the time of their next attempt.
    Index(None, "delivered_at", "next_attempt_at"),
)
