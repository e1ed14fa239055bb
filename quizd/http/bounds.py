"""How long an HTTP connection of the control plane may hold a descriptor doing nothing.

hypercorn has two clocks and the node sets both:

* ``keep_alive_timeout`` (``KEEP_ALIVE_TIMEOUT_S``): an HTTP/1.1 connection with no request
  in progress is closed after it. It runs from TCP accept until a whole request line and
  headers have arrived, so it also closes a connection that sends half a request line
  (slowloris) or nothing at all.
* ``read_timeout`` (``READ_TIMEOUT_S``): every single read must bring bytes within it, or
  the connection is closed. hypercorn stops the keep-alive clock when it sees a request,
  and HTTP/2 with prior knowledge starts with one (``PRI * HTTP/2.0``), so an HTTP/2
  connection that never opens a stream was held for ever (hypercorn's default is no read
  timeout). It must be longer than the slowest handler (a body gets 10 s, a cluster RPC
  5 s), because a request whose client sends nothing more while it waits is closed too.

hypercorn has no cap on concurrent connections; these clocks bound how long each idle one
lives, and the WebSocket port leaves a reserve of descriptors for this port
(:mod:`quizd.gateway.admission`).
"""

from __future__ import annotations

import hypercorn.config

KEEP_ALIVE_TIMEOUT_S = 5.0
READ_TIMEOUT_S = 30  # whole seconds: hypercorn types it int


def bound_connections(config: hypercorn.config.Config) -> None:
    """Set the idle clocks on hypercorn's config (read at each use, so set before serve)."""
    config.keep_alive_timeout = KEEP_ALIVE_TIMEOUT_S
    config.read_timeout = READ_TIMEOUT_S
