"""The systemd units in systemd/: valid, hardened, and what the operator contract needs.

Every ``*.service`` file in systemd/ is checked:

* ``systemd-analyze verify`` prints nothing at all.  It exits 0 on many mistakes (an
  unknown key, a bad value: "..., ignoring"), so any line on stdout or stderr fails.
  verify also insists that ExecStart's binary exists, and /opt/quizd/venv/bin/quizd
  does not exist here: the unit is copied to a temp dir with only the ExecStart path
  pointed at a stub executable; every other line is the real unit text.  A template is
  verified as an instance (``quizd@node-1.service``).
* ``systemd-analyze security --offline=true`` rates the overall exposure at 2.0 or
  below.  --threshold= is on the 0..100 scale behind the 0.0..10.0 figure, so
  ``--threshold=20`` is 2.0; the figure itself is parsed from the output too.
* the admin token comes from ``LoadCredential=``, never from the unit text;
  Type=notify with a watchdog; ExecReload sends SIGHUP; the stop timeout outlasts the
  drain; no ProcSubset=pid (the process_* metrics need /proc/stat).

Skipped only when systemd-analyze is missing (scripts/test installs it through
scripts/lib/test-tools.sh).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import attrs
import pytest

from quizd.config import NodeSection, WebSocketSection

ROOT = Path(__file__).resolve().parents[2]
UNIT_DIR = ROOT / "systemd"
UNITS = sorted(UNIT_DIR.glob("*.service"))
REAL_QUIZD = "/opt/quizd/venv/bin/quizd"
MAX_EXPOSURE = 2.0
COMMAND_TIMEOUT_S = 60

DEFAULT_DRAIN_S = float(attrs.fields(NodeSection).drain_timeout_s.default)
DEFAULT_MAX_CONNECTIONS = int(attrs.fields(WebSocketSection).max_connections.default)

SYSTEMD_ANALYZE = shutil.which("systemd-analyze")
needs_systemd_analyze = pytest.mark.skipif(
    SYSTEMD_ANALYZE is None and not os.environ.get("CI"),  # in CI a missing tool is a failure
    reason="systemd-analyze is not installed (Debian package systemd; "
    "scripts/test installs it via scripts/lib/test-tools.sh)",
)

unit_params = pytest.mark.parametrize("unit", UNITS, ids=[u.name for u in UNITS])


# --- reading unit files -------------------------------------------------------------


def logical_lines(text: str) -> list[str]:
    """Unit file lines with comments dropped and backslash continuations joined."""
    out: list[str] = []
    pending = ""
    for raw in text.splitlines():
        line = raw.strip()
        if not pending and (not line or line[0] in "#;"):
            continue
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        out.append(pending + line)
        pending = ""
    if pending:
        out.append(pending)
    return out


def parse_unit(text: str) -> dict[str, dict[str, list[str]]]:
    """{section: {key: [every value assigned, in order]}}."""
    sections: dict[str, dict[str, list[str]]] = {}
    current: dict[str, list[str]] | None = None
    for line in logical_lines(text):
        if line.startswith("[") and line.endswith("]"):
            current = sections.setdefault(line[1:-1], {})
            continue
        assert current is not None, f"assignment outside a section: {line!r}"
        key, sep, value = line.partition("=")
        assert sep, f"not an assignment: {line!r}"
        current.setdefault(key.strip(), []).append(value.strip())
    return sections


def last(unit: dict[str, dict[str, list[str]]], section: str, key: str) -> str | None:
    values = unit.get(section, {}).get(key)
    return values[-1] if values else None


_TIME_UNITS = {
    "us": 1e-6, "usec": 1e-6, "ms": 1e-3, "msec": 1e-3,
    "s": 1.0, "sec": 1.0, "second": 1.0, "seconds": 1.0,
    "m": 60.0, "min": 60.0, "minute": 60.0, "minutes": 60.0,
    "h": 3600.0, "hr": 3600.0, "hour": 3600.0, "hours": 3600.0,
}  # fmt: skip


def timespan_s(value: str) -> float:
    """A systemd time span ("60s", "1min 30s", "90") in seconds; infinity as inf."""
    value = value.strip()
    if value == "infinity":
        return float("inf")
    parts = re.findall(r"(\d+(?:\.\d+)?)\s*([a-z]*)", value)
    assert parts and "".join(n + u for n, u in parts) == value.replace(" ", ""), value
    return sum(float(n) * _TIME_UNITS[u or "s"] for n, u in parts)


def test_timespan_parser() -> None:
    assert timespan_s("60s") == 60
    assert timespan_s("90") == 90
    assert timespan_s("1min 30s") == 90
    assert timespan_s("500ms") == 0.5
    assert timespan_s("infinity") == float("inf")


def unit_text(unit: Path) -> str:
    return unit.read_text(encoding="utf-8")


def instance_name(unit: Path) -> str:
    """A template (name@.service) is checked as the instance name@node-1.service."""
    return unit.name.replace("@.", "@node-1.") if "@." in unit.name else unit.name


def stub_quizd(directory: Path) -> Path:
    stub = directory / "bin" / "quizd"
    stub.parent.mkdir(parents=True, exist_ok=True)
    stub.write_text("#!/bin/sh\nexit 0\n", encoding="utf-8")
    stub.chmod(0o755)
    return stub


def copy_for_verify(unit: Path, tmp_path: Path) -> Path:
    """The unit as an instance file whose ExecStart= runs a stub; nothing else changed."""
    stub = stub_quizd(tmp_path)
    lines = unit_text(unit).splitlines(keepends=True)
    rewritten = [
        line.replace(f"ExecStart={REAL_QUIZD} ", f"ExecStart={stub} ", 1) if line.startswith("ExecStart=") else line
        for line in lines
    ]
    changed = [i for i, (a, b) in enumerate(zip(lines, rewritten, strict=True)) if a != b]
    assert len(changed) == 1, (
        f"{unit.name}: expected exactly one `ExecStart={REAL_QUIZD} ...` line to point "
        f"at the stub, rewrote lines {changed}"
    )
    units_dir = tmp_path / "units"
    units_dir.mkdir()
    copy = units_dir / instance_name(unit)
    copy.write_text("".join(rewritten), encoding="utf-8")
    return copy


def run_analyze(*args: str | Path) -> subprocess.CompletedProcess[str]:
    assert SYSTEMD_ANALYZE is not None
    return subprocess.run(
        [SYSTEMD_ANALYZE, *map(str, args)],
        capture_output=True,
        text=True,
        timeout=COMMAND_TIMEOUT_S,
        check=False,
    )


# --- the tests ------------------------------------------------------------------------


def test_units_present() -> None:
    names = {u.name for u in UNITS}
    assert {"quizd.service", "quizd@.service"} <= names, names


@needs_systemd_analyze
@unit_params
def test_verify_is_silent(unit: Path, tmp_path: Path) -> None:
    copy = copy_for_verify(unit, tmp_path)
    result = run_analyze("verify", copy)
    print(f"\n[verify {copy.name}] exit={result.returncode} stdout={result.stdout!r} stderr={result.stderr!r}")
    assert result.stdout == "" and result.stderr == "" and result.returncode == 0, (
        f"systemd-analyze verify {copy.name} (exit {result.returncode}) printed:\n{result.stdout}{result.stderr}"
    )


@needs_systemd_analyze
def test_verify_speaks_up_on_a_mistake(tmp_path: Path) -> None:
    """The check above is only worth it if verify prints a mistake it exits 0 on."""
    bad = tmp_path / "bad.service"
    bad.write_text(
        "[Service]\nExecStart=/bin/true\nNoSuchKey=1\n[Install]\nWantedBy=multi-user.target\n",
        encoding="utf-8",
    )
    result = run_analyze("verify", bad)
    assert "NoSuchKey" in result.stdout + result.stderr, result


@needs_systemd_analyze
@unit_params
def test_security_exposure(unit: Path, tmp_path: Path) -> None:
    # The real text, unchanged: only the file name is an instance's.
    copy = tmp_path / instance_name(unit)
    shutil.copyfile(unit, copy)
    threshold = round(MAX_EXPOSURE * 10)  # --threshold is on the 0..100 scale
    result = run_analyze("security", "--offline=true", f"--threshold={threshold}", copy)
    output = result.stdout + result.stderr
    match = re.search(r"Overall exposure level for (\S+): (\d+(?:\.\d+)?)", output)
    assert match, f"no exposure figure in:\n{output}"
    exposure = float(match.group(2))
    summary = output[match.start() :].splitlines()[0]
    print(f"\n[security {copy.name}] exit={result.returncode} {summary}")
    # The rows that still cost something end in their share of the exposure.
    failing = [line for line in output.splitlines() if re.search(r"\s\d+\.\d$", line)]
    print("  settings still counted against it:\n  " + "\n  ".join(failing))
    assert exposure <= MAX_EXPOSURE, f"{copy.name}: exposure {exposure}\n{output}"
    assert result.returncode == 0, f"exit {result.returncode} with --threshold={threshold}"


@unit_params
def test_admin_token_only_from_a_credential(unit: Path) -> None:
    text = unit_text(unit)
    parsed = parse_unit(text)
    service = parsed["Service"]
    base = "%i" if "@." in unit.name else unit.stem
    assert service.get("LoadCredential") == [f"admin_token:/etc/quizd/{base}.admin_token"]
    for key in ("SetCredential", "SetCredentialEncrypted", "EnvironmentFile", "PassEnvironment"):
        assert key not in service, f"{unit.name}: {key}= could carry the token"
    # Outside comments, "token" appears in the LoadCredential= line and nowhere else.
    credential_line = f"LoadCredential=admin_token:/etc/quizd/{base}.admin_token"
    for line in logical_lines(text):
        if line != credential_line:
            assert "token" not in line.lower(), f"{unit.name}: {line}"
    assert "test-admin-token" not in text


@unit_params
def test_notify_watchdog_and_reload(unit: Path) -> None:
    parsed = parse_unit(unit_text(unit))
    assert last(parsed, "Service", "Type") == "notify"
    assert last(parsed, "Service", "NotifyAccess") == "main"
    watchdog = last(parsed, "Service", "WatchdogSec")
    assert watchdog is not None and 0 < timespan_s(watchdog) < float("inf")
    assert parsed["Service"].get("ExecReload") == ["/bin/kill -HUP $MAINPID"]


@unit_params
def test_stop_outlasts_the_drain(unit: Path) -> None:
    parsed = parse_unit(unit_text(unit))
    stop = last(parsed, "Service", "TimeoutStopSec") or last(parsed, "Service", "TimeoutSec")
    assert stop is not None, "TimeoutStopSec= must be set explicitly"
    assert timespan_s(stop) > DEFAULT_DRAIN_S, (stop, DEFAULT_DRAIN_S)
    assert last(parsed, "Service", "KillMode") == "mixed"
    assert last(parsed, "Service", "KillSignal") in (None, "SIGTERM", "TERM", "15")


@unit_params
def test_proc_stays_readable_for_process_metrics(unit: Path) -> None:
    parsed = parse_unit(unit_text(unit))
    assert last(parsed, "Service", "ProcSubset") in (None, "all")
    assert "ProcSubset=pid" not in "\n".join(logical_lines(unit_text(unit)))


@unit_params
def test_operator_contract(unit: Path) -> None:
    parsed = parse_unit(unit_text(unit))
    base = "%i" if "@." in unit.name else unit.stem
    assert parsed["Service"]["ExecStart"] == [f"{REAL_QUIZD} serve --config /etc/quizd/{base}.toml"]
    assert last(parsed, "Service", "Restart") == "on-failure"
    assert last(parsed, "Unit", "StartLimitIntervalSec") is not None
    assert int(last(parsed, "Unit", "StartLimitBurst") or 0) > 0
    nofile = last(parsed, "Service", "LimitNOFILE") or "0"
    assert int(nofile.split(":")[0]) > DEFAULT_MAX_CONNECTIONS
    assert last(parsed, "Service", "DynamicUser") == "yes"
    assert last(parsed, "Service", "ConfigurationDirectory") == "quizd"
    assert last(parsed, "Service", "StateDirectory") in ("quizd", f"quizd/{base}")
    assert last(parsed, "Service", "RuntimeDirectory") in ("quizd", f"quizd/{base}")
    assert "PYTHONUNBUFFERED=1" in " ".join(parsed["Service"].get("Environment", []))
    assert parsed["Install"]["WantedBy"] == ["multi-user.target"]
    assert "IPAddressDeny" not in parsed["Service"], "quizd has to serve the network"


HARDENING = {
    "ProtectSystem": "strict", "ProtectHome": "yes", "NoNewPrivileges": "yes",
    "PrivateTmp": "yes", "PrivateDevices": "yes", "ProtectKernelTunables": "yes",
    "ProtectKernelModules": "yes", "ProtectKernelLogs": "yes",
    "ProtectControlGroups": "yes", "ProtectClock": "yes", "ProtectHostname": "yes",
    "RestrictAddressFamilies": "AF_INET AF_INET6 AF_UNIX", "RestrictNamespaces": "yes",
    "RestrictRealtime": "yes", "RestrictSUIDSGID": "yes", "LockPersonality": "yes",
    "MemoryDenyWriteExecute": "yes", "SystemCallArchitectures": "native",
    "CapabilityBoundingSet": "", "AmbientCapabilities": "", "UMask": "0077",
    "PrivateUsers": "yes", "DevicePolicy": "closed",
}  # fmt: skip


@unit_params
def test_hardening(unit: Path) -> None:
    parsed = parse_unit(unit_text(unit))
    for key, want in HARDENING.items():
        assert last(parsed, "Service", key) == want, f"{unit.name}: {key}="
    assert parsed["Service"]["SystemCallFilter"] == [
        "@system-service",
        "~@privileged @resources",
    ]


def test_single_node_unit_matches_the_template() -> None:
    """quizd.service is quizd@.service with %i fixed to the one node: keep them in step."""
    template = parse_unit(unit_text(UNIT_DIR / "quizd@.service"))
    single = parse_unit(unit_text(UNIT_DIR / "quizd.service"))
    per_instance = {"StateDirectory", "RuntimeDirectory"}  # quizd/%i there, quizd here
    expected = {
        section: {
            key: [v.replace("quizd/%i", "quizd") if key in per_instance else v.replace("%i", "quizd") for v in values]
            for key, values in entries.items()
            if key != "Description"
        }
        for section, entries in template.items()
    }
    got = {
        section: {key: values for key, values in entries.items() if key != "Description"}
        for section, entries in single.items()
    }
    assert got == expected
