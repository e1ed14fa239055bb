"""Operational plumbing of a quizd node: metrics, logging, sd_notify and GC tuning.

``metrics`` declares every Prometheus series once; ``logging`` sets up JSON or text
logs that never carry a token; ``sdnotify`` speaks systemd's notify protocol (READY,
WATCHDOG, STATUS, RELOADING, STOPPING); ``gc_tuning`` moves full garbage collections
to moments when no question is open.  Signal handling (SIGHUP reload, SIGTERM/SIGINT drain) is not
here: it lives in ``quizd.node``, the composition root, because reload and drain
orchestrate every part of the node.

These modules sit at the edge of the process.  The parts that do I/O (actors, gateway,
cluster, HTTP, service, node, cli) import them; ``quizd.game`` and ``quizd.protocol``
never do, so they stay free of I/O (see docs/architecture.md).
"""
