"""The Grid Engine backend: one generated job script per job, submitted with ``qsub``.

Requests are ``qsub`` arguments, and ``-C ''`` turns off the parsing of ``#$``
lines in the script, so no argv element can become a directive.  The job
script (:func:`lrms.batch.render_script`) runs the argv in the job's sandbox
and records its exit code there.  States come from one ``qstat -xml`` for
every pending and running job (plus ``qstat -j`` for the reason of jobs in
error); jobs that have left it are resolved with ``qacct -j``, all in one
remote command, and then with the script's exit file.  Tables: :mod:`.parse`.

The job template's fields become qsub arguments in :mod:`.template`; a held job
is released with ``qrls -h u``.

Arrays (``LRMS.submit_jobs``): ``qsub -t 1-N [-tc T]`` of the base class's dispatcher,
split at ``max_aj_tasks`` (``qconf -sconf``); task ``i`` of array ``123`` is ``123.i``,
answered by the same ``qstat -xml`` and by one ``qacct -j 123`` per array, and cancelled
alone with ``qdel 123 -t i``.

``find_jobs`` looks a job up by its sandbox, its working directory (``qstat
-j``), by the account string ``lrms_<jobid>`` it was submitted with (``qstat
-j``, then ``qacct -A``), then by the job id its script recorded in the sandbox.
A job that sets its own account (``account``, or ``-A`` in ``extra_args``) has no
such tag: a finished one is found only by the id its script recorded.
"""

from __future__ import annotations

import dataclasses
import functools
import posixpath
import re
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any, ClassVar, TypeVar

from lrms import (
    Application,
    Duration,
    Job,
    LRMSError,
    Option,
    ResourceStatus,
    State,
    SubmissionRefused,
    TerminationReason,
    hookimpl,
)
from lrms.batch import CONTROL, QSUB_UTC, BatchBackend, Search, Submission, command_options
from lrms.exitstatus import split_status
from lrms.report import JobReport
from lrms.transport import CommandResult

from .parse import (
    parse_cluster_slots,
    parse_free_consumable,
    parse_job_counts,
    parse_max_aj_tasks,
    parse_qacct,
    parse_qacct_accounts,
    parse_qstat_j,
    parse_qstat_xml,
    parse_qsub_terse,
)
from .template import TEMPLATE_FIELDS, template_args

__all__ = ["SgeBackend", "account", "job_name"]

# qacct answers for one job per call: one remote command loops over the ids.
_QACCT_LOOP = 'qacct=$1; shift; for id; do "$qacct" -j "$id" 2>/dev/null; done; exit 0'
_NAME_UNSAFE = re.compile(r"[^A-Za-z0-9_.-]")
_RETRY_INTERVAL = 0.5
_T = TypeVar("_T")
# qacct selects by one account per call: one remote command loops over them; a failing
# call ends the loop with its status.
_QACCT_ACCOUNTS = 'qacct=$1; shift; for a; do "$qacct" -A "$a" -j || exit; done'
_NO_ACCOUNTING_FILE = "No jobs running since startup"  # qacct before any job has ended
_DELETED_PENDING = "deleted while pending"  # what cancel_accepted notes: no record will come


def account(job: Job) -> str | None:
    """The account string (``qsub -A``) that names ``job`` in accounting, ``lrms_<jobid>``;
    None for a job id Grid Engine would refuse there."""
    return None if _NAME_UNSAFE.search(job.jobid) else f"lrms_{job.jobid}"


def job_name(name: str) -> str:
    """A ``-N`` value Grid Engine accepts: ASCII letters, digits, ``_.-``, not a digit first.

    (Spaces or non-ASCII letters make qmaster drop the request, ``/:@\\*?`` are
    refused, and a name may not start with a digit.)
    """
    legal = _NAME_UNSAFE.sub("_", name)[:64]
    return legal if legal[:1].isalpha() or legal[:1] == "_" else f"j{legal}"[:64]


class SgeBackend(BatchBackend):
    """Run jobs on a Grid Engine cell (see the module docstring)."""

    name = "sge"
    scheduler = "Grid Engine"
    options: ClassVar[Sequence[Option]] = (
        *BatchBackend.options,
        Option("queue", "string", None,
               "Queue (qsub -q), also the scope of get_resource_status; any queue if unset."),
        Option("project", "string", None, "Project (qsub -P); none if unset."),
        Option("pe", "string", "smp",
               "Parallel environment for jobs of more than one core (qsub -pe PE N); it "
               "should have allocation_rule $pe_slots (all slots on one host)."),
        Option("memory_complex", "string", "h_vmem",
               "Complex that carries requested_memory (qsub -l NAME=...), e.g. h_vmem "
               "(a hard limit), mem_free, virtual_free; empty: memory is not requested."),
        Option("memory_per_slot", "boolean", True,
               "The complex counts per slot (Grid Engine's rule for limits and YES "
               "consumables): requested_memory is divided by the cores. False for a "
               "consumable defined per JOB."),
        Option("gpu_complex", "string", "gpu",
               "Consumable complex that carries requested_gpus (qsub -l NAME=N); empty: GPU "
               "requests are refused."),
        Option("gpu_per_slot", "boolean", False,
               "The GPU complex is consumable YES (counted per slot): requested_gpus is divided "
               "by the slots and refused if it does not divide. False for consumable JOB."),
        Option("exclusive_complex", "string", "",
               "BOOL complex with relop EXCL that gives a job its host to itself (qsub -l "
               "NAME=true) for exclusive; empty: exclusive is refused."),
        Option("accounting_wait", "duration", "3s",
               "How long to keep asking qacct for a job that has just left qstat (its "
               "record is written up to accounting_flush_time after it ends)."),
        *command_options("qsub", "qstat", "qacct", "qdel", "qrls", "qconf"),
    )
    #: Keys an Application may set in ``extra={"sge": {...}}`` (override the resource's).
    app_options: ClassVar[tuple[str, ...]] = ("queue", "project", "pe", "extra_args")
    #: The id qsub printed, recorded by the job script.
    native_id_variable = "$JOB_ID"
    template_fields = TEMPLATE_FIELDS
    #: A running array task's index (Grid Engine numbers tasks from 1) and its id (``123.4``).
    task_index_variable: ClassVar[str] = "$SGE_TASK_ID"
    first_index: ClassVar[int] = 1
    task_id_variable: ClassVar[str | None] = "$JOB_ID.$SGE_TASK_ID"
    #: -hold_jid starts a job however its predecessor ended: the engine holds :ok ones.
    after_conditions = frozenset({"any"})

    def __init__(self, resource: Any) -> None:
        super().__init__(resource)
        self._max_array_size: int | None = None

    # -- submission ------------------------------------------------------------

    def submit_command(self, app: Application, job: Job, sandbox: str,
                       script: str) -> Submission:
        """``qsub -terse`` with every request as an argument, then the script."""
        return self._qsub(app, sandbox, script, account(job))

    def array_command(self, app: Application, array_dir: str, script: str, first: int,
                      last: int, throttle: int | None) -> Submission:
        """``qsub -terse -t FIRST-LAST [-tc THROTTLE]``, in the array's directory (no account
        tag: an interrupted array is found by its working directory or its tasks' records)."""
        tasks = ["-t", f"{first}-{last}", *(["-tc", str(throttle)] if throttle else [])]
        return self._qsub(app, array_dir, script, None, tasks)

    def _qsub(self, app: Application, workdir: str, script: str, tag: str | None,
              tasks: Sequence[str] = ()) -> Submission:
        """The qsub command of a job (or array, ``tasks``) run in ``workdir``; ``tag``: the
        account string that names it in accounting, unless the user sets one.  The
        scheduler's own output goes to ``.lrms`` of a job's sandbox, into an array's
        directory."""
        options = self.job_options(app)
        slots = app.tasks_per_node * app.requested_cores
        # -w e refuses what no queue could ever run; but it counts an EXCL complex as taken
        # by the jobs running now, so an exclusive job is only warned about (-w w).
        argv = [
            self.command("qsub"), "-terse", "-N", job_name(app.jobname or "job"), "-C", "",
            "-wd", workdir, "-o", posixpath.join(workdir, *([] if tasks else [CONTROL]),
                                                 "scheduler.out"),
            "-j", "y", "-w", "w" if app.exclusive else "e", "-S", "/bin/bash", *tasks,
        ]
        if slots > 1:
            if not options["pe"]:
                raise SubmissionRefused(
                    f"resource {self.resource.name}: job {app.jobname!r} needs {slots} slots "
                    "but no parallel environment is configured: set the 'pe' option (see "
                    "qconf -spl)")
            argv += ["-pe", options["pe"], str(slots)]
        if app.requested_walltime is not None:
            argv += ["-l", f"h_rt={app.requested_walltime.to_hms()}"]
        complex_name = options["memory_complex"]
        if app.requested_memory is not None and complex_name:
            memory = app.requested_memory
            if options["memory_per_slot"]:
                memory = memory.per(slots)
            argv += ["-l", f"{complex_name}={memory.to_sge()}"]
        if options["queue"]:
            argv += ["-q", options["queue"]]
        if options["project"]:
            argv += ["-P", options["project"]]
        argv += template_args(app, options, functools.partial(self.refused, app))
        free_form = options["extra_args"]
        if "-t" in free_form:
            raise SubmissionRefused(
                f"resource {self.resource.name}: job {app.jobname!r}: qsub -t in extra_args: "
                "lrms makes the arrays itself (LRMS.submit_jobs); submit one lrms Job per task")
        if tag and not app.account and "-A" not in free_form:  # (the user's account wins)
            argv += ["-A", tag]
        prefix = QSUB_UTC if app.earliest_start is not None else ()
        return Submission([*prefix, *argv, *free_form, script])

    def task_id(self, array_id: str, index: int) -> str:
        """``123.4``: task 4 of array 123."""
        return f"{array_id}.{index}"

    def max_array_size(self) -> int:
        """``max_aj_tasks`` of the global configuration (``qconf -sconf``; 0 is no limit),
        read once."""
        if self._max_array_size is None:
            text = self.check([self.command("qconf"), "-sconf"]).text
            self._max_array_size = self._parse(parse_max_aj_tasks, text)
        return self._max_array_size

    def parse_job_id(self, result: CommandResult) -> str:
        """The job number (of an array: ``123`` of ``123.1-10:1``)."""
        return parse_qsub_terse(result.text).partition(".")[0]

    def cancel_command(self, job: Job) -> list[str]:
        """``qdel 123``, or ``qdel 123 -t 4`` for task 4 of array 123."""
        number, _, task = (job.native_id or "").partition(".")
        return [self.command("qdel"), number, *(["-t", task] if task else [])]

    def release_command(self, job: Job) -> list[str]:
        """``qrls -h u``: lift the user hold a job was submitted with (``hold``)."""
        return [self.command("qrls"), "-h", "u", job.native_id or ""]

    def cancel_gone(self, result: CommandResult) -> bool:
        """qdel of a job that has ended: the next update reads its outcome."""
        return "does not exist" in result.text + result.error_text

    def cancel_accepted(self, job: Job, result: CommandResult) -> str | None:
        """Whether the job was still pending (it then leaves no accounting record)."""
        if result.returncode != 0:
            return None  # it had ended already
        pending = "has deleted job" in result.text  # running: "has registered the job"
        return _DELETED_PENDING if pending else "deleted while running"

    # -- states ------------------------------------------------------------------

    def query(self, jobs: Sequence[Job]) -> dict[str, JobReport]:
        """Pending and running jobs from qstat (``qstat -j`` explains those in error)."""
        ids = {job.native_id for job in jobs if job.native_id}
        text = self.check([self.command("qstat"), "-xml", "-u", self.login_user]).text
        reports = {r.native_id: r for r in self._parse(parse_qstat_xml, text) if r.native_id in ids}
        self._explain_errors(reports)
        for job in jobs:
            report = reports.get(job.native_id or "")
            if report and report.raw_state == "hqw" and _waits_for_dependencies(job):
                natives = ", ".join(d.native_id or "" for d in job.app.after)
                reports[report.native_id] = dataclasses.replace(
                    report, state=State.SUBMITTED, message=f"waiting for job(s) {natives}")
        return reports

    def history(self, jobs: Sequence[Job]) -> dict[str, JobReport]:
        """qacct for jobs that left qstat; a job deleted while pending has no record.

        A job qacct does not know is left out (the base class then reads its exit file).
        """
        accounted = self._accounting(jobs)
        reports = {}
        for job in jobs:
            native = job.native_id or ""
            if native in accounted:
                reports[native] = _judge(accounted[native])
            elif job.backend_data.get("cancelled") == _DELETED_PENDING:
                reports[native] = JobReport(
                    native, State.TERMINATED, "deleted", reason=TerminationReason.CANCELLED,
                    message="deleted while pending (Grid Engine keeps no accounting record)")
            else:
                job.backend_data.setdefault("unaccounted_since", time.time())
        return reports

    def _parse(self, parse: Callable[[str], _T], text: str) -> _T:
        """``parse(text)``, its ValueError turned into an LRMSError naming the resource."""
        try:
            return parse(text)
        except ValueError as exc:
            raise LRMSError(f"resource {self.resource.name}: cannot read Grid Engine's "
                            f"output: {exc}") from None

    def _explain_errors(self, reports: dict[str, JobReport]) -> None:
        """Replace the message of jobs in error (``Eqw``) with ``qstat -j``'s reason."""
        failing = [native for native, report in reports.items() if "E" in report.raw_state]
        if not failing:
            return
        numbers = dict.fromkeys(native.partition(".")[0] for native in failing)
        result = self.transport.run([self.command("qstat"), "-j", ",".join(numbers)])
        infos = self._parse(parse_qstat_j, result.text)
        for native in failing:
            number, _, task = native.partition(".")
            info = infos.get(number)
            why = ((info.errors.get(int(task)) if info and task else None)
                   or (info.error_reason if info else None) or "no reason given by qstat -j")
            reports[native] = dataclasses.replace(reports[native], message=(
                f"Grid Engine error state {reports[native].raw_state}: {why} (qmod -cj "
                f"{native} clears the error after the cause is fixed)"))

    def _accounting(self, jobs: Sequence[Job]) -> dict[str, JobReport]:
        """The last qacct record of each job, asking again for jobs that just left qstat."""
        found = self._qacct([job.native_id or "" for job in jobs])
        waiting = [job.native_id or "" for job in jobs if job.native_id not in found
                   and "unaccounted_since" not in job.backend_data
                   and job.backend_data.get("cancelled") != _DELETED_PENDING]
        deadline = time.monotonic() + Duration(self.resource.options["accounting_wait"]).seconds
        while waiting and time.monotonic() < deadline:
            time.sleep(_RETRY_INTERVAL)
            found.update(self._qacct(waiting))
            waiting = [native for native in waiting if native not in found]
        return found

    def _qacct(self, ids: Sequence[str]) -> dict[str, JobReport]:
        """qacct records of ``ids``; one ``qacct -j`` per job or array (all its tasks)."""
        numbers = dict.fromkeys(native.partition(".")[0] for native in ids)
        argv = ["/bin/sh", "-c", _QACCT_LOOP, "sh", self.command("qacct"), *numbers]
        records = self._parse(parse_qacct, self.check(argv).text)
        return {r.native_id: r for r in records if r.native_id in ids}  # the last one wins

    # -- interrupted submissions ---------------------------------------------------

    def searches(self) -> list[Search]:
        """qstat, then qacct."""
        return [self._find_queued, self._find_accounted]

    def _find_queued(self, wanted: Mapping[str, Job]) -> dict[str, str]:
        """The user's pending and running jobs, by working directory or account string."""
        text = self.check([self.command("qstat"), "-xml", "-u", self.login_user]).text
        numbers = {r.native_id.partition(".")[0] for r in self._parse(parse_qstat_xml, text)}
        if not numbers:
            return {}
        result = self.transport.run([self.command("qstat"), "-j", ",".join(sorted(numbers))])
        infos = self._parse(parse_qstat_j, result.text)
        # Jobs that ended since qstat -xml "do not exist" (exit 1): not a failure.
        if result.returncode != 0 and not infos and "do not exist" not in result.error_text:
            raise self.failed(result)
        tagged = {tag: job for job in wanted.values() if (tag := account(job))}
        return _newest((number, wanted.get(info.fields.get("cwd", ""))
                        or tagged.get(info.fields.get("account", "")))
                       for number, info in infos.items())

    def _find_accounted(self, wanted: Mapping[str, Job]) -> dict[str, str]:
        """Jobs in accounting, by the account string ``submit_job`` gave them."""
        tagged = {tag: job for job in wanted.values() if (tag := account(job))}
        if not tagged:
            return {}
        result = self.transport.run(
            ["/bin/sh", "-c", _QACCT_ACCOUNTS, "sh", self.command("qacct"), *tagged])
        if result.returncode != 0 and _NO_ACCOUNTING_FILE not in result.text + result.error_text:
            raise self.failed(result, self.command("qacct"))
        return _newest((number, tagged.get(name))
                       for number, name in self._parse(parse_qacct_accounts, result.text))

    # -- load ----------------------------------------------------------------------

    @hookimpl
    def get_resource_status(self) -> ResourceStatus:
        """Slots of the usable queue instances, GPUs left (``gpu_complex``) and everyone's
        jobs, from ``qstat -f -F GPU_COMPLEX -xml``."""
        queue = self.resource.options.get("queue")
        gpu = self.resource.options.get("gpu_complex")
        argv = [self.command("qstat"), "-f", *(["-F", gpu] if gpu else []), "-xml", "-u", "*",
                *(["-q", queue] if queue else [])]
        text = self.check(argv).text
        used, total = self._parse(parse_cluster_slots, text)
        counts = self._parse(lambda text: parse_job_counts(text, self.login_user), text)
        gpus = self._parse(lambda text: parse_free_consumable(text, gpu), text) if gpu else None
        return ResourceStatus(
            free_slots=max(0, total - used), total_slots=total, user_run=counts.user_running,
            user_queued=counts.user_queued, queued=counts.queued, running=counts.running,
            details={} if gpus is None else {"free_gpus": gpus})


def _waits_for_dependencies(job: Job) -> bool:
    """True if a held (``hqw``) job's only hold is ``-hold_jid``: it was submitted with
    dependencies and without a user hold, or that hold was released through lrms."""
    return bool(job.app.after) and (not job.app.hold or bool(job.backend_data.get("released")))


def _newest(pairs: Iterable[tuple[str, Job | None]]) -> dict[str, str]:
    """{jobid: highest job number} of the ``(job number, job)`` pairs naming a job."""
    found: dict[str, str] = {}
    for number, job in pairs:
        if job is not None and int(number) > int(found.get(job.jobid, "-1")):
            found[job.jobid] = number
    return found


def _judge(report: JobReport) -> JobReport:
    """What qacct cannot know: the job script's exit status is the shell's, so 128+N is
    the program's signal N (:func:`lrms.exitstatus.split_status`)."""
    if report.reason != TerminationReason.EXITED or report.exitcode is None:
        return report
    exitcode, signal = split_status(report.exitcode)
    return dataclasses.replace(report, exitcode=exitcode, signal=signal, reason=(
        TerminationReason.EXITED if signal is None else TerminationReason.SIGNALLED))
