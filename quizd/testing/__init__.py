"""Helpers for testing and benchmarking quizd with real processes (like ``trio.testing``).

``procs`` starts and stops quizd nodes and redis-server on free loopback ports; the
test suite and the benchmark both use it, so they start processes one way.  Nothing in
the server imports this package.
"""
