"""Pre-framed WebSocket bytes for the broadcast hot path.

A broadcast is encoded to JSON once and framed once; the very same ``bytes`` object is
then written to every connection.  Framing is websockets' (the library whose sans-I/O
protocol the listener speaks, :mod:`quizd.gateway.websocket`), not hand-written: a
server-to-client frame is unmasked, so one framed message is valid on every connection
of the node.  The listener negotiates no extension (no permessage-deflate), so no
connection expects compressed frames.
"""

from __future__ import annotations

from websockets.frames import Frame, Opcode


def text_frame(body: bytes) -> bytes:
    """Frame a UTF-8 JSON body as one final text frame."""
    return Frame(Opcode.TEXT, body).serialize(mask=False)


def ping_frame(payload: bytes = b"") -> bytes:
    return Frame(Opcode.PING, payload).serialize(mask=False)
