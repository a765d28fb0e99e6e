"""The at backend: each job is one ``batch`` job of the Unix at system, run by ``atd``.

:class:`~lrms.batch.BatchBackend` writes the job script into the job's sandbox;
``batch`` reads one line from standard input that runs it with bash, in a session
of its own (``setsid``).  What ``batch`` printed (``job N at DATE``) stays in
``.lrms/batch.out``.

* States: a job ``atq`` lists is RUNNING in queue ``=``, else SUBMITTED; a job it
  no longer lists has ended, and the exit file its script wrote gives the exit
  code (at keeps no accounting, so there is no usage).
* Cancel: ``atrm`` removes a queued job.  atrm cannot stop a running job, so the
  job script records its PID (``.lrms/pid``), which is also its process group,
  and the cancel command sends that group SIGTERM.
* Status: ``atq`` counts against the resource's ``max_cores``.
* ``find_jobs`` (API 1.1): ``.lrms/batch.out`` names the at job, and ``at -c`` shows
  the queued line of the jobs ``atq`` lists.

at requests nothing per job (cores, memory, walltime): the facade keeps jobs
within the resource's limits, and atd enforces none of them.
"""

from __future__ import annotations

import contextlib
import posixpath
import shlex
from collections.abc import Mapping, Sequence
from typing import ClassVar

from lrms import Application, Job, LRMSError, Option, ResourceStatus, State, hookimpl
from lrms.batch import CONTROL, BatchBackend, Search, Submission, command_options
from lrms.report import JobReport
from lrms.transport import CommandResult

from .parse import AtqEntry, parse_atq, parse_submitted

__all__ = ["AtBackend"]

# Run batch ($1) on the line read from stdin; keep what it printed in .lrms/batch.out ($2).
_SUBMIT = '"$1" 2> "$2"; rc=$?; cat "$2" >&2; exit "$rc"'
# atq ($lrms_atq), asked again while a job that ends meanwhile makes it fail ("Cannot
# stat in ..."); it prints nothing but the final attempt's error.
_ATQ_RETRY = ('for i in 1 2 3 4 5; do o=$("$lrms_atq" 2>/dev/null) && '
              'exec printf "%s${o:+\\n}" "$o"; sleep 0.2; done; exec "$lrms_atq"')
_ATQ = f'lrms_atq=$0; {_ATQ_RETRY}'
# Cancel at job $3: atrm ($2) it while atq ($1) shows it queued, else SIGTERM the process
# group in the pid file $4 (waiting up to 10 s for it); print what was done.
_CANCEL = (
    f'lrms_atq=$1; listed=$( ({_ATQ_RETRY}) ) || exit; '
    'queue=$(printf "%s\\n" "$listed" | awk -v id="$3" \'$1 == id { print $(NF - 1) }\'); '
    '[ -n "$queue" ] || { echo ended; exit 0; }; '
    'if [ "$queue" != "=" ]; then said=$("$2" "$3" 2>&1) || { echo ended; exit 0; }; '
    'case $said in *running*) ;; *) echo "removed from the queue"; exit 0;; esac; fi; '
    'i=0; until [ -s "$4" ]; do i=$((i + 1)); [ "$i" -le 100 ] || '
    '{ echo "no pid file $4 after 10 s" >&2; exit 1; }; sleep 0.1; done; read -r pid < "$4"; '
    'kill -s TERM -- "-$pid" 2>/dev/null || ! kill -s 0 -- "-$pid" 2>/dev/null || exit; '
    'echo "process group sent SIGTERM"'
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
    options: ClassVar[Sequence[Option]] = (
        # batch takes no arguments: the base's extra_args has no use here
        *(option for option in BatchBackend.options if option.name != "extra_args"),
        *command_options("batch", "atq", "atrm", "at"),
    )
    app_options: ClassVar[tuple[str, ...]] = ()

    @staticmethod
    def queued_line(sandbox: str) -> str:
        """The shell line ``batch`` queues: the job script, in a new session, output kept."""
        script, output = (posixpath.join(sandbox, CONTROL, name) for name in ("job.sh", "at.out"))
        return (f"exec setsid -w /bin/bash {shlex.quote(script)} "
                f"< /dev/null > {shlex.quote(output)} 2>&1")

    def script_prologue(self, app: Application, job: Job) -> list[str]:
        """The base's lines, after recording the script's PID (for the cancel command)."""
        return [f"echo $$ > {CONTROL}/pid", *super().script_prologue(app, job)]

    def submit_command(self, app: Application, job: Job, sandbox: str,
                       script: str) -> Submission:
        output = posixpath.join(sandbox, CONTROL, "batch.out")
        return Submission(["/bin/sh", "-c", _SUBMIT, "sh", self.command("batch"), output],
                          stdin=f"{self.queued_line(sandbox)}\n".encode())

    def parse_job_id(self, result: CommandResult) -> str:
        return parse_submitted(result.error_text or result.text)

    def cancel_command(self, job: Job) -> list[str]:
        return ["/bin/sh", "-c", _CANCEL, "sh", self.command("atq"), self.command("atrm"),
                job.native_id or "", posixpath.join(job.sandbox or "", CONTROL, "pid")]

    def cancel_accepted(self, job: Job, result: CommandResult) -> str | None:
        return result.text.strip() or None

    def atq(self) -> dict[str, AtqEntry]:
        """The jobs ``atq`` lists, by number."""
        text = self.check(["/bin/sh", "-c", _ATQ, self.command("atq")]).text
        try:
            return {entry.native_id: entry for entry in parse_atq(text)}
        except ValueError as exc:
            raise LRMSError(f"resource {self.resource.name}: cannot read atq: {exc}") from None

    def query(self, jobs: Sequence[Job]) -> dict[str, JobReport]:
        """One ``atq``; jobs it does not list are left to the base (their exit file)."""
        listed = self.atq()
        reports = {}
        for entry in (listed[job.native_id] for job in jobs if job.native_id in listed):
            reports[entry.native_id] = JobReport(
                entry.native_id, State.RUNNING, "=") if entry.running else JobReport(
                entry.native_id, State.SUBMITTED, entry.queue, message=(
                    f"waiting in at queue {entry.queue}: atd starts batch jobs while the "
                    "load average is below its limit (atd -l)"))
        return reports

    def searches(self) -> list[Search]:
        """What ``batch`` printed into the sandbox, then ``at -c`` of the queued jobs."""
        return [self._from_batch_out, self._from_queue]

    def _from_batch_out(self, wanted: Mapping[str, Job]) -> dict[str, str]:
        result = self.transport.run(["/bin/sh", "-c", _READ_BATCH_OUT, "sh", *wanted])
        found = {}
        for line in result.text.splitlines():
            sandbox, _, said = line.partition("\t")
            with contextlib.suppress(ValueError):  # not the "job N at" line
                found[wanted[sandbox].jobid] = parse_submitted(said)
        return found

    def _from_queue(self, wanted: Mapping[str, Job]) -> dict[str, str]:
        listed = list(self.atq())
        if not listed:
            return {}
        lines = {self.queued_line(sandbox): job for sandbox, job in wanted.items()}
        argv = ["/bin/sh", "-c", _QUEUED_LINES, "sh", self.command("at"), *listed]
        found = {}
        for line in self.check(argv).text.splitlines():
            number, _, queued = line.partition("\t")
            if queued in lines:
                found[lines[queued].jobid] = number
        return found

    @hookimpl
    def get_resource_status(self) -> ResourceStatus:
        """Jobs in ``atq`` (root sees everyone's) against the resource's ``max_cores``."""
        entries = list(self.atq().values())
        running = sum(entry.running for entry in entries)
        mine = [entry for entry in entries if entry.user == self.login_user]
        total = self.resource.max_cores
        return ResourceStatus(
            free_slots=max(0, total - running), total_slots=total,
            user_run=sum(entry.running for entry in mine),
            user_queued=sum(not entry.running for entry in mine),
            queued=len(entries) - running, running=running)
