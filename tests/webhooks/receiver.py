"""A real webhook receiver for the tests: an ``http.server`` on a loopback port, in a thread.

It answers each POST with the next status of its plan (then ``default``), keeps every
request, and verifies every signature with the ``standardwebhooks`` library, the
reference implementation of the specification quizd signs by.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import attrs
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
STALL = -1  # a plan entry: hold the request unanswered
OTHER_SECRET = "whsec_dGhpcyBpcyBhbm90aGVyIHNlY3JldCBrZXk="


@attrs.frozen
class Received:
    msg_id: str
    timestamp: int
    signature: str
    body: bytes
    verified: bool
    status: int  # what the receiver answered

    @property
    def json(self) -> dict[str, object]:
        loaded: dict[str, object] = json.loads(self.body)
        return loaded


class Receiver:
    """Records requests; answers ``plan`` statuses in turn, then ``default``.

    A ``STALL`` in the plan holds that request unanswered until the test ends (or 60 s),
    then answers 500: the sender is caught mid-delivery.
    """

    def __init__(self, secret: str = SECRET, plan: tuple[int, ...] = (), default: int = 200) -> None:
        self.webhook = Webhook(secret)
        self.plan = list(plan)
        self.default = default
        self.received: list[Received] = []
        self.lock = threading.Lock()
        self.url = ""
        self.unstall = threading.Event()

    def answer(self, headers: dict[str, str], body: bytes) -> int:
        try:
            self.webhook.verify(body, headers)
            verified = True
        except WebhookVerificationError:
            verified = False
        with self.lock:
            status = self.plan.pop(0) if self.plan else self.default
            self.received.append(
                Received(
                    msg_id=headers.get("webhook-id", ""),
                    timestamp=int(headers.get("webhook-timestamp", "0")),
                    signature=headers.get("webhook-signature", ""),
                    body=body,
                    verified=verified,
                    status=status,
                )
            )
        if status == STALL:
            self.unstall.wait(60)
            return 500
        return status

    def delivered(self) -> list[Received]:
        with self.lock:
            return [r for r in self.received if 200 <= r.status < 300]

    def wait_for(self, count: int, timeout: float = 30) -> list[Received]:
        """Wait until ``count`` deliveries (2xx answers) arrived; all requests so far."""
        deadline = time.monotonic() + timeout
        while len(self.delivered()) < count:
            if time.monotonic() > deadline:
                raise AssertionError(
                    f"{len(self.delivered())} of {count} deliveries after {timeout} s: {self.received}"
                )
            time.sleep(0.05)
        with self.lock:
            return list(self.received)


@contextmanager
def serve(receiver: Receiver) -> Iterator[Receiver]:
    """Run ``receiver`` on 127.0.0.1 (its ``url`` set) until the block ends."""

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("content-length", "0")))
            status = receiver.answer({k.lower(): v for k, v in self.headers.items()}, body)
            self.send_response(status)
            self.send_header("content-length", "0")
            self.end_headers()

        def log_message(self, format: str, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    receiver.url = f"http://127.0.0.1:{server.server_address[1]}/hooks"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield receiver
    finally:
        receiver.unstall.set()
        server.shutdown()
        server.server_close()
        thread.join(5)
