"""Weight of the browser pages and time to their first usable screen, in real Chromium.

    .venv/bin/python bench/pages.py [--loads 10]

Starts its own node on free ports, then for /play and /host opens a fresh browser
context (a cold cache) --loads times and reports the requests and bytes the page
fetched, and the time from navigation to the page's first screen (body[data-screen]
set by its script: the page is usable).  Needs what scripts/test installs (Playwright in
the venv, Debian's chromium).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.servers import QuizdServer  # noqa: E402
from tests.browser.browserkit import CHROMIUM, CHROMIUM_ARGS  # noqa: E402

PAGES = (("/play", "join"), ("/host", "setup"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--loads", type=int, default=10, help="cold loads per page")
    args = parser.parse_args()
    from playwright.sync_api import sync_playwright

    with tempfile.TemporaryDirectory() as tmp:
        settings = argparse.Namespace(defs_dir=ROOT / "config" / "quizzes")
        server = QuizdServer(Path(tmp), settings)
        server.start()
        try:
            with sync_playwright() as playwright:
                browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
                for path, screen in PAGES:
                    measure(browser, server.http_url + path, screen, args.loads)
                browser.close()
        finally:
            server.stop()


def measure(browser: object, url: str, screen: str, loads: int) -> None:
    times: list[float] = []
    wire: list[int] = []  # body bytes as sent (gzipped where the node gzips)
    decoded: list[int] = []  # the same bodies decoded
    for _ in range(loads):
        context = browser.new_context()  # type: ignore[attr-defined]
        page = context.new_page()
        responses: list[object] = []
        page.on("response", responses.append)
        started = time.perf_counter()
        page.goto(url)
        page.locator(f'body[data-screen="{screen}"]').wait_for(state="attached")
        times.append((time.perf_counter() - started) * 1000)
        page.wait_for_load_state("networkidle")
        wire = [r.request.sizes()["responseBodySize"] for r in responses]  # type: ignore[attr-defined]
        decoded = [len(r.body()) for r in responses]  # type: ignore[attr-defined]
        context.close()
    print(
        f"{url.rsplit('/', 1)[1]:>5}: {len(wire)} requests, {sum(wire) / 1024:.1f} KiB on the wire "
        f"({sum(decoded) / 1024:.1f} KiB decoded); to first screen median {statistics.median(times):.0f} ms, "
        f"max {max(times):.0f} ms ({loads} cold loads)"
    )


if __name__ == "__main__":
    main()
