"""Protocol error codes and close codes (docs/protocol.md), in one place."""

from __future__ import annotations

import attrs

INVALID_JSON = "invalid_json"
INVALID_MESSAGE = "invalid_message"
UNKNOWN_TYPE = "unknown_type"
NOT_JOINED = "not_joined"
ALREADY_JOINED = "already_joined"
QUIZ_NOT_FOUND = "quiz_not_found"
QUIZ_FULL = "quiz_full"
QUIZ_ENDED = "quiz_ended"
NAME_INVALID = "name_invalid"
NAME_TAKEN = "name_taken"
INVALID_RESUME_TOKEN = "invalid_resume_token"
NOT_HOST = "not_host"
WRONG_PHASE = "wrong_phase"
UNKNOWN_PARTICIPANT = "unknown_participant"
QUESTION_CLOSED = "question_closed"
ALREADY_ANSWERED = "already_answered"
INVALID_CHOICE = "invalid_choice"
RATE_LIMITED = "rate_limited"
SERVER_BUSY = "server_busy"
INTERNAL = "internal"

CLOSE_NORMAL = 1000
CLOSE_ABUSE = 1008
CLOSE_TOO_BIG = 1009
CLOSE_INTERNAL = 1011
CLOSE_RESTARTING = 1012
CLOSE_NODE_FULL = 1013
CLOSE_KICKED = 4001
CLOSE_REPLACED = 4002
CLOSE_QUIZ_CLOSED = 4004


@attrs.frozen
class ProtocolError(Exception):
    """A request the contract refuses: becomes an ``error`` message with this code."""

    code: str
    message: str
    details: dict[str, object] | None = None

    def payload(self) -> dict[str, object]:
        body: dict[str, object] = {"code": self.code, "message": self.message}
        if self.details:
            body["details"] = self.details
        return body
