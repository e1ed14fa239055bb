"""The store: what happened, kept in a real database (SQLite embedded, PostgreSQL for a cluster).

Definitions, quizzes, answers, results and the webhook outbox, through SQLAlchemy Core
with sync drivers in Trio worker threads.  The game, the actors and the gateway never
import this package's database side: actors hand over what happened through the
``RecordPort`` of :mod:`quizd.actors.ports`, and an answer is acknowledged from memory,
never after a database write.

* :mod:`quizd.store.schema`: the tables (one ``MetaData`` for both dialects);
* :mod:`quizd.store.engine`: ``[storage]`` settings, the database URL, the Engine and
  ``Database`` (every call in a worker thread under a limiter);
* :mod:`quizd.store.migrate`: Alembic migrations run from code, ``quizd db``;
* :mod:`quizd.store.events`: what actors record;
* :mod:`quizd.store.rows`: those events as idempotent row writes;
* :mod:`quizd.store.writer`: the bounded batch writer;
* :mod:`quizd.store.queries`: what the data API reads (history, results, report).
"""
