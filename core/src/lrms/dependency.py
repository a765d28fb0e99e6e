"""A job's dependency on another lrms job: :class:`Dependency`."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

__all__ = ["CONDITIONS", "Dependency"]

#: ``ok``: the other job must end with exit code 0; ``any``: it must just end.
CONDITIONS = ("ok", "any")


def _word(what: str, value: object) -> str:
    """``value`` if it is a non-empty string without spaces or control characters."""
    if not isinstance(value, str) or not value or not value.isprintable() or any(
            c.isspace() for c in value):
        raise ValueError(f"{what} must be a non-empty word without spaces, got {value!r}")
    return value


@dataclasses.dataclass(frozen=True)
class Dependency:
    """Start only after lrms job ``jobid`` ended (``condition`` ``ok``: with exit code 0).

    ``native_id`` is that job's scheduler id, set by the engine (or a direct
    API user) when the backend can express the dependency natively.
    """

    jobid: str
    condition: str = "ok"
    native_id: str | None = None

    def __post_init__(self) -> None:
        _word("dependency job id", self.jobid)
        if ":" in self.jobid:
            raise ValueError(f"dependency job id {self.jobid!r} contains ':'")
        if self.condition not in CONDITIONS:
            raise ValueError(
                f"dependency condition must be ok or any, got {self.condition!r}")
        if self.native_id is not None:
            _word("dependency native id", self.native_id)

    @classmethod
    def parse(cls, text: str) -> Dependency:
        """``JOBID``, ``JOBID:ok`` or ``JOBID:any`` (the ``--after`` syntax)."""
        if not isinstance(text, str):
            raise ValueError(f"a dependency is JOBID[:ok|:any], got {text!r}")
        jobid, sep, condition = text.partition(":")
        if sep and condition not in CONDITIONS:
            raise ValueError(f"a dependency is JOBID[:ok|:any], got {text!r}")
        return cls(jobid, condition or "ok")

    @classmethod
    def of(cls, value: Dependency | str | Mapping[str, Any]) -> Dependency:
        """A dependency from itself, its ``--after`` text or its :meth:`Dependency.to_dict`."""
        if isinstance(value, Dependency):
            return value
        if isinstance(value, Mapping):
            return cls(value.get("jobid"), value.get("condition", "ok"),  # type: ignore[arg-type]
                       value.get("native_id"))
        return cls.parse(value)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def __str__(self) -> str:
        return f"{self.jobid}:{self.condition}"
