"""The project's one cattrs converter.

Config files, quiz definitions and client messages are all structured through this
converter so that every type error reads the same way and names the path to the bad
value.  Primitive hooks are strict on purpose: cattrs' defaults call ``int(x)`` and
``str(x)``, which would quietly accept ``"3"`` for a port or ``true`` for a choice.
"""

from __future__ import annotations

from typing import Any

import cattrs

converter = cattrs.Converter(forbid_extra_keys=False)


def _strict_int(value: Any, _type: type) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"expected an integer, got {describe(value)}")
    return value


def _strict_float(value: Any, _type: type) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f"expected a number, got {describe(value)}")
    return float(value)


def _strict_str(value: Any, _type: type) -> str:
    if not isinstance(value, str):
        raise TypeError(f"expected a string, got {describe(value)}")
    return value


def _strict_bool(value: Any, _type: type) -> bool:
    if not isinstance(value, bool):
        raise TypeError(f"expected true or false, got {describe(value)}")
    return value


def describe(value: Any) -> str:
    """Name a JSON/TOML value's type the way a user of those formats would."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int):
        return "an integer"
    if isinstance(value, float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, (list, tuple)):
        return "an array"
    if isinstance(value, dict):
        return "an object/table"
    return type(value).__name__


def _optional_str(value: Any, _type: type) -> str | None:
    return None if value is None else _strict_str(value, str)


def _optional_int(value: Any, _type: type) -> int | None:
    return None if value is None else _strict_int(value, int)


converter.register_structure_hook(int, _strict_int)
converter.register_structure_hook(str | None, _optional_str)
converter.register_structure_hook(int | None, _optional_int)
converter.register_structure_hook(float, _strict_float)
converter.register_structure_hook(str, _strict_str)
converter.register_structure_hook(bool, _strict_bool)


def error_paths(exc: BaseException) -> list[tuple[str, str]]:
    """Flatten a cattrs error tree into ``(dotted.path, message)`` pairs.

    cattrs reports nested failures as exception groups annotated with the attribute
    or index they came from; users want one line per bad value with its full path.
    """
    out: list[tuple[str, str]] = []
    if isinstance(exc, (cattrs.ClassValidationError, cattrs.IterableValidationError)):
        with_notes, without = exc.group_exceptions()
        for inner, note in with_notes:
            name = note.name if hasattr(note, "name") else getattr(note, "index", "?")
            for sub_path, msg in error_paths(inner):
                path = f"{name}.{sub_path}" if sub_path else str(name)
                out.append((path, msg))
        for inner in without:
            out.extend(error_paths(inner))
        return out
    if isinstance(exc, BaseExceptionGroup):
        for member in exc.exceptions:
            out.extend(error_paths(member))
        return out
    if isinstance(exc, KeyError):
        return [("", "is required")]
    return [("", str(exc))]
