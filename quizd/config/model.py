"""Node configuration: the TOML file of docs/operations.md as frozen attrs classes.

Only the data shape lives here; ``quizd.config.loader`` reads files, applies the
environment overrides and reports every problem at once.
"""

from __future__ import annotations

import socket
from pathlib import Path

import attrs


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
    # Where the config came from; used in messages and to resolve relative paths.
    source: Path | None = attrs.field(default=None, eq=False)

    @property
    def admin_token(self) -> str:
        return self.auth.admin_token
