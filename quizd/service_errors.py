"""``ServiceError``: a refused control-plane request (HTTP status, error code, message,
and the optional ``details`` of the wire contract's error object).

One type for the whole path: the service raises it, the control plane turns it into
the JSON error response, and in a cluster it crosses the relay unchanged when another
node refused an RPC (``RpcFailure`` carries the same three fields).
"""

from __future__ import annotations

from collections.abc import Mapping


class ServiceError(Exception):
    """A refused control-plane request: HTTP status, error code, message and details."""

    def __init__(self, status: int, code: str, message: str, details: Mapping[str, object] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.details = details
