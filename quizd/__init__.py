"""quizd: a real-time vocabulary quiz server.

Each live quiz is a supervised Trio actor; players speak JSON over raw WebSockets;
operators use a small HTTP control plane.  See docs/ for the contracts.
"""

__version__ = "0.1.0"
