"""The first schema: definitions, quizzes, players, answers, question results, webhook outbox.

Revision ID: 0001
Revises:
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

ID = 64
NAME = 200


def upgrade() -> None:
    op.create_table(
        "definitions",
        sa.Column("id", sa.String(ID), nullable=False),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("source", sa.String(8), nullable=False),
        sa.Column("title", sa.String(NAME), nullable=False),
        sa.Column("body", sa.Text, nullable=False),
        sa.Column("created_at", sa.BigInteger, nullable=False),
        sa.Column("deleted_at", sa.BigInteger, nullable=True),
        sa.PrimaryKeyConstraint("id", "version", name="pk_definitions"),
    )
    op.create_table(
        "quizzes",
        sa.Column("quiz_id", sa.String(ID), nullable=False),
        sa.Column("definition_id", sa.String(ID), nullable=False),
        sa.Column("definition_version", sa.Integer, nullable=False),
        sa.Column("title", sa.String(NAME), nullable=False),
        sa.Column("node", sa.String(ID), nullable=False),
        sa.Column("created_at", sa.BigInteger, nullable=False),
        sa.Column("started_at", sa.BigInteger, nullable=True),
        sa.Column("ended_at", sa.BigInteger, nullable=True),
        sa.Column("players", sa.Integer, nullable=False),
        sa.Column("questions", sa.Integer, nullable=False),
        sa.PrimaryKeyConstraint("quiz_id", name="pk_quizzes"),
    )
    op.create_index("ix_quizzes_ended_at_quiz_id", "quizzes", ["ended_at", "quiz_id"])
    op.create_index("ix_quizzes_definition_id_ended_at_quiz_id", "quizzes", ["definition_id", "ended_at", "quiz_id"])
    op.create_table(
        "players",
        sa.Column("quiz_id", sa.String(ID), nullable=False),
        sa.Column("participant_id", sa.String(ID), nullable=False),
        sa.Column("name", sa.String(NAME), nullable=False),
        sa.Column("score", sa.Integer, nullable=False),
        sa.Column("rank", sa.Integer, nullable=False),
        sa.Column("correct_count", sa.Integer, nullable=False),
        sa.PrimaryKeyConstraint("quiz_id", "participant_id", name="pk_players"),
    )
    op.create_table(
        "answers",
        sa.Column("quiz_id", sa.String(ID), nullable=False),
        sa.Column("participant_id", sa.String(ID), nullable=False),
        sa.Column("question_id", sa.String(ID), nullable=False),
        sa.Column("question_index", sa.Integer, nullable=False),
        sa.Column("answer", sa.Text, nullable=False),
        sa.Column("correct", sa.Boolean(create_constraint=False), nullable=True),
        sa.Column("points", sa.Integer, nullable=False),
        sa.Column("elapsed_ms", sa.Integer, nullable=False),
        sa.Column("arrived_at", sa.BigInteger, nullable=False),
        sa.PrimaryKeyConstraint("quiz_id", "participant_id", "question_id", name="pk_answers"),
    )
    op.create_index("ix_answers_quiz_id_question_index", "answers", ["quiz_id", "question_index"])
    op.create_table(
        "question_results",
        sa.Column("quiz_id", sa.String(ID), nullable=False),
        sa.Column("question_id", sa.String(ID), nullable=False),
        sa.Column("question_index", sa.Integer, nullable=False),
        sa.Column("kind", sa.String(NAME), nullable=False),
        sa.Column("text", sa.Text, nullable=False),
        sa.Column("closed", sa.Text, nullable=False),
        sa.PrimaryKeyConstraint("quiz_id", "question_id", name="pk_question_results"),
    )
    op.create_table(
        "webhook_outbox",
        sa.Column("id", sa.String(ID), nullable=False),
        sa.Column("url", sa.Text, nullable=False),
        sa.Column("event_type", sa.String(NAME), nullable=False),
        sa.Column("payload", sa.Text, nullable=False),
        sa.Column("attempts", sa.Integer, nullable=False),
        sa.Column("next_attempt_at", sa.BigInteger, nullable=False),
        sa.Column("claimed_by", sa.String(ID), nullable=True),
        sa.Column("claimed_until", sa.BigInteger, nullable=True),
        sa.Column("delivered_at", sa.BigInteger, nullable=True),
        sa.Column("last_error", sa.Text, nullable=True),
        sa.Column("created_at", sa.BigInteger, nullable=False),
        sa.PrimaryKeyConstraint("id", "url", name="pk_webhook_outbox"),
    )
    op.create_index(
        "ix_webhook_outbox_delivered_at_next_attempt_at", "webhook_outbox", ["delivered_at", "next_attempt_at"]
    )


def downgrade() -> None:
    for table in ("webhook_outbox", "question_results", "answers", "players", "quizzes", "definitions"):
        op.drop_table(table)
