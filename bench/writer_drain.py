"""How many answers per second the batch writer writes to a database: a timed drain.

    python -m bench.writer_drain --url postgresql://quizd@127.0.0.1:5432/bench --answers 20000

Run by ``bench/storage.py`` pinned to the server core, as a node's writer would be.
It uses the node's own write path (``quizd.store``: ``make_engine``, the migrations,
``Database`` and ``BatchWriter`` with the node's defaults: batches of 1,000, four
worker threads): it records one quiz and ``--answers`` answers at once, as a burst
leaves them in the writer's buffer, and times ``drain`` until every one is committed.
Prints one JSON line: ``{"answers", "seconds", "answers_per_s", "batches"}``.

Only the writer is timed, without a node's event loop competing for the core; the
end-of-quiz figure of the storage rows is the one measured through a real node.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import uuid

import trio

from quizd.store.engine import Database, make_engine
from quizd.store.events import AnswerRecorded, QuizCreated
from quizd.store.migrate import upgrade
from quizd.store.writer import BatchWriter

DRAIN_TIMEOUT_S = 300.0


async def drain(url: str, answers: int) -> dict[str, float | int]:
    engine = make_engine(url)
    upgrade(engine)
    database = Database(engine)
    writer = BatchWriter(database)
    quiz_id = "drain-" + uuid.uuid4().hex[:12]
    now_ms = int(time.time() * 1000)
    async with trio.open_nursery() as nursery:
        await nursery.start(writer.run)
        writer.record(QuizCreated(quiz_id, "bench-drain", 1, "Writer drain", "bench", 1, now_ms))
        await writer.drain(DRAIN_TIMEOUT_S)
        events = [
            AnswerRecorded(quiz_id, f"p{i}", "q0", 0, {"choice": i % 4}, i % 4 == 0, 500, 700, now_ms)
            for i in range(answers)
        ]
        t0 = time.perf_counter()
        for event in events:
            writer.record(event)
        done = await writer.drain(DRAIN_TIMEOUT_S)
        seconds = time.perf_counter() - t0
        nursery.cancel_scope.cancel()
    database.dispose()
    if not done:
        raise SystemExit(f"the writer did not drain {answers} answers in {DRAIN_TIMEOUT_S:.0f} s")
    return {
        "answers": answers,
        "seconds": round(seconds, 3),
        "answers_per_s": round(answers / seconds, 1),
        "batches": -(-answers // 1000),
    }


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--url", required=True, help="SQLAlchemy URL (sqlite+pysqlite:///PATH or postgresql://...)")
    p.add_argument("--answers", type=int, default=10_000, help="answers to write (default 10,000)")
    s = p.parse_args()
    print(json.dumps(trio.run(drain, s.url, s.answers)), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
