"""Logging setup for a quizd node: one root handler, JSON lines or readable text.

Why: a node is run under systemd or a container runtime that ships stderr to a log store,
so the default format is one JSON object per line that such stores can index.  Operators
debugging by hand pick ``format = "text"`` in ``[logging]``.  Both formats carry the same
context fields, so a line can always be tied to a quiz, a participant and a node::

    log.info("player joined", extra={"quizId": qid, "participantId": pid})

Context fields: ``quizId``, ``participantId``, ``node``, ``code`` and ``remote`` come first
(in that order), then any other field passed with ``extra=``.  An exception (``exc_info``)
becomes the ``exc`` field in JSON and follows the line in text.

Secrets: a filter on the handler drops every record attribute whose name names a secret
("token" or "secret", case-insensitive), e.g. ``extra={"resume_token": ...}`` or
``adminToken``, and redacts such keys at any depth inside the other extras: a relay message
logged whole (``extra={"relay": {"v": {"resumeToken": ...}}}``), a list of such dicts, or an
attrs instance (logged as its fields; a field with ``metadata={"secret": True}`` counts as
secret-named) shows ``"[redacted]"`` in place of the value, and so
does a secret-named field of JSON text inside a string (a frame body logged whole).  It
covers names, not free text: never put a bare secret into the message text itself.

Noisy third-party loggers (``hypercorn.access``, ``trio-websocket``) are held at warning
unless the node logs at debug.  :func:`set_level` changes the level at runtime (SIGHUP).
"""

from __future__ import annotations

import json
import logging
import re
import sys
import time
from typing import Any, Final, TextIO

import attrs
import orjson

__all__ = [
    "CONTEXT_FIELDS",
    "JsonFormatter",
    "TextFormatter",
    "TokenFilter",
    "set_level",
    "setup_logging",
]

#: Context fields shown first, in this order, when a record carries them.
CONTEXT_FIELDS: Final[tuple[str, ...]] = ("quizId", "participantId", "node", "code", "remote")

_LEVELS: Final[dict[str, int]] = {
    "debug": logging.DEBUG,
    "info": logging.INFO,
    "warning": logging.WARNING,
    "error": logging.ERROR,
    "critical": logging.CRITICAL,
}
_FORMATS: Final[tuple[str, ...]] = ("json", "text")

#: Third-party loggers that are chatty at info; held at warning unless the node logs at debug.
_NOISY_LOGGERS: Final[tuple[str, ...]] = ("hypercorn.access", "trio-websocket")

# Attributes every LogRecord has; anything else on a record came from ``extra=``.
_STANDARD_ATTRS: Final[frozenset[str]] = frozenset(logging.LogRecord("", 0, "", 0, "", (), None).__dict__) | {
    "message",
    "asctime",
    "taskName",
}


def _parse_level(level: str) -> int:
    try:
        return _LEVELS[level.strip().lower()]
    except (KeyError, AttributeError):
        raise ValueError(f"unknown log level {level!r}; expected one of {', '.join(_LEVELS)}") from None


def _timestamp(record: logging.LogRecord) -> str:
    """RFC 3339 UTC with milliseconds, e.g. 2024-05-01T12:00:00.123Z."""
    seconds = int(record.created)
    millis = min(int((record.created - seconds) * 1000), 999)
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds)) + f".{millis:03d}Z"


def _fields(record: logging.LogRecord) -> dict[str, Any]:
    """Context fields first (fixed order), then the other extras in the order given."""
    out: dict[str, Any] = {}
    attrs = record.__dict__
    for name in CONTEXT_FIELDS:
        if name in attrs:
            out[name] = attrs[name]
    for name, value in attrs.items():
        if name not in _STANDARD_ATTRS and name not in out and not name.startswith("_"):
            out[name] = value
    return out


REDACTED: Final = "[redacted]"
_SECRET_WORDS: Final[tuple[str, ...]] = ("token", "secret")
#: How deep the filter looks into an extra; anything deeper is replaced whole.
_MAX_DEPTH: Final = 8


def _is_secret_name(name: object) -> bool:
    return isinstance(name, str) and any(word in name.lower() for word in _SECRET_WORDS)


# A secret-named JSON field inside a string: a relayed frame body, a request logged whole.
_JSON_SECRET = re.compile(r'("[A-Za-z_]*(?:[Tt]oken|TOKEN|[Ss]ecret|SECRET)[A-Za-z_]*"\s*:\s*)"(?:[^"\\]|\\.)*"')


def _redacted_text(text: str) -> str:
    if "oken" not in text and "ecret" not in text and "TOKEN" not in text and "SECRET" not in text:
        return text
    return _JSON_SECRET.sub(rf'\1"{REDACTED}"', text)


def _redacted(value: Any, depth: int = 0) -> Any:
    """``value`` with every secret-named key replaced, at any depth (dicts, lists, attrs), and
    secret-named fields of JSON text inside strings (an encoded frame) replaced too."""
    if isinstance(value, str):
        return _redacted_text(value)
    if isinstance(value, (bytes, bytearray)):
        return _redacted_text(bytes(value).decode("utf-8", "replace"))
    if isinstance(value, (int, float, bool)) or value is None:
        return value
    if depth >= _MAX_DEPTH:
        return REDACTED
    if attrs.has(type(value)):
        # A field may declare itself secret where its name cannot: metadata={"secret": True}.
        value = {
            a.name: REDACTED if a.metadata.get("secret") else getattr(value, a.name) for a in attrs.fields(type(value))
        }
    if isinstance(value, dict):
        return {k: REDACTED if _is_secret_name(k) else _redacted(v, depth + 1) for k, v in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        return [_redacted(v, depth + 1) for v in value]
    return value


class TokenFilter(logging.Filter):
    """Drops every secret-named record attribute and redacts secret-named keys inside the rest.

    Installed on the handler, so it sees records from every logger that propagates to the
    root.  It never drops the record itself.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        attributes = record.__dict__
        for name in list(attributes):
            if name in _STANDARD_ATTRS:
                continue
            if _is_secret_name(name):
                delattr(record, name)
            else:
                attributes[name] = _redacted(attributes[name])
        if record.args:
            record.args = (
                _redacted(record.args) if isinstance(record.args, dict) else tuple(_redacted(list(record.args)))
            )
        return True


def _json_default(value: Any) -> Any:
    return str(value)


class JsonFormatter(logging.Formatter):
    """One JSON object per line: ts, level, logger, msg, context and extra fields, exc."""

    def format(self, record: logging.LogRecord) -> str:
        doc: dict[str, Any] = {
            "ts": _timestamp(record),
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        for name, value in _fields(record).items():
            doc.setdefault(name, value)
        if record.exc_info:
            doc["exc"] = self.formatException(record.exc_info)
        elif record.exc_text:
            doc["exc"] = record.exc_text
        if record.stack_info:
            doc["stack"] = self.formatStack(record.stack_info)
        try:
            return orjson.dumps(doc, default=_json_default, option=orjson.OPT_NON_STR_KEYS).decode()
        except (TypeError, orjson.JSONEncodeError):
            # e.g. an int wider than 64 bits: the stdlib encoder copes.
            return json.dumps(doc, default=_json_default, ensure_ascii=False)


_BARE_VALUE = re.compile(r'[^\s"=\\]+')


def _kv(value: Any) -> str:
    text = value if isinstance(value, str) else str(value)
    if _BARE_VALUE.fullmatch(text):
        return text
    return json.dumps(text, ensure_ascii=False)


class TextFormatter(logging.Formatter):
    """``<ts> <LEVEL> <logger>: <msg> key=value ...`` on one line.

    Values with spaces, quotes or ``=`` are JSON-quoted so the line stays parseable; a
    traceback, if any, follows on the next lines.
    """

    def format(self, record: logging.LogRecord) -> str:
        line = f"{_timestamp(record)} {record.levelname:<7} {record.name}: {record.getMessage()}"
        fields = _fields(record)
        if fields:
            line += " " + " ".join(f"{k}={_kv(v)}" for k, v in fields.items())
        if record.exc_info:
            line += "\n" + self.formatException(record.exc_info)
        elif record.exc_text:
            line += "\n" + record.exc_text
        if record.stack_info:
            line += "\n" + self.formatStack(record.stack_info)
        return line


def _apply_level(level_no: int) -> None:
    logging.getLogger().setLevel(level_no)
    noisy_level = logging.NOTSET if level_no <= logging.DEBUG else logging.WARNING
    for name in _NOISY_LOGGERS:
        logging.getLogger(name).setLevel(noisy_level)


def setup_logging(level: str, fmt: str, stream: TextIO = sys.stderr) -> None:
    """Give the root logger exactly one handler writing ``fmt`` ("json" or "text") to ``stream``.

    Replaces any handler already on the root logger, so calling it twice is safe.
    Raises :class:`ValueError` for an unknown level or format.
    """
    level_no = _parse_level(level)
    fmt_key = fmt.strip().lower() if isinstance(fmt, str) else ""
    if fmt_key not in _FORMATS:
        raise ValueError(f"unknown log format {fmt!r}; expected one of {', '.join(_FORMATS)}")

    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter() if fmt_key == "json" else TextFormatter())
    handler.addFilter(TokenFilter())

    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
        old.close()  # a StreamHandler's close() leaves the stream itself open
    root.addHandler(handler)
    _apply_level(level_no)


def set_level(level: str) -> None:
    """Change the node's log level at runtime (e.g. on SIGHUP); raises ValueError if unknown."""
    _apply_level(_parse_level(level))
