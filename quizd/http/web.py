"""The browser pages (``/play``, ``/host``) and what they need from the node.

The pages in ``quizd/web/`` are plain files shipped as package data: they are the
reference client, so they talk to the node only through the documented WebSocket and
HTTP contracts.  This module serves them from memory (they are read once, off the event
loop, when the node starts), gzipped once for the browsers that take it (a phone on a
slow network fetches a third of the bytes), with an ETag so a reload costs a 304, and a
strict Content-Security-Policy: every script and style comes from the node itself.

Two small public helpers exist for the pages' sake and are documented in
docs/protocol.md section 3: ``/web/config.json`` tells a page where the WebSocket
listens (it is a different port, and ``public_url`` may move it), and ``/web/qr.svg``
renders a join link (and nothing else) as a QR code with segno, so the host screen needs no JS
library; a code not cached yet is throttled per client address and per node.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import mimetypes
import re
from collections import OrderedDict
from importlib import resources
from importlib.resources.abc import Traversable
from urllib.parse import parse_qs

import attrs
import segno
import trio

from quizd.http.throttle import AddressThrottle, Bucket

PAGES = {"/play": "play.html", "/host": "host.html"}
ASSET_PREFIX = "/web/"
QR_MAX_TEXT = 512

# The WebSocket listens on its own port (and maybe on another host, with public_url), so
# connect-src must allow ws:/wss: beyond 'self'.  Everything else stays on this origin.
CONTENT_SECURITY_POLICY = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self' ws: wss:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
)
SECURITY_HEADERS: tuple[tuple[bytes, bytes], ...] = (
    (b"content-security-policy", CONTENT_SECURITY_POLICY.encode()),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"),
    (b"x-frame-options", b"DENY"),
)


@attrs.frozen
class Variant:
    """One encoding of a file: the bytes sent, their own strong validator, and the
    ``Content-Encoding`` (``None`` for the file as it is)."""

    body: bytes
    etag: bytes
    encoding: bytes | None = None

    def named_in(self, if_none_match: bytes) -> bool:
        """Whether an ``If-None-Match`` header names this version (RFC 9110 13.1.2: weak
        comparison, so a proxy that turned our tag into ``W/"…"`` still gets its 304)."""
        tags = [tag.strip() for tag in if_none_match.split(b",")]
        return b"*" in tags or any(tag.removeprefix(b"W/") == self.etag for tag in tags)


@attrs.frozen
class Asset:
    """One file as served: its type, and its bytes as they are and (when that is smaller) gzipped."""

    content_type: str
    identity: Variant
    gzipped: Variant | None

    def pick(self, accept_encoding: bytes) -> Variant:
        """The gzipped variant when the client takes gzip (``q`` above 0), else the file."""
        if self.gzipped is not None and accepts_gzip(accept_encoding):
            return self.gzipped
        return self.identity


def accepts_gzip(accept_encoding: bytes) -> bool:
    for item in accept_encoding.lower().split(b","):
        coding, _, params = item.partition(b";")
        if coding.strip() in (b"gzip", b"*"):
            q = params.strip().removeprefix(b"q=")
            try:
                return not params.strip() or float(q) > 0
            except ValueError:
                return False
    return False


def _asset(name: str, body: bytes) -> Asset:
    content_type = mimetypes.guess_type(name)[0] or "application/octet-stream"
    if content_type.startswith("text/") or content_type in ("application/javascript", "application/json"):
        content_type += "; charset=utf-8"
    if name.endswith(".js"):  # some mimetypes tables say text/javascript, some nothing
        content_type = "text/javascript; charset=utf-8"
    tag = hashlib.sha256(body).hexdigest()[:32].encode()
    identity = Variant(body, b'"' + tag + b'"')
    packed = gzip.compress(body, compresslevel=9, mtime=0)  # mtime 0: the same bytes every start
    gzipped = Variant(packed, b'"' + tag + b'-gz"', b"gzip") if len(packed) < len(body) else None
    return Asset(content_type, identity, gzipped)


@attrs.frozen
class WebPages:
    """Every file under ``quizd/web/`` keyed by the URL path that serves it."""

    assets: dict[str, Asset]

    @classmethod
    def load(cls) -> WebPages:
        """Read the package's web files (blocking: call through ``trio.to_thread``)."""
        root = resources.files("quizd.web")
        assets: dict[str, Asset] = {}

        def walk(folder: Traversable, prefix: str) -> None:
            for entry in folder.iterdir():
                if entry.is_dir():
                    if entry.name != "__pycache__":
                        walk(entry, f"{prefix}{entry.name}/")
                elif not entry.name.endswith((".py", ".pyc")):
                    assets[f"{ASSET_PREFIX}{prefix}{entry.name}"] = _asset(entry.name, entry.read_bytes())

        walk(root, "")
        for route, name in PAGES.items():
            assets[route] = assets[f"{ASSET_PREFIX}{name}"]
        return cls(assets)

    def lookup(self, path: str) -> Asset | None:
        """The asset a GET of ``path`` serves; ``None`` for anything else (no file system
        access happens here, so ``..`` and friends simply find nothing)."""
        return self.assets.get(path)


# What /web/qr.svg renders: a join link of a quiz, as the host screen builds it
# (``<origin>/play?quiz=<quizId>``, with ``&screen=big`` when the host keeps the question
# on the big screen only), nothing else: an anonymous caller cannot make the node render
# arbitrary text, and every text it can ask for is short.
JOIN_LINK = re.compile(
    r"https?://(?:[A-Za-z0-9.-]{1,253}|\[[0-9A-Fa-f:.]{2,45}\])(?::[0-9]{1,5})?/play\?quiz=[A-Za-z0-9_-]{1,64}"
    r"(?:&screen=big)?"
)
QR_CACHE_SIZE = 64
# A cache miss costs milliseconds of pure-Python rendering (the GIL is held even in the
# worker thread): a few a second per address, and a few more for the whole node.
QR_PER_ADDRESS = (2.0, 10)  # tokens a second, burst
QR_PER_NODE = (10.0, 20)


def qr_text(query_string: bytes) -> str | None:
    """The ``text`` parameter of a ``/web/qr.svg`` query, or ``None`` when it is missing,
    empty, longer than ``QR_MAX_TEXT`` characters or not a join link."""
    try:
        values = parse_qs(query_string.decode("latin-1"), max_num_fields=4).get("text")
    except ValueError:  # more fields than a QR request has any use for
        return None
    if not values or not values[0] or len(values[0]) > QR_MAX_TEXT or not JOIN_LINK.fullmatch(values[0]):
        return None
    return values[0]


def _render_qr(text: str) -> bytes:
    # make_qr, not make: a short text would become a Micro QR, which phone cameras ignore.
    code = segno.make_qr(text, error="m")
    out = io.BytesIO()
    code.save(out, kind="svg", scale=8, border=2, xmldecl=False, title="Join link", dark="#111", light="#fff")
    return out.getvalue()


class Throttled(Exception):
    """Too many QR codes rendered for this address (or this node) just now."""

    def __init__(self, retry_after_s: float) -> None:
        super().__init__(f"retry after {retry_after_s:.1f} s")
        self.retry_after_s = retry_after_s


class QrCodes:
    """Join-link QR codes: cached (a host screen asks for the same link on every reload),
    rendered in a worker thread, cache misses throttled per address and per node."""

    def __init__(self) -> None:
        self._cache: OrderedDict[str, bytes] = OrderedDict()
        self._limiter = trio.CapacityLimiter(2)
        self._per_address = AddressThrottle(*QR_PER_ADDRESS)
        self._per_node = Bucket(QR_PER_NODE[0], QR_PER_NODE[1], QR_PER_NODE[1], updated=0.0)

    async def svg(self, text: str, address: str) -> bytes:
        """The SVG of ``text``; raises :class:`Throttled` for a miss over the budget."""
        cached = self._cache.get(text)
        if cached is not None:
            self._cache.move_to_end(text)
            return cached
        now = trio.current_time()
        wait = self._per_address.wait_s(address, now) or self._per_node.wait_s(now)
        if wait:
            raise Throttled(wait)
        self._per_address.take(address, now)
        self._per_node.take(now)
        body = await trio.to_thread.run_sync(_render_qr, text, limiter=self._limiter)
        self._cache[text] = body
        if len(self._cache) > QR_CACHE_SIZE:
            self._cache.popitem(last=False)
        return body
