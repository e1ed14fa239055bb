"""Operational plumbing of a quizd node: metrics, logging, signals and sd_notify.

These modules sit at the edge of the process.  They may be imported by the gateway,
the actors' supervisor and the composition root, but never by ``quizd.game``, which
stays free of I/O (see docs/architecture).
"""
