"""The portable job template as ``qsub`` arguments, PBS Professional and Torque.

Sizes: PBS Pro asks for ``nodes`` chunks of ``select`` (``ncpus`` = tasks x cores
per task, ``mpiprocs`` = tasks, ``ngpus``, ``mem`` = the job's memory split over the
chunks) placed on distinct hosts (``place=scatter``) when there are several;
Torque for ``nodes=N:ppn=P:gpus=G`` plus node properties (``constraint``) in one
``-l`` with the job's ``mem`` and ``walltime`` (Slurm's Torque wrappers keep only the
last ``-l``).  QoS has no PBS form (the facade refuses it); a reservation is
PBS Pro's (its queue), node properties are Torque's: the other flavour refuses them.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any

from lrms import Application, SubmissionRefused
from lrms.batch import qsub_args

from .parse import Flavour

__all__ = ["TEMPLATE_FIELDS", "Refusal", "queue", "resource_args", "template_args"]

#: Template fields this backend maps (``Backend.template_fields``); some by one flavour only.
TEMPLATE_FIELDS = frozenset({
    "requested_gpus", "account", "reservation", "email", "email_events", "hold",
    "earliest_start", "after", "nodes", "tasks_per_node", "exclusive", "constraint",
})
#: Slurm's Torque wrappers run qsub's arguments through a shell: Torque values stay plain.
_TORQUE_WORD = re.compile(r"[A-Za-z0-9_.@+-]+")
_PROPERTY = re.compile(r"[A-Za-z0-9_.-]+")

Refusal = Callable[[str, str], SubmissionRefused]


def resource_args(app: Application, flavour: Flavour, refused: Refusal) -> list[str]:
    """The ``-l`` arguments: sizes, memory, walltime (and PBS Pro's placement)."""
    tasks, memory, walltime = app.tasks_per_node, app.requested_memory, app.requested_walltime
    cpus = tasks * app.requested_cores
    if flavour == "pbspro":
        chunk = [f"select={app.nodes}", f"ncpus={cpus}"]
        chunk += [f"mpiprocs={tasks}"] if tasks > 1 else []
        chunk += [f"ngpus={app.requested_gpus}"] if app.requested_gpus else []
        chunk += [f"mem={memory.per(app.nodes).to_pbs()}"] if memory else []
        args = ["-l", ":".join(chunk)]
        args += ["-l", f"walltime={walltime.to_hms()}"] if walltime else []
        place = ["scatter"] if app.nodes > 1 else []
        place += ["excl"] if app.exclusive else []
        return args + (["-l", "place=" + ":".join(place)] if place else [])
    nodes = [str(app.nodes), f"ppn={cpus}"]
    nodes += [f"gpus={app.requested_gpus}"] if app.requested_gpus else []
    nodes += _properties(app.constraint, refused) if app.constraint else []
    parts = [f"nodes={':'.join(nodes)}"]
    parts += [f"mem={memory.to_pbs()}"] if memory else []
    parts += [f"walltime={walltime.to_hms()}"] if walltime else []
    return ["-l", ",".join(parts)]


def template_args(app: Application, flavour: Flavour, refused: Refusal) -> list[str]:
    """The other arguments of ``app``'s template fields (account and queue excepted)."""
    if flavour == "torque":
        for field in ("account", "email"):
            value = getattr(app, field)
            if value and not _TORQUE_WORD.fullmatch(value):
                raise refused(field, f"{value!r} has characters other than letters, digits "
                              "and _.@+- (Slurm's Torque wrappers pass it through a shell)")
        if app.reservation:
            raise refused("reservation", "Torque has no reservations of its own (they are "
                          "the Moab or Maui scheduler's)")
    elif app.constraint:
        raise refused("constraint", "PBS Pro has no node features; a site's custom host "
                      "resources go in extra_args (-l select=...)")
    args = qsub_args(app)
    if app.exclusive and flavour == "torque":
        args.append("-n")   # (PBS Pro: place=excl, in resource_args)
    if app.after:
        args += ["-W", "depend=" + _depend(app)]
    return args


def queue(app: Application, options: Mapping[str, Any], flavour: Flavour) -> str | None:
    """The destination: PBS Pro's reservation queue, else the configured queue."""
    return app.reservation if flavour == "pbspro" and app.reservation else options["queue"]


def _depend(app: Application) -> str:
    """``afterok:1.srv:2.srv,afterany:3.srv`` of the dependencies' native ids (the facade
    lets through only dependencies with one)."""
    ids: dict[str, list[str]] = {}
    for dependency in app.after:
        if dependency.native_id:
            ids.setdefault(f"after{dependency.condition}", []).append(dependency.native_id)
    return ",".join(":".join([kind, *natives]) for kind, natives in ids.items())


def _properties(constraint: str, refused: Refusal) -> list[str]:
    """Torque node properties of ``a&b``: all are required, so only ``&`` is expressible."""
    names = constraint.split("&")
    if not all(_PROPERTY.fullmatch(name) for name in names):
        raise refused("constraint", f"{constraint!r}: Torque node properties are all "
                      "required, so only names joined by & can be expressed")
    return names
