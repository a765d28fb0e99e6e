"""The shared machinery of batch-system backends (Slurm, Grid Engine, PBS ...).

:class:`BatchBackend` is a template: it renders one job script per job into its
sandbox, submits it, cancels, asks the scheduler about many jobs at once, falls
back to the exit-status file the script writes, and finds jobs whose submission
was interrupted.  A scheduler backend holds only what is specific to it.  It
must implement (abstract; a backend missing one is refused when loaded):

* ``submit_command(app, job, sandbox, script)``: the :class:`Submission`, i.e. the
  submit command line (directives as arguments), and if the scheduler wants them,
  its standard input and extra files written into the sandbox first;
* ``parse_job_id(result)``: the native id from the submit command's output (raise
  ``ValueError`` saying what is wrong; the base adds the resource and stderr);
* ``query(jobs)``: one :class:`~lrms.report.JobReport` per job the scheduler's live
  queue knows, keyed by native id, with as few commands as the scheduler allows;
* ``cancel_command(job)``, and the ``get_resource_status`` hook.

It may override:

* ``history(jobs)``: reports from accounting or history for jobs the queue no
  longer explains (``sacct``, ``qacct``, ``tracejob``); none by default;
* ``cancel_gone(result)``: True if a failed cancel says the job has already ended;
  ``cancel_accepted(job, result)``: note what a successful cancel said;
* ``searches()``: the scheduler's lookups by sandbox or tag for ``find_jobs``
  (API 1.1), each a :data:`Search`; a backend that has them gets the hook, which
  also reads the scheduler id each job script records as it starts
  (``native_id_variable``).

Arrays (the optional ``submit_jobs`` hook, API 1.2): a subclass that implements
``array_command(app, array_dir, script, first, last, throttle)`` gets the hook.  It
then also provides ``task_id(array_id, index)``, ``max_array_size()`` (read from the
scheduler once, cached), ``task_index_variable``, ``first_index`` and
``task_id_variable``.  Each task gets its own sandbox and job script, as a single
job does; per array, ``<spool>/arrays/<first task's job id>/`` holds ``tasks`` (one
sandbox per line, line i for index ``first_index + i - 1``) and ``job.sh``, the
dispatcher the scheduler runs for every index, which runs that task's script.  The
array's scheduler working directory is the array directory, so that ``searches()``
find an interrupted array there.
"""

from __future__ import annotations

import abc
import dataclasses
import posixpath
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any, ClassVar

from .application import Application
from .errors import CommandFailed, LRMSError, SubmissionRefused, cannot_honour
from .exitstatus import split_status
from .hookspecs import hookimpl
from .job import Job
from .jobscript import (
    CONTROL,
    ERROR_FILE,
    EXIT_FILE,
    NATIVE_ID_FILE,
    bash_quote,
    job_environment,
    render_script,
    task_argv,
)
from .options import Option, check_options
from .report import JobReport
from .sandbox import SandboxBackend
from .state import State, TerminationReason
from .transport import CommandResult

__all__ = [
    "CONTROL",
    "QSUB_UTC",
    "BatchBackend",
    "Search",
    "Submission",
    "bash_quote",
    "command_options",
    "job_environment",
    "qsub_args",
    "render_script",
    "task_argv",
]

TASK_FILE = "task"  # an array task's "<array directory name> <index>"
ARRAYS = "arrays"
# Prints "<sandbox>\t<first line>" of the control file $1 of every sandbox that has one
# (shell builtins only: no process per sandbox).
_READ_CONTROL = (
    f'f=$1; shift; for d; do if [ -f "$d/{CONTROL}/$f" ] && IFS= read -r l < "$d/{CONTROL}/$f"; '
    'then printf "%s\\t%s\\n" "$d" "$l"; fi; done'
)

#: A search for ``find_jobs``: {sandbox: job} of the jobs still missing -> {jobid: native id}.
Search = Callable[[Mapping[str, Job]], dict[str, str]]


def command_options(*names: str) -> tuple[Option, ...]:
    """One ``<name>_command`` option per scheduler command (path override on the frontend)."""
    return tuple(
        Option(f"{name}_command", "string", name, f"Path or name of `{name}` on the frontend.")
        for name in names
    )


#: ``qsub -a`` reads its time in qsub's own time zone: a submission that sets it runs qsub
#: under this prefix (``env TZ=UTC0 qsub ...``).
QSUB_UTC = ("env", "TZ=UTC0")
_QSUB_MAIL = {"begin": "b", "end": "e", "fail": "a"}  # a: aborted


def qsub_args(app: Application) -> list[str]:
    """The template fields every POSIX-style ``qsub`` (Grid Engine, PBS) takes alike:
    ``-M`` email, ``-m`` events, ``-h`` hold, ``-a`` earliest start (in UTC: see
    :data:`QSUB_UTC`)."""
    args: list[str] = []
    if app.email:
        args += ["-M", app.email]
    if app.email_events:
        args += ["-m", "".join(_QSUB_MAIL[event] for event in app.email_events)]
    if app.hold:
        args.append("-h")
    if app.earliest_start is not None:
        args += ["-a", time.strftime("%Y%m%d%H%M.%S", time.gmtime(app.earliest_start))]
    return args


@dataclasses.dataclass(frozen=True)
class Submission:
    """How one job is submitted: the command, its standard input, and files the base
    writes into the sandbox's ``.lrms`` directory before running it (e.g. a submit
    description for HTCondor's ``condor_submit``)."""

    argv: Sequence[str]
    stdin: bytes | None = None
    files: Mapping[str, bytes] = dataclasses.field(default_factory=dict)


class BatchBackend(SandboxBackend, abc.ABC):
    """Base of qsub-like backends (see the module docstring)."""

    options: ClassVar[Sequence[Option]] = (
        *SandboxBackend.options,
        Option("prologue", "list of strings", [], "Shell lines run before the program."),
        Option("epilogue", "list of strings", [], "Shell lines run after the program."),
        Option("extra_args", "list of strings", [],
               "Extra arguments for the submit command, e.g. [--exclusive]."),
    )
    #: The scheduler's name in messages.
    scheduler: ClassVar[str] = "the scheduler"
    #: Seconds between queries of the scheduler (sites ask tools not to poll in loops).
    poll_interval: ClassVar[float] = 15.0
    #: Options an application may set for itself in ``extra={"<backend>": {...}}``.
    app_options: ClassVar[tuple[str, ...]] = ("extra_args",)
    #: Shell expression (in double quotes) of the running job's scheduler id, e.g.
    #: ``$JOB_ID``: the job script records it first (None: no record).
    native_id_variable: ClassVar[str | None] = None
    #: Arrays: the shell expression of a running task's index, e.g. ``$SLURM_ARRAY_TASK_ID``.
    task_index_variable: ClassVar[str] = ""
    #: Arrays: the index of an array's first task (0 for Slurm and PBS, 1 for Grid Engine).
    first_index: ClassVar[int] = 0
    #: Arrays: as ``native_id_variable``, a running task's own id (what ``task_id`` gives),
    #: e.g. ``${SLURM_ARRAY_JOB_ID}_${SLURM_ARRAY_TASK_ID}``; a task's script records it.
    task_id_variable: ClassVar[str | None] = None

    def __init_subclass__(cls, **kwargs: Any) -> None:
        """A subclass that implements ``searches()`` offers the ``find_jobs`` hook, one
        that implements ``array_command()`` the ``submit_jobs`` hook."""
        super().__init_subclass__(**kwargs)
        if cls.searches is not BatchBackend.searches and "find_jobs" not in cls.__dict__:

            def find_jobs(self: BatchBackend, jobs: Sequence[Job]) -> list[bool]:
                return self.find_recorded(jobs)

            cls.find_jobs = hookimpl(find_jobs)  # type: ignore[attr-defined]
        if (cls.release_command is not BatchBackend.release_command
                and "release_job" not in cls.__dict__):

            def release_job(self: BatchBackend, job: Job) -> bool:
                self.check(self.release_command(job))
                job.backend_data["released"] = True
                return True

            cls.release_job = hookimpl(release_job)  # type: ignore[attr-defined]
        if cls.offers_arrays() and "submit_jobs" not in cls.__dict__:

            def submit_jobs(self: BatchBackend, apps: Sequence[Application], jobs: Sequence[Job],
                            throttle: int | None) -> list[Job]:
                return self.submit_arrays(apps, jobs, throttle)

            cls.submit_jobs = hookimpl(submit_jobs)  # type: ignore[attr-defined]

    @classmethod
    def offers_arrays(cls) -> bool:
        """True if this backend submits arrays (it implements ``array_command``)."""
        return cls.array_command is not BatchBackend.array_command

    @classmethod
    def incomplete_methods(cls) -> list[str]:
        """What arrays still lack in a backend that implements ``array_command``:
        ``task_id``, ``max_array_size``, ``task_index_variable``, ``task_id_variable``
        (checked when the backend loads, like the abstract methods)."""
        if not cls.offers_arrays():
            return []
        lacking = [name for name in ("task_id", "max_array_size")
                   if getattr(cls, name) is getattr(BatchBackend, name)]
        return lacking + [name for name in ("task_index_variable", "task_id_variable")
                          if not getattr(cls, name)]

    # -- what a subclass provides ------------------------------------------------

    @abc.abstractmethod
    def submit_command(self, app: Application, job: Job, sandbox: str,
                       script: str) -> Submission:
        """The submission of ``job`` whose script is at ``script`` in ``sandbox``."""

    @abc.abstractmethod
    def parse_job_id(self, result: CommandResult) -> str:
        """The native id from the submit command's result (``ValueError`` if absent)."""

    @abc.abstractmethod
    def query(self, jobs: Sequence[Job]) -> dict[str, JobReport]:
        """Reports of the jobs the scheduler knows, by native id (one query per command)."""

    @abc.abstractmethod
    def cancel_command(self, job: Job) -> list[str]:
        """The command that cancels ``job``."""

    def history(self, jobs: Sequence[Job]) -> dict[str, JobReport]:
        """Reports from accounting or history for ``jobs``, which ``query`` left
        unexplained (not listed, or ended without an outcome); none by default."""
        return {}

    def cancel_gone(self, result: CommandResult) -> bool:
        """True if the failed cancel ``result`` says the job has already ended."""
        return False

    def cancel_accepted(self, job: Job, result: CommandResult) -> str | None:
        """What a successful cancel did, in a few words (e.g. "removed from the queue"),
        for the job's message should the scheduler then forget it; None by default."""
        return None

    def release_command(self, job: Job) -> list[str]:
        """The command that lets a job submitted held (``hold``) start; a backend that
        implements it gets the ``release_job`` hook (plugin API 1.2)."""
        raise NotImplementedError(f"backend {self.name} does not release jobs")

    def searches(self) -> list[Search]:
        """The searches ``find_jobs`` runs, in order, before reading the jobs' records.

        They must cover queued jobs: a job records its id only once it has started.
        Besides sandboxes, ``wanted`` has the directory of each array looked for (mapped
        to one of its tasks): the search answers that task's job id with the array's id
        (what ``task_id`` takes) if the scheduler has an array working there.
        """
        return []

    # -- what a backend with arrays provides ----------------------------------------------

    def array_command(self, app: Application, array_dir: str, script: str, first: int,
                      last: int, throttle: int | None) -> Submission:
        """The submission of an array of tasks ``first..last`` running the dispatcher
        ``script`` in (working directory) ``array_dir``, with ``app``'s requests, at most
        ``throttle`` tasks at once (None: no limit); ``parse_job_id`` reads its id."""
        raise NotImplementedError(f"backend {self.name} does not submit arrays")

    def task_id(self, array_id: str, index: int) -> str:
        """The native id of task ``index`` of array ``array_id`` (``123_4``, ``123.4``)."""
        raise NotImplementedError(f"backend {self.name} does not submit arrays")

    def max_array_size(self) -> int:
        """The most tasks one array may have, 0 for no limit (read from the scheduler
        once, cached)."""
        raise NotImplementedError(f"backend {self.name} does not submit arrays")

    # -- shared machinery ------------------------------------------------------------

    def command(self, name: str) -> str:
        """The configured path of scheduler command ``name``."""
        return str(self.resource.options.get(f"{name}_command") or name)

    def refused(self, app: Application, field: str, why: str,
                backend: str | None = None) -> SubmissionRefused:
        """The error for a template field this job cannot have here (before submission)."""
        return SubmissionRefused(cannot_honour(self.resource.name, backend or self.name, field,
                                               app.jobname, why))

    def failed(self, result: CommandResult, command: str | None = None,
               said: str | None = None) -> CommandFailed:
        """The error for a scheduler command that failed, naming the resource (and
        ``command``, the scheduler command a shell loop ran, instead of the loop; ``said``
        instead of its output)."""
        return self.transport.failure(result, f"resource {self.resource.name}: ", command, said)

    def check(self, argv: Sequence[str], timeout: float | None = None) -> CommandResult:
        """Run a scheduler command; :meth:`failed` if it exits non-zero."""
        result = self.transport.run(argv, timeout=timeout)
        if result.returncode != 0:
            raise self.failed(result)
        return result

    def job_options(self, app: Application) -> dict[str, Any]:
        """The resource's options, overridden by the application's ``extra[<backend>]``.

        Only ``app_options`` may be set there, checked like the resource's own;
        ``extra_args`` of both are joined (the resource's first).
        """
        given = app.options_for(self.name)
        declared = [option for option in self.options if option.name in self.app_options]

        def error(key: str, problem: str) -> Exception:
            what = "invalid" if key in self.app_options else "unknown"
            return LRMSError(
                f"resource {self.resource.name}: job {app.jobname!r}: {what} {self.name} "
                f"option in Application extra[{self.name!r}]: option {key}: {problem}")

        checked = check_options(declared, given, error)
        merged = dict(self.resource.options)
        merged.update({key: checked[key] for key in given})
        merged["extra_args"] = [*(self.resource.options.get("extra_args") or []),
                                *(checked["extra_args"] if "extra_args" in given else [])]
        return merged

    @staticmethod
    def script_path(sandbox: str) -> str:
        """Where the job script is in ``sandbox``."""
        return posixpath.join(sandbox, CONTROL, "job.sh")

    def script_prologue(self, app: Application, job: Job) -> list[str]:
        """Lines the job script runs before the program: the record of
        ``native_id_variable`` (``task_id_variable`` for an array task, whose
        ``backend_data`` has its ``task_index``; if set), the resource's ``prologue``
        and extension plugins' lines.  A subclass may add its own (trusted) lines."""
        task = "task_index" in job.backend_data
        variable = self.task_id_variable if task else self.native_id_variable
        record = [f'echo "{variable}" > {CONTROL}/{NATIVE_ID_FILE}'] if variable else []
        return [*record, *(self.resource.options.get("prologue") or []),
                *self.resource.script_lines(app, job)]

    def render(self, app: Application, job: Job, sandbox: str,
               task_index: int | None = None) -> str:
        """The job script (:func:`render_script` with :meth:`script_prologue`) of a job,
        or of the array task ``task_index``."""
        epilogue = self.resource.options.get("epilogue") or []
        return render_script(app, job, sandbox, self.script_prologue(app, job), epilogue,
                             task_index)

    def dry_run(self, app: Application, job: Job) -> tuple[str, Submission]:
        """The script and submission ``submit_job`` would use, without submitting."""
        self.resource.check_request(app)
        sandbox = self.sandbox_path(job.jobid)
        return (self.render(app, job, sandbox),
                self.submit_command(app, job, sandbox, self.script_path(sandbox)))

    def _write_script(self, app: Application, job: Job,
                      task_index: int | None = None) -> tuple[str, str]:
        """Make the job's sandbox with its inputs and job script; return both paths."""
        sandbox = self.make_sandbox(app, job)
        self.transport.makedirs(posixpath.join(sandbox, CONTROL), 0o700)
        script = self.script_path(sandbox)
        self.transport.write_bytes(script, self.render(app, job, sandbox, task_index).encode())
        return sandbox, script

    def _submit(self, submission: Submission, directory: str, what: str) -> str:
        """Write the submission's files into ``directory``, run it, return the native id."""
        for name, content in submission.files.items():
            self.transport.write_bytes(posixpath.join(directory, name), content)
        result = self.transport.run(submission.argv, stdin=submission.stdin)
        if result.returncode != 0:
            # stderr and stdout: some wrappers (Slurm's Torque qsub) print errors on stdout
            said = "; ".join(p for p in (result.error_text, result.text.strip()) if p)
            raise SubmissionRefused(
                f"resource {self.resource.name}: {self.scheduler} refused {what}: "
                f"{said or f'exit {result.returncode}, no message'}")
        try:
            return self.parse_job_id(result)
        except ValueError as exc:
            raise LRMSError(f"resource {self.resource.name}: {exc} "
                            f"(stderr: {result.error_text or 'empty'})") from None

    @hookimpl
    def submit_job(self, app: Application, job: Job) -> Job:
        try:
            sandbox, script = self._write_script(app, job)
            submission = self.submit_command(app, job, sandbox, script)
            job.native_id = self._submit(submission, posixpath.join(sandbox, CONTROL),
                                         f"job {job.jobid} ({app.jobname!r})")
        except BaseException:
            self._discard([job])
            raise
        return job

    def _discard(self, jobs: Sequence[Job], array_dir: str | None = None) -> None:
        """Remove the sandboxes (and array directory) of jobs whose submission failed."""
        for job in jobs:
            if job.sandbox:
                self.transport.remove(job.sandbox, recursive=True)
            job.sandbox = None
            job.backend_data.pop("task_index", None)
        if array_dir:
            self.transport.remove(array_dir, recursive=True)

    def array_dir(self, key: str) -> str:
        """The directory of the array whose first task is job ``key``."""
        return posixpath.join(self.spool, ARRAYS, key)

    def submit_arrays(self, apps: Sequence[Application], jobs: Sequence[Job],
                      throttle: int | None) -> list[Job]:
        """The ``submit_jobs`` hook: arrays of at most ``max_array_size()`` tasks."""
        size = self.max_array_size()
        if size < 1:
            size = len(jobs)  # no limit
        for start in range(0, len(jobs), size):
            self._submit_array(apps[start:start + size], jobs[start:start + size], throttle)
        return list(jobs)

    def _submit_array(self, apps: Sequence[Application], jobs: Sequence[Job],
                      throttle: int | None) -> None:
        key = jobs[0].jobid
        array_dir = self.array_dir(key)
        first, last = self.first_index, self.first_index + len(jobs) - 1
        if "\n" in array_dir:  # the dispatcher's tasks file has one sandbox per line
            raise LRMSError(f"resource {self.resource.name}: cannot submit arrays from a spool "
                            f"whose path has a newline ({self.spool!r}); set 'spool' to another")
        try:
            self.transport.makedirs(array_dir, 0o700)
            sandboxes = []
            for index, (app, job) in enumerate(zip(apps, jobs, strict=True), first):
                job.backend_data["task_index"] = index
                sandbox, _ = self._write_script(app, job, index)
                self.transport.write_bytes(posixpath.join(sandbox, CONTROL, TASK_FILE),
                                           f"{key} {index}\n".encode())
                sandboxes.append(sandbox)
            self.transport.write_bytes(posixpath.join(array_dir, "tasks"),
                                       "".join(f"{path}\n" for path in sandboxes).encode())
            dispatcher = posixpath.join(array_dir, "job.sh")
            self.transport.write_bytes(dispatcher, self._dispatcher(array_dir, key).encode())
            submission = self.array_command(apps[0], array_dir, dispatcher, first, last, throttle)
            array_id = self._submit(submission, array_dir, (
                f"array of {len(jobs)} jobs {jobs[0].jobid} ... {jobs[-1].jobid} "
                f"({apps[0].jobname!r} ...)"))
        except BaseException:
            self._discard(jobs, array_dir)
            raise
        for index, job in enumerate(jobs, first):
            self._as_task(job, array_id, index)

    def _as_task(self, job: Job, array_id: str, index: int) -> None:
        job.native_id = self.task_id(array_id, index)
        job.backend_data["array"] = array_id
        job.backend_data["task_index"] = index

    def _dispatcher(self, array_dir: str, key: str) -> str:
        """The script the scheduler runs for each index: it runs that task's job script."""
        tasks = bash_quote(posixpath.join(array_dir, "tasks"))
        return "\n".join([
            "#!/bin/bash",
            f"# lrms array {key}; generated by lrms, do not edit",
            f'lrms_task=$(sed -n "$(({self.task_index_variable} - {self.first_index} + 1))p" '
            f"{tasks})",
            f'exec /bin/bash "$lrms_task/{CONTROL}/job.sh"',
        ]) + "\n"

    @hookimpl
    def update_job_states(self, jobs: Sequence[Job]) -> list[State]:
        """``query``, then ``history`` and the exit files for what it left unexplained;
        a job lrms cancelled that ended without exiting by itself ended by the cancel."""
        reports = self.query(jobs)
        lacking = [job for job in jobs if _outcome_missing(reports.get(job.native_id or ""))]
        if lacking:
            for native, found in self.history(lacking).items():
                reports[native] = _with_outcome(reports.get(native), found)
            lacking = [job for job in lacking
                       if _outcome_missing(reports.get(job.native_id or ""))]
        codes = self.read_exit_codes(lacking) if lacking else {}
        unexplained = {id(job) for job in lacking}
        for job in jobs:
            listed = reports.get(job.native_id or "")
            code = codes.get(job.sandbox or "")
            if id(job) in unexplained and (listed is None or code is not None):
                report = _with_outcome(listed, self.report_from_exit_file(job, code))
            else:
                assert listed is not None
                report = listed
            if job.state == State.TERMINATING:
                report = _after_cancel(report, job.backend_data.get("cancelled"))
            reports[job.native_id or ""] = report
        self._explain_start_failures(jobs, reports)
        return [reports[job.native_id or ""].apply(job) for job in jobs]

    def _explain_start_failures(self, jobs: Sequence[Job], reports: dict[str, JobReport]) -> None:
        """Jobs whose script could not start the program (exit 126 or 127 and an ``error``
        file): the reason is ``submission_failed`` and the message the script's why."""
        suspects = {job.sandbox: job.native_id or "" for job in jobs if job.sandbox
                    and reports[job.native_id or ""].exitcode in (126, 127)
                    and job.state != State.TERMINATED}
        if not suspects:
            return
        for sandbox, why in self.read_control(list(suspects), ERROR_FILE).items():
            native = suspects[sandbox]
            reports[native] = dataclasses.replace(
                reports[native], reason=TerminationReason.SUBMISSION_FAILED,
                message=why.removeprefix("lrms: "))

    def read_control(self, sandboxes: Sequence[str], name: str,
                     check: bool = False) -> dict[str, str]:
        """The first line of control file ``name`` (``exit``, ``native_id``, ``error``) of
        each sandbox that has one, by sandbox, with one command."""
        timeout = self.resource.options.get("query_timeout")
        argv = ["/bin/sh", "-c", _READ_CONTROL, "sh", name, *sandboxes]
        result = (self.transport.check if check else self.transport.run)(
            argv, timeout=None if timeout is None else float(timeout))
        lines = (line.partition("\t") for line in result.text.splitlines())
        return {sandbox: value.strip() for sandbox, _, value in lines if value.strip()}

    def read_exit_codes(self, jobs: Sequence[Job]) -> dict[str, int]:
        """Exit codes that job scripts recorded, by sandbox, with one command."""
        recorded = self.read_control([job.sandbox for job in jobs if job.sandbox], EXIT_FILE)
        return {sandbox: int(code) for sandbox, code in recorded.items()
                if code.lstrip("-").isdigit()}

    def report_from_exit_file(self, job: Job, code: int | None) -> JobReport:
        """A job the scheduler no longer explains: its script's exit file decides."""
        native = job.native_id or ""
        if code is None:
            return JobReport(native, State.UNKNOWN, message=(
                f"{self.scheduler} no longer knows job {native} and its script left no "
                "exit status"))
        exitcode, signal = split_status(code)
        return JobReport(native, State.TERMINATED, "exit-file", exitcode=exitcode, signal=signal,
                         reason=TerminationReason.EXITED if signal is None
                         else TerminationReason.SIGNALLED)

    @hookimpl
    def cancel_job(self, job: Job) -> bool:
        result = self.transport.run(self.cancel_command(job))
        if result.returncode != 0 and not self.cancel_gone(result):
            raise self.failed(result)
        job.backend_data["cancelled"] = self.cancel_accepted(job, result) or "requested"
        return True

    def find_recorded(self, jobs: Sequence[Job]) -> list[bool]:
        """The ``find_jobs`` hook of subclasses with ``searches()``: each search for the
        jobs still missing (array tasks by their array's directory), then the scheduler
        ids the job scripts recorded.

        A job found nowhere is "not found" only if every search worked (the caller
        would submit it again).  Found jobs get native id and sandbox (tasks found by
        their array also the array id and index in ``backend_data``).
        """
        sandboxes = {job.jobid: self.sandbox_path(job.jobid) for job in jobs}
        tasks = self._tasks_of(sandboxes) if self.offers_arrays() and self.transport.exists(
            posixpath.join(self.spool, ARRAYS)) else {}
        found: dict[str, str] = {}
        failures: list[str] = []
        for search in self.searches():
            wanted = {sandboxes[job.jobid]: job for job in jobs
                      if job.jobid not in found and job.jobid not in tasks}
            arrays: dict[str, Job] = {}
            for job in jobs:
                if job.jobid in tasks and job.jobid not in found:
                    arrays.setdefault(tasks[job.jobid][0], job)
            wanted.update((self.array_dir(key), job) for key, job in arrays.items())
            if not wanted:
                break
            try:
                hits = search(wanted)
            except LRMSError as exc:
                failures.append(str(exc))
                continue
            keys = {job.jobid: key for key, job in arrays.items()}
            array_ids = {keys[jobid]: hits.pop(jobid) for jobid in list(hits) if jobid in keys}
            found.update(hits)
            for job in jobs:
                key, index = tasks.get(job.jobid, ("", 0))
                if key in array_ids:
                    self._as_task(job, array_ids[key], index)
                    found[job.jobid] = job.native_id or ""
        missing = {sandboxes[job.jobid]: job.jobid for job in jobs if job.jobid not in found}
        if missing and (self.native_id_variable or self.task_id_variable):
            for sandbox, native in self.read_control(list(missing), NATIVE_ID_FILE,
                                                     check=True).items():
                if sandbox in missing:
                    found[missing[sandbox]] = native
        lost = [job.jobid for job in jobs if job.jobid not in found]
        if lost and failures:
            raise LRMSError(
                f"resource {self.resource.name}: cannot tell whether {self.scheduler} "
                f"accepted job(s) {', '.join(lost)} (their submission was interrupted), as a "
                f"search failed: {'; '.join(failures)}")
        for job in jobs:
            if job.jobid in found:
                job.native_id, job.sandbox = found[job.jobid], sandboxes[job.jobid]
        return [job.jobid in found for job in jobs]

    def _tasks_of(self, sandboxes: Mapping[str, str]) -> dict[str, tuple[str, int]]:
        """The array tasks among jobs {jobid: sandbox}: {jobid: (array key, index)}."""
        by_sandbox = {sandbox: jobid for jobid, sandbox in sandboxes.items()}
        tasks = {}
        for sandbox, line in self.read_control(list(by_sandbox), TASK_FILE, check=True).items():
            key, _, index = line.partition(" ")
            if sandbox in by_sandbox and index.isdigit():
                tasks[by_sandbox[sandbox]] = (key, int(index))
        return tasks


def _outcome_missing(report: JobReport | None) -> bool:
    """True if a job is not listed, or ended with no outcome (exit code, signal, reason)."""
    return report is None or (
        report.state == State.TERMINATED and report.exitcode is None
        and report.signal is None and report.reason in (None, TerminationReason.UNKNOWN))


def _with_outcome(listed: JobReport | None, outcome: JobReport) -> JobReport:
    """``outcome`` (history, exit file) completed with what the queue said."""
    if listed is None:
        return outcome
    message = "; ".join(m for m in (listed.message, outcome.message) if m) or None
    return dataclasses.replace(
        listed, state=outcome.state, exitcode=outcome.exitcode, signal=outcome.signal,
        reason=outcome.reason, walltime=listed.walltime or outcome.walltime,
        cputime=listed.cputime or outcome.cputime,
        max_memory=listed.max_memory or outcome.max_memory, message=message)


def _after_cancel(report: JobReport, done: str | None) -> JobReport:
    """A job lrms asked to cancel (``done``: what the cancel did): gone without a trace, or
    ended by a signal or for an unknown reason, it ended by the cancellation (a job that
    exited by itself did not)."""
    if report.state == State.UNKNOWN:
        return dataclasses.replace(report, state=State.TERMINATED,
                                   reason=TerminationReason.CANCELLED,
                                   message=f"cancelled ({done or 'requested'})")
    if report.state == State.TERMINATED and report.reason in (
            None, TerminationReason.UNKNOWN, TerminationReason.SIGNALLED):
        return dataclasses.replace(report, reason=TerminationReason.CANCELLED)
    return report
