"""The portable job template as ``qsub`` arguments (Grid Engine).

Grid Engine places slots, not nodes: a job runs on one host (``nodes`` is not
mapped, so the facade refuses more than one), its ``tasks_per_node x
requested_cores`` slots come from the ``pe`` option's parallel environment.
QoS and node features (``constraint``) have no Grid Engine form and are refused
by the facade; the rest is mapped here or refused with :class:`SubmissionRefused`.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

from lrms import Application, SubmissionRefused

__all__ = ["TEMPLATE_FIELDS", "UTC", "template_args"]

#: Template fields this backend maps (``Backend.template_fields``).
TEMPLATE_FIELDS = frozenset({
    "requested_gpus", "account", "reservation", "email", "email_events", "hold",
    "earliest_start", "after", "tasks_per_node", "exclusive",
})
#: ``qsub -a`` reads its time in qsub's time zone: the submit command runs under this one.
UTC = ("env", "TZ=UTC0")
_MAIL = {"begin": "b", "end": "e", "fail": "a"}  # a: aborted or rescheduled


def template_args(app: Application, options: Mapping[str, Any], resource: str) -> list[str]:
    """The ``qsub`` arguments of ``app``'s template fields, with the job's ``options``."""

    def refused(field: str, why: str) -> SubmissionRefused:
        return SubmissionRefused(
            f"resource {resource} (backend sge) cannot honour {field} of job "
            f"{app.jobname!r}: {why}")

    args: list[str] = []
    if app.requested_gpus:
        complex_name = options["gpu_complex"]
        if not complex_name:
            raise refused("requested_gpus", "the gpu_complex option is empty (no GPU complex)")
        gpus, slots = app.requested_gpus, app.tasks_per_node * app.requested_cores
        if options["gpu_per_slot"]:
            if gpus % slots:
                raise refused("requested_gpus", f"{gpus} GPUs do not divide over {slots} slots "
                              f"(the {complex_name} complex counts per slot)")
            gpus //= slots
        args += ["-l", f"{complex_name}={gpus}"]
    if app.exclusive:
        complex_name = options["exclusive_complex"]
        if not complex_name:
            raise refused("exclusive", "no exclusive_complex is configured (a BOOL complex "
                          "with relop EXCL, see qconf -sc)")
        args += ["-l", f"{complex_name}=true"]
    if app.account:
        args += ["-A", app.account]
    if app.reservation:
        args += ["-ar", app.reservation]
    if app.email:
        args += ["-M", app.email]
    if app.email_events:
        args += ["-m", "".join(_MAIL[event] for event in app.email_events)]
    if app.hold:
        args.append("-h")
    if app.earliest_start is not None:
        args += ["-a", time.strftime("%Y%m%d%H%M.%S", time.gmtime(app.earliest_start))]
    if app.after:  # (the facade lets through only :any dependencies with a native id)
        args += ["-hold_jid", ",".join(d.native_id for d in app.after if d.native_id)]
    return args
