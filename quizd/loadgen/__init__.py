"""``quizd-load``, the load generator: a client of quizd, not a part of the server.

``cli`` is the command line, ``run`` one run's parent process (the quiz host and the
driver), ``worker`` the worker processes that play the players on raw sockets and
epoll, ``players`` one player's connection and reaction time, ``answers`` what a player
answers to each question kind (right or wrong, from ``--answers``), and ``stats`` the
numbers and the report.  Nothing in the server imports this package.
"""
