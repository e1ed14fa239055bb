"""The cluster tests' fixtures live in tests/conftest.py (``redis_server``), shared with
the data API and storage tests; the processes are ``quizd.testing.procs``'s."""
