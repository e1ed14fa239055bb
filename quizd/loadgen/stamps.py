"""When the kernel received a player's bytes: Linux receive timestamps on TCP sockets.

A latency stamped by the worker when it gets round to ``recv`` includes the worker's
own backlog: while it parses a broadcast to thousands of players or sends a burst of
answers, replies wait in their sockets and would be stamped late by that much.  With
``SO_TIMESTAMPNS`` on a socket, the kernel records CLOCK_REALTIME on every packet as this
machine's network stack receives it (on loopback TCP: as the packet is handed to the local
TCP layer, normally still within the server's ``send``), before the client's process is
involved, and ``recvmsg`` returns it in an ``SCM_TIMESTAMPNS`` control message (a
``struct timespec``: two native longs).

Which packet's stamp a TCP read reports: the one holding the highest sequence number the
read returned, that is its *last* bytes (Linux 4.14, "tcp: Extend
SOF_TIMESTAMPING_RX_SOFTWARE to TCP recvmsg"; segments coalesced in the receive queue
keep the appended, later one's stamp for that reason).  So a frame is stamped with the
arrival of its own last bytes when it is the last frame of the read; when more bytes
came after it and the same read returned them, the stamp is theirs, later than the
frame's own arrival.  A stamp can therefore only be later than the truth, never earlier:
a latency measured with it is an upper bound, at most as late as a userspace stamp.

No control message comes when no packet of the read carried a stamp: the first socket
to ask for stamps turns them on machine-wide a moment later (a deferred static key), so
packets that arrived before then have none, and a kernel without the option refuses it.
``recv_stamped`` then says ``None`` and the caller takes its own time; the load
generator counts how often (``latency_stamps`` in its report).
"""

from __future__ import annotations

import socket
import struct

#: ``SO_TIMESTAMPNS`` (``SO_TIMESTAMPNS_OLD`` in asm-generic, 35; Python's socket module
#: does not always name it).  On 64-bit Linux the old and the new (y2038) forms have one layout.
SO_TIMESTAMPNS: int = getattr(socket, "SO_TIMESTAMPNS", 35)
#: Its control message's type is the option's own number.
SCM_TIMESTAMPNS = SO_TIMESTAMPNS
_TIMESPEC = struct.Struct("@ll")
#: Room for one control message carrying a ``struct timespec``.
ANCILLARY_BYTES = socket.CMSG_SPACE(_TIMESPEC.size)
NS_PER_S = 1_000_000_000
_SOL_SOCKET = socket.SOL_SOCKET
_TIMESPEC_SIZE = _TIMESPEC.size
_unpack_timespec = _TIMESPEC.unpack_from


def enable(sock: socket.socket) -> bool:
    """Ask the kernel to stamp what ``sock`` receives; False when the option is refused."""
    try:
        sock.setsockopt(socket.SOL_SOCKET, SO_TIMESTAMPNS, 1)
    except OSError:
        return False
    return True


def recv_stamped(sock: socket.socket, nbytes: int) -> tuple[bytes, int | None]:
    """Up to ``nbytes`` from ``sock`` and the kernel's CLOCK_REALTIME receive time of the
    last of them in nanoseconds (None: no stamp came with the read, see the module doc).

    Raises what ``recv`` raises (``BlockingIOError`` on a non-blocking socket with nothing
    to read).
    """
    data, ancdata, _flags, _addr = sock.recvmsg(nbytes, ANCILLARY_BYTES)
    # The hot path of a worker (one read per ready socket): the only control message these
    # sockets ask for is the stamp, so only the first is looked at.
    if ancdata:
        level, kind, cdata = ancdata[0]
        if kind == SCM_TIMESTAMPNS and level == _SOL_SOCKET and len(cdata) >= _TIMESPEC_SIZE:
            sec, nsec = _unpack_timespec(cdata)
            return data, sec * NS_PER_S + nsec
    return data, None
