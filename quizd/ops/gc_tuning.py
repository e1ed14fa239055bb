"""Garbage-collector settings for a process holding many long-lived objects.

A node with 10,000 players keeps about a million tracked objects alive for the whole
quiz.  CPython's default thresholds trigger a full collection whenever the old
generation has grown by a quarter, and a full collection scans every one of those
objects: a 200-400 ms stop of the event loop, in the middle of a question (measured
with quizd-load: steady-answer p99 238 ms at 5,000 players; 3 ms with the collector
off).  So: young collections stay (they catch most cycles; but see the hold below), full
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

While players arrive, though, every young and middle collection walks the objects of
the connections just made and finds nothing to free (measured with ``gc.callbacks``
over ``bench.connect_turns``: 5,000 players joining in 1.4 s took 3 young and 3 middle
collections, 130-190 ms, 0 objects freed).  And while a question is open, a young
collection is a pause of 20-50 ms among the answers (the 50,000 young objects of a few
bursts of answers: one fell in the "multiple" question of the bench's kinds quiz, its
p99 54 ms against 1-14 ms for the others).  So while connections are being accepted or
a question is open, the automatic collection is held (``CollectionHold``), for at most
``HOLD_MAX_YOUNG`` young objects; the debt is paid in one young and middle collection
when neither is the case any more (a reveal, a lobby once the joins stop), at once before
a question goes out (``settle_before_question``, called by the quiz actor, so a question
starts with nothing owed), or at that limit.  What a hold can leave unfreed is bounded by
it: cyclic garbage among at most ``HOLD_MAX_YOUNG`` tracked objects.
"""

from __future__ import annotations

import gc
import logging
import time
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
# accepted connection (node.py, ``_timing_critical``), and hold the automatic ones.
ARRIVALS_QUIET_S = 0.5
# The most young objects a hold lets accumulate (tracked objects allocated and not yet
# freed: about 30 per joined player, about 4 per answer); then the debt is paid, and a
# new hold begins if players are still arriving or a question is still open.
HOLD_MAX_YOUNG = 300_000


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


class CollectionHold:
    """The automatic collection held while players arrive or a question is open (see
    the module's docstring).

    The collector is process-wide, and so is the hold: one instance, ``HOLD``.  It only
    ever re-enables a collector it disabled itself."""

    __slots__ = ("held",)

    def __init__(self) -> None:
        self.held = False  # the collector is off because this hold turned it off

    def begin(self) -> None:
        if not self.held and gc.isenabled():
            gc.disable()
            self.held = True

    def due(self) -> bool:
        """Held past its limit: the debt must be paid now."""
        return self.held and gc.get_count()[0] >= HOLD_MAX_YOUNG

    def release(self, *, collect: bool) -> None:
        """End the hold; with ``collect``, pay its debt (generations 0 and 1) now."""
        if not self.held:
            return
        self.held = False
        gc.enable()
        if collect:
            start = time.perf_counter()
            gc.collect(1)
            log.debug("collection hold paid", extra={"seconds": round(time.perf_counter() - start, 4)})


HOLD = CollectionHold()


def settle_before_question() -> None:
    """A question is about to go out: pay a hold's debt first, so that the question
    starts with nothing owed (the hold begins again while it is open)."""
    HOLD.release(collect=True)


async def collect_middle_when_quiet(
    busy: Callable[[], bool],
    arriving: Callable[[], bool] = lambda: False,
    *,
    check_every_s: float = MIDDLE_CHECK_S,
) -> None:
    """Hold the automatic collections while players are ``arriving`` or a question is
    open (``busy``), and pay the debt when neither is the case (``HOLD``); otherwise
    collect generation 1 (and 0) whenever a young collection has added to it since its
    last collection."""
    try:
        while True:
            await trio.sleep(check_every_s)
            if arriving() or busy():
                if HOLD.due():
                    HOLD.release(collect=True)
                HOLD.begin()
            elif HOLD.held:
                HOLD.release(collect=True)
            elif gc.get_count()[1] > 0:
                gc.collect(1)
    finally:
        HOLD.release(collect=False)
