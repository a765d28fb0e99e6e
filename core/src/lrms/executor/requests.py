"""Per-call requests of :class:`lrms.Executor` (``cores=4, gpus=1, walltime="1h"``...)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ..application import REQUEST_FIELDS

__all__ = ["application_fields"]

#: Short names for the requested_* fields of :class:`~lrms.Application`.
ALIASES = {"cores": "requested_cores", "gpus": "requested_gpus", "memory": "requested_memory",
           "walltime": "requested_walltime", "architecture": "requested_architecture"}
#: Application fields an executor passes on as they are (not ``workdir``: the runner
#: and the call's files are in the job's sandbox, where the call must start).
PASSED = (*(name for name in REQUEST_FIELDS if name != "workdir"), "environment")


def application_fields(requests: Mapping[str, Any]) -> dict[str, Any]:
    """``requests`` as :class:`~lrms.Application` keyword arguments; :class:`TypeError`
    names an unknown one."""
    fields = {}
    for name, value in requests.items():
        field = ALIASES.get(name, name)
        if field == "workdir":
            raise TypeError("an executor call starts in its job's sandbox, so workdir cannot "
                            "be requested: change directory inside the function")
        if field not in PASSED:
            valid = ", ".join(sorted({*ALIASES, *PASSED}))
            raise TypeError(f"unknown executor request {name!r} (valid: {valid})")
        fields[field] = value
    return fields
