"""The HTTP control plane as a plain ASGI application (served by hypercorn's Trio worker).

A dozen routes do not need a framework; hypercorn does the HTTP, prometheus_client the
exposition format, the project's converter the body validation.  ``/api/*`` needs the
admin token as a bearer token, compared in constant time.  The browser pages and their
two helpers (``quizd.http.web``) are public, like ``/healthz``.
"""

from __future__ import annotations

import hmac
import logging
import math
from collections.abc import Awaitable, Callable
from typing import Any

import attrs
import cattrs
import orjson
import trio

from quizd.convert import converter, error_paths
from quizd.game.quiz import AutoStart
from quizd.http.data_api import DataApi
from quizd.http.replies import BODY_TIMEOUT_S, Receive, Reply, bounded_body  # noqa: F401 (BODY_TIMEOUT_S: the bound of v1 bodies too)
from quizd.http.replies import error_reply as _error
from quizd.http.replies import json_reply as _json
from quizd.http.replies import only_get as _only_get
from quizd.http.throttle import AddressThrottle
from quizd.http.web import SECURITY_HEADERS, QrCodes, Throttled, WebPages, qr_text
from quizd.ops import metrics
from quizd.service import QuizService
from quizd.service_errors import ServiceError
from quizd.store.runtime import Store

log = logging.getLogger("quizd.http")

# Wrong admin tokens: a burst of tries per client address, then one a second; while an
# address is over its budget every /api/* request from it is refused with 429.
AUTH_FAILURES = (1.0, 20)  # tokens a second, burst
Scope = dict[str, Any]
Send = Callable[[dict[str, Any]], Awaitable[None]]


@attrs.frozen
class AutoStartBody:
    minPlayers: int = attrs.field(validator=attrs.validators.and_(attrs.validators.ge(1), attrs.validators.le(100000)))
    countdownMs: int | None = attrs.field(
        default=None,
        validator=attrs.validators.optional(attrs.validators.and_(attrs.validators.ge(0), attrs.validators.le(600000))),
    )


@attrs.frozen
class CreateQuizBody:
    definitionId: str
    quizId: str | None = None
    autoStart: AutoStartBody | None = None


class ControlPlane:
    """The ASGI app.  ``ready()`` and ``ws_url()`` come from the node."""

    def __init__(
        self,
        service: QuizService,
        *,
        admin_token: str,
        ready: Callable[[], str | None],
        ws_url: Callable[[], str],
        web_config: Callable[[], dict[str, Any]] | None = None,
        store: Store | None = None,
    ) -> None:
        self.service = service
        # The node's database for the data API (None: [storage] url = "none").
        self.store = store
        self.data_api = DataApi(service.catalog, store)
        self._token = admin_token.encode()
        self._ready = ready
        self._ws_url = ws_url
        self._web_config = web_config
        # Set by the node once the files are read; None = pages off ([http] web = false).
        self.web: WebPages | None = None
        self.qr_codes = QrCodes()
        self._auth_failures = AddressThrottle(*AUTH_FAILURES)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await self._lifespan(receive, send)
            return
        if scope["type"] != "http":
            return
        try:
            reply = await self._route(scope, receive)
        except ServiceError as err:
            reply = _error(err.status, err.code, err.message, err.details)
        except Exception:
            log.exception("control plane request failed", extra={"path": scope.get("path")})
            reply = _error(500, "internal", "internal error")
        await send(
            {
                "type": "http.response.start",
                "status": reply.status,
                "headers": [(b"content-type", reply.content_type.encode()), *reply.headers],
            }
        )
        await send({"type": "http.response.body", "body": b"" if scope["method"] == "HEAD" else reply.body})

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await send({"type": "lifespan.shutdown.complete"})
                return

    async def _route(self, scope: Scope, receive: Receive) -> Reply:
        method: str = scope["method"]
        path: str = scope["path"].rstrip("/") or "/"
        if path == "/healthz":
            return _only_get(method) or _json(200, {"status": "ok"})
        if path == "/readyz":
            not_ready = self._ready()
            if not_ready:
                return _only_get(method) or _json(503, {"status": not_ready})
            return _only_get(method) or _json(200, {"status": "ready"})
        if path == "/metrics":
            if method != "GET":
                return _error(405, "method_not_allowed", "use GET")
            body, content_type = metrics.render()
            return Reply(200, body, content_type)
        if not path.startswith("/api/"):
            return await self._web(method, path, scope)
        address = _client_address(scope)
        now = trio.current_time()
        if wait := self._auth_failures.wait_s(address, now):
            return _too_many("too many wrong admin tokens from this address", wait)
        if not self._authorized(scope):
            self._auth_failures.take(address, now)
            return _error(401, "unauthorized", "missing or wrong bearer token")
        parts = path.split("/")[2:]  # ["definitions"] | ["quizzes", id?, action?]
        if (reply := await self.data_api.route(method, parts, scope, receive)) is not None:
            return reply
        if parts[0] != "quizzes" or len(parts) > 3:
            return _error(404, "not_found", f"no route {path}")
        if len(parts) == 1:
            if method == "GET":
                return _json(200, await self.service.list_quizzes())
            if method == "POST":
                return await self._create(receive)
            return _error(405, "method_not_allowed", "use GET or POST")
        quiz_id = parts[1]
        if len(parts) == 2:
            return _only_get(method) or _json(200, await self.service.get_quiz(quiz_id))
        if parts[2] == "results":
            return _only_get(method) or _json(200, await self.service.results(quiz_id))
        if parts[2] == "end":
            if method != "POST":
                return _error(405, "method_not_allowed", "use POST")
            return _json(200, await self.service.end_quiz(quiz_id))
        return _error(404, "not_found", f"no route {path}")

    async def _web(self, method: str, path: str, scope: Scope) -> Reply:
        """The pages, their files, and the two public helpers they use."""
        if self.web is None:
            return _error(404, "not_found", f"no route {path}")
        if path == "/":
            return Reply(302, b"", "text/plain", ((b"location", b"/play"), (b"cache-control", b"no-store")))
        if path == "/web/config.json":
            return _only_get(method) or _json(200, self._web_config() if self._web_config else {})
        if path == "/web/qr.svg":
            if refused := _only_get(method):
                return refused
            text = qr_text(scope.get("query_string", b""))
            if text is None:
                return _error(400, "invalid_query", "give text=<a join link: http(s)://host/play?quiz=ID>")
            try:
                svg = await self.qr_codes.svg(text, _client_address(scope))
            except Throttled as exc:
                return _too_many("too many new QR codes just now", exc.retry_after_s)
            return Reply(200, svg, "image/svg+xml", ((b"cache-control", b"private, max-age=3600"), *SECURITY_HEADERS))
        asset = self.web.lookup(path)
        if asset is None:
            return _error(404, "not_found", f"no route {path}")
        if refused := _only_get(method):
            return refused
        request = dict(scope["headers"])
        variant = asset.pick(request.get(b"accept-encoding", b""))
        headers = (
            (b"etag", variant.etag),
            (b"cache-control", b"no-cache"),
            (b"vary", b"accept-encoding"),
            *SECURITY_HEADERS,
        )
        if variant.encoding is not None:
            headers += ((b"content-encoding", variant.encoding),)
        if b"if-none-match" in request and variant.named_in(request[b"if-none-match"]):
            return Reply(304, b"", asset.content_type, headers)
        return Reply(200, variant.body, asset.content_type, headers)

    def _authorized(self, scope: Scope) -> bool:
        if not self._token:
            return False
        for name, value in scope["headers"]:
            if name == b"authorization":
                scheme, _, token = value.partition(b" ")
                return scheme.lower() == b"bearer" and hmac.compare_digest(token.strip(), self._token)
        return False

    async def _create(self, receive: Receive) -> Reply:
        raw = await bounded_body(receive)
        if isinstance(raw, Reply):
            return raw
        try:
            doc = orjson.loads(raw or b"{}")
        except orjson.JSONDecodeError as exc:
            return _error(422, "invalid_body", f"body is not JSON: {exc}")
        if not isinstance(doc, dict):
            return _error(422, "invalid_body", "body must be a JSON object")
        try:
            body = converter.structure(doc, CreateQuizBody)
        except (cattrs.BaseValidationError, ValueError, TypeError) as exc:
            problems = "; ".join(f"{path}: {msg}" for path, msg in error_paths(exc))
            return _error(422, "invalid_body", problems)
        auto = None
        if body.autoStart is not None:
            auto = AutoStart(body.autoStart.minPlayers, body.autoStart.countdownMs)
        created = await self.service.create_quiz(body.definitionId, body.quizId, auto)
        return _json(201, {"quizId": created.quiz_id, "hostToken": created.host_token, "wsUrl": self._ws_url()})


def _too_many(message: str, retry_after_s: float) -> Reply:
    retry_ms = max(1, math.ceil(retry_after_s * 1000))
    body = {"error": {"code": "rate_limited", "message": message, "details": {"retryAfterMs": retry_ms}}}
    return Reply(
        429,
        orjson.dumps(body),
        "application/json",
        ((b"cache-control", b"no-store"), (b"retry-after", str(math.ceil(retry_ms / 1000)).encode())),
    )


def _client_address(scope: Scope) -> str:
    client = scope.get("client")
    return str(client[0]) if client else ""
