"""The node config and the quiz definition files: their shape, loading and checking.

``model`` is the config as frozen attrs classes, ``loader`` reads and validates the
TOML file (every problem at once), ``definitions`` turns quiz files into the game's
``QuizDefinition`` values, and ``check`` is the ``quizd check-config`` command.  The
names the rest of the code base uses are re-exported here; ``check`` is not, so that
``serve`` does not import the command it does not run.
"""

from __future__ import annotations

from quizd.config.definitions import DefinitionSet, load_definitions, parse_definition
from quizd.config.loader import ConfigError, Problem, load_config
from quizd.config.model import (
    AuthSection,
    ClusterSection,
    Config,
    HttpSection,
    LeaderboardSection,
    LimitsSection,
    LoggingSection,
    NodeSection,
    QuizzesSection,
    StorageSection,
    WebhookEndpoint,
    WebhookEvent,
    WebSocketSection,
)

__all__ = [
    "AuthSection",
    "ClusterSection",
    "Config",
    "ConfigError",
    "DefinitionSet",
    "HttpSection",
    "LeaderboardSection",
    "LimitsSection",
    "LoggingSection",
    "NodeSection",
    "Problem",
    "QuizzesSection",
    "StorageSection",
    "WebSocketSection",
    "WebhookEndpoint",
    "WebhookEvent",
    "load_config",
    "load_definitions",
    "parse_definition",
]
