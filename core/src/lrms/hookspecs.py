"""The lrms hook specification: the whole contract between the core and plugins.

A *backend* is an object whose methods implement the operation hooks below,
each marked with ``@lrms.hookimpl``.  The core creates one backend object per
configured resource (``BackendClass(resource)``) and registers it into that
resource's plugin manager, so pluggy checks every hook's name and arguments
when the backend is loaded.  The :class:`~lrms.LRMS` facade calls the hooks;
callers never call pluggy themselves.

Every hook receives ``resource``, the :class:`~lrms.LRMS` it serves (name,
limits, transport, options).  A backend may leave out arguments it does not
use: pluggy passes only those an implementation names.

*Extension plugins* (entry-point group ``lrms.plugins``, or ``lrms.register``)
implement the event hooks and :func:`job_script_lines`, and may wrap an
operation with ``@lrms.hookimpl(wrapper=True)`` (audit, retry, rate limit);
they must not implement an operation outright.

``API_VERSION`` is this contract's version: a backend declares the versions
it supports in its ``lrms_api`` class attribute (default: any ``1.x``).
A minor version only adds optional hooks (1.1 added :func:`find_jobs`, 1.2
:func:`release_job` and :func:`submit_jobs`, 1.3 :func:`watch_jobs`); a major
version changes or removes something a backend relies on.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import IO, TYPE_CHECKING, Protocol

import pluggy

if TYPE_CHECKING:
    from .application import Application
    from .job import Job
    from .resource import LRMS
    from .state import State
    from .status import ResourceStatus

PROJECT = "lrms"
API_VERSION = "1.3"

hookspec = pluggy.HookspecMarker(PROJECT)
hookimpl = pluggy.HookimplMarker(PROJECT)

# -- operations: implemented by the backend, called by the LRMS facade --------


@hookspec(firstresult=True)
def submit_job(resource: LRMS, app: Application, job: Job) -> Job:  # type: ignore[empty-body]
    """Submit ``app`` as ``job``; return the job.

    Fill in what later calls need (``job.native_id``, ``job.sandbox``,
    ``job.backend_data``); stage the inputs in.  Raise an :class:`~lrms.LRMSError`
    on any failure.  Do not change ``job.state``: the caller does.  The facade
    has already refused requests over the resource's limits.
    """


@hookspec(firstresult=True)
def submit_jobs(  # type: ignore[empty-body]
    resource: LRMS, apps: Sequence[Application], jobs: Sequence[Job], throttle: int | None
) -> list[Job]:
    """Submit each ``apps[i]`` as ``jobs[i]``, as scheduler arrays; return the jobs.

    *Optional* (API 1.2): the facade submits one by one for a backend without it.
    The same contract as :func:`submit_job` for each pair (fill ``native_id``, the
    task's own id, ``sandbox`` and ``backend_data``; do not touch the state).  All
    apps have the same requests (:meth:`~lrms.Application.requests_key`); argv,
    files, environment and names may differ.  ``throttle``: at most that many tasks
    of one array run at once (None: no limit).  On failure raise: jobs already
    submitted (an earlier array of a split) keep their native ids, the rest have none.
    """


@hookspec(firstresult=True)
def update_job_states(resource: LRMS, jobs: Sequence[Job]) -> list[State]:  # type: ignore[empty-body]
    """Ask the resource about ``jobs`` and return their states, in order.

    Answer all jobs with one query per scheduler command, not one per job.
    Update each job's outcome and usage (``job.record_outcome``) when it has
    terminated; do not assign ``job.state`` (the facade does, and fires the
    events).  A job the resource no longer knows is ``State.UNKNOWN``.
    """


@hookspec(firstresult=True)
def find_jobs(resource: LRMS, jobs: Sequence[Job]) -> list[bool]:  # type: ignore[empty-body]
    """Find jobs whose submission was interrupted; return, in order, True for each found.

    *Optional* (API 1.1).  ``job.jobid`` identifies a job uniquely:
    ``submit_job`` must leave it where the scheduler keeps it (job name,
    comment, or working directory) so that this hook can find a job whose
    submitting process died after the scheduler accepted it but before its
    native id was recorded.  Each job arrives as ``submit_job`` received it
    (``jobid``, ``app``, no ``native_id``).  Search everywhere the scheduler
    keeps jobs, queued and finished, with one query per command for all jobs;
    fill in what ``submit_job`` would have (``native_id``, ``sandbox``,
    ``backend_data``) for each job found.  A job not found was never accepted:
    the caller may submit it again, so a backend must not miss one it knows.
    """


@hookspec(firstresult=True)
def release_job(resource: LRMS, job: Job) -> bool:  # type: ignore[empty-body]
    """Release a job submitted held (``app.hold``); return True once the request is made.

    *Optional* (API 1.2): only a backend that lists ``hold`` in its
    ``template_fields`` implements it (the engine holds jobs for the others).
    """


@hookspec(firstresult=True)
def watch_jobs(resource: LRMS, jobs: Sequence[Job]) -> list[int]:  # type: ignore[empty-body]
    """File descriptors that become readable when one of ``jobs`` may have ended.

    *Optional* (API 1.3): e.g. pidfds of the processes running local jobs.
    A waiting process (the agent) selects on them and refreshes the jobs at
    once instead of at the next poll; the caller closes them.  A wake-up is a
    hint, never a state: the states still come from ``update_job_states``.
    Return an empty list when nothing can be watched.
    """


@hookspec(firstresult=True)
def cancel_job(resource: LRMS, job: Job) -> bool:  # type: ignore[empty-body]
    """Cancel a queued or running job; return True once the request is made."""


@hookspec(firstresult=True)
def get_results(  # type: ignore[empty-body]
    resource: LRMS, job: Job, download_dir: str, overwrite: bool, changed_only: bool
) -> list[str]:
    """Copy the job's outputs (``app.outputs``, which may name ``stdout``) into the
    existing ``download_dir``; return the local paths written.

    ``overwrite=False``: files already there (in subfolders too) are never
    touched.  ``overwrite=True``: ``changed_only`` copies only files whose
    source differs in size or is newer; False copies all.  Missing files are
    always copied.
    """


@hookspec(firstresult=True)
def peek(  # type: ignore[empty-body]
    resource: LRMS,
    job: Job,
    remote_filename: str,
    local_file: str | IO[bytes],
    offset: int,
    size: int | None,
) -> int:
    """Copy ``size`` bytes (to the end if None) from ``offset`` of a sandbox file.

    A negative ``offset`` counts from the end.  ``local_file`` is a path
    (created or overwritten) or a writable binary stream left just after the
    written bytes.  Return the number of bytes written; errors propagate.
    """


@hookspec(firstresult=True)
def free(resource: LRMS, job: Job) -> bool:  # type: ignore[empty-body]
    """Delete the job's sandbox and files on the resource (job is TERMINATED)."""


@hookspec(firstresult=True)
def get_resource_status(resource: LRMS) -> ResourceStatus:  # type: ignore[empty-body]
    """Read and return the resource's load (:class:`~lrms.ResourceStatus`)."""


@hookspec(firstresult=True)
def validate_data(resource: LRMS, data_file_list: Sequence[str]) -> bool:  # type: ignore[empty-body]
    """True if every URL in the list uses a transfer protocol this backend supports."""


@hookspec(firstresult=True)
def close(resource: LRMS) -> bool:  # type: ignore[empty-body]
    """Release connections and other resources; called once per resource."""


# -- events: implemented by extension plugins, fired by the facade ------------


@hookspec
def job_submitted(resource: LRMS, job: Job) -> None:
    """A job was accepted by the resource (its native id is set)."""


@hookspec
def job_state_changed(resource: LRMS, job: Job, old: State, new: State) -> None:
    """A job moved from ``old`` to ``new`` (``job.state`` is already ``new``)."""


@hookspec
def job_terminated(resource: LRMS, job: Job) -> None:
    """A job reached TERMINATED; its exit code and usage are recorded."""


@hookspec
def resource_status_updated(resource: LRMS, status: ResourceStatus) -> None:
    """``get_resource_status()`` read a fresh status."""


@hookspec
def job_script_lines(resource: LRMS, app: Application, job: Job) -> list[str]:  # type: ignore[empty-body]
    """Shell lines to run in the job script just before the program (e.g. ``module load``).

    Every plugin's lines are used, in registration order.  Backends that
    generate a job script insert them; the lines are trusted code.
    """


class HookCalls(Protocol):
    """What calling the hooks through a resource's relay (:attr:`LRMS.hook`) returns.

    An operation (``firstresult``) returns its backend's answer; an event returns
    one answer per plugin (None for each); an optional operation returns None
    when no plugin implements it.  Arguments are passed by keyword.
    """

    def submit_job(self, *, resource: LRMS, app: Application, job: Job) -> Job: ...
    def submit_jobs(self, *, resource: LRMS, apps: Sequence[Application],
                    jobs: Sequence[Job], throttle: int | None) -> list[Job] | None: ...
    def update_job_states(self, *, resource: LRMS, jobs: Sequence[Job]) -> list[State]: ...
    def find_jobs(self, *, resource: LRMS, jobs: Sequence[Job]) -> list[bool] | None: ...
    def release_job(self, *, resource: LRMS, job: Job) -> bool | None: ...
    def watch_jobs(self, *, resource: LRMS, jobs: Sequence[Job]) -> list[int] | None: ...
    def cancel_job(self, *, resource: LRMS, job: Job) -> bool: ...
    def get_results(self, *, resource: LRMS, job: Job, download_dir: str, overwrite: bool,
                    changed_only: bool) -> list[str]: ...
    def peek(self, *, resource: LRMS, job: Job, remote_filename: str,
             local_file: str | IO[bytes], offset: int, size: int | None) -> int: ...
    def free(self, *, resource: LRMS, job: Job) -> bool: ...
    def get_resource_status(self, *, resource: LRMS) -> ResourceStatus: ...
    def validate_data(self, *, resource: LRMS, data_file_list: Sequence[str]) -> bool: ...
    def close(self, *, resource: LRMS) -> bool: ...
    def job_submitted(self, *, resource: LRMS, job: Job) -> list[None]: ...
    def job_state_changed(self, *, resource: LRMS, job: Job, old: State,
                          new: State) -> list[None]: ...
    def job_terminated(self, *, resource: LRMS, job: Job) -> list[None]: ...
    def resource_status_updated(self, *, resource: LRMS,
                                status: ResourceStatus) -> list[None]: ...
    def job_script_lines(self, *, resource: LRMS, app: Application,
                         job: Job) -> list[list[str]]: ...


OPERATIONS = (
    "submit_job", "update_job_states", "cancel_job", "get_results", "peek",
    "free", "get_resource_status", "validate_data", "close",
)
"""The operations every backend implements."""

OPTIONAL_OPERATIONS = ("find_jobs", "release_job", "submit_jobs", "watch_jobs")
"""Operations a backend may leave out; the facade says so when one is called."""
