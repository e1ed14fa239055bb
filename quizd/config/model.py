"""Node configuration: the TOML file of docs/operations.md as frozen attrs classes.

Only the data shape lives here; ``quizd.config.loader`` reads files, applies the
environment overrides and reports every problem at once.
"""

from __future__ import annotations

import enum
import socket
from pathlib import Path

import attrs

from quizd.game.denylist import DenyList
from quizd.game.names import NamesMode


def _default_node_id() -> str:
    return socket.gethostname() or "node-1"


@attrs.frozen
class NodeSection:
    id: str = attrs.field(factory=_default_node_id)
    drain_timeout_s: float = 30.0


@attrs.frozen
class WebSocketSection:
    host: str = "127.0.0.1"
    port: int = 8765
    public_url: str = ""
    max_message_bytes: int = 4096
    max_connections: int = 20000
    tls_cert: str = ""
    tls_key: str = ""
    allowed_origins: tuple[str, ...] = ()
    send_queue_bytes: int = 262144
    ping_interval_s: float = 20.0


@attrs.frozen
class HttpSection:
    host: str = "127.0.0.1"
    port: int = 8080
    tls_cert: str = ""
    tls_key: str = ""
    web: bool = True


@attrs.frozen
class AuthSection:
    admin_token: str = attrs.field(default="", repr=False)
    admin_token_file: str = ""


@attrs.frozen
class QuizzesSection:
    definitions_dir: str = "quizzes"
    max_players: int = 10000
    linger_s: float = 600.0
    lobby_timeout_s: float = 3600.0
    results_dir: str = ""
    max_quizzes: int = 1000
    names: NamesMode = NamesMode.GIVEN
    name_denylist: str = ""


@attrs.frozen
class LeaderboardSection:
    top_n: int = 10
    interval_ms: int = 500


@attrs.frozen
class LimitsSection:
    messages_per_second: float = 20.0
    burst: int = 40
    connections_per_ip: int = 0


@attrs.frozen
class ClusterSection:
    redis_url: str = attrs.field(default="", repr=False)
    heartbeat_ms: int = 1000
    node_timeout_ms: int = 3000
    # Replicas each group commit waits for (Redis WAIT); the loader makes it 1 with a
    # redis+sentinel:// URL when the key is not given.  0 = no WAIT.
    wait_replicas: int = 0
    wait_timeout_ms: int = 100


@attrs.frozen
class LoggingSection:
    level: str = "info"
    format: str = "json"


@attrs.frozen
class StorageSection:
    """``[storage]``: where what happened is kept (docs/operations.md, "v2").

    ``url = ""`` is an SQLite file (``$STATE_DIRECTORY/quizd.db`` under systemd, else
    ``quizd.db`` beside the config file), ``postgresql://...`` a PostgreSQL database,
    ``"none"`` keeps nothing; :func:`quizd.store.engine.database_url` turns it into a URL.
    """

    url: str = attrs.field(default="", repr=False)
    auto_migrate: bool = True
    answer_flush_ms: int = 1000

    @property
    def enabled(self) -> bool:
        return self.url.strip().lower() != "none"

    @property
    def kind(self) -> str:
        """``"sqlite"``, ``"postgresql"`` or ``"none"``: what the URL names (never the URL itself)."""
        raw = self.url.strip().lower()
        if raw == "none":
            return "none"
        return "postgresql" if raw.startswith(("postgresql:", "postgres:", "postgresql+")) else "sqlite"


class WebhookEvent(enum.StrEnum):
    """The events a ``[[webhooks]]`` endpoint can subscribe to (protocol section 5)."""

    QUIZ_CREATED = "quiz.created"
    QUIZ_STARTED = "quiz.started"
    QUIZ_ENDED = "quiz.ended"


@attrs.frozen
class WebhookEndpoint:
    """One ``[[webhooks]]`` table: where to POST which events, and the signing secret.

    ``secret`` is the effective ``whsec_<base64>`` secret (the loader reads
    ``secret_file`` into it); it never appears in a repr or a log.
    """

    url: str
    secret: str = attrs.field(repr=False)
    events: tuple[WebhookEvent, ...] = tuple(WebhookEvent)
    secret_file: str = ""


@attrs.frozen
class Config:
    """The whole node config.

    Paths (``definitions_dir``, ``results_dir``, TLS files, ``admin_token_file``) are
    already resolved against the config file's directory by the loader, so nothing
    downstream needs to know where the file was.
    """

    node: NodeSection = attrs.Factory(NodeSection)
    websocket: WebSocketSection = attrs.Factory(WebSocketSection)
    http: HttpSection = attrs.Factory(HttpSection)
    auth: AuthSection = attrs.Factory(AuthSection)
    quizzes: QuizzesSection = attrs.Factory(QuizzesSection)
    leaderboard: LeaderboardSection = attrs.Factory(LeaderboardSection)
    limits: LimitsSection = attrs.Factory(LimitsSection)
    cluster: ClusterSection = attrs.Factory(ClusterSection)
    logging: LoggingSection = attrs.Factory(LoggingSection)
    storage: StorageSection = attrs.Factory(StorageSection)
    webhooks: tuple[WebhookEndpoint, ...] = ()
    # Where the config came from; used in messages and to resolve relative paths.
    source: Path | None = attrs.field(default=None, eq=False)
    # The words of ``[quizzes] name_denylist``, read by the loader (empty: none refused).
    name_denylist: DenyList = attrs.field(factory=DenyList, eq=False)

    @property
    def admin_token(self) -> str:
        return self.auth.admin_token
