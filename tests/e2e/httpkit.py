"""Plain helpers for the HTTP end-to-end tests: one raw request with exactly the given
headers, and metric values read from a ``/metrics`` text.  A kit module, imported by name.
"""

from __future__ import annotations

import http.client
import re
from typing import Any
from urllib.parse import urlsplit

import trio

from quizd.client import ControlClient


def _raw_sync(
    base_url: str, method: str, path: str, body: bytes | None, headers: dict[str, str]
) -> tuple[int, dict[str, str], bytes]:
    parts = urlsplit(base_url)
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=10)
    try:
        conn.request(method, path, body=body, headers=headers)
        response = conn.getresponse()
        return response.status, {k.lower(): v for k, v in response.getheaders()}, response.read()
    finally:
        conn.close()


async def raw_http(
    base_url: str, method: str, path: str, body: bytes | None = None, headers: dict[str, str] | None = None
) -> tuple[int, dict[str, str], bytes]:
    """One request with exactly the given headers; returns (status, headers, body)."""
    with trio.fail_after(15):
        return await trio.to_thread.run_sync(_raw_sync, base_url, method, path, body, headers or {})


def metric_value(text: str, name: str, labels: dict[str, str] | None = None) -> float:
    for line in text.splitlines():
        if line.startswith("#") or not line.strip():
            continue
        m = re.match(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[^}]*\})?\s+(\S+)", line)
        if not m or m.group(1) != name:
            continue
        got = dict(re.findall(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"', m.group(2) or ""))
        if got == (labels or {}):
            return float(m.group(3))
    return 0.0


async def metric(node: Any, name: str, labels: dict[str, str] | None = None) -> float:
    status, body = await ControlClient(node.http_url).request("GET", "/metrics", raw=True)
    assert status == 200
    return metric_value(body.decode(), name, labels)
