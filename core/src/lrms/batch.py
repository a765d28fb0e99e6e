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
"""

from __future__ import annotations

import abc
import dataclasses
import posixpath
import shlex
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any, ClassVar

from .application import Application
from .errors import CommandFailed, LRMSError, SubmissionRefused, cannot_honour
from .exitstatus import split_status
from .hookspecs import hookimpl
from .job import Job
from .options import Option, check_options
from .report import JobReport
from .sandbox import SandboxBackend
from .state import State, TerminationReason
from .transport import CommandResult

__all__ = [
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

CONTROL = ".lrms"
EXIT_FILE = "exit"
NATIVE_ID_FILE = "native_id"
ERROR_FILE = "error"  # why the job script could not start the program
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


def bash_quote(value: str) -> str:
    """Quote ``value`` as one bash word that never spans lines.

    Plain text gets :func:`shlex.quote`; text with control characters
    (newlines included) gets bash's ``$'...'`` form with escapes, so no user
    value can put a line into the script that a scheduler would read as a
    directive (``#SBATCH``, ``#$``, ``#PBS``).
    """
    if value.isprintable():
        return shlex.quote(value)
    escaped = []
    for char in value:
        if char in "\\'":
            escaped.append("\\" + char)
        elif char.isprintable():
            escaped.append(char)
        else:
            escaped.append("".join(f"\\x{byte:02x}" for byte in char.encode()))
    return "$'" + "".join(escaped) + "'"


def job_environment(app: Application, job: Job, sandbox: str) -> dict[str, str]:
    """The variables every job sees (``LRMS_*``, and ``OMP_NUM_THREADS`` = the cores per
    task unless the application sets it); the application's environment comes after."""
    variables = {"LRMS_JOB_ID": job.jobid, "LRMS_CORES": str(app.requested_cores),
                 "LRMS_GPUS": str(app.requested_gpus), "LRMS_SANDBOX": sandbox}
    if "OMP_NUM_THREADS" not in app.environment:
        variables["OMP_NUM_THREADS"] = str(app.requested_cores)
    return variables


def task_argv(app: Application) -> list[str]:
    """The argv that starts the program: ``app.arguments``, behind its ``launcher``
    (``mpirun``/``mpiexec`` are told the number of tasks; ``srun`` takes it from the job)."""
    if app.launcher is None:
        return list(app.arguments)
    tasks = [] if app.launcher == "srun" else ["-n", str(app.nodes * app.tasks_per_node)]
    return [app.launcher, *tasks, *app.arguments]


def _enter(workdir: str) -> str:
    """The bash words of ``cd``'s argument for a workdir (``~/...`` is the user's home)."""
    if workdir == "~" or workdir.startswith("~/"):
        rest = workdir[2:]
        return '"$HOME"' + (f"/{bash_quote(rest)}" if rest else "")
    return bash_quote(workdir)


def _checked_run(program: str, error: str, stdout: str, stderr: str, run: str) -> list[str]:
    """Job script lines that run ``run`` and set ``lrms_rc``, unless ``program`` cannot be
    executed where the job runs: then exit status 127 (126: not executable) and why, in the
    ``error`` control file and the job's ``stderr``, naming the program and the host."""
    name = bash_quote(program)
    lines = [f"if command -v -- {name} > /dev/null 2>&1; then", f"  {run}", "  lrms_rc=$?"]
    if "/" in program:
        lines += [f"elif [ -f {name} ]; then", "  lrms_rc=126 lrms_why='not executable'",
                  "else", '  lrms_rc=127 lrms_why="no such file in $PWD; send it with the job '
                  '(--input FILE on the command line, Application inputs in Python)"']
    else:
        lines += ["else", "  lrms_rc=127 lrms_why=\"not found in the job's PATH\"",
                  f"  [ ! -f {name} ] || printf -v lrms_why '%s (there is a file %s in %s: run "
                  f"it as ./%s)' \"$lrms_why\" {name} \"$PWD\" {name}"]
    return [*lines, "fi", 'if [ -n "${lrms_why-}" ]; then', f"  : >> {stdout}",
            f"  printf 'lrms: cannot execute %s on %s: %s\\n' {name} \"$HOSTNAME\" \"$lrms_why\" "
            f"| tee {bash_quote(error)} >> {stderr}", "fi"]


def render_script(
    app: Application, job: Job, sandbox: str, prologue: Sequence[str] = (),
    epilogue: Sequence[str] = (),
) -> str:
    """The bash job script: run ``app``'s argv in ``sandbox`` (or its ``workdir``) and record
    its exit code in the sandbox.

    Every value from the application is quoted with :func:`bash_quote`; the
    prologue/epilogue lines (configuration and extension plugins) are trusted and
    run in the sandbox; :func:`job_environment` follows the prologue.  With a
    ``workdir``, stdin, stdout and stderr stay in the sandbox (absolute paths).  A
    workdir that cannot be entered, or a program that cannot be executed, fails the
    job with exit status 126 or 127 and says why in its stderr and the ``error``
    control file (the job's message then).
    """
    q = bash_quote
    lines = [
        "#!/bin/bash",
        f"# lrms job {job.jobid}; generated by lrms, do not edit",
        f"cd {q(sandbox)} || exit 1",
        f"date +%s > {CONTROL}/started",
        *prologue,
        *(f"export {name}={q(value)}" for name, value in
          job_environment(app, job, sandbox).items()),
        *(f"export {name}={q(value)}" for name, value in app.environment.items()),
    ]

    def stream(name: str) -> str:
        return q(posixpath.join(sandbox, name) if app.workdir else name)

    stdin = stream(app.stdin) if app.stdin else "/dev/null"
    stderr = "2>&1" if app.join else f"2> {stream(app.stderr)}"
    error = posixpath.join(sandbox, CONTROL, ERROR_FILE)
    run = _checked_run(
        app.arguments[0], error, stream(app.stdout),
        stream(app.stderr),
        f"{' '.join(map(q, task_argv(app)))} < {stdin} > {stream(app.stdout)} {stderr}")
    if app.workdir:
        lines += [
            f"if cd {_enter(app.workdir)}; then",
            *(f"  {line}" for line in run),
            "else",
            "  lrms_rc=126",
            f"  printf 'lrms: cannot run in workdir %s on %s: cannot enter it\\n' "
            f"{q(app.workdir)} \"$HOSTNAME\" | tee {q(error)} >> {stream(app.stderr)}",
            "fi",
            f"cd {q(sandbox)} || exit 1",
        ]
    else:
        lines += run
    lines += [
        *epilogue,
        f'echo "$lrms_rc" > {CONTROL}/{EXIT_FILE}.part && '
        f"mv -f {CONTROL}/{EXIT_FILE}.part {CONTROL}/{EXIT_FILE}",
        'exit "$lrms_rc"',
    ]
    return "\n".join(lines) + "\n"


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
    #: Options an application may set for itself in ``extra={"<backend>": {...}}``.
    app_options: ClassVar[tuple[str, ...]] = ("extra_args",)
    #: Shell expression (in double quotes) of the running job's scheduler id, e.g.
    #: ``$JOB_ID``: the job script records it first (None: no record).
    native_id_variable: ClassVar[str | None] = None

    def __init_subclass__(cls, **kwargs: Any) -> None:
        """A subclass that implements ``searches()`` offers the ``find_jobs`` hook."""
        super().__init_subclass__(**kwargs)
        if cls.searches is not BatchBackend.searches and "find_jobs" not in cls.__dict__:

            def find_jobs(self: BatchBackend, jobs: Sequence[Job]) -> list[bool]:
                return self.find_recorded(jobs)

            cls.find_jobs = hookimpl(find_jobs)  # type: ignore[attr-defined]

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

    def searches(self) -> list[Search]:
        """The searches ``find_jobs`` runs, in order, before reading the jobs' records.

        They must cover queued jobs: a job records its id only once it has started.
        """
        return []

    # -- shared machinery ------------------------------------------------------------

    def command(self, name: str) -> str:
        """The configured path of scheduler command ``name``."""
        return str(self.resource.options.get(f"{name}_command") or name)

    def refused(self, app: Application, field: str, why: str,
                backend: str | None = None) -> SubmissionRefused:
        """The error for a template field this job cannot have here (before submission)."""
        return SubmissionRefused(cannot_honour(self.resource.name, backend or self.name, field,
                                               app.jobname, why))

    def failed(self, result: CommandResult, command: str | None = None) -> CommandFailed:
        """The error for a scheduler command that failed, naming the resource (and
        ``command``, the scheduler command a shell loop ran, instead of the loop)."""
        return self.transport.failure(result, f"resource {self.resource.name}: ", command)

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
        ``native_id_variable`` (if set), the resource's ``prologue`` and extension
        plugins' lines.  A subclass may add its own (trusted) lines."""
        record = ([f'echo "{self.native_id_variable}" > {CONTROL}/{NATIVE_ID_FILE}']
                  if self.native_id_variable else [])
        return [*record, *(self.resource.options.get("prologue") or []),
                *self.resource.script_lines(app, job)]

    def render(self, app: Application, job: Job, sandbox: str) -> str:
        """The job script (:func:`render_script` with :meth:`script_prologue`)."""
        epilogue = self.resource.options.get("epilogue") or []
        return render_script(app, job, sandbox, self.script_prologue(app, job), epilogue)

    def dry_run(self, app: Application, job: Job) -> tuple[str, Submission]:
        """The script and submission ``submit_job`` would use, without submitting."""
        self.resource.check_request(app)
        sandbox = self.sandbox_path(job.jobid)
        return (self.render(app, job, sandbox),
                self.submit_command(app, job, sandbox, self.script_path(sandbox)))

    @hookimpl
    def submit_job(self, app: Application, job: Job) -> Job:
        sandbox = self.make_sandbox(app, job)
        try:
            control = posixpath.join(sandbox, CONTROL)
            self.transport.makedirs(control, 0o700)
            script = self.script_path(sandbox)
            self.transport.write_bytes(script, self.render(app, job, sandbox).encode())
            submission = self.submit_command(app, job, sandbox, script)
            for name, content in submission.files.items():
                self.transport.write_bytes(posixpath.join(control, name), content)
            result = self.transport.run(submission.argv, stdin=submission.stdin)
            if result.returncode != 0:
                # stderr and stdout: some wrappers (Slurm's Torque qsub) print errors on stdout
                said = "; ".join(p for p in (result.error_text, result.text.strip()) if p)
                raise SubmissionRefused(
                    f"resource {self.resource.name}: {self.scheduler} refused job {job.jobid} "
                    f"({app.jobname!r}): {said or f'exit {result.returncode}, no message'}")
            try:
                job.native_id = self.parse_job_id(result)
            except ValueError as exc:
                raise LRMSError(f"resource {self.resource.name}: {exc} "
                                f"(stderr: {result.error_text or 'empty'})") from None
        except BaseException:
            self.transport.remove(sandbox, recursive=True)
            job.sandbox = None
            raise
        return job

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
        jobs still missing, then the scheduler ids the job scripts recorded.

        A job found nowhere is "not found" only if every search worked (the caller
        would submit it again).  Found jobs get native id and sandbox.
        """
        sandboxes = {job.jobid: self.sandbox_path(job.jobid) for job in jobs}
        found: dict[str, str] = {}
        failures: list[str] = []
        for search in self.searches():
            wanted = {sandboxes[job.jobid]: job for job in jobs if job.jobid not in found}
            if not wanted:
                break
            try:
                found.update(search(wanted))
            except LRMSError as exc:
                failures.append(str(exc))
        missing = {sandboxes[job.jobid]: job.jobid for job in jobs if job.jobid not in found}
        if missing and self.native_id_variable:
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
