"""The at backend: each job is one ``batch`` job of the Unix at system, run by ``atd``.

``submit_job`` (from :class:`~lrms.batch.BatchBackend`) writes the job script
into the job's sandbox; ``batch`` queues one line that runs it with bash, in a
session of its own (``setsid``), from the sandbox.  What ``batch`` printed
(``job N at DATE``) stays in ``.lrms/batch.out``.

* States: a job ``atq`` lists is RUNNING in queue ``=``, else SUBMITTED; a job
  it no longer lists has ended, and the exit file its script wrote gives the
  exit code (at keeps no accounting, so there is no usage).
* Cancel: ``atrm`` removes a queued job.  atrm cannot stop a running job, so
  the job script records its PID (``.lrms/pid``), which is also its process
  group, and ``cancel_job`` sends that group SIGTERM.
* Status: ``atq`` counts against the resource's ``max_cores``.
* ``find_jobs`` (API 1.1): the sandbox path holds the job id; ``.lrms/batch.out``
  names the at job, and ``at -c`` shows the queued line of the jobs ``atq`` lists.

at requests nothing per job (cores, memory, walltime): the facade keeps jobs
within the resource's limits, and atd enforces none of them.
"""

from __future__ import annotations

import contextlib
import posixpath
import shlex
from collections.abc import Sequence
from typing import Any, ClassVar

from lrms import (
    Application,
    Job,
    LRMSError,
    Option,
    ResourceStatus,
    State,
    TerminationReason,
    hookimpl,
)
from lrms.batch import CONTROL, BatchBackend, command_options, render_script
from lrms.report import JobReport
from lrms.transport import CommandResult

from .parse import AtqEntry, parse_atq, parse_submitted

__all__ = ["AtBackend"]

PID_FILE = "pid"
# Queue the line $2 with batch ($3) from the sandbox $1; keep what batch printed.
_SUBMIT = (
    'cd "$1" || exit; line=$2; shift 2; printf "%s\\n" "$line" | "$@" 2> .lrms/batch.out; '
    'rc=$?; cat .lrms/batch.out >&2; exit "$rc"'
)
# Wait up to 10 s for the pid file $1, then SIGTERM the job's process group; a
# group that is gone already (the job just ended) is no failure.
_KILL = (
    'i=0; until [ -s "$1" ]; do i=$((i + 1)); [ "$i" -le 100 ] || '
    '{ echo "no pid file $1 after 10 s" >&2; exit 1; }; sleep 0.1; done; read -r pid < "$1"; '
    'kill -s TERM -- "-$pid" 2>/dev/null || ! kill -s 0 -- "-$pid" 2>/dev/null'
)
# Print "<sandbox><TAB><line>" for each line of each sandbox's batch.out.
_READ_BATCH_OUT = (
    'for d; do [ -f "$d/.lrms/batch.out" ] || continue; '
    'while IFS= read -r l; do printf "%s\\t%s\\n" "$d" "$l"; done < "$d/.lrms/batch.out"; done'
)
# Print "<id><TAB><line>" for each queued "exec setsid" line of the at jobs $2...
_QUEUED_LINES = (
    'at=$1; shift; for id; do "$at" -c "$id" 2>/dev/null | '
    "awk -v id=\"$id\" 'index($0, \"exec setsid \") == 1 { print id \"\\t\" $0 }'; done; exit 0"
)


class AtBackend(BatchBackend):
    """Run jobs as at ``batch`` jobs (see the module docstring)."""

    name = "at"
    scheduler = "at"
    lrms_api = "1"
    options: ClassVar[Sequence[Option]] = (
        # batch takes no arguments: the base's extra_args has no use here
        *(option for option in BatchBackend.options if option.name != "extra_args"),
        *command_options("batch", "atq", "atrm", "at"),
    )
    app_options: ClassVar[tuple[str, ...]] = ()

    def __init__(self, resource: Any) -> None:
        super().__init__(resource)
        self._user: str | None = None

    @property
    def user(self) -> str:
        """The login user on the resource (asked once)."""
        if self._user is None:
            self._user = self.transport.check(["id", "-un"]).text.strip()
        return self._user

    # -- submission --------------------------------------------------------------

    def render(self, app: Application, job: Job, sandbox: str) -> str:
        """The base's job script, recording its PID first (for ``cancel_job``)."""
        options = self.resource.options
        prologue = [f"echo $$ > {CONTROL}/{PID_FILE}", *(options.get("prologue") or []),
                    *self.resource.script_lines(app, job)]
        return render_script(app, job, sandbox, prologue, options.get("epilogue") or [])

    @staticmethod
    def queued_line(sandbox: str) -> str:
        """The shell line ``batch`` queues: the job script, in a new session, output kept."""
        script = posixpath.join(sandbox, CONTROL, "job.sh")
        output = posixpath.join(sandbox, CONTROL, "at.out")
        return (f"exec setsid -w /bin/bash {shlex.quote(script)} "
                f"< /dev/null > {shlex.quote(output)} 2>&1")

    def submit_argv(self, app: Application, job: Job, script: str) -> list[str]:
        assert job.sandbox is not None
        return ["/bin/sh", "-c", _SUBMIT, "sh", job.sandbox, self.queued_line(job.sandbox),
                self.command("batch")]

    def parse_job_id(self, result: CommandResult) -> str:
        return parse_submitted(result.error_text or result.text)

    # -- states -----------------------------------------------------------------

    def atq(self) -> dict[str, AtqEntry]:
        """The jobs ``atq`` lists, by number."""
        text = self.transport.check([self.command("atq")]).text
        try:
            return {entry.native_id: entry for entry in parse_atq(text)}
        except ValueError as exc:
            raise LRMSError(f"resource {self.resource.name}: cannot read atq: {exc}") from None

    def query(self, jobs: Sequence[Job]) -> dict[str, JobReport]:
        """One ``atq``; jobs it does not list are left to the base (their exit file)."""
        listed = self.atq()
        reports = {}
        for job in jobs:
            entry = listed.get(job.native_id or "")
            if entry is None:
                continue
            if entry.running:
                reports[entry.native_id] = JobReport(entry.native_id, State.RUNNING, "=")
            else:
                reports[entry.native_id] = JobReport(
                    entry.native_id, State.SUBMITTED, entry.queue, message=(
                        f"waiting in at queue {entry.queue}: atd starts batch jobs while the "
                        "load average is below its limit (atd -l)"))
        return reports

    def report_from_exit_file(self, job: Job, code: int | None) -> JobReport:
        """After ``cancel_job``, no exit status (or a signal's) means the cancellation."""
        if job.backend_data.get("cancelled") and (code is None or code > 128):
            return JobReport(job.native_id or "", State.TERMINATED, "cancelled",
                             signal=None if code is None else code - 128,
                             reason=TerminationReason.CANCELLED,
                             message=f"cancelled ({job.backend_data['cancelled']})")
        return super().report_from_exit_file(job, code)

    # -- cancel -----------------------------------------------------------------

    @hookimpl
    def cancel_job(self, job: Job) -> bool:
        """``atrm`` a queued job; SIGTERM the process group of a running one."""
        native = job.native_id or ""
        entry = self.atq().get(native)
        if entry is None:
            return True  # it has ended: the next update reads its exit file
        if not entry.running:
            removed = self.transport.run([self.command("atrm"), native])
            if removed.returncode != 0:
                return True  # gone between atq and atrm: it has ended
            if "running" not in removed.error_text:  # else it started meanwhile
                job.backend_data["cancelled"] = "removed from the queue"
                return True
        assert job.sandbox is not None
        self.transport.check(["/bin/sh", "-c", _KILL, "sh",
                              posixpath.join(job.sandbox, CONTROL, PID_FILE)])
        job.backend_data["cancelled"] = "process group sent SIGTERM"
        return True

    # -- lost submissions (API 1.1) -----------------------------------------------

    @hookimpl
    def find_jobs(self, jobs: Sequence[Job]) -> list[bool]:
        """The at job of each sandbox: from its ``batch.out``, else from ``at -c``."""
        sandboxes = [posixpath.join(self.spool, "jobs", job.jobid) for job in jobs]
        numbers = self._numbers_from_batch_out(sandboxes)
        if len(numbers) < len(sandboxes):  # batch refused them, or died before printing
            numbers = {**self._numbers_from_queue(sandboxes), **numbers}
        for job, sandbox in zip(jobs, sandboxes, strict=True):
            if sandbox in numbers:
                job.native_id, job.sandbox = numbers[sandbox], sandbox
        return [sandbox in numbers for sandbox in sandboxes]

    def _numbers_from_batch_out(self, sandboxes: Sequence[str]) -> dict[str, str]:
        """The at job number ``batch`` printed into each sandbox, by sandbox."""
        result = self.transport.run(["/bin/sh", "-c", _READ_BATCH_OUT, "sh", *sandboxes])
        numbers = {}
        for line in result.text.splitlines():
            sandbox, _, said = line.partition("\t")
            with contextlib.suppress(ValueError):  # not the "job N at" line
                numbers[sandbox] = parse_submitted(said)
        return numbers

    def _numbers_from_queue(self, sandboxes: Sequence[str]) -> dict[str, str]:
        """The at job number of each sandbox whose line ``at -c`` shows queued, by sandbox."""
        listed = list(self.atq())
        if not listed:
            return {}
        wanted = {self.queued_line(sandbox): sandbox for sandbox in sandboxes}
        argv = ["/bin/sh", "-c", _QUEUED_LINES, "sh", self.command("at"), *listed]
        numbers = {}
        for line in self.transport.check(argv).text.splitlines():
            number, _, queued = line.partition("\t")
            if queued in wanted:
                numbers[wanted[queued]] = number
        return numbers

    # -- load -------------------------------------------------------------------

    @hookimpl
    def get_resource_status(self) -> ResourceStatus:
        """Jobs in ``atq`` (root sees everyone's) against the resource's ``max_cores``."""
        entries = list(self.atq().values())
        running = sum(entry.running for entry in entries)
        mine = [entry for entry in entries if entry.user == self.user]
        total = self.resource.max_cores
        return ResourceStatus(
            free_slots=max(0, total - running), total_slots=total,
            user_run=sum(entry.running for entry in mine),
            user_queued=sum(not entry.running for entry in mine),
            queued=len(entries) - running, running=running)
