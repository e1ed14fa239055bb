"""Prometheus rules, scrape config, Grafana dashboard and runbook stay valid and in step.

- promtool accepts the rules (no warning), their unit tests pass, and the example
  prometheus.yml (with its rule_files) is a valid config;
- the node's own /metrics body passes ``promtool check metrics`` without a remark;
- every metric name used by the rules or the dashboard exists: in quizd/ops/metrics.py,
  among the cluster metrics that cluster nodes export, or as a recorded series;
- every alert has a severity and summary/description/runbook_url; its runbook_url is
  docs/operations.md#<alert name in lower case>, a heading there has that anchor, and that
  section states the alert's severity and summary; docs/runbook.md (the old runbook, kept
  for old links) still has each alert's old anchor and links to the new one;
- the rule tests make every alert fire once and stay quiet once.

The promtool tests are skipped (with the reason) only where promtool is not installed;
scripts/test installs it (Debian package ``prometheus``).  The rules file is read with
a small line-based reader rather than a YAML library (none is a dependency); its count
of rules is cross-checked against what promtool finds, so a rule it misses fails.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PROM_DIR = ROOT / "config" / "prometheus"
RULES = PROM_DIR / "quizd-rules.yml"
RULES_TEST = PROM_DIR / "quizd-rules.test.yml"
PROM_CONFIG = PROM_DIR / "prometheus.yml"
DASHBOARD = ROOT / "config" / "grafana" / "quizd.json"
OPERATIONS = ROOT / "docs" / "operations.md"
OLD_RUNBOOK = ROOT / "docs" / "runbook.md"
METRICS_SOURCE = ROOT / "quizd" / "ops" / "metrics.py"

#: Exported by cluster nodes (the cluster package), written against before they exist.
CLUSTER_METRICS = frozenset(
    {
        "quizd_cluster_members",
        "quizd_redis_errors_total",
        "quizd_acks_not_durable_total",
        "quizd_cluster_ring_hash",
    }
)
#: Written by Prometheus itself for every target.
PROMETHEUS_SYNTHETIC = frozenset({"up"})

EXPECTED_ALERTS = frozenset(
    {
        "QuizdNodeDown",
        "QuizdAnswerLatencyHigh",
        "QuizdEventLoopLagHigh",
        "QuizdSlowConsumersRising",
        "QuizdActorCrashed",
        "QuizdRedisErrors",
        "QuizdNonDurableAcks",
        "QuizdClusterMembersDisagree",
        "QuizdConnectionsNearLimit",
        "QuizdRedisFailover",
        "QuizdRedisWaitTimeouts",
        "QuizdRedisReplicationLag",
        "QuizdConfigReloadFailed",
        "QuizdStoreWritesPending",
        "QuizdStoreAnswersDropped",
    }
)

PROMTOOL = shutil.which("promtool")
needs_promtool = pytest.mark.skipif(
    PROMTOOL is None and not os.environ.get("CI"),  # in CI a missing tool is a failure
    reason="promtool is not installed (Debian package 'prometheus'; scripts/test installs it)",
)


def promtool(*args: str, stdin: bytes | None = None) -> subprocess.CompletedProcess[str]:
    assert PROMTOOL is not None
    return subprocess.run(
        [PROMTOOL, *args],
        input=stdin.decode() if stdin is not None else None,
        capture_output=True,
        text=True,
        timeout=120,
        cwd=ROOT,
        check=False,
    )


def report(proc: subprocess.CompletedProcess[str]) -> str:
    return f"exit {proc.returncode}\n--- stdout\n{proc.stdout}\n--- stderr\n{proc.stderr}"


# --------------------------------------------------------------------------- metric names


def exported_metric_names() -> frozenset[str]:
    """Sample names the node exports, from the metric definitions in quizd/ops/metrics.py.

    Counters gain ``_total``; histograms expose ``_bucket``, ``_count`` and ``_sum``.  The
    process_* and python_info series of the process/platform collectors are taken from a
    rendered body, since metrics.py registers them without naming them.
    """
    source = METRICS_SOURCE.read_text()
    found = re.findall(r"\b(Counter|Gauge|Histogram)\(\s*\"([a-zA-Z_:][a-zA-Z0-9_:]*)\"", source)
    assert found, "no metric definitions found in quizd/ops/metrics.py"
    names: set[str] = set()
    for kind, name in found:
        if kind == "Counter":
            names.add(name if name.endswith("_total") else f"{name}_total")
        elif kind == "Histogram":
            names.update(f"{name}{suffix}" for suffix in ("_bucket", "_count", "_sum"))
        else:
            names.add(name)

    from quizd.ops.metrics import render

    body = render()[0].decode()
    for line in body.splitlines():
        if line and not line.startswith("#"):
            sample = re.match(r"[a-zA-Z_:][a-zA-Z0-9_:]*", line)
            assert sample is not None, line
            if sample.group(0).startswith(("process_", "python_")):
                names.add(sample.group(0))
    return frozenset(names)


_PROMQL_WORDS = frozenset(
    {
        "and",
        "or",
        "unless",
        "by",
        "without",
        "on",
        "ignoring",
        "group_left",
        "group_right",
        "offset",
        "bool",
        "inf",
        "nan",
        "atan2",
    }
)


def promql_metric_names(expr: str) -> set[str]:
    """Metric names an expression selects (a lexical approximation, good for our exprs).

    Drops strings, label matchers, ranges, Grafana variables, grouping label lists,
    numbers, keywords, and function or aggregation names (identifiers before "(").
    """
    text = re.sub(r'"(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\'|`[^`]*`', " ", expr)
    text = re.sub(r"\{[^{}]*\}", " ", text)
    text = re.sub(r"\[[^\[\]]*\]", " ", text)
    text = re.sub(r"\$\{[^}]*\}|\$\w+", " ", text)
    text = re.sub(r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^()]*\)", " ", text)
    text = re.sub(r"(?<![\w:.])\d+(?:\.\d+)?(?:[eE][+-]?\d+)?(?:ms|[smhdwy])?\b", " ", text)
    names = set()
    for match in re.finditer(r"[a-zA-Z_:][a-zA-Z0-9_:]*", text):
        word = match.group(0)
        if re.match(r"\s*\(", text[match.end() :]) or word.lower() in _PROMQL_WORDS:
            continue
        names.add(word)
    return names


def test_promql_metric_names_reader() -> None:
    expr = (
        'histogram_quantile(0.95, sum by (instance, le) (rate(quizd_x_bucket{job="$job",'
        ' instance=~"$instance"}[$__rate_interval]))) / on(instance) group_left(version) '
        'quizd_build_info > 0.1 or count(count_values("hash", quizd:y:z)) > 1e3'
    )
    assert promql_metric_names(expr) == {"quizd_x_bucket", "quizd_build_info", "quizd:y:z"}


# --------------------------------------------------------------------------- rules file


def rule_blocks() -> list[tuple[str, str, str]]:
    """(kind, name, block text) of every rule, kind "record" or "alert"."""
    text = RULES.read_text()
    starts = list(re.finditer(r"^\s*- (record|alert):\s*(\S+)\s*$", text, re.MULTILINE))
    boundaries = [m.start() for m in starts] + [len(text)]
    return [(m.group(1), m.group(2), text[m.start() : boundaries[i + 1]]) for i, m in enumerate(starts)]


def block_value(block: str, key: str) -> str | None:
    found = re.search(rf"^\s+{key}:\s*(.+?)\s*$", block, re.MULTILINE)
    if found is None:
        return None
    value = found.group(1)
    if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
        value = value[1:-1]
    return value


def alerts() -> dict[str, str]:
    return {name: block for kind, name, block in rule_blocks() if kind == "alert"}


def markdown_headings(path: Path) -> list[tuple[int, str, str, int]]:
    """(level, GitHub-style anchor, heading text, offset) of every heading of a Markdown file.

    Fenced code blocks are skipped (a "# comment" in a shell example is no heading). The
    anchor is GitHub's: lower case, punctuation other than "-" and "_" dropped, spaces
    to "-", and "-1", "-2", ... appended to repeats of an earlier anchor.
    """
    text = path.read_text()
    headings = []
    seen: dict[str, int] = {}
    in_fence = False
    offset = 0
    for line in text.splitlines(keepends=True):
        if re.match(r"\s*(```|~~~)", line):
            in_fence = not in_fence
        elif not in_fence and (found := re.match(r"(#{1,6})\s+(.+?)\s*#*\s*$", line)):
            title = found.group(2).strip()
            slug = re.sub(r"[^\w\- ]", "", title.lower()).replace(" ", "-")
            if slug in seen:
                seen[slug] += 1
                slug = f"{slug}-{seen[slug]}"
            else:
                seen[slug] = 0
            headings.append((len(found.group(1)), slug, title, offset))
        offset += len(line)
    return headings


def heading_anchors(path: Path) -> set[str]:
    """Heading anchors of a Markdown file, plus explicit <a id="..."> ones."""
    anchors = set(re.findall(r'<a\s+(?:id|name)="([^"]+)"', path.read_text()))
    return anchors | {slug for _, slug, _, _ in markdown_headings(path)}


def markdown_section(path: Path, anchor: str) -> str:
    """The text of the section whose heading has this anchor, up to the next heading of
    the same or a higher level."""
    text = path.read_text()
    headings = markdown_headings(path)
    for i, (level, slug, _, start) in enumerate(headings):
        if slug == anchor:
            end = next((off for lvl, _, _, off in headings[i + 1 :] if lvl <= level), len(text))
            return text[start:end]
    raise AssertionError(f"{path.name} has no heading #{anchor}")


def test_markdown_heading_anchors() -> None:
    assert {slug for _, slug, _, _ in markdown_headings(OPERATIONS)} >= {
        "12-running-under-systemd",
        "13-alerts-and-runbook",
        "quizdnodedown",
    }


def test_every_expected_alert_is_defined_once() -> None:
    names = [name for kind, name, _ in rule_blocks() if kind == "alert"]
    assert sorted(names) == sorted(set(names)), "an alert name is used twice"
    assert set(names) == EXPECTED_ALERTS


@pytest.mark.parametrize("alert", sorted(EXPECTED_ALERTS))
def test_alert_has_severity_annotations_and_runbook_section(alert: str) -> None:
    block = alerts()[alert]
    assert block_value(block, "severity") in {"critical", "warning"}
    for key in ("summary", "description"):
        value = block_value(block, key)
        assert value, f"{alert} has no {key} annotation"
    runbook_url = block_value(block, "runbook_url")
    assert runbook_url, f"{alert} has no runbook_url annotation"
    path, _, anchor = runbook_url.partition("#")
    assert path == "docs/operations.md", runbook_url
    assert anchor == alert.lower(), runbook_url
    assert anchor in heading_anchors(OPERATIONS), f"docs/operations.md has no section #{anchor}"
    section = markdown_section(OPERATIONS, anchor)
    severity = block_value(block, "severity")
    assert f"**Severity**: {severity}." in section, f"#{anchor} does not say severity {severity}"
    summary = block_value(block, "summary")
    assert f"`{summary}`" in section, f"#{anchor} does not quote the summary {summary!r}"
    for part in ("**Means**", "**Likely causes**", "**Check**", "**Do**"):
        assert part in section, f"#{anchor} has no {part} paragraph"


@pytest.mark.parametrize("alert", sorted(EXPECTED_ALERTS))
def test_old_runbook_anchor_points_to_the_new_section(alert: str) -> None:
    """Links to docs/runbook.md#<alert> from before the move still land somewhere useful."""
    anchor = alert.lower()
    assert anchor in heading_anchors(OLD_RUNBOOK), f"docs/runbook.md lost its #{anchor}"
    assert f"(operations.md#{anchor})" in markdown_section(OLD_RUNBOOK, anchor)


@pytest.mark.parametrize("alert", sorted(EXPECTED_ALERTS))
def test_alert_rule_tests_fire_once_and_stay_quiet_once(alert: str) -> None:
    text = RULES_TEST.read_text()
    quiet = rf"alertname:\s*{alert}\s*\n\s*exp_alerts:\s*\[\]"
    fires = rf"alertname:\s*{alert}\s*\n\s*exp_alerts:\s*\n\s*- exp_labels:"
    assert re.search(quiet, text), f"no case in {RULES_TEST.name} where {alert} stays quiet"
    assert re.search(fires, text), f"no case in {RULES_TEST.name} where {alert} fires"


def test_rules_use_only_known_metrics() -> None:
    known = exported_metric_names() | CLUSTER_METRICS | PROMETHEUS_SYNTHETIC
    recorded = {name for kind, name, _ in rule_blocks() if kind == "record"}
    for kind, name, block in rule_blocks():
        expr = block_value(block, "expr")
        assert expr, f"{kind} {name} has no one-line expr"
        unknown = promql_metric_names(expr) - known - recorded
        assert not unknown, f"{kind} {name} uses unknown metrics {sorted(unknown)}: {expr}"


# --------------------------------------------------------------------------- promtool


@needs_promtool
def test_promtool_check_rules_is_clean() -> None:
    proc = promtool("check", "rules", str(RULES.relative_to(ROOT)))
    assert proc.returncode == 0, report(proc)
    output = proc.stdout + proc.stderr
    assert "WARNING" not in output and "FAILED" not in output, report(proc)
    lines = [line.strip() for line in output.splitlines() if line.strip()]
    assert lines == [
        f"Checking {RULES.relative_to(ROOT)}",
        f"SUCCESS: {len(rule_blocks())} rules found",
    ], report(proc)


@needs_promtool
def test_promtool_rule_unit_tests_pass() -> None:
    proc = promtool("test", "rules", str(RULES_TEST.relative_to(ROOT)))
    assert proc.returncode == 0, report(proc)
    assert "SUCCESS" in proc.stdout and "FAILED" not in proc.stdout + proc.stderr, report(proc)


@needs_promtool
def test_promtool_check_example_prometheus_config() -> None:
    proc = promtool("check", "config", str(PROM_CONFIG.relative_to(ROOT)))
    assert proc.returncode == 0, report(proc)
    output = proc.stdout + proc.stderr
    assert "WARNING" not in output and "FAILED" not in output, report(proc)
    assert "SUCCESS: 1 rule files found" in output, report(proc)
    assert f"SUCCESS: {len(rule_blocks())} rules found" in output, report(proc)


@needs_promtool
def test_promtool_check_metrics_of_a_rendered_node_is_silent() -> None:
    from quizd.ops.metrics import render

    body, _content_type = render()
    proc = promtool("check", "metrics", stdin=body)
    assert proc.returncode == 0, report(proc)
    assert proc.stdout == "" and proc.stderr == "", report(proc)


@needs_promtool
def test_dashboard_queries_parse_as_promql(tmp_path: Path) -> None:
    """Every panel query, with Grafana's variables filled in, is valid PromQL."""
    exprs = [expr for _, expr in dashboard_exprs()]
    filled = [
        expr.replace("$__rate_interval", "1m").replace("$job", "quizd").replace("$instance", ".*") for expr in exprs
    ]
    rules = {
        "groups": [
            {
                "name": "dashboard",
                "rules": [{"record": f"dashboard:query_{i}", "expr": expr} for i, expr in enumerate(filled)],
            }
        ]
    }
    path = tmp_path / "dashboard-queries.yml"
    path.write_text(json.dumps(rules))  # JSON is YAML
    proc = promtool("check", "rules", str(path))
    assert proc.returncode == 0, report(proc)
    assert f"SUCCESS: {len(filled)} rules found" in proc.stdout, report(proc)


# --------------------------------------------------------------------------- dashboard


def dashboard() -> dict:
    return json.loads(DASHBOARD.read_text())


def all_panels(panels: list[dict]) -> list[dict]:
    out = []
    for panel in panels:
        out.append(panel)
        out.extend(all_panels(panel.get("panels", [])))
    return out


def dashboard_exprs() -> list[tuple[str, str]]:
    """(panel title, expr) of every query of every panel, rows' nested panels included."""
    return [
        (panel.get("title", ""), target["expr"])
        for panel in all_panels(dashboard()["panels"])
        for target in panel.get("targets", [])
        if target.get("expr")
    ]


def test_dashboard_is_valid_json_with_variables() -> None:
    board = dashboard()
    assert board["schemaVersion"] >= 36
    variables = {v["name"]: v for v in board["templating"]["list"]}
    assert variables["datasource"]["type"] == "datasource"
    assert variables["datasource"]["query"] == "prometheus"
    assert variables["instance"]["type"] == "query"
    ids = [panel["id"] for panel in all_panels(board["panels"])]
    assert len(ids) == len(set(ids)), "panel ids must be unique"
    for panel in all_panels(board["panels"]):
        if panel.get("type") != "row":
            assert panel["datasource"]["uid"] == "${datasource}", panel["title"]
            assert panel.get("targets"), f"panel {panel['title']!r} has no query"


def test_dashboard_has_the_panels_operators_need() -> None:
    text = " ".join(expr for _, expr in dashboard_exprs())
    for metric in (
        "quizd_players",
        "quizd_connections_open",
        "quizd_max_connections",
        "quizd_answers_total",
        "quizd_answer_handling_seconds_bucket",
        "quizd_broadcast_fanout_seconds_bucket",
        "quizd_event_loop_lag_seconds_bucket",
        "quizd_quizzes_live",
        "quizd_slow_consumer_disconnects_total",
        "quizd_actor_crashes_total",
        "quizd_actor_restarts_total",
        "quizd_errors_total",
        "quizd_cluster_members",
        "quizd_cluster_ring_hash",
    ):
        assert metric in text, f"no dashboard panel shows {metric}"
    for quantile in ("0.5", "0.95", "0.99"):
        assert f"histogram_quantile({quantile}, sum by (le) (rate(quizd_answer_handling_seconds_bucket" in text


def test_dashboard_queries_use_only_known_metrics() -> None:
    known = exported_metric_names() | CLUSTER_METRICS | PROMETHEUS_SYNTHETIC
    for title, expr in dashboard_exprs():
        names = promql_metric_names(expr)
        assert names, f"panel {title!r}: no metric found in {expr}"
        unknown = names - known
        assert not unknown, f"panel {title!r} uses unknown metrics {sorted(unknown)}: {expr}"
    for variable in dashboard()["templating"]["list"]:
        query = variable.get("query")
        query = query.get("query", "") if isinstance(query, dict) else query or ""
        for metric in re.findall(r"label_values\(\s*([a-zA-Z_:][a-zA-Z0-9_:]*)", query):
            assert metric in known, f"variable {variable['name']!r} uses unknown metric {metric}"
