"""Helpers of the data API tests (a kit, not fixtures): raw HTTP with any content type, and seeding a node's
database with what a played quiz leaves (the store's own row writes).  The real
PostgreSQL (``postgres_server``, ``pg_url``) and ``redis_server`` come from tests/conftest.py."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import orjson

from quizd.config import StorageSection
from quizd.store.engine import engine_from_settings
from quizd.store.events import StoreEvent
from quizd.store.rows import write_batch
from tests.e2e.httpkit import raw_http


async def api(
    node: Any, method: str, path: str, body: Any = None, content_type: str = "application/json"
) -> tuple[int, dict[str, str], Any]:
    """One request with the admin token; ``body`` as bytes/str is sent as is, else as
    JSON.  Returns status, headers and the body (parsed when it is JSON)."""
    headers = {"authorization": f"Bearer {node.token}"}
    raw: bytes | None = None
    if body is not None:
        raw = body.encode() if isinstance(body, str) else body if isinstance(body, bytes) else orjson.dumps(body)
        headers["content-type"] = content_type
    status, got_headers, data = await raw_http(node.http_url, method, path, raw, headers)
    if got_headers.get("content-type", "").startswith("application/json") and data:
        return status, got_headers, orjson.loads(data)
    return status, got_headers, data


def seed(url: str, events: Iterable[StoreEvent]) -> None:
    """Write ``events`` into the database at ``url`` as the node's batch writer does."""
    engine = engine_from_settings(StorageSection(url=url), None)
    try:
        with engine.begin() as connection:
            write_batch(connection, events)
    finally:
        engine.dispose()
