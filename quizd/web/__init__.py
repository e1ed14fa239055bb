"""The browser pages (``/play`` for players, ``/host`` for the big screen).

Plain HTML, CSS and JavaScript modules with no build step, shipped as package data and
served by ``quizd.http.web``.  They are the reference client of docs/protocol.md: they
use only the documented WebSocket messages and HTTP routes.
"""
