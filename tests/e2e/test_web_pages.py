"""The browser pages as HTTP resources: what a browser fetches, with which headers.

What the pages do in a browser is tests/browser/; here only the serving: routes, types,
the Content-Security-Policy that keeps every script on this origin, ETag revalidation,
the two public helpers (config.json, qr.svg), and ``[http] web = false``.
"""

from __future__ import annotations

import gzip
import json
import re

import pytest

from tests.e2e.httpkit import raw_http

pytestmark = pytest.mark.e2e

FILES = {
    "/play": "text/html; charset=utf-8",
    "/host": "text/html; charset=utf-8",
    "/web/play.html": "text/html; charset=utf-8",
    "/web/js/client.js": "text/javascript; charset=utf-8",
    "/web/js/dom.js": "text/javascript; charset=utf-8",
    "/web/js/play.js": "text/javascript; charset=utf-8",
    "/web/js/host.js": "text/javascript; charset=utf-8",
    "/web/js/library.js": "text/javascript; charset=utf-8",
    "/web/js/editor.js": "text/javascript; charset=utf-8",
    "/web/js/dataapi.js": "text/javascript; charset=utf-8",
    "/web/css/base.css": "text/css; charset=utf-8",
    "/web/css/library.css": "text/css; charset=utf-8",
}


async def test_pages_and_their_files_are_served_with_a_strict_policy(node_factory):
    node = node_factory()
    for path, content_type in FILES.items():
        status, headers, body = await raw_http(node.http_url, "GET", path)
        assert status == 200, path
        assert headers["content-type"] == content_type, path
        assert body, path
        policy = headers["content-security-policy"]
        assert "script-src 'self'" in policy and "default-src 'none'" in policy
        assert headers["x-content-type-options"] == "nosniff"
        assert headers["cache-control"] == "no-cache"
        assert re.fullmatch(r'"[0-9a-f]{32}"', headers["etag"])


async def test_pages_reference_only_files_the_node_serves(node_factory):
    """No CDN, no web font: every src/href in the pages is a path on this node."""
    node = node_factory()
    for page in ("/play", "/host"):
        _, _, body = await raw_http(node.http_url, "GET", page)
        html = body.decode()
        references = re.findall(r'(?:src|href)="([^"]+)"', html)
        assert references, page
        for reference in references:
            assert reference.startswith("/"), (page, reference)
            status, _, _ = await raw_http(node.http_url, "GET", reference)
            assert status == 200, (page, reference)
        assert "<style" not in html and " style=" not in html, "inline styles break the CSP"
        assert re.search(r"<script(?![^>]*\bsrc=)[^>]*>", html) is None, "inline scripts break the CSP"


async def test_an_unchanged_file_revalidates_with_304(node_factory):
    node = node_factory()
    _, headers, _ = await raw_http(node.http_url, "GET", "/web/js/client.js")
    status, again, body = await raw_http(
        node.http_url, "GET", "/web/js/client.js", headers={"If-None-Match": headers["etag"]}
    )
    assert (status, body) == (304, b"")
    assert again["etag"] == headers["etag"]
    for matching in (f"W/{headers['etag']}", f'"other", {headers["etag"]}', "*"):
        status, _, body = await raw_http(node.http_url, "GET", "/web/js/client.js", headers={"If-None-Match": matching})
        assert (status, body) == (304, b""), matching
    status, _, body = await raw_http(
        node.http_url, "GET", "/web/js/client.js", headers={"If-None-Match": '"something-else"'}
    )
    assert status == 200 and body


async def test_browsers_that_take_gzip_get_it(node_factory):
    node = node_factory()
    _, plain_headers, plain = await raw_http(node.http_url, "GET", "/web/js/play.js")
    assert "content-encoding" not in plain_headers
    status, headers, packed = await raw_http(
        node.http_url, "GET", "/web/js/play.js", headers={"Accept-Encoding": "br, gzip;q=0.8"}
    )
    assert status == 200
    assert headers["content-encoding"] == "gzip"
    assert headers["vary"] == plain_headers["vary"] == "accept-encoding"
    assert gzip.decompress(packed) == plain
    assert len(packed) < len(plain) / 2
    # Each encoding has its own validator, and revalidates against it.
    assert headers["etag"] != plain_headers["etag"]
    status, _, body = await raw_http(
        node.http_url, "GET", "/web/js/play.js", headers={"Accept-Encoding": "gzip", "If-None-Match": headers["etag"]}
    )
    assert (status, body) == (304, b"")
    # q=0 means "not gzip"; a file gzip does not shrink is sent as it is.
    _, refused, _ = await raw_http(node.http_url, "GET", "/web/js/play.js", headers={"Accept-Encoding": "gzip;q=0"})
    assert "content-encoding" not in refused


async def test_head_answers_without_a_body(node_factory):
    node = node_factory()
    status, headers, body = await raw_http(node.http_url, "HEAD", "/play")
    assert (status, body) == (200, b"")
    assert headers["content-type"].startswith("text/html")


async def test_paths_outside_the_package_files_are_404(node_factory):
    node = node_factory()
    for path in (
        "/web/",
        "/web/../config.py",
        "/web/%2e%2e/http/app.py",
        "/web/__init__.py",
        "/web/js/nope.js",
        "/playx",
        "/web/js",
    ):
        status, _, body = await raw_http(node.http_url, "GET", path)
        assert status == 404, path
        assert json.loads(body)["error"]["code"] == "not_found"


async def test_pages_answer_only_get(node_factory):
    node = node_factory()
    status, _, body = await raw_http(node.http_url, "POST", "/play", body=b"x")
    assert status == 405
    assert json.loads(body)["error"]["code"] == "method_not_allowed"


async def test_the_root_sends_players_to_the_player_page(node_factory):
    node = node_factory()
    status, headers, _ = await raw_http(node.http_url, "GET", "/")
    assert status == 302
    assert headers["location"] == "/play"


async def test_config_tells_the_page_where_the_websocket_is(node_factory):
    node = node_factory()
    status, _, body = await raw_http(node.http_url, "GET", "/web/config.json")
    assert status == 200
    ws_port = int(node.ws_address.rsplit(":", 1)[1])
    assert json.loads(body) == {"wsUrl": None, "wsPort": ws_port, "wsTls": False, "names": "given"}


async def test_config_tells_the_page_the_names_mode(node_factory):
    node = node_factory(quizzes={"names": "both"})
    _, _, body = await raw_http(node.http_url, "GET", "/web/config.json")
    assert json.loads(body)["names"] == "both"


async def test_config_passes_on_the_public_url(node_factory):
    node = node_factory(websocket={"public_url": "wss://quiz.example.com/ws"})
    _, _, body = await raw_http(node.http_url, "GET", "/web/config.json")
    assert json.loads(body)["wsUrl"] == "wss://quiz.example.com/ws"


async def test_qr_code_of_a_join_link(node_factory):
    node = node_factory()
    status, headers, body = await raw_http(
        node.http_url, "GET", "/web/qr.svg?text=http%3A%2F%2F127.0.0.1%3A8080%2Fplay%3Fquiz%3Dabc"
    )
    assert status == 200
    assert headers["content-type"] == "image/svg+xml"
    assert body.startswith(b"<svg") and b"<path" in body
    # The link of "question on the big screen only" is a join link too.
    status, _, body = await raw_http(
        node.http_url, "GET", "/web/qr.svg?text=http%3A%2F%2F127.0.0.1%3A8080%2Fplay%3Fquiz%3Dabc%26screen%3Dbig"
    )
    assert status == 200 and body.startswith(b"<svg")
    # Even a short text is a full QR code (21 modules and more), never a Micro QR.
    _, _, short = await raw_http(node.http_url, "GET", "/web/qr.svg?text=http%3A%2F%2Fa%2Fplay%3Fquiz%3Db")
    width = int(re.search(rb'width="(\d+)"', short).group(1))
    assert width >= (21 + 2 * 2) * 8


async def test_qr_code_refuses_missing_and_oversized_text(node_factory):
    node = node_factory()
    link = "http%3A%2F%2F127.0.0.1%3A8080%2Fplay%3Fquiz%3Dabc"
    for query in (
        "",
        "?text=",
        "?other=1",
        "?text=" + "a" * 513,
        "?a=1&b=2&c=3&d=4&e=5&text=" + link,
        "?text=hi",
        "?text=http%3A%2F%2Fh%2Fplay%3Fquiz%3D" + "a" * 65,
        "?text=" + link + "%26x%3Dy",
        "?text=" + link + "%26screen%3Dsmall",
        "?text=" + link + "%26screen%3Dbig%26x%3Dy",
        "?text=javascript%3Aalert(1)%2F%2Fplay%3Fquiz%3Da",
    ):
        status, _, body = await raw_http(node.http_url, "GET", "/web/qr.svg" + query)
        assert status == 400, query
        assert json.loads(body)["error"]["code"] == "invalid_query"


async def test_qr_codes_not_cached_yet_are_throttled_per_address(node_factory):
    """Rendering a new QR code costs the node CPU: an anonymous client gets a burst, then 429
    with a retry hint; codes already rendered are still served."""
    node = node_factory()

    def link(n: int) -> str:
        return f"/web/qr.svg?text=http%3A%2F%2F127.0.0.1%3A8080%2Fplay%3Fquiz%3Dq{n}"

    statuses = []
    for n in range(30):
        status, headers, body = await raw_http(node.http_url, "GET", link(n))
        statuses.append(status)
        if status == 429:
            error = json.loads(body)["error"]
            assert error["code"] == "rate_limited" and error["details"]["retryAfterMs"] > 0
            assert int(headers["retry-after"]) >= 1
    assert statuses[:10] == [200] * 10
    assert statuses.count(429) >= 15
    status, _, _ = await raw_http(node.http_url, "GET", link(0))  # cached: no new work
    assert status == 200
    status, _, _ = await raw_http(node.http_url, "GET", "/healthz")
    assert status == 200


async def test_pages_can_be_switched_off(node_factory):
    node = node_factory(http={"web": False})
    for path in ("/", "/play", "/host", "/web/js/client.js", "/web/config.json", "/web/qr.svg?text=a"):
        status, _, body = await raw_http(node.http_url, "GET", path)
        assert status == 404, path
        assert json.loads(body)["error"]["code"] == "not_found"
    status, _, _ = await raw_http(node.http_url, "GET", "/healthz")
    assert status == 200
