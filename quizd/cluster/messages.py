"""The relay's messages between nodes, as typed values, and their one codec.

Every entry a node writes to another node's stream is one of the frozen classes
below.  ``ToOwner`` messages go to the quiz owner's inbox stream (``quizd:in:<node>``):
what a gateway relays from its local connections, hand-off reports and RPC calls.
``ToGateway`` messages go to a gateway's outbox stream (``quizd:out:<node>``): what the
owner has to say to connections on that gateway, and RPC results.  Which stream a
message takes follows from its base class, so no list of kinds is kept by hand.

``encode``/``decode`` are the only code that sees the wire form: a compact orjson
object with a tag (``k``) per class and short keys, plus the sender's wall-clock
``ts`` (for the relay-lag metric).  ``decode`` returns the typed message or raises
``RelayDecodeError`` for anything unknown or malformed.
"""

from __future__ import annotations

import enum
from typing import Any, ClassVar

import attrs
import cattrs
import orjson
from cattrs.gen import make_dict_structure_fn, make_dict_unstructure_fn, override

from quizd.convert import converter
from quizd.game.quiz import AutoStart
from quizd.protocol.errors import ProtocolError
from quizd.protocol.messages import ClientMessage, parse_message

JsonObject = dict[str, Any]


def _key(short: str, *, secret: bool = False) -> Any:
    """The field's key on the wire (the codec's business only); a ``secret`` field (a
    credential) is redacted wherever the message is logged (quizd.ops.logging)."""
    return attrs.field(metadata={"key": short, "secret": secret}, repr=not secret)


def _key_default(short: str, default: Any) -> Any:
    return attrs.field(default=default, metadata={"key": short})


class RelayMessage:
    """Base of every relay message; ``TAG`` names the class on the wire."""

    TAG: ClassVar[str]


class ToOwner(RelayMessage):
    """Travels to the node that owns the quiz (its inbox stream)."""


class ToGateway(RelayMessage):
    """Travels to the gateway node that holds the connections (its outbox stream)."""


# ---------------------------------------------------------------------- to the owner
@attrs.frozen
class RemoteJoin(ToOwner):
    """A connection on ``gateway`` asks to join ``quiz_id`` (player, resume or host)."""

    TAG: ClassVar[str] = "join"
    quiz_id: str = _key("q")
    kind: str = _key("kind")
    value: str | None = _key("v", secret=True)  # a name (None: to be generated), or a resume or host token
    reply_to: str | int | None = _key("re")
    gateway: str = _key("gw")
    conn: int = _key("c")
    received_at_ms: int = _key("t")


@attrs.frozen
class RemoteCommand(ToOwner):
    """A joined participant's message, stamped with its arrival (wall-clock ms)."""

    TAG: ClassVar[str] = "cmd"
    quiz_id: str = _key("q")
    participant_id: str = _key("pid")
    gateway: str = _key("gw")
    conn: int = _key("c")
    received_at_ms: int = _key("t")
    message: ClientMessage = _key("m")


@attrs.frozen
class RemoteLost(ToOwner):
    """A participant's connection on ``gateway`` closed."""

    TAG: ClassVar[str] = "lost"
    quiz_id: str = _key("q")
    participant_id: str = _key("pid")
    gateway: str = _key("gw")
    conn: int = _key("c")


@attrs.frozen
class JoinUndone(ToOwner):
    """The owner's ``JoinAccepted`` for connection ``conn`` came after the gateway gave
    up on that join (it answered ``server_busy``) or after the connection closed: drop
    ``participant_id``'s binding to it.  A ``new_player`` is removed (its name is free
    again, its client never learnt its token); a resume or the host is disconnected."""

    TAG: ClassVar[str] = "undo"
    quiz_id: str = _key("q")
    participant_id: str = _key("pid")
    gateway: str = _key("gw")
    conn: int = _key("c")
    new_player: bool = _key("np")


@attrs.frozen
class HandoffTimes(ToOwner):
    """When a gateway handed ``question_id`` to each of its players (wall-clock ms)."""

    TAG: ClassVar[str] = "ho"
    quiz_id: str = _key("q")
    question_id: str = _key("qid")
    times: tuple[tuple[str, int], ...] = _key("h")


class RpcOp(enum.Enum):
    """What the control plane of one node asks of another."""

    CREATE = "create"
    END = "end"
    RESULTS = "results"


@attrs.frozen
class RpcCall(ToOwner):
    """A control-plane request for the node that owns (or is to own) ``quiz_id``."""

    TAG: ClassVar[str] = "rpc"
    rpc_id: int = _key("id")
    gateway: str = _key("gw")
    op: RpcOp = _key("op")
    quiz_id: str = _key("q")
    definition_id: str | None = _key_default("d", None)
    auto_start: AutoStart | None = _key_default("as", None)


# ---------------------------------------------------------------------- to a gateway
@attrs.frozen
class JoinAccepted(ToGateway):
    """The owner bound connection ``conn`` to ``participant_id``."""

    TAG: ClassVar[str] = "bind"
    conn: int = _key("c")
    quiz_id: str = _key("q")
    participant_id: str = _key("pid")


@attrs.frozen
class JoinRefused(ToGateway):
    """The owner refused the join of connection ``conn`` (the client's error)."""

    TAG: ClassVar[str] = "jerr"
    conn: int = _key("c")
    code: str = _key("code")
    message: str = _key("msg")
    details: JsonObject | None = _key_default("det", None)

    @classmethod
    def of(cls, conn: int, error: ProtocolError) -> JoinRefused:
        return cls(conn, error.code, error.message, error.details)

    def error(self) -> ProtocolError:
        return ProtocolError(self.code, self.message, self.details)


@attrs.frozen
class SendOne(ToGateway):
    """One encoded server message for one connection."""

    TAG: ClassVar[str] = "send"
    conn: int = _key("c")
    msg_type: str = _key("ty")
    body: str = _key("b")


@attrs.frozen
class BroadcastAll(ToGateway):
    """One encoded server message for every connection of ``quiz_id`` on the gateway;
    ``question_id`` asks for the hand-off times back (fair timing)."""

    TAG: ClassVar[str] = "bc"
    quiz_id: str = _key("q")
    msg_type: str = _key("ty")
    body: str = _key("b")
    replaceable: bool = _key_default("r", False)
    question_id: str | None = _key_default("qid", None)


@attrs.frozen
class CloseOne(ToGateway):
    """Close connection ``conn`` with a WebSocket close code."""

    TAG: ClassVar[str] = "close"
    conn: int = _key("c")
    code: int = _key("code")
    reason: str = _key_default("reason", "")


@attrs.frozen
class QuizMoved(ToGateway):
    """``quiz_id`` is not (any more) on the owner: its connections resume (1012)."""

    TAG: ClassVar[str] = "moved"
    quiz_id: str = _key("q")


@attrs.frozen
class RpcFailure:
    """A refused RPC: the control plane's status, code and message."""

    status: int = _key("s")
    code: str = _key("code")
    message: str = _key("msg")


@attrs.frozen
class RpcResult(ToGateway):
    """The answer to ``RpcCall`` ``rpc_id``: a JSON value, or the failure."""

    TAG: ClassVar[str] = "rres"
    rpc_id: int = _key("id")
    value: Any = _key_default("v", None)
    failure: RpcFailure | None = _key_default("e", None)


OWNER_MESSAGES: tuple[type[ToOwner], ...] = (
    RemoteJoin,
    RemoteCommand,
    RemoteLost,
    HandoffTimes,
    RpcCall,
    JoinUndone,
)
GATEWAY_MESSAGES: tuple[type[ToGateway], ...] = (
    JoinAccepted,
    JoinRefused,
    SendOne,
    BroadcastAll,
    CloseOne,
    QuizMoved,
    RpcResult,
)
MESSAGE_TYPES: dict[str, type[RelayMessage]] = {cls.TAG: cls for cls in (*OWNER_MESSAGES, *GATEWAY_MESSAGES)}


# ---------------------------------------------------------------------- the codec
class RelayDecodeError(ValueError):
    """A stream entry that is not a relay message this node understands."""


@attrs.frozen
class Entry:
    """A decoded stream entry: the message and when its sender wrote it (wall ms)."""

    message: RelayMessage
    sent_at_ms: int


def _unstructure_client_message(message: ClientMessage) -> JsonObject:
    wire: JsonObject = {"type": message.type, "payload": converter.unstructure(message.payload)}
    if message.id is not None:
        wire["id"] = message.id
    return wire


def _structure_client_message(value: Any, _type: Any) -> ClientMessage:
    try:
        return parse_message(value)
    except ProtocolError as err:
        raise ValueError(f"not a client message: {err.message}") from None


def _structure_message_id(value: Any, _type: Any) -> str | int | None:
    if value is None or isinstance(value, str) or (isinstance(value, int) and not isinstance(value, bool)):
        return value
    raise TypeError(f"expected a string, an integer or null, got {type(value).__name__}")


def _build_converter() -> cattrs.Converter:
    conv = converter.copy()
    conv.register_structure_hook(str | int | None, _structure_message_id)
    conv.register_unstructure_hook(ClientMessage, _unstructure_client_message)
    conv.register_structure_hook(ClientMessage, _structure_client_message)
    classes: tuple[type[Any], ...] = (RpcFailure, *MESSAGE_TYPES.values())  # nested ones first
    for cls in classes:
        attrs.resolve_types(cls)
        renames: dict[str, Any] = {f.name: override(rename=f.metadata["key"]) for f in attrs.fields(cls)}
        conv.register_unstructure_hook(cls, make_dict_unstructure_fn(cls, conv, **renames))
        conv.register_structure_hook(cls, make_dict_structure_fn(cls, conv, _cattrs_forbid_extra_keys=True, **renames))
    return conv


_conv = _build_converter()


def encode(message: RelayMessage, sent_at_ms: int) -> bytes:
    """One stream entry for ``message`` (orjson, tag ``k``, short keys, ``ts``)."""
    wire = _conv.unstructure(message)
    wire["k"] = message.TAG
    wire["ts"] = sent_at_ms
    return orjson.dumps(wire)


def decode(raw: bytes) -> Entry:
    """The typed message of one stream entry; ``RelayDecodeError`` if it is none."""
    try:
        wire = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise RelayDecodeError(f"relay entry is not JSON: {exc}") from None
    if not isinstance(wire, dict):
        raise RelayDecodeError("relay entry is not a JSON object")
    tag = wire.pop("k", None)
    sent_at = wire.pop("ts", None)
    cls = MESSAGE_TYPES.get(tag) if isinstance(tag, str) else None
    if cls is None:
        raise RelayDecodeError(f"unknown relay message kind {tag!r}")
    if isinstance(sent_at, bool) or not isinstance(sent_at, int):
        raise RelayDecodeError(f"relay {tag!r} entry has no integer 'ts'")
    try:
        message = _conv.structure(wire, cls)
    except (cattrs.BaseValidationError, TypeError, ValueError, KeyError) as exc:
        raise RelayDecodeError(f"malformed relay {tag!r} entry: {_describe(exc)}") from None
    return Entry(message, sent_at)


def _describe(exc: BaseException) -> str:
    if isinstance(exc, cattrs.BaseValidationError):
        return "; ".join(_describe(inner) for inner in exc.exceptions)
    return str(exc) or type(exc).__name__
