"""The portable job template as ``qsub`` arguments (Grid Engine).

Grid Engine places slots, not nodes: a job runs on one host (``nodes`` is not
mapped, so the facade refuses more than one), its ``tasks_per_node x
requested_cores`` slots come from the ``pe`` option's parallel environment.
QoS and node features (``constraint``) have no Grid Engine form and are refused
by the facade; the rest is mapped here or refused with :class:`SubmissionRefused`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from lrms import Application, SubmissionRefused
from lrms.batch import qsub_args

__all__ = ["TEMPLATE_FIELDS", "template_args"]

#: ``refused(field, why)``: the error for a template field this job cannot have.
Refusal = Callable[[str, str], SubmissionRefused]

#: Template fields this backend maps (``Backend.template_fields``).
TEMPLATE_FIELDS = frozenset({
    "requested_gpus", "account", "reservation", "email", "email_events", "hold",
    "earliest_start", "after", "tasks_per_node", "exclusive",
})


def template_args(app: Application, options: Mapping[str, Any], refused: Refusal) -> list[str]:
    """The ``qsub`` arguments of ``app``'s template fields, with the job's ``options``."""
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
    args += qsub_args(app)
    if app.after:  # (the facade lets through only :any dependencies with a native id)
        args += ["-hold_jid", ",".join(d.native_id for d in app.after if d.native_id)]
    return args
