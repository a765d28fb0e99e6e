"""Declarations of configuration options, and their checking.

A backend lists its YAML options as :class:`Option` objects in its
``options`` class attribute; the core checks a config against them (type,
choices, unknown keys) and the docs' config reference is generated from them.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from .quantity import Duration, Memory

__all__ = ["Option", "check_options"]


def _string(value: Any) -> str:
    if isinstance(value, bool) or not isinstance(value, (str, int, float)):
        raise ValueError(f"expected a string, got {value!r} (quote it in YAML)")
    return str(value)


def _integer(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"expected a whole number, got {value!r}")
    return value


def _positive(value: Any) -> int:
    number = _integer(value)
    if number < 1:
        raise ValueError(f"expected a positive whole number, got {value!r}")
    return number


def _boolean(value: Any) -> bool:
    if not isinstance(value, bool):
        raise ValueError(f"expected true or false, got {value!r}")
    return value


def _strings(value: Any) -> list[str]:
    if isinstance(value, str):
        raise ValueError(f"expected a list of strings such as [--a, b], got the string {value!r}")
    if not isinstance(value, Sequence):
        raise ValueError(f"expected a list of strings, got {value!r}")
    return [_string(item) for item in value]


def _memory(value: Any) -> Memory:
    if isinstance(value, bool) or not isinstance(value, (str, Memory)):
        raise ValueError(f"expected a memory size such as 4GiB, got {value!r}")
    return Memory(value)


def _duration(value: Any) -> Duration:
    if isinstance(value, bool) or not isinstance(value, (str, int, float, Duration)):
        raise ValueError(f"expected a duration such as 8h or 2 days, got {value!r}")
    return Duration(value)


_KINDS: dict[str, Callable[[Any], Any]] = {
    "string": _string,
    "integer": _integer,
    "positive integer": _positive,
    "boolean": _boolean,
    "list of strings": _strings,
    "memory": _memory,
    "duration": _duration,
}


@dataclasses.dataclass(frozen=True)
class Option:
    """One configuration key: its kind (a key of ``KINDS``), default and help."""

    name: str
    kind: str = "string"
    default: Any = None
    help: str = ""
    choices: tuple[Any, ...] = ()
    required: bool = False

    def __post_init__(self) -> None:
        if self.kind not in _KINDS:
            raise ValueError(
                f"option {self.name}: unknown kind {self.kind!r}; use one of {sorted(_KINDS)}")

    def convert(self, value: Any) -> Any:
        """The value in its Python type; :class:`ValueError` says what is wrong."""
        converted = _KINDS[self.kind](value)
        if self.choices and converted not in self.choices:
            raise ValueError(f"expected one of {', '.join(map(str, self.choices))}; got {value!r}")
        return converted


KINDS = tuple(_KINDS)


def check_options(
    declared: Sequence[Option],
    given: Mapping[str, Any],
    on_error: Callable[[str, str], Exception],
    also_valid: Sequence[str] = (),
) -> dict[str, Any]:
    """Check ``given`` against ``declared`` and return every option's value.

    ``on_error(key, problem)`` builds the exception to raise (so a config can
    add its file and line).  Unknown keys, missing required ones and bad
    values are errors; absent keys take their default.  ``also_valid`` names
    keys checked elsewhere, listed as valid in the unknown-key message.
    """
    by_name = {option.name: option for option in declared}
    values: dict[str, Any] = {}
    for key, value in given.items():
        option = by_name.get(key)
        if option is None:
            known = ", ".join(sorted({*by_name, *also_valid})) or "none"
            raise on_error(key, f"unknown option (valid options here: {known})")
        try:
            values[key] = option.convert(value)
        except (ValueError, TypeError) as exc:
            raise on_error(key, str(exc)) from None
    for option in declared:
        if option.name not in values:
            if option.required:
                raise on_error(option.name, "missing required option")
            values[option.name] = (
                None if option.default is None else option.convert(option.default))
    return values
