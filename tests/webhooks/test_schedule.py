"""The retry schedule: about 5 s, 30 s, 2 min, 10 min, 1 h, then hourly until 24 h.

Played out on Trio's ``MockClock`` (``autojump_threshold=0``): each failed attempt
sleeps until the schedule's next time, so the test walks a whole day in no time and
sees every attempt's time.
"""

from __future__ import annotations

import itertools

import pytest
import trio
import trio.testing

from quizd.webhooks.schedule import RetrySchedule

HOUR = 3600.0


async def attempt_times(schedule: RetrySchedule) -> list[float]:
    """When each attempt of an event that always fails starts, from the event at 0."""
    event_at = trio.current_time()
    times = []
    attempts = 0
    while True:
        times.append(trio.current_time() - event_at)
        attempts += 1
        at = schedule.next_attempt(event_at, attempts, trio.current_time())
        if at is None:
            return times
        await trio.sleep_until(at)


def test_an_event_that_always_fails_is_tried_on_the_contract_schedule_for_24_hours() -> None:
    clock = trio.testing.MockClock(autojump_threshold=0)
    times = trio.run(attempt_times, RetrySchedule(), clock=clock)
    assert times[:6] == [0, 5, 35, 155, 755, 4355]
    gaps = [b - a for a, b in itertools.pairwise(times)]
    assert gaps[:5] == [5, 30, 120, 600, HOUR]
    assert set(gaps[5:]) == {HOUR}  # then every hour
    assert times[-1] <= 24 * HOUR < times[-1] + HOUR  # the last one within the day, none after
    assert len(times) == 6 + 22  # after 4355 s, 22 more hourly attempts fit in the day


def test_a_shortened_schedule_is_injectable() -> None:
    clock = trio.testing.MockClock(autojump_threshold=0)
    times = trio.run(attempt_times, RetrySchedule(delays_s=(0.5, 1.0), repeat_s=2.0, give_up_after_s=6.0), clock=clock)
    assert times == [0, 0.5, 1.5, 3.5, 5.5]


def test_attempts_count_from_one() -> None:
    with pytest.raises(ValueError):
        RetrySchedule().delay_after(0)
