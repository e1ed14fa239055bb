"""Where the cluster's Redis is: one ``redis://`` server, or a Sentinel-watched primary.

``[cluster] redis_url`` keeps one key for both (docs/operations.md): a plain
``redis://`` / ``rediss://`` / ``unix://`` URL names one server, and
``redis+sentinel://host1:26379,host2:26379,host3:26379/mymaster?db=0`` names the
Sentinels to ask and the service (the monitored primary's name) as the path.  One key
rather than separate ``sentinels`` / ``service`` keys because a node is either on one
server or on Sentinel, never both, and a single URL cannot be half-configured.

The userinfo (``redis+sentinel://:secret@…`` or ``user:secret@…``) is the password of
the data nodes (primary and replicas), not of the Sentinels.  Parsing is here, beside
the config, so check-config validates and shows the same thing the node connects to.
"""

from __future__ import annotations

from urllib.parse import parse_qs, unquote, urlsplit

import attrs

SENTINEL_SCHEME = "redis+sentinel"
PLAIN_SCHEMES = ("redis", "rediss", "unix")


class RedisAddressError(ValueError):
    """The URL cannot name a Redis; the message never repeats a password."""


@attrs.frozen
class SentinelAddress:
    """The Sentinels to ask, the service they watch and how to log in to its data nodes."""

    sentinels: tuple[tuple[str, int], ...]
    service: str
    db: int = 0
    username: str | None = attrs.field(default=None, repr=False)
    password: str | None = attrs.field(default=None, repr=False)

    def describe(self) -> str:
        """Hosts and service, never the password (for logs and check-config)."""
        hosts = ",".join(f"{host}:{port}" for host, port in self.sentinels)
        return f"{SENTINEL_SCHEME}://{hosts}/{self.service} (db {self.db})"


def is_sentinel_url(url: str) -> bool:
    return url.startswith(SENTINEL_SCHEME + "://")


def parse_sentinel_url(url: str) -> SentinelAddress:
    """``redis+sentinel://[user:pass@]h1:p1,h2:p2/service[?db=N]`` as a ``SentinelAddress``."""
    if not is_sentinel_url(url):
        raise RedisAddressError(f"must start with {SENTINEL_SCHEME}://")
    rest = url[len(SENTINEL_SCHEME) + 3 :]
    netloc, _, path_query = rest.partition("/")
    userinfo, at, hostlist = netloc.rpartition("@")
    if not at:
        userinfo, hostlist = "", netloc
    sentinels = []
    for item in hostlist.split(","):
        host, colon, port_text = item.strip().rpartition(":")
        if not colon:
            host, port_text = item.strip(), "26379"
        host = host.strip("[]")
        if not host or not port_text.isdigit() or not 0 < int(port_text) < 65536:
            raise RedisAddressError("each Sentinel must be host or host:port (port 1-65535)")
        sentinels.append((host, int(port_text)))
    parts = urlsplit("x:///" + path_query)
    service = unquote(parts.path.lstrip("/"))
    if not service or "/" in service:
        raise RedisAddressError("needs the service name as the path, e.g. /mymaster")
    query = parse_qs(parts.query)
    unknown = sorted(set(query) - {"db"})
    if unknown:
        raise RedisAddressError(f"unknown query parameter {unknown[0]!r} (only db is understood)")
    db_text = query.get("db", ["0"])[-1]
    if not db_text.isdigit():
        raise RedisAddressError("db must be a whole number")
    username: str | None = None
    password: str | None = None
    if userinfo:
        user, colon, secret = userinfo.partition(":")
        username = unquote(user) or None  # "user@host" is a user without a password, as in redis-py
        password = unquote(secret) if colon else None
    return SentinelAddress(tuple(sentinels), service, int(db_text), username, password)
