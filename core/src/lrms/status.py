"""The dynamic status of a resource, as ``get_resource_status()`` returns it."""

from __future__ import annotations

import dataclasses
import time
from typing import Any

__all__ = ["ResourceStatus"]


@dataclasses.dataclass(frozen=True)
class ResourceStatus:
    """A snapshot of a resource's load.

    ``free_slots``: cores free for new jobs now; ``total_slots``: cores in all;
    ``user_run``/``user_queued``: this user's running/queued jobs;
    ``queued``: jobs queued by everyone; ``running``: jobs running for everyone
    (None if unknown); ``details``: backend-specific figures (e.g. the host's
    CPUs and memory); ``notes``: what users should know about the resource, one
    line each (e.g. a request it cannot enforce); ``updated``: when this was read.
    """

    free_slots: int
    total_slots: int
    user_run: int
    user_queued: int
    queued: int
    running: int | None = None
    details: dict[str, Any] = dataclasses.field(default_factory=dict)
    notes: tuple[str, ...] = ()
    updated: float = dataclasses.field(default_factory=time.time)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)
