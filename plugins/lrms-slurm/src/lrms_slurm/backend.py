"""The Slurm backend: one generated job script per job, submitted with ``sbatch``.

Directives are ``sbatch`` arguments (never ``#SBATCH`` lines), the job template's
fields included (``TEMPLATE_FIELDS``; dependencies by the native ids the engine
resolved, a held job released with ``scontrol release``); the job script
(:func:`lrms.batch.render_script`) runs the argv in the job's sandbox and
records its exit code there.  States come from one ``squeue`` call for all
asked jobs and one ``sacct`` call for those that have finished or left the
queue; without accounting (or when it fails or lags) ``scontrol show job``
and the script's exit file carry the outcome.  ``find_jobs`` looks jobs up by
their sandbox, Slurm's working directory of the job (``squeue %Z``, ``sacct
WorkDir``), then by the job id the script recorded in the sandbox as it started.
"""

from __future__ import annotations

import dataclasses
import logging
import math
import posixpath
import re
import time
import unicodedata
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from typing import Any, ClassVar

from lrms import (
    Application,
    Duration,
    Job,
    LRMSError,
    Memory,
    Option,
    ResourceStatus,
    State,
    TerminationReason,
    TransportError,
    hookimpl,
)
from lrms.batch import CONTROL, BatchBackend, Search, Submission, command_options
from lrms.exitstatus import split_status
from lrms.report import JobReport
from lrms.transport import CommandResult

from .parse import (
    SACCT_ARGS,
    SINFO_ARGS,
    SQUEUE_ARGS,
    SQUEUE_COUNT_ARGS,
    count_jobs,
    expand_array_id,
    index_reports,
    parse_max_array_size,
    parse_sacct,
    parse_sbatch_id,
    parse_scontrol_show_job,
    parse_sinfo,
    parse_squeue,
)

__all__ = ["SlurmBackend"]

log = logging.getLogger(__name__)

#: Options that become ``--NAME=VALUE`` sbatch arguments.
DIRECTIVES = ("partition", "account", "qos", "reservation", "constraint")
#: The job-template fields sbatch takes (the core handles workdir, stdin and launcher).
TEMPLATE_FIELDS = frozenset({
    "requested_gpus", "account", "qos", "reservation", "email", "email_events", "hold",
    "earliest_start", "after", "nodes", "tasks_per_node", "exclusive", "constraint"})
_NO_SUCH_JOB = "Invalid job id specified"
_ALREADY_DONE = "already completing or completed"
# scontrol shows one job per call: one remote command loops over the ids.
_SCONTROL_LOOP = 'command=$1; shift; for id; do "$command" show job "$id"; done'
_FIND_MARGIN = 86400  # seconds sacct looks back before a job was created (clocks, zones)


def _directive(name: str, help: str) -> Option:
    return Option(name, "string", None, f"{help} (sbatch --{name}); none by default.")


class SlurmBackend(BatchBackend):
    """Run jobs on a Slurm cluster (see the module docstring)."""

    name = "slurm"
    scheduler = "Slurm"
    options: ClassVar[Sequence[Option]] = (
        *BatchBackend.options,
        _directive("partition", "Partition for the jobs and for get_resource_status; "
                   "the cluster's default partition if unset"),
        _directive("account", "Account charged for the jobs"),
        _directive("qos", "Quality of service"),
        _directive("reservation", "Reservation to run in"),
        _directive("constraint", "Node features required, e.g. 'intel&ib'"),
        Option("query_timeout", "positive integer", 120,
               "Seconds a query (squeue, sacct, scontrol, sinfo) may take; a squeue or "
               "sinfo over it fails the call with TransportError (jobs become UNKNOWN), "
               "a slower sacct or scontrol only loses detail."),
        Option("accounting", "boolean", True,
               "Ask sacct about finished jobs; false where slurmdbd is not run "
               "(scontrol show job and the job's exit file then carry the outcome)."),
        *command_options("sbatch", "squeue", "sacct", "scontrol", "scancel", "sinfo"),
    )
    template_fields: ClassVar[frozenset[str]] = TEMPLATE_FIELDS
    #: Keys an Application may set in ``extra={"slurm": {...}}`` (override the resource's).
    app_options: ClassVar[tuple[str, ...]] = (*DIRECTIVES, "extra_args")
    #: The id sbatch printed (an array's for its tasks), recorded by the job script.
    native_id_variable = "${SLURM_ARRAY_JOB_ID:-$SLURM_JOB_ID}"
    #: A running array task's index (lrms numbers tasks from 0) and its own id, ``A_I``.
    task_index_variable: ClassVar[str] = "$SLURM_ARRAY_TASK_ID"
    first_index: ClassVar[int] = 0
    task_id_variable: ClassVar[str | None] = "${SLURM_ARRAY_JOB_ID}_$SLURM_ARRAY_TASK_ID"

    def __init__(self, resource: Any) -> None:
        super().__init__(resource)
        self._timeout = float(resource.options["query_timeout"])
        self._max_array_size: int | None = None

    # -- submission ------------------------------------------------------------

    def submit_command(self, app: Application, job: Job, sandbox: str,
                       script: str) -> Submission:
        """``sbatch --parsable`` with every request as an argument, then the script."""
        output = posixpath.join(sandbox, CONTROL, "scheduler.out")
        return Submission([*self._sbatch(app, sandbox, _no_patterns(output)), script])

    def array_command(self, app: Application, array_dir: str, script: str, first: int,
                      last: int, throttle: int | None) -> Submission:
        """``sbatch --array=FIRST-LAST[%THROTTLE]`` of the dispatcher ``script``, run in
        ``array_dir`` (where ``find_jobs`` looks for queued tasks); Slurm's own output of
        task I goes to ``array_dir/I.out``."""
        output = _no_patterns(array_dir) + "/%a.out"
        limit = f"%{throttle}" if throttle else ""
        return Submission([*self._sbatch(app, array_dir, output),
                           f"--array={first}-{last}{limit}", script])

    def _sbatch(self, app: Application, workdir: str, output: str) -> list[str]:
        """sbatch, its working directory and output file, and every request of ``app``.

        A template field (``account``, ``qos``, ``reservation``, ``constraint``)
        wins over the option of the same name (the application's ``extra``, then
        the resource's).
        """
        options = self.job_options(app)
        argv = [
            self.command("sbatch"), "--parsable", f"--job-name={_printable(app.jobname or '')}",
            f"--chdir={workdir}", f"--output={output}", f"--nodes={app.nodes}",
            f"--ntasks={app.nodes * app.tasks_per_node}",
            f"--ntasks-per-node={app.tasks_per_node}", f"--cpus-per-task={app.requested_cores}",
        ]
        if app.requested_memory is not None:  # the job's total; --mem is per node
            per_node = Memory(-(-app.requested_memory.bytes // app.nodes))
            argv.append(f"--mem={per_node.to_slurm()}")
        if app.requested_walltime is not None:
            argv.append(f"--time={_slurm_time(app.requested_walltime)}")
        if app.requested_gpus:
            argv.append(f"--gpus-per-node={app.requested_gpus}")
        for name in DIRECTIVES:
            value = (getattr(app, name) if name in TEMPLATE_FIELDS else None) or options.get(name)
            if value:
                argv.append(f"--{name}={value}")
        return [*argv, *_template_arguments(app), *options["extra_args"]]

    def task_id(self, array_id: str, index: int) -> str:
        """Slurm names task I of array A ``A_I``."""
        return f"{array_id}_{index}"

    def max_array_size(self) -> int:
        """MaxArraySize from ``scontrol show config``, read once (task indices stay below it)."""
        if self._max_array_size is None:
            shown = self.check([self.command("scontrol"), "show", "config"],
                               timeout=self._timeout)
            try:
                self._max_array_size = parse_max_array_size(shown.text)
            except ValueError as exc:
                raise LRMSError(f"resource {self.resource.name}: {exc}") from None
        return self._max_array_size

    def render(self, app: Application, job: Job, sandbox: str,
               task_index: int | None = None) -> str:
        """The job script, with control characters dropped from the job name (a newline
        in ``--job-name`` would split scontrol's output)."""
        name = _printable(app.jobname or "")
        if name != app.jobname:
            app = dataclasses.replace(app, jobname=name)
        return super().render(app, job, sandbox, task_index)

    def parse_job_id(self, result: CommandResult) -> str:
        return parse_sbatch_id(result.text)

    def cancel_command(self, job: Job) -> list[str]:
        return [self.command("scancel"), job.native_id or ""]

    def cancel_gone(self, result: CommandResult) -> bool:
        return _ALREADY_DONE in result.error_text

    def release_command(self, job: Job) -> list[str]:
        """``scontrol release``: a job submitted held may start."""
        return [self.command("scontrol"), "release", job.native_id or ""]

    # -- states ------------------------------------------------------------------

    def query(self, jobs: Sequence[Job]) -> dict[str, JobReport]:
        """squeue for all, sacct for those that ended or left the queue, scontrol for gaps.

        A job that left the queue counts as ended only if sacct says so;
        otherwise it is left out, and the base class reads its exit file.
        When sacct lags behind the queue, the queue's state stands and usage
        may be missing.
        """
        ids = list(dict.fromkeys(job.native_id for job in jobs if job.native_id))
        listed = self._squeue(_asked(ids))
        reports = _select(index_reports(listed), ids)
        ended = [i for i in ids if i not in reports or reports[i].state == State.TERMINATED]
        accounted, arrays = (self._sacct(ended, _arrays(listed), set(reports)) if ended
                             else ({}, Counter()))
        reports.update(accounted)
        statusless = [i for i in ended if i in reports
                      and reports[i].exitcode is None and reports[i].signal is None]
        if statusless:
            reports.update(self._scontrol(statusless, reports))
        # The job's own exit file has the program's exit code whole: sacct keeps 7 bits
        # of it (137 reads 9), and a lagging record can show a finished job's code as
        # 0:0.  (An array's tasks share one file, so theirs stay as Slurm says.)
        exited = [job for job in jobs if job.native_id in reports and job.native_id not in arrays
                  and reports[job.native_id].state == State.TERMINATED
                  and reports[job.native_id].reason == TerminationReason.EXITED]
        codes = self.read_exit_codes(exited) if exited else {}
        return {job.native_id: _judge(job, reports[job.native_id], codes.get(job.sandbox or ""))
                for job in jobs if job.native_id in reports}

    def _sacct(self, ids: list[str], queued: Counter[str], in_queue: set[str],
               ) -> tuple[dict[str, JobReport], Counter[str]]:
        """sacct's final reports for ``ids`` (none without accounting or if sacct fails),
        and the arrays among them with their numbers of tasks.

        An array task still ``in_queue`` is asked for by its own id (each
        task once, as it ends), one the queue forgot by its array's id (sacct shows
        tasks cancelled while pending only as their array's range).  An array that
        sacct shows with fewer tasks than the queue (accounting lags) is left to the
        queue's lines, as are unfinished jobs.
        """
        if not self.resource.options["accounting"]:
            return {}, Counter()
        asked = dict.fromkeys(i if i in in_queue else i.partition("_")[0] for i in ids)
        argv = [self.command("sacct"), *SACCT_ARGS[1:], f"--jobs={','.join(asked)}"]
        listed = self._listing("sacct", argv, parse_sacct, "scontrol and exit files")
        tasks = _arrays(listed)
        return {i: report for i, report in _select(index_reports(listed), ids).items()
                if report.state == State.TERMINATED and tasks[i] >= queued[i]}, tasks

    def _scontrol(self, ids: list[str], reports: dict[str, JobReport]) -> dict[str, JobReport]:
        """``reports`` of ended jobs completed with the exit status scontrol shows."""
        argv = ["/bin/sh", "-c", _SCONTROL_LOOP, "sh", self.command("scontrol"), *ids]
        shown = _select(index_reports(self._listing(
            "scontrol", argv, parse_scontrol_show_job, "exit files", check=False)), ids)
        return {i: dataclasses.replace(reports[i], exitcode=report.exitcode, signal=report.signal,
                                       reason=report.reason,
                                       walltime=reports[i].walltime or report.walltime)
                for i, report in shown.items() if report.state == State.TERMINATED}

    def _squeue(self, ids: Sequence[str]) -> list[JobReport]:
        """The queue's lines for ``ids``; raises :class:`CommandFailed` if squeue fails."""
        argv = [self.command("squeue"), *SQUEUE_ARGS[1:], f"--jobs={','.join(ids)}"]
        result = self.transport.run(argv, timeout=self._timeout)
        if result.returncode != 0:
            if _NO_SUCH_JOB in result.error_text:  # squeue's answer when it knows no id
                return []
            raise self.failed(result)
        try:
            return parse_squeue(result.text)
        except ValueError as exc:
            raise LRMSError(f"resource {self.resource.name}: cannot read squeue's output: "
                            f"{exc}") from None

    def _listing(self, name: str, argv: list[str], parse: Callable[[str], list[JobReport]],
                 fallback: str, check: bool = True) -> list[JobReport]:
        """Reports from a command whose failure only loses detail: logged, none returned."""
        try:
            result = self.transport.run(argv, timeout=self._timeout)
            if check and result.returncode != 0:
                raise ValueError(result.error_text or f"exit {result.returncode}")
            return parse(result.text)
        except (ValueError, TransportError) as exc:
            log.warning("resource %s: %s gave no usable answer (%s); falling back to %s",
                        self.resource.name, name, exc, fallback)
            return []

    # -- interrupted submissions ---------------------------------------------------

    def searches(self) -> list[Search]:
        """squeue, then sacct (with accounting)."""
        searches: list[Search] = [self._find_queued]
        if self.resource.options["accounting"]:
            searches.append(self._find_accounted)
        return searches

    def _find_queued(self, wanted: Mapping[str, Job]) -> dict[str, str]:
        """The user's jobs the controller remembers (any state), by working directory."""
        argv = [self.command("squeue"), "--me", "--states=all", "--noheader", "--format=%F|%Z"]
        return _by_workdir(self.check(argv, timeout=self._timeout).text, wanted)

    def _find_accounted(self, wanted: Mapping[str, Job]) -> dict[str, str]:
        """The user's jobs in accounting since a day before the oldest was created."""
        since = min(_created(job) for job in wanted.values()) - _FIND_MARGIN
        argv = [self.command("sacct"), "--allocations", "--parsable2", "--noheader",
                "--format=JobID,WorkDir", f"--starttime=now-{max(0, int(time.time() - since))}"]
        return _by_workdir(self.check(argv, timeout=self._timeout).text, wanted)

    # -- load ----------------------------------------------------------------------

    @hookimpl
    def get_resource_status(self) -> ResourceStatus:
        """CPUs and GPUs from sinfo and the queue from squeue, in the configured partition."""
        partition = self.resource.options.get("partition")
        where = [f"--partition={partition}"] if partition else []
        sinfo = self.check([self.command("sinfo"), *SINFO_ARGS[1:], *where],
                           timeout=self._timeout)
        squeue = self.check([self.command("squeue"), *SQUEUE_COUNT_ARGS[1:], *where],
                            timeout=self._timeout)
        try:
            load = parse_sinfo(sinfo.text, partition)
        except ValueError as exc:
            raise LRMSError(f"resource {self.resource.name}: {exc}; check the 'partition' "
                            "option") from None
        queued, running, user_queued, user_running = count_jobs(squeue.text, self.login_user)
        return ResourceStatus(
            free_slots=load.cpus_idle, total_slots=load.cpus_total, user_run=user_running,
            user_queued=user_queued, queued=queued, running=running,
            details={"partition": load.partition, "cpus_allocated": load.cpus_allocated,
                     "cpus_idle": load.cpus_idle, "cpus_other": load.cpus_other,
                     "gpus_total": load.gpus_total, "gpus_allocated": load.gpus_allocated,
                     "gpus_free": load.gpus_total - load.gpus_allocated})


def _by_workdir(text: str, wanted: Mapping[str, Job]) -> dict[str, str]:
    """{jobid: newest job id} from ``ID|WORKDIR`` lines whose directory is a wanted sandbox.

    ``ID`` may be an array task (``123_4``, ``123_[5-9]``): the array's id counts.
    """
    found: dict[str, str] = {}
    for line in text.splitlines():
        listed, sep, workdir = line.partition("|")
        job = wanted.get(workdir)
        number = re.match(r"\d+", listed)
        if sep and job is not None and number:
            known = found.get(job.jobid)
            if known is None or int(number.group()) > int(known):
                found[job.jobid] = number.group()
    return found


def _created(job: Job) -> float:
    """When ``job`` was created: its first state's time, or the time in a default job id
    (``20261121143000-...``) if earlier (a Job rebuilt from its id alone)."""
    try:
        stamp = time.mktime(time.strptime(job.jobid[:14], "%Y%m%d%H%M%S"))
    except ValueError:
        stamp = math.inf
    return min(job.history[0][1], stamp)


def _asked(ids: Sequence[str]) -> list[str]:
    """The ids to ask squeue for: an array task's (``123_4``) is its array's (``123``),
    which lists every task (a pending range as one line), so a poll's command line
    stays short however many tasks it answers."""
    return list(dict.fromkeys(i.partition("_")[0] for i in ids))


def _select(index: dict[str, JobReport], ids: Sequence[str]) -> dict[str, JobReport]:
    return {i: index[i] for i in ids if i in index}


def _arrays(reports: Sequence[JobReport]) -> Counter[str]:
    """The number of tasks the reports list, by array id."""
    tasks: Counter[str] = Counter()
    for report in reports:
        array, sep, _ = report.native_id.partition("_")
        if sep:
            tasks[array] += len(expand_array_id(report.native_id))
    return tasks


def _judge(job: Job, report: JobReport, exit_file: int | None) -> JobReport:
    """What Slurm cannot know: the program's exit code is the script's exit file's, a
    script exit code 128+N (N a signal) is the program's signal N, and a SIGKILL above
    the requested memory is Slurm's memory limit (OverMemoryKill, without cgroups)."""
    if report.state != State.TERMINATED:
        return report
    code = report.exitcode if exit_file is None else exit_file
    if report.reason == TerminationReason.EXITED and code is not None:
        exitcode, signal = split_status(code)
        report = dataclasses.replace(report, exitcode=exitcode, signal=signal, reason=(
            TerminationReason.EXITED if signal is None else TerminationReason.SIGNALLED))
    requested = job.app.requested_memory
    if (report.signal == 9 and report.reason == TerminationReason.SIGNALLED and requested
            and report.max_memory is not None and report.max_memory > requested):
        report = dataclasses.replace(report, reason=TerminationReason.MEMORY_EXCEEDED, message=(
            f"killed using {report.max_memory}, over the {requested} requested"))
    return report


def _template_arguments(app: Application) -> list[str]:
    """sbatch arguments of the template fields that are flags, lists or times."""
    args = []
    if app.email:
        args.append(f"--mail-user={app.email}")
    if app.email_events:
        args.append("--mail-type=" + ",".join(event.upper() for event in app.email_events))
    if app.hold:
        args.append("--hold")
    if app.earliest_start is not None:
        # An offset from now: an absolute --begin is read in the frontend's time zone.
        wait = math.ceil(app.earliest_start - time.time())
        if wait > 0:
            args.append(f"--begin=now+{wait}")
    if app.after:
        # The facade refuses a dependency without a native id for this backend.
        ids = {condition: [d.native_id for d in app.after if d.condition == condition]
               for condition in ("ok", "any")}
        args.append("--dependency=" + ",".join(
            f"after{condition}:{':'.join(map(str, native))}"
            for condition, native in ids.items() if native))
    if app.exclusive:
        args.append("--exclusive")
    return args


def _slurm_time(walltime: Duration) -> str:
    """``--time`` value; at least a minute, as Slurm counts whole minutes and 0 is no limit."""
    return walltime.to_slurm() if walltime.seconds >= 60 else "1"


def _no_patterns(path: str) -> str:
    """``path`` with sbatch's ``%`` filename patterns escaped (they stay literal)."""
    return path if "\\" in path else path.replace("%", "%%")


def _printable(name: str) -> str:
    """A job name without control characters (a newline would split scontrol's output)."""
    return "".join("_" if unicodedata.category(c) == "Cc" else c for c in name) or "job"
