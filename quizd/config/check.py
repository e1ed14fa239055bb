"""``quizd check-config``: validate the node config and every quiz file it points to.

Exit 0 with a one-screen summary when everything is fine, or exit 2 with every
problem found (config and quiz files alike), one per line, each naming the file, the
key and what is wrong.  The admin token is never printed: only whether one is set.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import TextIO
from urllib.parse import SplitResult, urlsplit

from quizd.config.definitions import DefinitionSet, load_definitions
from quizd.config.loader import (
    ConfigError,
    Problem,
    config_location,
    file_problems,
    load_config,
    read_toml,
    resolve_config_path,
    resolve_path,
)
from quizd.config.model import Config
from quizd.config.redis_address import is_sentinel_url, parse_sentinel_url

EXIT_OK = 0
EXIT_BAD_CONFIG = 2


def run_check(
    path: str | None,
    out: TextIO = sys.stdout,
    err: TextIO = sys.stderr,
    environ: Mapping[str, str] = os.environ,
) -> int:
    """Check everything, print problems to ``err`` or a summary to ``out``; return the exit code."""
    problems: list[Problem] = []
    config: Config | None = None
    try:
        config = load_config(path, environ)
    except ConfigError as exc:
        problems.extend(exc.problems)

    if config is not None:
        problems.extend(file_problems(config))
        problems.extend(_storage_problems(config))
        definitions_dir: Path | None = Path(config.quizzes.definitions_dir)
    else:
        definitions_dir = _guess_definitions_dir(path, environ)
    definitions = load_definitions(definitions_dir) if definitions_dir else None
    if definitions is not None:
        problems.extend(definitions.problems)

    if problems:
        for problem in problems:
            print(problem, file=err)
        noun = "problem" if len(problems) == 1 else "problems"
        print(f"check-config: {len(problems)} {noun} found", file=err)
        return EXIT_BAD_CONFIG

    assert config is not None and definitions is not None
    _print_summary(config, definitions, out)
    if not config.auth.admin_token:
        print(
            "warning: no admin token configured (admin_token, admin_token_file, "
            "QUIZD_ADMIN_TOKEN or $CREDENTIALS_DIRECTORY/admin_token): "
            "/api/* will answer 401 to everyone",
            file=err,
        )
    return EXIT_OK


def _storage_problems(config: Config) -> list[Problem]:
    """A cluster must share one PostgreSQL database; said without connecting to it.

    ``serve`` only warns (a node of a cluster on SQLite still plays), but its results
    would then stay on that node's disk, which is what the contract forbids.
    """
    if config.cluster.redis_url and config.storage.kind != "postgresql":
        return [
            Problem(
                str(config.source),
                config_location("storage", "url"),
                "a cluster ([cluster] redis_url) requires PostgreSQL (postgresql://...): "
                f"every node must share one database, not {config.storage.kind!r}",
            )
        ]
    return []


def _guess_definitions_dir(path: str | None, environ: Mapping[str, str]) -> Path | None:
    """When the config is broken, still find the quiz files if the config names them.

    Only used to report more problems in one run; ``None`` when the file cannot even
    be parsed or ``definitions_dir`` is not a usable string.
    """
    config_path = resolve_config_path(path, environ)
    doc, _ = read_toml(config_path)
    if doc is None:
        return None
    quizzes = doc.get("quizzes", {})
    raw = quizzes.get("definitions_dir", "quizzes") if isinstance(quizzes, dict) else "quizzes"
    if not isinstance(raw, str) or not raw:
        return None
    resolved, _ = resolve_path(raw, config_path.parent)
    return resolved


def _print_summary(config: Config, definitions: DefinitionSet, out: TextIO) -> None:
    ws_scheme = "wss" if config.websocket.tls_cert else "ws"
    http_scheme = "https" if config.http.tls_cert else "http"
    lines = [
        f"config OK: {config.source}",
        f"node id:          {config.node.id}",
        f"websocket:        {ws_scheme}://{_hostport(config.websocket.host, config.websocket.port)}"
        + (f"  (public URL {config.websocket.public_url})" if config.websocket.public_url else ""),
        f"http:             {http_scheme}://{_hostport(config.http.host, config.http.port)}",
        f"cluster:          {_cluster_mode(config.cluster.redis_url)}",
        f"storage:          {_storage_mode(config)}",
        *_wait_line(config),
        f"admin token:      {'configured' if config.auth.admin_token else 'NOT configured'}",
        f"results dir:      {config.quizzes.results_dir or '(not written)'}",
        f"live quizzes:     at most {config.quizzes.max_quizzes} on this node "
        f"([quizzes] max_quizzes), {config.quizzes.max_players} players each",
        f"definitions dir:  {config.quizzes.definitions_dir}",
        f"player names:     {config.quizzes.names}; deny-list "
        + (
            f"{config.quizzes.name_denylist} ({len(config.name_denylist.words)} words)"
            if config.quizzes.name_denylist
            else "(none)"
        ),
    ]
    if definitions.definitions:
        width = max(len(quiz_id) for quiz_id in definitions.definitions)
        for quiz_id, quiz in sorted(definitions.definitions.items()):
            count = quiz.question_count
            lines.append(f"  {quiz_id:<{width}}  {quiz.title}  ({count} question{'' if count == 1 else 's'})")
    else:
        lines.append("  (no quiz definitions)")
    print("\n".join(lines), file=out)


def _storage_mode(config: Config) -> str:
    """Where results are kept, without echoing a password that may sit in the URL."""
    storage = config.storage
    if not storage.enabled:
        return "none (nothing kept; results_dir only)"
    migrate = "auto_migrate" if storage.auto_migrate else "no auto_migrate: run quizd db upgrade"
    if storage.kind == "postgresql":
        parts = urlsplit(storage.url.strip())
        where = f"{parts.hostname or 'localhost'}{f':{parts.port}' if _port(parts) else ''}{parts.path}"
        return f"PostgreSQL at {where}  ({migrate}, answers every {storage.answer_flush_ms} ms)"
    from quizd.store.engine import database_url

    database = database_url(storage, config.source).database
    return f"SQLite {database}  ({migrate}, answers every {storage.answer_flush_ms} ms)"


def _port(parts: SplitResult) -> int | None:
    try:
        return parts.port
    except ValueError:
        return None


def _hostport(host: str, port: int) -> str:
    shown = f"[{host}]" if ":" in host else host
    return f"{shown}:{port}" + ("  (port 0: a free port is chosen at start)" if port == 0 else "")


def _wait_line(config: Config) -> list[str]:
    """The group commit's replica wait, when there is a Redis to wait on."""
    cluster = config.cluster
    if not cluster.redis_url:
        return []
    if not cluster.wait_replicas:
        return ["replica wait:     off ([cluster] wait_replicas = 0)"]
    return [
        f"replica wait:     each group commit waits for {cluster.wait_replicas} replica(s), "
        f"at most {cluster.wait_timeout_ms} ms ([cluster] wait_replicas, wait_timeout_ms)"
    ]


def _cluster_mode(redis_url: str) -> str:
    """Say where Redis is without echoing a password that may sit in the URL."""
    if not redis_url:
        return "embedded (single node, no Redis)"
    if is_sentinel_url(redis_url):
        address = parse_sentinel_url(redis_url)  # validated by the loader
        return f"cluster via Redis Sentinel at {address.describe()}"
    parts = urlsplit(redis_url)
    where = parts.hostname or parts.path or "?"
    try:
        port = parts.port
    except ValueError:
        port = None
    if port:
        where = f"{where}:{port}"
    return f"cluster via Redis at {parts.scheme}://{where}"
