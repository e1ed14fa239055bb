"""A SIGHUP with a config whose paths cannot be paths never takes the node down.

(issue "Hold under hostile load and operator mistakes": ``~nosuchuser/...`` or a NUL
character in a path made ``reload()`` raise something other than ``ConfigError``, which
killed every live quiz.)  Each bad value is written into the node's config file, the node
is SIGHUP'd, and the live quiz must keep playing while /metrics counts the failure.
"""

from __future__ import annotations

import signal

import pytest
import trio

from quizd.client import ControlClient, connect
from tests.e2e.httpkit import metric
from tests.nodekit import quiz_toml

pytestmark = pytest.mark.e2e

FAILURE = {"result": "failure"}

# (table, key, value as TOML text): each one a path the loader cannot use.
BAD_PATHS = [
    ("auth", "admin_token_file", '"~nosuchuser/token"'),
    ("auth", "admin_token_file", '"token\\u0000file"'),
    ("auth", "admin_token_file", '"."'),  # a directory where a file is expected
    ("quizzes", "definitions_dir", '"~nosuchuser/quizzes"'),
    ("quizzes", "definitions_dir", '"quiz\\u0000zes"'),
    ("quizzes", "results_dir", '"~nosuchuser/results"'),
]


def bad_config(table: str, key: str, value: str, token: str, quizzes: str) -> str:
    """The node's config with one bad path (the token kept so /api/* still answers)."""
    auth = f"admin_token_file = {value}" if table == "auth" else f'admin_token = "{token}"'
    extra = f"{key} = {value}\n" if table == "quizzes" and key != "definitions_dir" else ""
    definitions = value if key == "definitions_dir" else f'"{quizzes}"'
    return f"[auth]\n{auth}\n[quizzes]\ndefinitions_dir = {definitions}\n{extra}"


async def _reloads_failed(node: object, at_least: float) -> bool:
    return await metric(node, "quizd_config_reloads_total", FAILURE) >= at_least


async def test_sighup_with_bad_paths_keeps_the_node_and_its_quiz(node_factory):
    node = node_factory(definitions={"a": quiz_toml("a")})
    control = ControlClient(node.http_url, node.token)
    live = await control.create_quiz("a")
    good_config = node.config_path.read_text()
    async with connect(node.ws_url) as host, connect(node.ws_url) as ann:
        await host.join(live["quizId"], hostToken=live["hostToken"])
        await ann.join(live["quizId"], name="Ann")
        for table, key, value in BAD_PATHS:
            failures = await metric(node, "quizd_config_reloads_total", FAILURE)
            node.config_path.write_text(bad_config(table, key, value, node.token, str(node.tmp / "quizzes")))
            node.signal(signal.SIGHUP)
            with trio.fail_after(5):
                while not await _reloads_failed(node, failures + 1):
                    await trio.sleep(0.05)
            assert node.running, f"the node died on {table}.{key} = {value!r}"
            assert await control.request("GET", "/readyz") == (200, {"status": "ready"})
        # The quiz created before the reloads still plays.
        assert (await host.request("start"))["type"] == "host_state"
        await ann.expect("question")
        log = (node.tmp / "stderr.log").read_text()
        assert "unknown user 'nosuchuser'" in log
        assert "NUL character" in log
        assert "Traceback" not in log  # every one was a reported problem, none a crash
    node.config_path.write_text(good_config)
