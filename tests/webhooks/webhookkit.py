"""A kit for the webhook tests: two endpoints and a batch writer run over a list of store events."""

from __future__ import annotations

import trio
from sqlalchemy import Engine

from quizd.config.model import WebhookEndpoint, WebhookEvent
from quizd.store.engine import Database
from quizd.store.events import StoreEvent
from quizd.store.writer import BatchWriter
from quizd.webhooks.outbox import Outbox
from tests.webhooks.receiver import OTHER_SECRET, SECRET

ALL = WebhookEndpoint(url="https://all.example/h", secret=SECRET)
ENDED = WebhookEndpoint(url="https://ended.example/h", secret=OTHER_SECRET, events=(WebhookEvent.QUIZ_ENDED,))


async def write(
    engine: Engine,
    events: list[StoreEvent],
    endpoints: tuple[WebhookEndpoint, ...] = (ALL, ENDED),
    batch_size: int = 1000,
) -> None:
    writer = BatchWriter(Database(engine), flush_interval_s=0.02, batch_size=batch_size, outbox=Outbox(endpoints))
    async with trio.open_nursery() as nursery:
        await nursery.start(writer.run)
        for event in events:
            writer.record(event)
        assert await writer.drain(10)
        nursery.cancel_scope.cancel()
