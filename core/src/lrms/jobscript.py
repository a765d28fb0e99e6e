"""The bash job script every batch backend submits: :func:`render_script`.

It runs the application's argv (quoted word by word with :func:`bash_quote`, never
through a string a shell re-reads) in the job's sandbox or its ``workdir``, with the
job environment of every backend (:func:`job_environment`), checks first that the
program can be executed there, and records its exit status in the sandbox's control
directory (``.lrms/exit``), where the backends read it.
"""

from __future__ import annotations

import posixpath
import shlex
from collections.abc import Sequence

from .application import Application
from .job import Job

__all__ = [
    "CONTROL", "ERROR_FILE", "EXIT_FILE", "NATIVE_ID_FILE", "bash_quote", "job_environment",
    "render_script", "task_argv",
]

CONTROL = ".lrms"  # the sandbox's control directory
EXIT_FILE = "exit"  # the program's exit status, written when it ends
NATIVE_ID_FILE = "native_id"  # the scheduler's id, written as the job starts
ERROR_FILE = "error"  # why the job script could not start the program


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


def job_environment(app: Application, job: Job, sandbox: str,
                    task_index: int | None = None) -> dict[str, str]:
    """The variables every job sees (``LRMS_*``; ``LRMS_TASK_INDEX`` in an array task, its
    index as the scheduler numbers it; ``OMP_NUM_THREADS`` = the cores per task unless the
    application sets it); the application's environment comes after."""
    variables = {"LRMS_JOB_ID": job.jobid, "LRMS_CORES": str(app.requested_cores),
                 "LRMS_GPUS": str(app.requested_gpus), "LRMS_SANDBOX": sandbox}
    if task_index is not None:
        variables["LRMS_TASK_INDEX"] = str(task_index)
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
    epilogue: Sequence[str] = (), task_index: int | None = None,
) -> str:
    """The bash job script: run ``app``'s argv in ``sandbox`` (or its ``workdir``) and record
    its exit code in the sandbox.

    Every value from the application is quoted with :func:`bash_quote`; the
    prologue/epilogue lines (configuration and extension plugins) are trusted and
    run in the sandbox; :func:`job_environment` (with ``task_index`` for an array
    task) follows the prologue.  With a
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
          job_environment(app, job, sandbox, task_index).items()),
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
