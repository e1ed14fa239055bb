"""quizd: a real-time vocabulary quiz server.

Each live quiz is a supervised Trio actor; players speak JSON over raw WebSockets;
operators use a small HTTP control plane.  See docs/ for the contracts.
"""

#: The version, in one place: pyproject.toml reads it from here (``[tool.setuptools.dynamic]``),
#: ``quizd version`` prints it and the ``quizd_build_info`` metric carries it.
__version__ = "0.1.0"
