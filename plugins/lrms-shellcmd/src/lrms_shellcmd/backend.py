"""The shellcmd backend: each job is a detached process on the resource's host.

A job runs in its sandbox under a small wrapper (:mod:`lrms_shellcmd.wrapper`)
that records its exit code or signal, times and resource usage into
``<sandbox>/.lrms/``; states are read from those files.  On this machine the
wrapper is started by forking the current interpreter (no interpreter start-up
per job); on an SSH host the same module is uploaded once and run with the
host's ``python3``.  A job needing more cores than are free is refused with
:class:`~lrms.ResourceFull` (nothing is queued): submit it again later.
``find_jobs`` finds a job whose submission was interrupted by the record the
wrapper writes first thing into the sandbox (``.lrms/launched``).
"""

from __future__ import annotations

import hashlib
import json
import posixpath
from collections.abc import Sequence
from typing import Any, ClassVar

from lrms import (
    Application,
    Duration,
    Job,
    LRMSError,
    Memory,
    Option,
    ResourceFull,
    ResourceStatus,
    SandboxBackend,
    State,
    TerminationReason,
    hookimpl,
)
from lrms.batch import job_environment, task_argv

from . import wrapper

_REASONS = {
    "exited": TerminationReason.EXITED,
    "signalled": TerminationReason.SIGNALLED,
    "cancelled": TerminationReason.CANCELLED,
    "walltime": TerminationReason.WALLTIME_EXCEEDED,
    "failed": TerminationReason.SUBMISSION_FAILED,
    "memory": TerminationReason.MEMORY_EXCEEDED,
    "lost": TerminationReason.LOST,
}
#: What ``lrms resources`` says about a request the host cannot enforce.
_UNENFORCED = {
    "memory": "requested_memory is not enforced on {host}: no cgroup with the memory "
              "controller is writable for this user there",
    "cores": "requested_cores is not enforced on {host}: no CPU affinity there",
}
_PHASES = {"launched": State.SUBMITTED, "running": State.RUNNING, "ended": State.TERMINATED,
           "missing": State.UNKNOWN}


class ShellcmdBackend(SandboxBackend):
    """Run jobs as processes on the resource's host (see the module docstring)."""

    name = "shellcmd"
    options: ClassVar[Sequence[Option]] = (
        *SandboxBackend.options,
        Option("grace", "positive integer", 5,
               "Seconds between SIGTERM and SIGKILL when a job is cancelled or over walltime."),
    )

    #: Over SSH: one status command per second for every process using a store.
    poll_interval: ClassVar[float] = 1.0

    def __init__(self, resource: Any) -> None:
        super().__init__(resource)
        self._remote_wrapper: str | None = None

    # -- running the wrapper ---------------------------------------------------

    def _wrapper_path(self) -> str:
        """Upload the wrapper into the remote spool once; return its path there."""
        if self._remote_wrapper is None:
            with open(wrapper.__file__, "rb") as source:
                code = source.read()
            digest = hashlib.sha256(code).hexdigest()[:12]
            path = posixpath.join(self.spool, f"wrapper-{digest}.py")
            if not self.transport.exists(path):
                self.transport.write_bytes(path, code)
            self._remote_wrapper = path
        return self._remote_wrapper

    def _remote(self, command: str, *args: str) -> Any:
        python = self.resource.python or "python3"  # the core's setting (3.8+)
        result = self.transport.check([python, "-I", "-S", self._wrapper_path(), command, *args])
        try:
            return json.loads(result.stdout)
        except ValueError as exc:
            raise LRMSError(
                f"resource {self.resource.name}: the job wrapper on {self.transport.host} "
                f"printed no JSON for {command!r}: {result.text[:200]!r}") from exc

    # -- hooks -------------------------------------------------------------------

    @hookimpl
    def submit_job(self, app: Application, job: Job) -> Job:
        local = self.transport.is_local
        # Locally the cores are reserved first: a full host costs no sandbox.
        if local and not wrapper.reserve(self.spool, job.jobid, app.requested_cores,
                                         self.resource.max_cores):
            raise self._full(job, wrapper.usage(self.spool)["used_cores"])
        try:
            sandbox = self.make_sandbox(app, job)
            try:
                self._start(app, job, sandbox)
            except BaseException:
                self.transport.remove(sandbox, recursive=True)
                job.sandbox = None
                raise
        except BaseException:
            if local:
                wrapper.release(self.spool, job.jobid)
            raise
        return job

    def _start(self, app: Application, job: Job, sandbox: str) -> None:
        control = posixpath.join(sandbox, ".lrms")
        self.transport.makedirs(control, 0o700)
        argv = task_argv(app)
        prologue = self.resource.script_lines(app, job)
        if prologue:
            # Extension plugins' lines (trusted code) run first; the argv stays
            # out of the script, as positional parameters.
            argv = ["/bin/sh", "-c", "\n".join([*prologue, 'exec "$@"']), app.jobname or "job",
                    *argv]
        spec = {
            "jobid": job.jobid,
            "argv": argv,
            "environment": {**job_environment(app, job, sandbox), **app.environment},
            "stdout": app.stdout,
            "stderr": app.stderr,
            "stdin": app.stdin,
            "walltime": None if app.requested_walltime is None
            else app.requested_walltime.whole_seconds,
            "cores": app.requested_cores,
            "workdir": app.workdir,
            "host": self.transport.host,
            "memory": None if app.requested_memory is None else app.requested_memory.bytes,
            "grace": self.resource.options.get("grace") or 5,
        }
        self.transport.write_bytes(posixpath.join(control, "job.json"),
                                   json.dumps(spec).encode())
        if self.transport.is_local:  # the cores were reserved by submit_job
            pid = wrapper.launch(self.spool, sandbox)
        else:
            answer = self._remote("submit", self.spool, job.jobid, sandbox,
                                  str(self.resource.max_cores))
            if not answer.get("ok"):
                raise self._full(job, answer.get("used_cores", "?"))
            pid = answer["wrapper_pid"]
        job.native_id = str(pid)
        job.backend_data["host"] = self.transport.host

    def _full(self, job: Job, used: Any) -> ResourceFull:
        return ResourceFull(
            f"resource {self.resource.name} is full: {used} of {self.resource.max_cores} cores "
            f"in use and job {job.jobid} needs {job.app.requested_cores}; nothing was started, "
            "submit it again when a job has finished")

    @hookimpl
    def update_job_states(self, jobs: Sequence[Job]) -> list[State]:
        sandboxes = [job.sandbox or "" for job in jobs]
        if self.transport.is_local:
            records = wrapper.read_states(sandboxes)
        else:
            records = self._remote("status", *sandboxes)
        return [self._apply(job, record) for job, record in zip(jobs, records, strict=True)]

    def _apply(self, job: Job, record: dict[str, Any]) -> State:
        state = _PHASES[record["phase"]]
        if state == State.UNKNOWN:
            job.status_message = f"sandbox {job.sandbox} no longer exists"
        elif state == State.TERMINATED:
            # A lost job's record has no exit status and no usage figures (None).
            walltime, cputime, rss = (record.get(key) for key in
                                      ("walltime", "cputime", "maxrss_kib"))
            job.record_outcome(
                exitcode=record.get("exitcode"), signal=record.get("signal"),
                reason=_REASONS.get(record.get("reason", ""), TerminationReason.UNKNOWN),
                walltime=None if walltime is None else Duration(max(0.0, walltime)),
                cputime=None if cputime is None else Duration(max(0.0, cputime)),
                max_memory=None if rss is None else Memory(int(rss) * 1024))
            job.status_message = record.get("error")
        return state

    def default_poll_interval(self) -> float:
        """Locally, reading a job's files costs next to nothing: every round reads them
        (and ending jobs wake a waiting agent at once); over SSH, ``poll_interval``."""
        return 0.0 if self.transport.is_local else float(self.poll_interval)

    @hookimpl
    def watch_jobs(self, jobs: Sequence[Job]) -> list[int]:
        """Local jobs: a pidfd of each job's supervisor, readable once it has exited (a
        supervisor already gone gives a descriptor that is readable at once)."""
        if not self.transport.is_local:
            return []
        return wrapper.watch([int(job.native_id) for job in jobs if job.native_id])

    @hookimpl
    def find_jobs(self, jobs: Sequence[Job]) -> list[bool]:
        """A job is found if a wrapper was started in its sandbox (``.lrms/launched``).

        A sandbox the submission left before the wrapper started is left as it is
        (not found): ``submit_job`` uses it again.
        """
        if not jobs:
            return []
        sandboxes = [self.sandbox_path(job.jobid) for job in jobs]
        if self.transport.is_local:
            pids = wrapper.find_all(sandboxes)
        else:
            pids = self._remote("find", *sandboxes)
        for job, sandbox, pid in zip(jobs, sandboxes, pids, strict=True):
            if pid is not None:
                job.native_id, job.sandbox = str(pid), sandbox
                job.backend_data["host"] = self.transport.host
        return [pid is not None for pid in pids]

    @hookimpl
    def cancel_job(self, job: Job) -> bool:
        if self.transport.is_local:
            wrapper.cancel(job.sandbox or "")
        else:
            self._remote("cancel", job.sandbox or "")
        return True

    @hookimpl
    def get_resource_status(self) -> ResourceStatus:
        if self.transport.is_local:
            usage = wrapper.usage(self.spool)
        else:
            usage = self._remote("usage", self.spool)
        total = self.resource.max_cores
        enforced = usage.get("enforced") or {}
        notes = tuple(text.format(host=self.transport.host)
                      for key, text in _UNENFORCED.items() if not enforced.get(key))
        return ResourceStatus(
            free_slots=max(0, total - int(usage["used_cores"])), total_slots=total,
            user_run=int(usage["running"]), user_queued=0, queued=0,
            running=int(usage["running"]),
            details={"host_cpus": usage.get("cpus"), "host_memory": usage.get("memory_bytes"),
                     "enforced": enforced},
            notes=notes,
        )
