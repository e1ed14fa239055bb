"""Pre-framed WebSocket bytes for the broadcast hot path.

A broadcast is encoded to JSON once and framed once; the very same ``bytes`` object is
then written to every connection.  Framing is wsproto's (the library trio-websocket is
built on), not hand-written: a server-to-client frame is unmasked, so one framed
message is valid on every connection of the node.  trio-websocket does not negotiate
permessage-deflate, so no connection expects compressed frames.
"""

from __future__ import annotations

from wsproto.frame_protocol import FrameProtocol

_framer = FrameProtocol(client=False, extensions=[])


def text_frame(body: bytes) -> bytes:
    """Frame a UTF-8 JSON body as one final text frame."""
    return bytes(_framer.send_data(body.decode("utf-8"), fin=True))


def ping_frame(payload: bytes = b"") -> bytes:
    return bytes(_framer.ping(payload))
