"""Read the node config file, apply the environment, and report every problem at once.

An operator who fixes one typo only to be told about the next one on the following run
stops trusting the tool, so nothing here stops at the first error: unknown tables and
keys, wrong types, out-of-range values and cross-key rules are all collected into one
``ConfigError``.  Each ``Problem`` names the file, the table and the key.

The TOML-reading and per-key structuring helpers are also used by
``quizd.config.definitions`` so that quiz files and the node config report problems the
same way.
"""

from __future__ import annotations

import base64
import binascii
import difflib
import functools
import os
import re
import ssl
import tomllib
import typing
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import attrs

from quizd.config.model import (
    AuthSection,
    ClusterSection,
    Config,
    HttpSection,
    LeaderboardSection,
    LimitsSection,
    LoggingSection,
    NodeSection,
    QuizzesSection,
    StorageSection,
    WebhookEndpoint,
    WebhookEvent,
    WebSocketSection,
)
from quizd.config.redis_address import RedisAddressError, is_sentinel_url, parse_sentinel_url
from quizd.convert import converter, describe, error_paths
from quizd.game.denylist import DenyList, parse_denylist
from quizd.game.names import NamesMode

DEFAULT_CONFIG_PATH = Path("/etc/quizd/quizd.toml")
CONFIG_ENV = "QUIZD_CONFIG"
ADMIN_TOKEN_ENV = "QUIZD_ADMIN_TOKEN"
CREDENTIALS_ENV = "CREDENTIALS_DIRECTORY"
CREDENTIAL_NAME = "admin_token"


# --------------------------------------------------------------------------- problems


@attrs.frozen
class Problem:
    """One thing wrong with one file, phrased for the operator who has to fix it.

    ``location`` is ``"[table] key"`` for the node config, a dotted path such as
    ``"questions[2].choices"`` for quiz files, ``"line N"`` for TOML syntax errors, or
    ``""`` when the problem is about the file as a whole.
    """

    file: str
    location: str
    message: str

    def __str__(self) -> str:
        if self.location:
            return f"{self.file}: {self.location}: {self.message}"
        return f"{self.file}: {self.message}"


class ConfigError(Exception):
    """Raised with every problem found, never just the first."""

    def __init__(self, problems: Iterable[Problem]) -> None:
        self.problems: list[Problem] = list(problems)
        super().__init__(self.problems)

    def __str__(self) -> str:
        return "\n".join(str(p) for p in self.problems)


# ------------------------------------------------------------------ shared helpers

_AT_LINE = re.compile(r"\s*\(at line (\d+), column \d+\)$")
_AT_END = re.compile(r"\s*\(at end of document\)$")


def read_toml(path: Path, file: str | None = None) -> tuple[dict[str, Any] | None, list[Problem]]:
    """Read and parse one TOML file; on failure return ``None`` and the reason.

    Returning problems rather than raising lets the definitions loader skip one broken
    quiz file and keep going with the others.
    """
    label = file if file is not None else str(path)
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return None, [Problem(label, "", "file not found")]
    except IsADirectoryError:
        return None, [Problem(label, "", "is a directory, not a file")]
    except OSError as exc:
        return None, [Problem(label, "", f"cannot read: {exc.strerror or exc}")]
    return parse_toml(data, label)


def parse_toml(data: bytes, file: str) -> tuple[dict[str, Any] | None, list[Problem]]:
    """Parse TOML bytes (a file's, or a request body's); on failure ``None`` and the reason."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        return None, [Problem(file, "", f"not valid UTF-8 (byte {exc.start})")]
    try:
        return tomllib.loads(text), []
    except tomllib.TOMLDecodeError as exc:
        return None, [_syntax_problem(file, str(exc), text)]


def _syntax_problem(file: str, message: str, text: str) -> Problem:
    """Turn tomllib's "(at line 3, column 5)" suffix into a ``line 3`` location."""
    if m := _AT_LINE.search(message):
        return Problem(file, f"line {m.group(1)}", f"TOML syntax error: {message[: m.start()]}")
    if m := _AT_END.search(message):
        last_line = text.count("\n") + 1
        return Problem(file, f"line {last_line}", f"TOML syntax error: {message[: m.start()]} (at end of file)")
    return Problem(file, "", f"TOML syntax error: {message}")


def did_you_mean(word: str, known: Iterable[str]) -> str:
    """A ``"; did you mean 'x'?"`` suffix, or ``""`` when nothing is close."""
    matches = difflib.get_close_matches(word, list(known), n=1)
    return f"; did you mean '{matches[0]}'?" if matches else ""


def unknown_key_problems(
    raw: Mapping[str, Any],
    known: Iterable[str],
    file: str,
    locate: Callable[[str], str],
) -> list[Problem]:
    """One problem per key of ``raw`` that is not in ``known``."""
    known = list(known)
    return [Problem(file, locate(key), "unknown key" + did_you_mean(key, known)) for key in raw if key not in known]


def structure_value(value: Any, type_: Any) -> tuple[Any, list[tuple[str, str]]]:
    """Structure one value through the project converter.

    Returns ``(value, [])`` or ``(None, [(sub_path, message), ...])`` where ``sub_path``
    is already in ``[i]`` / ``.name`` form, ready to append to a key.  Arrays are
    checked to be arrays first: a bare string is iterable and would otherwise become a
    tuple of characters.
    """
    if typing.get_origin(type_) in (tuple, list) and not isinstance(value, list):
        return None, [("", f"expected an array, got {describe(value)}")]
    try:
        return converter.structure(value, type_), []
    except Exception as exc:  # cattrs raises TypeError/ValueError or groups of them
        return None, [(_sub_path(path), msg) for path, msg in error_paths(exc)]


def _sub_path(dotted: str) -> str:
    """``"1"`` -> ``"[1]"``, ``"a.2"`` -> ``".a[2]"``: how a user writes a TOML path."""
    out = ""
    for part in dotted.split(".") if dotted else []:
        out += f"[{part}]" if part.isdigit() else f".{part}"
    return out


# --------------------------------------------------------------------- value rules

Check = Callable[[Any], "str | None"]


def between(lo: float, hi: float) -> Check:
    def check(v: Any) -> str | None:
        return None if lo <= v <= hi else f"must be between {lo} and {hi}, got {v}"

    return check


def at_least(lo: float) -> Check:
    def check(v: Any) -> str | None:
        return None if v >= lo else f"must be at least {lo}, got {v}"

    return check


def greater_than(lo: float) -> Check:
    def check(v: Any) -> str | None:
        return None if v > lo else f"must be greater than {lo}, got {v}"

    return check


def one_of(*choices: str) -> Check:
    def check(v: Any) -> str | None:
        if v in choices:
            return None
        return f"must be one of {', '.join(repr(c) for c in choices)}; got {v!r}"

    return check


def matches(pattern: str, describe: str) -> Check:
    regex = re.compile(pattern)

    def check(v: Any) -> str | None:
        return None if regex.fullmatch(v) else f"must be {describe}; got {v!r}"

    return check


def _redis_url(value: str) -> str | None:
    """Empty, a URL redis-py understands, or a Sentinel URL (quizd/config/redis_address.py);
    never echo it: it may hold a password."""
    if not value or value.startswith(("redis://", "rediss://", "unix://")):
        return None
    if is_sentinel_url(value):
        try:
            parse_sentinel_url(value)
        except RedisAddressError as exc:
            return f"must be a valid Sentinel URL (redis+sentinel://host:port,.../service): {exc}"
        return None
    return "must be empty or start with redis://, rediss://, unix:// or redis+sentinel://"


def _storage_url(value: str) -> str | None:
    """ "", "none", an SQLite or a PostgreSQL URL; never echo it: it may hold a password."""
    raw = value.strip().lower()
    if raw in ("", "none") or raw.startswith(
        ("postgresql://", "postgres://", "postgresql+psycopg://", "sqlite://", "sqlite+pysqlite://")
    ):
        return None
    return 'must be "" (SQLite), "none", or start with postgresql:// or sqlite://'


def _names_mode(value: str) -> str | None:
    """One of the ``NamesMode`` values, with the closest one suggested."""
    modes = [m.value for m in NamesMode]
    message = one_of(*modes)(value)
    return None if message is None else message + did_you_mean(str(value), modes)


# ------------------------------------------------------------------- node config

# Table name -> attrs class, in the order of docs/operations.md.
SECTIONS: dict[str, type] = {
    "node": NodeSection,
    "websocket": WebSocketSection,
    "http": HttpSection,
    "auth": AuthSection,
    "quizzes": QuizzesSection,
    "leaderboard": LeaderboardSection,
    "limits": LimitsSection,
    "cluster": ClusterSection,
    "logging": LoggingSection,
    "storage": StorageSection,
}

MIB = 1024 * 1024
# A NUL or a space in a listen address fails only at bind time, far from the config.
_HOST = matches(r"[^\x00-\x20\x7f]*", "a host name or address without spaces or control characters")

# Single-key rules.  Cross-key rules live in ``_cross_key_problems``.
RULES: dict[tuple[str, str], Check] = {
    ("node", "id"): matches(r"[A-Za-z0-9._-]{1,64}", "1 to 64 of A-Z a-z 0-9 . _ -"),
    ("node", "drain_timeout_s"): at_least(0),
    ("websocket", "host"): _HOST,
    ("websocket", "port"): between(0, 65535),
    ("websocket", "max_message_bytes"): between(256, 16 * MIB),
    ("websocket", "max_connections"): at_least(1),
    ("websocket", "send_queue_bytes"): at_least(4096),
    ("websocket", "ping_interval_s"): greater_than(0),
    ("http", "host"): _HOST,
    ("http", "port"): between(0, 65535),
    ("quizzes", "max_players"): at_least(1),
    ("quizzes", "max_quizzes"): between(1, 1_000_000),
    ("quizzes", "linger_s"): at_least(0),
    ("quizzes", "lobby_timeout_s"): greater_than(0),
    ("leaderboard", "top_n"): between(1, 100),
    ("leaderboard", "interval_ms"): between(50, 60000),
    ("limits", "messages_per_second"): greater_than(0),
    ("limits", "burst"): at_least(1),
    ("limits", "connections_per_ip"): at_least(0),
    ("cluster", "redis_url"): _redis_url,
    ("cluster", "heartbeat_ms"): at_least(100),
    ("cluster", "wait_replicas"): between(0, 16),
    ("cluster", "wait_timeout_ms"): between(1, 1000),  # under the socket timeout (>= 1.2 s)
    ("logging", "level"): one_of("debug", "info", "warning", "error"),
    ("logging", "format"): one_of("json", "text"),
    ("storage", "url"): _storage_url,
    ("storage", "answer_flush_ms"): between(10, 60000),
    ("quizzes", "names"): _names_mode,
}

# Keys holding file system paths, resolved against the config file's directory.
PATH_KEYS: tuple[tuple[str, str], ...] = (
    ("websocket", "tls_cert"),
    ("websocket", "tls_key"),
    ("http", "tls_cert"),
    ("http", "tls_key"),
    ("auth", "admin_token_file"),
    ("quizzes", "definitions_dir"),
    ("quizzes", "results_dir"),
    ("quizzes", "name_denylist"),
)


def config_location(table: str, key: str | None = None) -> str:
    return f"[{table}] {key}" if key else f"[{table}]"


def resolve_config_path(path: str | Path | None, environ: Mapping[str, str] = os.environ) -> Path:
    """``--config``, else ``$QUIZD_CONFIG``, else ``/etc/quizd/quizd.toml``; made absolute.

    Empty strings count as "not given" so that ``QUIZD_CONFIG=`` in a unit file does
    not point at the current directory.
    """
    chosen = str(path) if path not in (None, "") else environ.get(CONFIG_ENV, "")
    return Path(chosen or DEFAULT_CONFIG_PATH).expanduser().absolute()


def load_config(path: str | Path | None = None, environ: Mapping[str, str] = os.environ) -> Config:
    """Load, validate and complete the node config, or raise ``ConfigError``.

    The returned ``Config`` has every path absolute and ``auth.admin_token`` set to the
    effective token (possibly ``""``: then /api/* refuses everyone).
    """
    config_path = resolve_config_path(path, environ)
    file = str(config_path)
    doc, problems = read_toml(config_path, file)
    if doc is None:
        raise ConfigError(problems)

    problems += _top_level_problems(doc, file)
    values, bad = _structure_sections(doc, file, problems)
    problems += _rule_problems(values, bad, file)
    problems += _cross_key_problems(values, bad, file)
    problems += _resolve_paths(values, bad, config_path.parent, file)
    values["auth"]["admin_token"] = _effective_admin_token(values["auth"], environ, file, problems)
    webhooks = load_webhooks(doc.get(WEBHOOKS, []), file, config_path.parent, problems)
    denylist = DenyList()
    if ("quizzes", "name_denylist") not in bad and values["quizzes"]["name_denylist"]:
        denylist = read_denylist(Path(values["quizzes"]["name_denylist"]), problems, file)
    _default_wait_replicas(doc, values)
    if problems:
        raise ConfigError(problems)

    # The string converter let the mode through as text; the rule above checked it.
    values["quizzes"]["names"] = NamesMode(values["quizzes"]["names"])
    sections = {name: cls(**values[name]) for name, cls in SECTIONS.items()}
    return Config(**sections, webhooks=webhooks, source=config_path, name_denylist=denylist)


def _default_wait_replicas(doc: Mapping[str, Any], values: dict[str, dict[str, Any]]) -> None:
    """``[cluster] wait_replicas`` not given: 1 behind Sentinel (a promotion must not lose
    an acknowledged answer), 0 on one server (there is no replica to wait for)."""
    given = doc.get("cluster")
    if isinstance(given, dict) and "wait_replicas" in given:
        return
    values["cluster"]["wait_replicas"] = 1 if is_sentinel_url(values["cluster"]["redis_url"]) else 0


def _top_level_problems(doc: Mapping[str, Any], file: str) -> list[Problem]:
    """Unknown tables, keys outside any table, and sections that are not tables."""
    problems = []
    for name, value in doc.items():
        if name == WEBHOOKS:
            continue  # an array of tables: ``load_webhooks`` judges it
        if name in SECTIONS:
            if not isinstance(value, dict):
                problems.append(Problem(file, config_location(name), f"expected a table, got {describe(value)}"))
        elif isinstance(value, dict):
            problems.append(Problem(file, config_location(name), "unknown table" + did_you_mean(name, SECTIONS)))
        else:
            problems.append(Problem(file, name, _stray_key_message(name)))
    return problems


def _stray_key_message(key: str) -> str:
    """A top-level key belongs in a table; say which one when we can tell."""
    owners = [t for t, cls in SECTIONS.items() if key in attrs.fields_dict(cls)]
    if owners:
        return f"key outside any table; did you mean {config_location(owners[0], key)}?"
    return "unknown key outside any table" + did_you_mean(key, SECTIONS)


def _structure_sections(
    doc: Mapping[str, Any], file: str, problems: list[Problem]
) -> tuple[dict[str, dict[str, Any]], set[tuple[str, str]]]:
    """Structure every known key of every section, one key at a time.

    Going key by key (instead of one ``converter.structure(doc, Config)``) means a bad
    value costs only that key: all the other keys are still checked.  Keys that fail
    keep their default and are returned in ``bad`` so later rules skip them.
    """
    values: dict[str, dict[str, Any]] = {}
    bad: set[tuple[str, str]] = set()
    for name, cls in SECTIONS.items():
        raw = doc.get(name, {})
        raw = raw if isinstance(raw, dict) else {}
        defaults = attrs.asdict(cls(), recurse=False)
        types = typing.get_type_hints(cls)
        section = dict(defaults)
        for key, value in raw.items():
            if key not in types:
                continue
            structured, errors = structure_value(value, types[key])
            if errors:
                bad.add((name, key))
                problems.extend(Problem(file, config_location(name, key + sub), msg) for sub, msg in errors)
            else:
                section[key] = structured
        problems.extend(unknown_key_problems(raw, types, file, functools.partial(config_location, name)))
        values[name] = section
    return values, bad


def _rule_problems(values: Mapping[str, Mapping[str, Any]], bad: set[tuple[str, str]], file: str) -> list[Problem]:
    problems = []
    for (table, key), check in RULES.items():
        if (table, key) in bad:
            continue
        message = check(values[table][key])
        if message:
            problems.append(Problem(file, config_location(table, key), message))
    return problems


def _cross_key_problems(values: Mapping[str, Mapping[str, Any]], bad: set[tuple[str, str]], file: str) -> list[Problem]:
    """Rules that involve two keys; skipped when either key already failed."""
    problems = []

    for table in ("websocket", "http"):
        if {(table, "tls_cert"), (table, "tls_key")} & bad:
            continue
        cert, key = values[table]["tls_cert"], values[table]["tls_key"]
        if bool(cert) != bool(key):
            missing = "tls_key" if cert else "tls_cert"
            problems.append(
                Problem(
                    file,
                    config_location(table, missing),
                    "tls_cert and tls_key must be set together or both left empty",
                )
            )

    auth = values["auth"]
    if auth["admin_token"] and auth["admin_token_file"]:
        problems.append(
            Problem(
                file,
                config_location("auth", "admin_token_file"),
                "set admin_token or admin_token_file, not both",
            )
        )

    cluster = values["cluster"]
    if (
        not {("cluster", "heartbeat_ms"), ("cluster", "node_timeout_ms")} & bad
        and cluster["node_timeout_ms"] <= cluster["heartbeat_ms"]
    ):
        problems.append(
            Problem(
                file,
                config_location("cluster", "node_timeout_ms"),
                f"must be greater than heartbeat_ms ({cluster['heartbeat_ms']}), got {cluster['node_timeout_ms']}",
            )
        )
    return problems


def _resolve_paths(
    values: dict[str, dict[str, Any]], bad: set[tuple[str, str]], base: Path, file: str
) -> list[Problem]:
    """Make relative paths absolute against the config file's directory, in place.

    Done once here so that nothing downstream depends on the working directory.
    Empty strings mean "not set" and stay empty.  A path that cannot be a path (a NUL
    character, ``~user`` of an unknown user) is a problem of its key and left empty,
    because the OS calls would otherwise raise ``ValueError``/``RuntimeError`` far from
    the config and kill a reload instead of being reported.
    """
    problems = []
    for table, key in PATH_KEYS:
        raw = values[table][key]
        if not raw or (table, key) in bad:
            continue
        resolved, message = resolve_path(raw, base)
        if message:
            problems.append(Problem(file, config_location(table, key), message))
            values[table][key] = ""
            bad.add((table, key))
        else:
            values[table][key] = str(resolved)
    return problems


def resolve_path(raw: str, base: Path) -> tuple[Path | None, str | None]:
    """``raw`` made absolute against ``base`` (``~`` expanded), or ``None`` and why not."""
    if "\0" in raw:
        return None, "contains a NUL character"
    try:
        expanded = Path(raw).expanduser()
    except RuntimeError:
        user = raw[1:].split("/", 1)[0]
        return None, f"unknown user {user!r} in {raw!r}" if user else f"no home directory for {raw!r}"
    return base / expanded, None


def file_problems(config: Config) -> list[Problem]:
    """Files the node opens only after start-up that cannot serve: TLS files that are
    missing, unreadable, directories or not a loadable PEM pair, and a ``results_dir``
    that exists but is not a directory.

    Not part of ``load_config`` because a reload rereads none of them; ``serve`` and
    ``check-config`` call it so that such a file is reported (exit 2) instead of failing
    with a traceback when the listener starts, or at the end of every quiz.
    """
    file = str(config.source)
    problems = []
    results_dir = config.quizzes.results_dir
    if results_dir and os.path.exists(results_dir) and not os.path.isdir(results_dir):
        problems.append(Problem(file, config_location("quizzes", "results_dir"), f"{results_dir}: is not a directory"))
    for table, section in (("websocket", config.websocket), ("http", config.http)):
        found = []
        for key in ("tls_cert", "tls_key"):
            value = getattr(section, key)
            reason = _tls_file_problem(value) if value else None
            if reason:
                found.append(Problem(file, config_location(table, key), f"{value}: {reason}"))
        if not found and section.tls_cert and section.tls_key:
            try:
                ssl.create_default_context(ssl.Purpose.CLIENT_AUTH).load_cert_chain(section.tls_cert, section.tls_key)
            except (ssl.SSLError, OSError, ValueError) as exc:
                reason = getattr(exc, "reason", None) or str(exc)
                found.append(
                    Problem(
                        file,
                        config_location(table, "tls_cert"),
                        f"the certificate and key do not load as a PEM pair: {reason}",
                    )
                )
        problems.extend(found)
    return problems


def _tls_file_problem(path: str) -> str | None:
    """Why ``path`` cannot serve as a TLS certificate or key file, or ``None``."""
    if not os.path.exists(path):
        return "not found"
    if os.path.isdir(path):
        return "is a directory, not a file"
    if not os.access(path, os.R_OK):
        return "not readable"
    return None


def _effective_admin_token(
    auth: Mapping[str, Any], environ: Mapping[str, str], file: str, problems: list[Problem]
) -> str:
    """Pick the admin token: environment, then file, then config, then systemd credential.

    ``QUIZD_ADMIN_TOKEN`` wins over everything in the config file (including
    ``admin_token_file``, which is then not read) so that an operator can always
    override a deployed file.  An empty ``QUIZD_ADMIN_TOKEN`` counts as unset.
    """
    env_token = environ.get(ADMIN_TOKEN_ENV, "").strip()
    if env_token:
        return env_token
    if auth["admin_token_file"]:
        return _read_token_file(
            Path(auth["admin_token_file"]),
            problems,
            file,
            config_location("auth", "admin_token_file"),
        )
    if auth["admin_token"]:
        return str(auth["admin_token"])
    credentials_dir = environ.get(CREDENTIALS_ENV, "")
    if credentials_dir:
        credential = Path(credentials_dir) / CREDENTIAL_NAME
        if os.path.lexists(credential):
            return _read_token_file(credential, problems, str(credential), "")
    return ""


def _read_token_file(path: Path, problems: list[Problem], file: str, location: str) -> str:
    """Read a token file, stripped; an unreadable or empty file is a problem.

    The token itself never goes into a problem message.
    """
    try:
        token = path.read_text(encoding="utf-8").strip()
    except IsADirectoryError:
        problems.append(Problem(file, location, f"{path} is a directory, not a file"))
        return ""
    except OSError as exc:
        problems.append(Problem(file, location, f"cannot read {path}: {exc.strerror or exc}"))
        return ""
    except UnicodeDecodeError:
        problems.append(Problem(file, location, f"{path} is not valid UTF-8"))
        return ""
    except ValueError:  # a NUL character in a path from the environment
        problems.append(Problem(file, location, f"{path!r} contains a NUL character"))
        return ""
    if not token:
        problems.append(Problem(file, location, f"{path} is empty"))
    return token


# ---------------------------------------------------------------- [[webhooks]]

WEBHOOKS = "webhooks"
WEBHOOK_KEYS = ("url", "secret", "secret_file", "events")
WEBHOOK_SECRET_PREFIX = "whsec_"


def load_webhooks(raw: Any, file: str, base: Path, problems: list[Problem]) -> tuple[WebhookEndpoint, ...]:
    """The ``[[webhooks]]`` endpoints (protocol section 5), their problems appended to ``problems``.

    Each problem is located as ``webhooks[i].key``.  A secret is never echoed: only
    what is wrong with it.  ``secret_file`` is resolved against the config file's
    directory and read here, so the endpoint carries the effective secret.
    """
    if not isinstance(raw, list) or not all(isinstance(item, dict) for item in raw):
        problems.append(Problem(file, WEBHOOKS, f"expected an array of tables ([[webhooks]]), got {describe(raw)}"))
        return ()
    endpoints = []
    seen: dict[str, int] = {}
    for index, table in enumerate(raw):
        before = len(problems)
        endpoint = _webhook_endpoint(table, file, base, f"{WEBHOOKS}[{index}]", problems)
        url = table.get("url")
        if isinstance(url, str) and url in seen:  # the outbox keeps one row per event and url
            problems.append(
                Problem(
                    file,
                    f"{WEBHOOKS}[{index}].url",
                    f"the same url as {WEBHOOKS}[{seen[url]}]: list each endpoint once",
                )
            )
        elif isinstance(url, str):
            seen[url] = index
        if endpoint is not None and len(problems) == before:
            endpoints.append(endpoint)
    return tuple(endpoints)


def _webhook_endpoint(
    table: Mapping[str, Any], file: str, base: Path, where: str, problems: list[Problem]
) -> WebhookEndpoint | None:
    def locate(key: str) -> str:
        return f"{where}.{key}"

    def problem(key: str, message: str) -> None:
        problems.append(Problem(file, locate(key), message))

    problems.extend(unknown_key_problems(table, WEBHOOK_KEYS, file, locate))
    url = table.get("url")
    if not isinstance(url, str):
        problem(
            "url",
            "required: the http:// or https:// URL to POST to"
            if url is None
            else f"expected a string, got {describe(url)}",
        )
    elif (message := _webhook_url_problem(url)) is not None:
        problem("url", message)
    events = _webhook_events(table.get("events"), problem)
    secret, secret_file = table.get("secret"), table.get("secret_file")
    if secret is not None and secret_file is not None:
        problem("secret_file", "set secret or secret_file, not both")
        return None
    if secret is None and secret_file is None:
        problem("secret", f"required (or secret_file): the signing secret, {WEBHOOK_SECRET_PREFIX}<base64>")
        return None
    if secret_file is not None:
        if not isinstance(secret_file, str) or not secret_file:
            problem("secret_file", f"expected a file name, got {describe(secret_file)}")
            return None
        path = base / Path(secret_file).expanduser()
        secret = _read_token_file(path, problems, file, f"{where}.secret_file")
        if not secret:
            return None
        key = "secret_file"
    else:
        key = "secret"
    if not isinstance(secret, str):
        problem(key, f"expected a string, got {describe(secret)}")
        return None
    if (message := webhook_secret_problem(secret)) is not None:
        problem(key, message)
        return None
    if not isinstance(url, str) or events is None:
        return None
    return WebhookEndpoint(
        url=url, secret=secret, events=events, secret_file=str(path) if secret_file is not None else ""
    )


def _webhook_url_problem(url: str) -> str | None:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https"):
        return f"must start with http:// or https://; got {parts.scheme + '://' if parts.scheme else url!r}"
    if not parts.hostname:
        return "must name a host"
    return None


def _webhook_events(raw: Any, problem: Callable[[str, str], None]) -> tuple[WebhookEvent, ...] | None:
    """The subscribed events (all three when ``events`` is left out), or None after a problem."""
    if raw is None:
        return tuple(WebhookEvent)
    known = [e.value for e in WebhookEvent]
    if not isinstance(raw, list) or not raw:
        got = "an empty array" if raw == [] else describe(raw)
        problem("events", f"expected a non-empty array of {', '.join(known)}; got {got}")
        return None
    events: list[WebhookEvent] = []
    ok = True
    for i, name in enumerate(raw):
        if not isinstance(name, str) or name not in known:
            ok = False
            problem(
                f"events[{i}]",
                f"unknown event {name!r}; known: {', '.join(known)}"
                + (did_you_mean(name, known) if isinstance(name, str) else ""),
            )
        elif WebhookEvent(name) not in events:
            events.append(WebhookEvent(name))
    return tuple(events) if ok else None


def webhook_secret_problem(secret: str) -> str | None:
    """What is wrong with a ``whsec_<base64>`` signing secret (never the secret itself)."""
    if not secret.startswith(WEBHOOK_SECRET_PREFIX):
        return f"must start with {WEBHOOK_SECRET_PREFIX} (the Standard Webhooks form {WEBHOOK_SECRET_PREFIX}<base64>)"
    body = secret[len(WEBHOOK_SECRET_PREFIX) :]
    try:
        key = base64.b64decode(body, validate=True)
    except binascii.Error:
        return f"the part after {WEBHOOK_SECRET_PREFIX} is not valid base64"
    if len(key) < 16:
        return f"the key after {WEBHOOK_SECRET_PREFIX} must be at least 16 bytes, got {len(key)}"
    return None


def read_denylist(path: Path, problems: list[Problem], file: str) -> DenyList:
    """Read ``[quizzes] name_denylist`` (``quizd.game.denylist.parse_denylist``); a file
    that cannot be read is a problem naming the key and the file."""
    location = config_location("quizzes", "name_denylist")
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        problems.append(Problem(file, location, f"cannot read {path}: {exc.strerror or exc}"))
        return DenyList()
    except UnicodeDecodeError as exc:
        problems.append(Problem(file, location, f"{path} is not valid UTF-8 (byte {exc.start})"))
        return DenyList()
    return parse_denylist(text)
