"""Standard Webhooks signatures: ``v1,<base64 HMAC-SHA256(key, "{id}.{timestamp}.{body}")>``.

The secret is ``whsec_<base64 key>`` (checked by the config loader).  The stdlib
``hmac`` computes it: the scheme is three lines, and the tests verify every delivery
with the ``standardwebhooks`` library itself, so the two cannot drift apart.
"""

from __future__ import annotations

import base64
import hashlib
import hmac

SECRET_PREFIX = "whsec_"


def secret_key(secret: str) -> bytes:
    """The HMAC key of a ``whsec_<base64>`` secret."""
    return base64.b64decode(secret.removeprefix(SECRET_PREFIX), validate=True)


def signature(key: bytes, msg_id: str, timestamp: int, body: bytes) -> str:
    """The ``webhook-signature`` value for one attempt."""
    signed = f"{msg_id}.{timestamp}.".encode() + body
    digest = hmac.new(key, signed, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode()


def signed_headers(key: bytes, msg_id: str, timestamp: int, body: bytes) -> dict[str, str]:
    """The headers of one attempt: each retry is signed anew with its own timestamp."""
    return {
        "content-type": "application/json",
        "webhook-id": msg_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": signature(key, msg_id, timestamp, body),
    }
