"""Counting one task's turns: how often the scheduler ran it (a wake-up costs a turn)."""

from __future__ import annotations

import trio


class TaskSteps(trio.abc.Instrument):
    """How many times the task whose name ends with ``name`` ran."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.steps = 0

    def before_task_step(self, task: trio.lowlevel.Task) -> None:
        if task.name.endswith(self.name):
            self.steps += 1
