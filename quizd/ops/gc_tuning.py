"""Garbage-collector settings for a process holding many long-lived objects.

A node with 10,000 players keeps about a million tracked objects alive for the whole
quiz.  CPython's default thresholds trigger a full collection whenever the old
generation has grown by a quarter, and a full collection scans every one of those
objects: a 200-400 ms stop of the event loop, in the middle of a question (measured
with quizd-load: steady-answer p99 238 ms at 5,000 players; 3 ms with the collector
off).  So: young collections stay (they are cheap and catch most cycles), full
collections are taken off the automatic schedule and run by ``collect_when_quiet``
when no quiz has a question open and no players are arriving, or at the latest every
``max_interval_s``.  (A full collection with 5,000 players joined took 340-780 ms; taken
while the next 5,000 were connecting, each of them waited that much longer for its
``joined``.)

Generation 1 holds what survived the young collections since its own last collection:
right after the joins of 5,000 players that is a few hundred thousand objects, and its
automatic collection (every ``MIDDLE_THRESHOLD`` young ones) took 250-320 ms wherever it
fell, in some runs in the middle of an answer burst (the all-at-once p99 at 5,000 then
went from 200-300 ms to 450-670 ms).  ``collect_middle_when_quiet`` takes it while no
question is open instead, every ``MIDDLE_CHECK_S``, so a question starts with generation 1
nearly empty.
"""

from __future__ import annotations

import gc
import logging
from collections.abc import Callable

import trio

log = logging.getLogger("quizd.gc")

YOUNG_THRESHOLD = 50_000
MIDDLE_THRESHOLD = 20
# Full collections only from collect_when_quiet (the automatic one practically never runs).
OLD_THRESHOLD = 1_000_000
# How often collect_middle_when_quiet looks for a generation-1 collection to take.
MIDDLE_CHECK_S = 0.25
# Players arriving keep the full collection off until this long after the last
# accepted connection (node.py, ``_timing_critical``).
ARRIVALS_QUIET_S = 0.5


def tune() -> None:
    """Freeze what start-up built and move full collections off the automatic schedule."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(YOUNG_THRESHOLD, MIDDLE_THRESHOLD, OLD_THRESHOLD)


async def collect_when_quiet(
    busy: Callable[[], bool],
    *,
    check_every_s: float = 10.0,
    min_interval_s: float = 60.0,
    max_interval_s: float = 600.0,
) -> None:
    """Run a full collection when nothing is timing-critical, or when overdue."""
    last = trio.current_time()
    while True:
        await trio.sleep(check_every_s)
        since = trio.current_time() - last
        if since < min_interval_s or (busy() and since < max_interval_s):
            continue
        start = trio.current_time()
        found = gc.collect()
        last = trio.current_time()
        log.debug("full collection", extra={"objects": found, "seconds": round(last - start, 4)})


async def collect_middle_when_quiet(busy: Callable[[], bool], *, check_every_s: float = MIDDLE_CHECK_S) -> None:
    """Collect generation 1 (and 0) while no question is open, whenever a young
    collection has added to it since its last collection."""
    while True:
        await trio.sleep(check_every_s)
        if not busy() and gc.get_count()[1] > 0:
            gc.collect(1)
