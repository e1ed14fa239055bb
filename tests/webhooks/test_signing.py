"""quizd's Standard Webhooks signature, checked by the reference library."""

from __future__ import annotations

from datetime import UTC, datetime

from standardwebhooks.webhooks import Webhook

from quizd.webhooks.signing import secret_key, signature, signed_headers
from tests.webhooks.receiver import OTHER_SECRET, SECRET


def test_the_library_verifies_what_quizd_signs() -> None:
    body = b'{"type":"quiz.ended","timestamp":"2026-01-01T00:00:00.000Z","data":{}}'
    now = int(datetime.now(UTC).timestamp())
    headers = signed_headers(secret_key(SECRET), "msg_abc", now, body)
    assert Webhook(SECRET).verify(body, headers) == {
        "type": "quiz.ended",
        "timestamp": "2026-01-01T00:00:00.000Z",
        "data": {},
    }
    assert headers["webhook-id"] == "msg_abc" and headers["webhook-timestamp"] == str(now)


def test_the_signature_is_the_librarys_for_the_same_inputs() -> None:
    body = b'{"a":1}'
    at = datetime(2026, 12, 6, 4, 0, tzinfo=UTC)
    expected = Webhook(SECRET).sign("msg_1", at, body.decode())
    assert signature(secret_key(SECRET), "msg_1", int(at.timestamp()), body) == expected


def test_another_secret_another_id_or_another_timestamp_is_another_signature() -> None:
    body = b"{}"
    base = signature(secret_key(SECRET), "msg_1", 100, body)
    assert signature(secret_key(OTHER_SECRET), "msg_1", 100, body) != base
    assert signature(secret_key(SECRET), "msg_2", 100, body) != base
    assert signature(secret_key(SECRET), "msg_1", 101, body) != base
