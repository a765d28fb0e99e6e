"""Parse Slurm command output into :class:`~lrms.JobReport` objects.

Pure functions, no I/O: the backend runs the commands (with the formats
below) and hands their standard output here.

- :func:`parse_squeue`: ``squeue --noheader --states=all --format=SQUEUE_FORMAT``
- :func:`parse_sacct`: ``sacct --parsable2 --noheader --format=SACCT_FIELDS``
  (job line and its ``.batch``/``.N`` steps merged into one report)
- :func:`parse_scontrol_show_job`: ``scontrol show job [ID]``
- :func:`parse_sbatch_id`: ``sbatch --parsable``
- :func:`parse_max_array_size`: ``scontrol show config``
- :func:`parse_sinfo`: ``sinfo --noheader --Format=SINFO_FORMAT``
- :func:`count_jobs`: ``squeue --noheader --format=%t|%u``

:func:`index_reports` finds the report for a job id among a listing's
reports: its own line, the pending array range holding it, or for an array's
id all its tasks merged (:func:`merge_array`).

Listings never raise for an odd value inside a line: an unknown state word
gives ``State.UNKNOWN`` and an unparsable field is left as None, both
explained in ``message``.  A line that has the wrong shape raises
:class:`ValueError` naming it.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from typing import NamedTuple, TypeVar

from lrms.quantity import Duration, Memory
from lrms.report import JobReport
from lrms.state import State, TerminationReason

__all__ = [
    "SACCT_ARGS",
    "SACCT_FIELDS",
    "SINFO_ARGS",
    "SINFO_FORMAT",
    "SQUEUE_ARGS",
    "SQUEUE_COUNT_ARGS",
    "SQUEUE_FORMAT",
    "PartitionLoad",
    "count_jobs",
    "expand_array_id",
    "gpu_count",
    "index_reports",
    "merge_array",
    "parse_exit_code",
    "parse_max_array_size",
    "parse_sacct",
    "parse_sbatch_id",
    "parse_scontrol_show_job",
    "parse_sinfo",
    "parse_slurm_duration",
    "parse_slurm_memory",
    "parse_squeue",
    "slurm_state",
]

_T = TypeVar("_T")
SUBMITTED, RUNNING, STOPPED, TERMINATED = (
    State.SUBMITTED, State.RUNNING, State.STOPPED, State.TERMINATED)
Why = TerminationReason

# Slurm job state -> (lrms state, termination reason).  A pending job whose
# reason is a hold becomes STOPPED (see _is_hold); FAILED becomes SIGNALLED
# when the exit code shows a signal.  Decisions: PREEMPTED is CANCELLED (site
# policy ended the job on purpose; the message says "preempted"); DEADLINE is
# WALLTIME_EXCEEDED (the job ran into the --deadline it was given); REVOKED (a
# federation sibling that ran on another cluster) is TERMINATED with reason
# UNKNOWN, as this cluster knows no outcome.
STATES: dict[str, tuple[State, TerminationReason | None]] = {
    "PENDING": (SUBMITTED, None),
    "CONFIGURING": (SUBMITTED, None),    # allocated, nodes still booting
    "REQUEUED": (SUBMITTED, None),
    "REQUEUE_FED": (SUBMITTED, None),
    "REQUEUE_HOLD": (STOPPED, None),     # requeued and held: needs `scontrol release`
    "RESV_DEL_HOLD": (STOPPED, None),    # its reservation was deleted: held
    "SPECIAL_EXIT": (STOPPED, None),     # requeued and held after a special exit code
    "RUNNING": (RUNNING, None),
    "COMPLETING": (RUNNING, None),       # ended; epilog and cleanup still running
    "STAGE_OUT": (RUNNING, None),
    "SIGNALING": (RUNNING, None),
    "RESIZING": (RUNNING, None),
    "SUSPENDED": (STOPPED, None),
    "STOPPED": (STOPPED, None),
    "COMPLETED": (TERMINATED, Why.EXITED),
    "FAILED": (TERMINATED, Why.EXITED),
    "CANCELLED": (TERMINATED, Why.CANCELLED),
    "TIMEOUT": (TERMINATED, Why.WALLTIME_EXCEEDED),
    "DEADLINE": (TERMINATED, Why.WALLTIME_EXCEEDED),
    "OUT_OF_MEMORY": (TERMINATED, Why.MEMORY_EXCEEDED),
    "NODE_FAIL": (TERMINATED, Why.NODE_FAILURE),
    "BOOT_FAIL": (TERMINATED, Why.NODE_FAILURE),
    "PREEMPTED": (TERMINATED, Why.CANCELLED),
    "REVOKED": (TERMINATED, Why.UNKNOWN),
}

# squeue %t compact codes -> state words (squeue(1), "JOB STATE CODES").
COMPACT_STATES: dict[str, str] = {
    "PD": "PENDING", "CF": "CONFIGURING", "RQ": "REQUEUED", "RF": "REQUEUE_FED",
    "RH": "REQUEUE_HOLD", "RD": "RESV_DEL_HOLD", "SE": "SPECIAL_EXIT",
    "R": "RUNNING", "CG": "COMPLETING", "SO": "STAGE_OUT", "SI": "SIGNALING",
    "RS": "RESIZING", "S": "SUSPENDED", "ST": "STOPPED", "CD": "COMPLETED",
    "F": "FAILED", "CA": "CANCELLED", "TO": "TIMEOUT", "DL": "DEADLINE",
    "OOM": "OUT_OF_MEMORY", "NF": "NODE_FAIL", "BF": "BOOT_FAIL", "PR": "PREEMPTED",
    "RV": "REVOKED",
}

# Messages for states whose lrms state and reason lose information.
# COMPLETED gets no message: its Reason is a stale pending reason.
_NOTES = {
    "PREEMPTED": "preempted",
    "DEADLINE": "reached its deadline",
    "REVOKED": "revoked: a federation sibling of this job ran on another cluster",
    "NODE_FAIL": "a node of the job failed",
    "BOOT_FAIL": "a node of the job failed to boot",
    "SUSPENDED": "suspended",
    "STOPPED": "stopped",
}

# Reasons (besides any containing "held") that leave a pending job waiting for a human.
_HOLD_REASONS = {"DependencyNeverSatisfied"}
_NO_REASON = {"", "None", "(null)"}
# Termination reasons where the program's own exit status is the outcome.
_EXITS = {Why.EXITED, Why.SIGNALLED, Why.UNKNOWN}
#: ExitCode ``0:1``: what Slurm records for a job it ended at its time limit (no signal 1).
TIMEOUT_MARK = (None, 1)

SQUEUE_FORMAT = "%i|%T|%M|%r"
"""``squeue --format``: job id (``123``, ``123_4``, ``123_[1-5]``), state, time used, reason."""

SQUEUE_ARGS = ("squeue", "--noheader", "--states=all", f"--format={SQUEUE_FORMAT}")
"""squeue command line; the backend appends ``--jobs=ID,...``."""

SACCT_FIELDS = "JobID,State,ExitCode,Elapsed,TotalCPU,MaxRSS,Reason"
"""``sacct --format``: the free-text Reason is last, so a stray ``|`` cannot shift columns."""

SACCT_ARGS = ("sacct", "--parsable2", "--noheader", f"--format={SACCT_FIELDS}")
"""sacct command line; the backend appends ``--jobs=ID,...``."""

SINFO_FORMAT = "Partition:0|,CPUsState:0|,Nodes:0|,Gres:0|,GresUsed:0"
"""``sinfo --Format``: partition (``*`` marks the default), CPUs ``A/I/O/T``, and the
number of nodes with the generic resources each has and uses (one line per group of
alike nodes)."""

SINFO_ARGS = ("sinfo", "--noheader", f"--Format={SINFO_FORMAT}")
"""sinfo command line for the partition's load; the backend may add ``--partition=P``."""

SQUEUE_COUNT_ARGS = ("squeue", "--noheader", "--format=%t|%u")
"""squeue command line for the queue's load: every unfinished job's state and user."""


# --- values ---------------------------------------------------------------

_EXIT_RE = re.compile(r"(\d+):(\d+)")
_DURATION_RE = re.compile(r"(?:(\d+)-)?(\d+(?::\d+){0,2})(\.\d+)?")
_NO_DURATION = {"", "UNLIMITED", "INVALID", "NOT_SET", "N/A", "NONE", "PARTITION_LIMIT"}
_MEMORY_RE = re.compile(r"(\d+(?:\.\d+)?|\.\d+)([KMGTP]?)", re.IGNORECASE)


def parse_exit_code(text: str) -> tuple[int | None, int | None]:
    """``"3:0"`` -> ``(3, None)``; ``"0:9"`` -> ``(None, 9)``; ``""`` -> ``(None, None)``.

    Slurm prints ``code:signal``.  As elsewhere in lrms, a process killed by a
    signal has no exit code.
    """
    if not text.strip():
        return None, None
    match = _EXIT_RE.fullmatch(text.strip())
    if not match:
        raise ValueError(f"invalid Slurm exit code {text!r}: expected 'code:signal' like '3:0'")
    code, sig = int(match.group(1)), int(match.group(2))
    return (None, sig) if sig else (code, None)


def parse_slurm_duration(text: str) -> Duration | None:
    """Slurm times: ``[D-]HH:MM:SS[.fff]``, ``MM:SS[.fff]``, ``D-HH[:MM]``.

    ``UNLIMITED``, ``INVALID``, ``NOT_SET``, ``N/A`` and empty give None.
    """
    stripped = text.strip()
    if stripped.upper() in _NO_DURATION:
        return None
    match = _DURATION_RE.fullmatch(stripped)
    parts = match.group(2).split(":") if match else []
    days, fraction = (match.group(1), match.group(3)) if match else (None, None)
    # Without days a lone number is ambiguous (Slurm input reads it as minutes,
    # nothing prints it); a fraction belongs only to seconds.
    if not match or (not days and len(parts) == 1) or (fraction and days and len(parts) < 3):
        raise ValueError(f"invalid Slurm duration {text!r}: expected [D-]HH:MM:SS or MM:SS.fff")
    units = (3600, 60, 1)[: len(parts)] if days else (3600, 60, 1)[-len(parts):]
    seconds = sum(int(part) * unit for part, unit in zip(parts, units, strict=True))
    return Duration(int(days or 0) * 86400 + seconds + float(fraction or 0))


def parse_slurm_memory(text: str) -> Memory | None:
    """Slurm sizes: ``123K``, ``1.5G``, ``0``; ``K/M/G/T/P`` are binary, no suffix is bytes.

    Empty gives None.  Per-node/per-CPU suffixes (``12000Mn``) are rejected.
    """
    stripped = text.strip()
    if not stripped:
        return None
    match = _MEMORY_RE.fullmatch(stripped)
    if not match:
        raise ValueError(f"invalid Slurm memory size {text!r}: expected e.g. '71180K' or '1.5G'")
    return Memory.from_units(float(match.group(1)), match.group(2))


def parse_sbatch_id(text: str) -> str:
    """The job id from ``sbatch --parsable`` (``123`` or ``123;cluster``).

    Also takes ``Submitted batch job 123``.  Other lines (warnings) are
    skipped; the cluster name is dropped.
    """
    for line in reversed(text.splitlines()):
        match = re.fullmatch(r"(\d+)(?:;\S+)?|Submitted batch job (\d+)(?: on cluster \S+)?",
                             line.strip())
        if match:
            return match.group(1) or match.group(2)
    raise ValueError(f"no job id in sbatch output {text.strip()!r}")


def parse_max_array_size(text: str) -> int:
    """MaxArraySize from ``scontrol show config`` (``MaxArraySize = 1001``): an array's
    task indices are 0 to MaxArraySize - 1.  :class:`ValueError` if it is missing."""
    match = re.search(r"^MaxArraySize\s*=\s*(\d+)\s*$", text, re.MULTILINE)
    if not match:
        raise ValueError("scontrol show config shows no MaxArraySize")
    if int(match.group(1)) == 0:
        raise ValueError("this cluster runs no job arrays (MaxArraySize = 0)")
    return int(match.group(1))


def expand_array_id(native_id: str) -> list[str]:
    """``"123_[1-3,7%2]"`` -> ``["123_1", "123_2", "123_3", "123_7"]``; other ids as they are.

    ``%N`` is the array's concurrency limit, not a task id; ``1-9:2`` steps by 2.
    """
    match = re.fullmatch(r"(\w+)_\[([^\]]*)\]", native_id.strip())
    if not match:
        return [native_id]
    base, spec = match.group(1), match.group(2).split("%")[0]
    tasks: list[str] = []
    for item in filter(None, spec.split(",")):
        bounds = re.fullmatch(r"(\d+)(?:-(\d+)(?::(\d+))?)?", item)
        if not bounds:
            raise ValueError(f"invalid Slurm array range {native_id!r}")
        first, last, step = bounds.group(1), bounds.group(2), bounds.group(3)
        stop = int(last) if last else int(first)
        tasks += [f"{base}_{n}" for n in range(int(first), stop + 1, int(step or 1))]
    return tasks


# --- states ---------------------------------------------------------------

def _is_hold(reason: str) -> bool:
    return "held" in reason.lower() or reason in _HOLD_REASONS


def slurm_state(
    raw: str, reason: str = "", exitcode: int | None = None, signal: int | None = None,
) -> tuple[State, TerminationReason | None, str | None]:
    """Map a Slurm state (long or compact) and its reason to (state, reason, message).

    FAILED is SIGNALLED with a signal, EXITED with an exit code, and UNKNOWN
    with neither (squeue prints no exit code).
    """
    words = raw.strip().split()
    word = words[0].rstrip("+").upper() if words else ""
    word = COMPACT_STATES.get(word, word)
    reason = reason.strip()
    note = None if reason in _NO_REASON else reason
    if word not in STATES:
        said = f"unknown Slurm state {raw.strip()!r}" if word else "Slurm printed no state"
        return State.UNKNOWN, None, said
    state, why = STATES[word]
    if word == "COMPLETED":
        note = None
    elif word == "CANCELLED" and len(words) == 3 and words[1] == "by":
        note = f"cancelled by uid {words[2]}"
    elif word in _NOTES:
        note = _NOTES[word] if note is None else f"{_NOTES[word]}: {note}"
    if state == State.SUBMITTED and note and _is_hold(note):
        state = State.STOPPED
    if word == "FAILED":
        why = Why.SIGNALLED if signal else Why.EXITED if exitcode is not None else Why.UNKNOWN
    return state, why, note


def _report(
    native_id: str, raw: str, reason: str, exit_status: tuple[int | None, int | None], *,
    walltime: Duration | None = None, cputime: Duration | None = None,
    max_memory: Memory | None = None, notes: list[str],
) -> JobReport:
    """Build one report; ``notes`` (fields that did not parse) join the message."""
    exitcode, sig = exit_status
    state, why, message = slurm_state(raw, reason, exitcode, sig)
    if why == Why.WALLTIME_EXCEEDED and exit_status == TIMEOUT_MARK:
        exitcode = sig = None  # Slurm's mark of a job it ended at its time limit, not SIGHUP
    if state != State.TERMINATED or (why not in _EXITS and (exitcode, sig) == (0, None)):
        exitcode = sig = None  # 0:0 of a job that was ended (or never ran): no exit status
    elif raw.strip() in ("COMPLETED", "CD") and exitcode is None and sig is None:
        exitcode = 0  # COMPLETED means every step exited 0
    return JobReport(
        native_id=native_id, state=state, raw_state=raw.strip(), exitcode=exitcode,
        signal=sig, reason=why, walltime=walltime, cputime=cputime, max_memory=max_memory,
        message="; ".join(filter(None, [message, *notes])) or None,
    )


def _tolerant(parse: Callable[[str], _T], text: str, notes: list[str]) -> _T | None:
    """``parse(text)``, or None with the error added to ``notes``."""
    try:
        return parse(text)
    except ValueError as err:
        notes.append(str(err))
        return None


def _exit_status(text: str, notes: list[str]) -> tuple[int | None, int | None]:
    return _tolerant(parse_exit_code, text, notes) or (None, None)


# --- squeue ---------------------------------------------------------------

_SQUEUE_TOKEN = re.compile(r"%\.?\d*([A-Za-z])")


def parse_squeue(text: str, fmt: str = SQUEUE_FORMAT) -> list[JobReport]:
    """Reports from ``squeue --noheader --format=FMT`` output, one per line.

    ``fmt`` names the columns: ``%i``/``%A`` job id, ``%T``/``%t`` state,
    ``%r`` reason, ``%R`` reason in parentheses (or a node list), ``%M``
    time used; other columns are skipped.  squeue prints no exit code.
    """
    codes = _SQUEUE_TOKEN.findall(fmt)
    literals = _SQUEUE_TOKEN.split(fmt)[::2]  # text before, between and after the tokens
    if not {"i", "A"} & set(codes) or not {"T", "t"} & set(codes):
        raise ValueError(f"squeue format {fmt!r} needs a job id (%i) and a state (%T)")
    reports = []
    for line in text.splitlines():
        if not line.strip():
            continue
        values = dict(zip(codes, _split_by_literals(line, literals), strict=True))
        reason = values.get("r", "")
        nodes_or_reason = values.get("R", "")
        if not reason and nodes_or_reason.startswith("(") and nodes_or_reason.endswith(")"):
            reason = nodes_or_reason[1:-1]
        notes: list[str] = []
        walltime = _tolerant(parse_slurm_duration, values.get("M", ""), notes)
        reports.append(_report(values.get("i") or values["A"], values.get("T") or values["t"],
                               reason, (None, None), walltime=walltime, notes=notes))
    return reports


def _split_by_literals(line: str, literals: list[str]) -> list[str]:
    """Cut ``line`` at each separator in turn; the last column keeps any extra text."""
    prefix, *separators, suffix = literals
    rest = line.rstrip("\n")
    if not rest.startswith(prefix) or not rest.endswith(suffix):
        raise ValueError(f"squeue line {line!r} does not match its format")
    rest = rest[len(prefix):len(rest) - len(suffix)]
    values = []
    for separator in separators:
        if not separator:
            raise ValueError("squeue format needs a separator between columns, e.g. '%i|%T'")
        value, found, rest = rest.partition(separator)
        if not found:
            raise ValueError(f"squeue line {line!r} has fewer columns than its format")
        values.append(value.strip())
    return [*values, rest.strip()]


# --- sacct ----------------------------------------------------------------

def parse_sacct(text: str, fields: str = SACCT_FIELDS, delimiter: str = "|") -> list[JobReport]:
    """One report per job from ``sacct --parsable2`` output (``--parsable`` works too).

    A header line (``JobID|...``) overrides ``fields``.  State, exit code and
    elapsed time come from the job line; when it says ``0:0`` but its batch
    step was signalled (a cancelled job), the step's signal is used.  CPU time
    is the job line's TotalCPU (Slurm's sum over steps), else the steps' sum.
    Max memory is the largest MaxRSS of the job, ``.batch`` and ``.N`` steps;
    ``.extern`` is ignored.  Array tasks keep their ids (``123_4``,
    ``123_[5-9%2]``).
    """
    lines = [line for line in text.splitlines() if line.strip()]
    names = [name.strip().lower() for name in fields.split(",")]
    if lines and lines[0].split(delimiter)[0].strip().lower() in ("jobid", "jobidraw"):
        names = [name.strip().lower() for name in lines.pop(0).split(delimiter)]
        if names and names[-1] == "":
            names.pop()  # --parsable ends the header with a delimiter too
    id_column = "jobid" if "jobid" in names else "jobidraw"
    if id_column not in names:
        raise ValueError(f"sacct fields {fields!r} need JobID")
    groups: dict[str, dict[str, dict[str, str]]] = {}
    for line in lines:
        values = line.split(delimiter)
        if len(values) == len(names) + 1 and values[-1] == "":
            values.pop()  # --parsable: every line ends with the delimiter
        if len(values) > len(names):  # a delimiter inside the last (free-text) column
            values[len(names) - 1:] = [delimiter.join(values[len(names) - 1:])]
        if len(values) < len(names):
            raise ValueError(f"sacct line {line!r} has {len(values)} fields, "
                             f"expected {len(names)} ({','.join(names)})")
        row = {name: value.strip() for name, value in zip(names, values, strict=True)}
        job, _, step = row[id_column].partition(".")
        if step not in ("extern", "ext+"):
            groups.setdefault(job, {})[step] = row
    return [_sacct_job(job, steps) for job, steps in groups.items()]


def _sacct_job(job: str, steps: dict[str, dict[str, str]]) -> JobReport:
    notes: list[str] = []
    main = steps.get("") or steps.get("batch") or next(iter(steps.values()))
    batch = steps.get("batch", {})
    rss = [_tolerant(parse_slurm_memory, row.get("maxrss", ""), notes) for row in steps.values()]
    peaks = [value for value in rss if value is not None]
    exit_status = _exit_status(main.get("exitcode", ""), notes)
    batch_status = _exit_status(batch.get("exitcode", ""), notes) if batch is not main \
        else exit_status
    if exit_status in ((0, None), TIMEOUT_MARK) and batch_status[1]:
        exit_status = batch_status  # cancelled or timed out: job line 0:0 or 0:1, .batch 0:15
    cputime = _tolerant(parse_slurm_duration, main.get("totalcpu", ""), notes)
    if cputime is None:
        step_cpu = [_tolerant(parse_slurm_duration, row.get("totalcpu", ""), notes)
                    for name, row in steps.items() if name]
        known = [duration for duration in step_cpu if duration is not None]
        cputime = sum(known[1:], known[0]) if known else None
    return _report(
        job, main.get("state", ""), main.get("reason", ""), exit_status,
        walltime=_tolerant(parse_slurm_duration, main.get("elapsed", ""), notes),
        cputime=cputime, max_memory=max(peaks) if peaks else None, notes=notes,
    )


# --- scontrol show job ----------------------------------------------------

# Keys scontrol prints alone on a line; their values may contain spaces and '='.
_WHOLE_LINE_KEYS = ("Command=", "WorkDir=", "StdErr=", "StdIn=", "StdOut=", "Comment=",
                    "AdminComment=", "SystemComment=")
_KEY_RE = re.compile(r"(?:^|(?<=\s))([^\s=]+)=")


def parse_scontrol_show_job(text: str) -> list[JobReport]:
    """One report per ``JobId=`` block of ``scontrol show job`` output.

    Uses JobState, Reason, ExitCode and RunTime; array tasks are named
    ``ArrayJobId_ArrayTaskId`` (``123_4``, ``123_[5-9%2]``).
    """
    return [_scontrol_job(block) for block in _scontrol_blocks(text)]


def _scontrol_blocks(text: str) -> list[dict[str, str]]:
    blocks: list[dict[str, str]] = []
    for raw_line in text.splitlines():
        line = raw_line.strip()
        if line.startswith("JobId="):
            blocks.append({})
            line, _, name = line.partition(" JobName=")  # the name may hold spaces and '='
            blocks[-1]["JobName"] = name
        elif not line or line == "No jobs in the system":
            continue
        elif not blocks:
            raise ValueError(f"scontrol show job output does not start with JobId=: {line!r}")
        if line.startswith(_WHOLE_LINE_KEYS):
            name, _, value = line.partition("=")
            blocks[-1][name] = value
            continue
        keys = list(_KEY_RE.finditer(line))
        if not keys:
            raise ValueError(f"scontrol show job line without Key=Value: {line!r}")
        ends = [key.start() for key in keys[1:]] + [len(line)]
        for key, end in zip(keys, ends, strict=True):
            blocks[-1][key.group(1)] = line[key.end():end].strip()
    return blocks


def _scontrol_job(fields: dict[str, str]) -> JobReport:
    native_id = fields["JobId"]
    array_job, task = fields.get("ArrayJobId", ""), fields.get("ArrayTaskId", "")
    if array_job and task:
        native_id = f"{array_job}_{task}" if task.isdigit() else f"{array_job}_[{task}]"
    notes: list[str] = []
    walltime = _tolerant(parse_slurm_duration, fields.get("RunTime", ""), notes)
    return _report(native_id, fields.get("JobState", ""), fields.get("Reason", ""),
                   _exit_status(fields.get("ExitCode", ""), notes), walltime=walltime,
                   notes=notes)


# --- arrays ---------------------------------------------------------------

_LIVE_ORDER = (State.RUNNING, State.SUBMITTED, State.STOPPED, State.UNKNOWN)


def merge_array(native_id: str, tasks: Sequence[JobReport]) -> JobReport:
    """One report for array ``native_id`` from its tasks' reports (``123_4``, ``123_[5-9]``).

    While a task is unfinished the array is RUNNING if one runs, else
    SUBMITTED if one waits, else STOPPED (all held).  Once all have ended, the
    outcome is that of the first task that did not exit 0; walltime and
    memory are the largest of the tasks', CPU time their sum.  The message
    counts the tasks by state.
    """
    counts: Counter[str] = Counter()
    for task in tasks:
        counts[task.raw_state.split(" ")[0] or "?"] += len(expand_array_id(task.native_id))
    message = "array tasks: " + ", ".join(f"{n} {word}" for word, n in sorted(counts.items()))
    live = {task.state for task in tasks if task.state != State.TERMINATED}
    if live:
        return JobReport(native_id, next(s for s in _LIVE_ORDER if s in live), message=message)
    worst = next((t for t in tasks if (t.reason, t.exitcode) != (Why.EXITED, 0)), tasks[0])
    walltimes = [t.walltime for t in tasks if t.walltime is not None]
    cputimes = [t.cputime for t in tasks if t.cputime is not None]
    memories = [t.max_memory for t in tasks if t.max_memory is not None]
    return JobReport(
        native_id, State.TERMINATED, worst.raw_state, worst.exitcode, worst.signal, worst.reason,
        walltime=max(walltimes) if walltimes else None,
        cputime=sum(cputimes[1:], cputimes[0]) if cputimes else None,
        max_memory=max(memories) if memories else None, message=message)


def index_reports(reports: Iterable[JobReport]) -> dict[str, JobReport]:
    """Reports by every job id they answer for.

    A line answers for its own id and, for a pending range ``123_[5-9]``, for
    each task in it; an array's id (``123``) gets its tasks merged by
    :func:`merge_array` unless a line of its own exists.
    """
    index: dict[str, JobReport] = {}
    tasks: dict[str, list[JobReport]] = {}
    for report in reports:
        for task in expand_array_id(report.native_id):
            index[task] = report
        index[report.native_id] = report
        array, sep, _ = report.native_id.partition("_")
        if sep:
            tasks.setdefault(array, []).append(report)
    for array, members in tasks.items():
        index.setdefault(array, merge_array(array, members))
    return index


# --- load -----------------------------------------------------------------

class PartitionLoad(NamedTuple):
    """What sinfo says of one partition: CPUs by state, GPUs in all and in use."""

    partition: str
    cpus_allocated: int
    cpus_idle: int
    cpus_other: int
    cpus_total: int
    gpus_total: int
    gpus_allocated: int


def parse_sinfo(text: str, partition: str | None = None) -> PartitionLoad:
    """The load of ``partition`` (None: the default one, marked ``*``) from
    ``sinfo --noheader --Format=SINFO_FORMAT`` output, its lines summed.

    :class:`ValueError` if no line is the partition's or one is malformed.
    """
    name, sums, found = partition or "", [0] * 6, False
    for line in text.splitlines():
        if not line.strip():
            continue
        fields = [field.strip() for field in line.split("|")]
        if len(fields) != 5:
            raise ValueError(f"sinfo line {line!r} does not have the 5 fields of "
                             f"{SINFO_FORMAT!r}")
        listed, cpus, nodes, gres, used = fields
        if not (listed.rstrip("*") == partition or (partition is None and listed.endswith("*"))):
            continue
        counts = cpus.split("/")
        if len(counts) != 4 or not all(c.isdigit() for c in counts) or not nodes.isdigit():
            raise ValueError(f"invalid sinfo CPU counts {cpus!r} (expected A/I/O/T) or node "
                             f"count {nodes!r} in {line!r}")
        per_node = (gpu_count(gres), gpu_count(used))
        values = [*map(int, counts), *(int(nodes) * gpus for gpus in per_node)]
        sums = [total + value for total, value in zip(sums, values, strict=True)]
        name, found = listed.rstrip("*"), True
    if not found:
        which = f"partition {partition!r}" if partition else "a default partition (marked *)"
        raise ValueError(f"sinfo lists no {which}: {text.strip()!r}")
    allocated, idle, other, total, gpus, gpus_used = sums
    return PartitionLoad(name, allocated, idle, other, total, gpus, gpus_used)


_GRES_DETAIL = re.compile(r"\([^)]*\)")  # (S:0-1), (IDX:0,2)


def gpu_count(gres: str) -> int:
    """GPUs in a node's ``Gres``/``GresUsed`` (``gpu:2``, ``gpu:a100:1(IDX:0),mps:0``).

    ``(null)`` and other resources count 0.  :class:`ValueError` if a GPU entry's
    count is not a number.
    """
    total = 0
    for item in _GRES_DETAIL.sub("", gres).split(","):
        name, _, rest = item.strip().partition(":")
        if name != "gpu":
            continue
        count = rest.rpartition(":")[2]
        if not rest or (":" not in rest and not count.isdigit()):
            count = "1"  # gpu, gpu:TYPE: one
        elif not count.isdigit():
            raise ValueError(f"invalid GPU count in sinfo GRES {gres!r}")
        total += int(count)
    return total


# Unfinished states whose jobs hold their nodes; the others still wait in the queue.
_ALLOCATED = {"RUNNING", "COMPLETING", "STAGE_OUT", "SIGNALING", "RESIZING", "SUSPENDED",
              "STOPPED"}


def count_jobs(text: str, user: str) -> tuple[int, int, int, int]:
    """``(queued, running, user_queued, user_running)`` from ``squeue --format=%t|%u``.

    Running counts jobs holding nodes (running, completing, suspended);
    queued counts the waiting ones, held included.  Finished jobs are skipped.
    """
    queued = running = user_queued = user_running = 0
    for line in text.splitlines():
        code, sep, owner = line.strip().partition("|")
        word = COMPACT_STATES.get(code, code)
        if not sep or STATES.get(word, (State.TERMINATED,))[0] == State.TERMINATED:
            continue
        if word in _ALLOCATED:
            running += 1
            user_running += owner == user
        else:
            queued += 1
            user_queued += owner == user
    return queued, running, user_queued, user_running
