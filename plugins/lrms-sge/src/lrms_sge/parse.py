"""Parse Grid Engine command output into lrms terms (pure functions, no I/O).

Written against Son of Grid Engine 8.1.9 (the project's CI cell) and checked
on recorded output of older Sun Grid Engine 6.x and other 8.1.x sites; see
``tests/data/SOURCES.md``.

Job states (``qstat`` ``state`` letters, sge_status(5)).  A state word is a
combination of letters; the first matching row wins:

==========================  =============  ===========================================
letters in the word         lrms State     message
==========================  =============  ===========================================
any letter not listed here  UNKNOWN        ``unknown Grid Engine state 'X'``
``d`` (dr, dt, dRr, ds ...) TERMINATING    ``deletion in progress``
``E`` (Eqw, Ehqw, EhRqw)    STOPPED        ``error`` (the why: :func:`parse_qstat_j`)
``z``                       TERMINATED     ``finished`` (reason UNKNOWN: ask ``qacct``)
``s`` / ``S`` / ``T``       STOPPED        ``suspended`` / ``... (queue suspended)`` /
                                           ``... (suspend threshold)``
``r`` or ``t`` (r, hr, Rr)  RUNNING        none
``h`` (hqw, hRwq)           STOPPED        ``held``
``q`` / ``w`` (qw, Rq)      SUBMITTED      none
==========================  =============  ===========================================

``R`` (restarted) only qualifies other letters (alone it is UNKNOWN).  A job in
error is never SUBMITTED: Grid Engine will not run it until someone clears the
error (``qmod -cj``).

Ids: a plain job is ``"123"``; an array task is ``"<job>.<task>"`` (``"123.4"``),
the form ``qdel``/``qmod -sj`` accept and the one :func:`parse_qacct` builds from
``jobnumber``/``taskid``, so one task keeps one id from pending to finished.  A
pending task range (``<tasks>5-10:1</tasks>``) is expanded into one report per
task (Grid Engine itself caps array size at ``max_aj_tasks``, 75000 by default).

``failed`` codes of ``qacct`` (sge_status(5)) and how :func:`parse_qacct` reads
them, with ``exit_status`` (``es``) and the limits in ``category`` (``-l h_rt=..``):

=============================  =================================================
failed                         outcome (State TERMINATED unless said otherwise)
=============================  =================================================
0 no failure                   EXITED, exitcode = es (also when es > 128: a job
                               that itself dies of a signal is recorded as
                               failed 100, see below, so es here is the script's
                               own exit code, e.g. a shell passing on a child's
                               death)
1-11 before job / prolog /     SUBMISSION_FAILED (never ran); exitcode None
pestart, 26 output file,
27 shell, 28 working
directory, 29 AFS, 31-36
Windows/helper, 38 groups
12-16 after the job ran        as for 0 (the job's own result is valid, the
(pestop, epilog, procset)      failure is named in the message)
17 through signal              CANCELLED ("possibly qdel"), signal = es - 128
18-21 shepherd / exit status   NODE_FAILURE
lost, unknown job
24 migrating, 25 rescheduling  State SUBMITTED: Grid Engine will run it again
30 application error (exit     EXITED, exitcode = es (the job is also put in
100)                           error state, Eqw)
37 qmaster enforced h_rt,      WALLTIME_EXCEEDED, or MEMORY_EXCEEDED when the
h_cpu or h_vmem                evidence (see below) or the only limit asked for
                               is h_vmem; signal = es - 128
100 assumedly after job        with es = 128 + N: a limit with evidence ->
                               WALLTIME_EXCEEDED / MEMORY_EXCEEDED; else N = 9
                               (SIGKILL) -> CANCELLED (what ``qdel`` of a running
                               job records; a job killed with SIGKILL by anyone
                               else, e.g. the OOM killer, looks the same); other
                               N -> SIGNALLED.  es <= 128 -> NODE_FAILURE
                               (shepherd died, node crash)
anything else                  reason UNKNOWN, the failed text in the message
=============================  =================================================

Limit evidence: ``ru_wallclock >= h_rt``, ``cpu >= 0.9 * h_cpu`` or ``maxvmem >=
0.9 * h_vmem`` (Grid Engine kills at or just after a limit; RLIMIT enforcement
stops memory just short of it).  ``h_vmem`` hit through ``setrlimit`` usually
makes the program fail its allocation and exit by itself (failed 0): that is
EXITED, as Grid Engine records nothing more.  On the CI cell a job over ``h_rt``
records ``failed 37``, one over ``h_cpu`` ``failed 100`` / 137.

Units: SoGE 8.1.x ``qacct`` writes ``43s``, ``5.867MB``, ``0.000B``; Sun GE 6.x
wrote bare seconds and bytes with a bare ``K``/``M``/``G`` (``13.152M``).  Both
come from Grid Engine's ``double_print_memory_to_dstring``, which divides by
1024: **K/M/G/T are binary** (``5.867MB`` = 5.867 MiB) in ``qacct`` and in
``qstat -j`` usage.  In requests (``h_vmem=10G`` in ``category``) sge_types(1)
rules apply: ``k``/``m``/``g`` are powers of 1000, ``K``/``M``/``G`` of 1024.

Malformed input raises :class:`ValueError` naming the problem; an unknown word
inside well-formed output gives a State.UNKNOWN report with a message instead.
"""

from __future__ import annotations

import dataclasses
import itertools
import re
import sys
import xml.etree.ElementTree as ET

from lrms import Duration, Memory, State, TerminationReason
from lrms.report import JobReport

__all__ = [
    "JobCounts",
    "QstatJobInfo",
    "Usage",
    "expand_task_ranges",
    "map_state",
    "parse_cluster_slots",
    "parse_free_consumable",
    "parse_job_counts",
    "parse_max_aj_tasks",
    "parse_qacct",
    "parse_qacct_accounts",
    "parse_qstat_j",
    "parse_qstat_xml",
    "parse_qsub_terse",
    "qacct_outcome",
]

# ---------------------------------------------------------------------------------------
# job states

_STATE_LETTERS = frozenset("dEhrRsStTqwz")
_SUSPEND_MESSAGES = {
    "s": "suspended",
    "S": "suspended (queue suspended)",
    "T": "suspended (suspend threshold)",
}


def map_state(word: str) -> tuple[State, str | None]:
    """A ``qstat`` state word (``qw``, ``hqw``, ``Eqw``, ``dr`` ...) -> (State, message)."""
    word = word.strip()
    unknown = sorted(set(word) - _STATE_LETTERS)
    if not word or unknown:
        return State.UNKNOWN, f"unknown Grid Engine state {word!r}"
    if "d" in word:
        return State.TERMINATING, "deletion in progress"
    if "E" in word:
        return State.STOPPED, "error"
    if "z" in word:
        return State.TERMINATED, "finished"
    for letter, message in _SUSPEND_MESSAGES.items():
        if letter in word:
            return State.STOPPED, message
    if "r" in word or "t" in word:
        return State.RUNNING, None
    if "h" in word:
        return State.STOPPED, "held"
    if "q" in word or "w" in word:
        return State.SUBMITTED, None
    return State.UNKNOWN, f"unknown Grid Engine state {word!r}"  # e.g. "R" alone


# ---------------------------------------------------------------------------------------
# task ranges and ids

_MAX_TASKS = 1_000_000
_RANGE_RE = re.compile(r"^(\d+)(?:-(\d+)(?::(\d+))?)?$")


def expand_task_ranges(spec: str) -> list[int]:
    """``"1-10:2,15"`` -> ``[1, 3, 5, 7, 9, 15]`` (Grid Engine task range syntax)."""
    tasks: list[int] = []
    for part in spec.split(","):
        match = _RANGE_RE.match(part.strip())
        if not match:
            raise ValueError(f"invalid Grid Engine task range {spec!r}")
        first = int(match.group(1))
        last = int(match.group(2) or first)
        step = int(match.group(3) or 1)
        if step < 1 or last < first:
            raise ValueError(f"invalid Grid Engine task range {spec!r}")
        if len(tasks) + (last - first) // step + 1 > _MAX_TASKS:
            raise ValueError(f"Grid Engine task range {spec!r} has more than {_MAX_TASKS} tasks")
        tasks.extend(range(first, last + 1, step))
    return tasks


_TERSE_RE = re.compile(r"^(\d+)(?:\.(\d+)-(\d+):(\d+))?$")
_VERBOSE_RE = re.compile(r"^Your job(?:-array)? (\d+(?:\.\d+-\d+:\d+)?) .*has been submitted")


def parse_qsub_terse(text: str) -> str:
    """The job id ``qsub -terse`` printed: ``"123"``, or ``"123.1-10:1"`` for an array.

    Warning lines around it are ignored; the non-terse ``Your job 123 ("x") has
    been submitted`` is accepted too.  No id -> :class:`ValueError`.
    """
    for line in reversed(text.splitlines()):
        line = line.strip()
        if _TERSE_RE.match(line):
            return line
        verbose = _VERBOSE_RE.match(line)
        if verbose:
            return verbose.group(1)
    raise ValueError(f"no job id in qsub output: {text.strip()[:300]!r}")


_MAX_AJ_TASKS = re.compile(r"^max_aj_tasks\s+(\S+)\s*$", re.MULTILINE)


def parse_max_aj_tasks(text: str) -> int:
    """The most tasks one array may have, from ``qconf -sconf``'s ``max_aj_tasks`` (0 means
    no limit: :data:`sys.maxsize`)."""
    match = _MAX_AJ_TASKS.search(text)
    if not match or not match.group(1).isdigit():
        raise ValueError(f"no max_aj_tasks in qconf -sconf output: {text.strip()[:200]!r}")
    return int(match.group(1)) or sys.maxsize


# ---------------------------------------------------------------------------------------
# qstat -xml

def _xml_root(text: str, what: str) -> ET.Element:
    try:
        # Output of the scheduler's own client, not of a stranger; expat >= 2.4.1
        # (CPython's) refuses entity-expansion bombs, and no external entities load.
        return ET.fromstring(text.strip())  # noqa: S314
    except ET.ParseError as exc:
        raise ValueError(
            f"{what} output is not valid XML ({exc}): {text.strip()[:200]!r}") from None


def _qstat_jobs(text: str) -> list[tuple[str, list[JobReport]]]:
    """(owner, reports) of every ``job_list`` element, in document order."""
    root = _xml_root(text, "qstat -xml")
    if root.tag != "job_info":
        raise ValueError(f"qstat -xml output has root <{root.tag}>, not <job_info>")
    jobs: list[tuple[str, list[JobReport]]] = []
    for job in root.iter("job_list"):
        number = (job.findtext("JB_job_number") or "").strip()
        if not number.isdigit():
            raise ValueError(f"qstat -xml job_list without a valid JB_job_number: {number!r}")
        raw_state = (job.findtext("state") or "").strip()
        state, message = map_state(raw_state)
        tasks = (job.findtext("tasks") or "").strip()
        ids = [f"{number}.{task}" for task in expand_task_ranges(tasks)] if tasks else [number]
        reason = TerminationReason.UNKNOWN if state == State.TERMINATED else None
        jobs.append(((job.findtext("JB_owner") or "").strip(), [
            JobReport(native_id=native_id, state=state, raw_state=raw_state, reason=reason,
                      message=message) for native_id in ids]))
    return jobs


def parse_qstat_xml(text: str) -> list[JobReport]:
    """Every job (array task) in ``qstat -xml`` or ``qstat -f -xml`` output.

    Running jobs (``queue_info``, or each ``Queue-List`` with ``-f``) come
    before pending ones (``job_info``), in Grid Engine's order.  ``raw_state``
    is the state word; see the state table in this module's docstring.
    """
    return [report for _, reports in _qstat_jobs(text) for report in reports]


@dataclasses.dataclass(frozen=True)
class JobCounts:
    """Jobs (array tasks) running and queued, everyone's and one user's."""

    running: int
    queued: int
    user_running: int
    user_queued: int


def parse_job_counts(text: str, user: str) -> JobCounts:
    """Count the RUNNING and SUBMITTED tasks of ``qstat [-f] -xml -u '*'`` output.

    Held, suspended, error and deleted tasks count in neither.  ``user`` is
    matched against ``JB_owner``.
    """
    counts = {"running": 0, "queued": 0, "user_running": 0, "user_queued": 0}
    for owner, reports in _qstat_jobs(text):
        for report in reports:
            kind = {State.RUNNING: "running", State.SUBMITTED: "queued"}.get(report.state)
            if kind:
                counts[kind] += 1
                if owner == user:
                    counts[f"user_{kind}"] += 1
    return JobCounts(**counts)


_UNUSABLE_QUEUE = frozenset("uEdDsSCco")


def parse_cluster_slots(text: str) -> tuple[int, int]:
    """``(used, total)`` slots from ``qstat -f -xml``, over usable queue instances.

    Sums ``slots_used + slots_resv`` (reserved slots are not free) and
    ``slots_total`` of every ``Queue-List`` whose ``state`` has none of
    ``u E d D s S C c o`` (unreachable, error, disabled, suspended, ambiguous,
    orphaned): jobs cannot start there.  Hosts in several queues count once
    per queue instance, as in ``qstat -g c``.
    """
    root = _xml_root(text, "qstat -f -xml")
    used = total = 0
    for queue in root.iter("Queue-List"):
        if set((queue.findtext("state") or "").strip()) & _UNUSABLE_QUEUE:
            continue
        try:
            used += int(queue.findtext("slots_used") or 0) + int(queue.findtext("slots_resv") or 0)
            total += int(queue.findtext("slots_total") or 0)
        except ValueError:
            name = queue.findtext("name")
            raise ValueError(f"qstat -f -xml: non-numeric slot count in queue {name!r}") from None
    return used, total


def parse_free_consumable(text: str, name: str) -> int | None:
    """What is left of consumable ``name`` on the usable hosts, from ``qstat -f -F NAME -xml``
    (None if no queue instance shows it).

    Each ``Queue-List`` shows ``<resource name=NAME>`` with the amount still free to it
    (a host's, or a queue's if lower); a host in several queues counts once, with the
    least it shows.
    """
    root = _xml_root(text, "qstat -f -F -xml")
    free: dict[str, float] = {}
    for queue in root.iter("Queue-List"):
        if set((queue.findtext("state") or "").strip()) & _UNUSABLE_QUEUE:
            continue
        host = (queue.findtext("name") or "").partition("@")[2]
        for resource in queue.iter("resource"):
            if resource.get("name") == name:
                try:
                    value = float(resource.text or "")
                except ValueError:
                    raise ValueError(f"qstat -f -F {name} -xml: non-numeric value "
                                     f"{resource.text!r} in {queue.findtext('name')!r}") from None
                free[host] = min(value, free.get(host, value))
    return int(sum(free.values())) if free else None


# ---------------------------------------------------------------------------------------
# units

def _usage_memory(text: str) -> Memory | None:
    """``5.867MB``, ``13.152M``, ``0.000B``, ``0.000`` -> Memory; N/A -> None."""
    try:
        return Memory.from_sge(text)
    except ValueError:
        return None


def _seconds(text: str) -> float | None:
    """``43s``, ``10``, ``0.248``, ``00:01:00``, ``1:02:03:04`` (d:h:m:s) -> seconds."""
    duration = _duration(text)
    return None if duration is None else duration.seconds


def _duration(text: str) -> Duration | None:
    try:
        return Duration.from_sge(text)
    except ValueError:
        return None


def _request_bytes(text: str) -> float | None:
    """A memory request in sge_types(1) syntax (``10G`` binary, ``10g`` decimal)."""
    memory = _usage_memory(text)
    return None if memory is None else float(memory.bytes)


def _category_limits(category: str) -> dict[str, str]:
    """``-u x -l h_rt=4,h_vmem=10G -pe smp 2`` -> ``{"h_rt": "4", "h_vmem": "10G"}``."""
    limits: dict[str, str] = {}
    words = category.split()
    for flag, value in itertools.pairwise(words):
        if flag == "-l":
            for item in value.split(","):
                key, _, val = item.partition("=")
                limits[key.strip()] = val.strip()
    return limits


# ---------------------------------------------------------------------------------------
# qstat -j

@dataclasses.dataclass(frozen=True)
class Usage:
    """Resource usage of one task as ``qstat -j`` shows it (None: not said / N/A)."""

    walltime: Duration | None = None
    cputime: Duration | None = None
    max_memory: Memory | None = None


@dataclasses.dataclass(frozen=True)
class QstatJobInfo:
    """One job block of ``qstat -j``.

    ``fields`` maps each key to its value (continuation lines joined with a
    newline; indexed keys such as ``usage    1`` become ``"usage 1"``);
    ``errors`` and ``usage`` are keyed by task number (1 for a plain job).
    """

    job_number: str
    fields: dict[str, str]
    errors: dict[int, str]
    usage: dict[int, Usage]

    @property
    def error_reason(self) -> str | None:
        """The first task's ``error reason`` without its time stamp, or None."""
        return self.errors[min(self.errors)] if self.errors else None


_QSTAT_J_LINE = re.compile(r"^(?P<key>[^\s:][^:]*?)\s*:(?:\s+(?P<value>.*))?$")
_INDEXED_KEY = re.compile(r"^(?P<name>.*?)\s+(?P<index>\d+)$")
_ERROR_STAMP = re.compile(r"^\d\d/\d\d/\d{4} \d\d:\d\d:\d\d \[[^\]]*\]:\s*")
_SEPARATOR = re.compile(r"^={10,}\s*$")


def _parse_usage(value: str) -> Usage:
    items: dict[str, str] = {}
    for item in value.split(","):
        key, sep, val = item.partition("=")
        if sep:
            items[key.strip()] = val.strip()
    return Usage(walltime=_duration(items.get("wallclock", "")),
                 cputime=_duration(items.get("cpu", "")),
                 max_memory=_usage_memory(items.get("maxvmem", "")))


def parse_qstat_j(text: str) -> dict[str, QstatJobInfo]:
    """``qstat -j <ids>`` output -> {job number: :class:`QstatJobInfo`}.

    ``errors[task]`` holds ``error reason    N:`` texts without the leading
    ``MM/DD/YYYY HH:MM:SS [uid:pid]:`` stamp; ``usage[task]`` the ``cpu``,
    ``wallclock`` and ``maxvmem`` of ``usage    N:`` lines (binary units).
    A block starts at a ``=====`` line (or a ``job_number:`` line outside a
    block); in a block, a line that is neither ``key: value`` nor an indented
    continuation raises :class:`ValueError`.  Text without any job
    (``Following jobs do not exist``) gives an empty dict.
    """
    blocks: list[dict[str, str]] = []
    current: dict[str, str] | None = None
    last_key: str | None = None
    for line in text.splitlines():
        if _SEPARATOR.match(line):
            current, last_key = {}, None
            blocks.append(current)
            continue
        if not line.strip():
            continue
        if line[0].isspace():
            if current is not None and last_key is not None:
                current[last_key] += "\n" + line.strip()
            continue
        match = _QSTAT_J_LINE.match(line)
        key = match.group("key").strip() if match else ""
        if current is None:
            if key != "job_number":
                continue  # text outside a block, e.g. "Following jobs do not exist:"
            current = {}
            blocks.append(current)
        if not match:
            raise ValueError(f"unexpected line in qstat -j output: {line!r}")
        indexed = _INDEXED_KEY.match(key)
        if indexed:
            key = f"{indexed.group('name')} {indexed.group('index')}"
        current[key] = (match.group("value") or "").strip()
        last_key = key
    jobs: dict[str, QstatJobInfo] = {}
    for block in filter(None, blocks):
        number = block.get("job_number", "")
        if not number.isdigit():
            raise ValueError(f"qstat -j block without a valid job_number: {number!r}")
        errors: dict[int, str] = {}
        usage: dict[int, Usage] = {}
        for key, value in block.items():
            indexed = _INDEXED_KEY.match(key)
            if not indexed:
                continue
            task = int(indexed.group("index"))
            if indexed.group("name") == "error reason":
                errors[task] = _ERROR_STAMP.sub("", value)
            elif indexed.group("name") == "usage":
                usage[task] = _parse_usage(value)
        jobs[number] = QstatJobInfo(job_number=number, fields=block, errors=errors, usage=usage)
    return jobs


# ---------------------------------------------------------------------------------------
# qacct -j

_BEFORE_JOB = frozenset({*range(1, 12), 26, 27, 28, 29, 31, 32, 33, 34, 35, 36, 38})
_AFTER_JOB = frozenset(range(12, 17))
_LOST = frozenset({18, 19, 20, 21})
_FAILED_RE = re.compile(r"^(\d+)\s*(?::\s*(.*))?$")
_EXIT_RE = re.compile(r"^(\d+)\b")


def _limit_exceeded(record: dict[str, str]) -> TerminationReason | None:
    """WALLTIME_/MEMORY_EXCEEDED when usage reached a hard limit in ``category``."""
    limits = _category_limits(record.get("category", ""))
    wall, cpu = _seconds(record.get("ru_wallclock", "")), _seconds(record.get("cpu", ""))
    maxvmem = _usage_memory(record.get("maxvmem", ""))
    h_rt, h_cpu = _seconds(limits.get("h_rt", "")), _seconds(limits.get("h_cpu", ""))
    h_vmem = _request_bytes(limits.get("h_vmem", ""))
    if h_rt and wall is not None and wall >= h_rt:
        return TerminationReason.WALLTIME_EXCEEDED
    if h_cpu and cpu is not None and cpu >= 0.9 * h_cpu:
        return TerminationReason.WALLTIME_EXCEEDED
    if h_vmem and maxvmem is not None and maxvmem.bytes >= 0.9 * h_vmem:
        return TerminationReason.MEMORY_EXCEEDED
    return None


def qacct_outcome(record: dict[str, str]) -> tuple[State, TerminationReason | None,
                                                    int | None, int | None, str | None]:
    """(state, reason, exitcode, signal, message) of one ``qacct`` record.

    ``record`` maps qacct keys to values (``failed``, ``exit_status``,
    ``category``, usage); the rules are the failed-code table of this module.
    """
    failed_text = record.get("failed", "").strip()
    failed_match = _FAILED_RE.match(failed_text)
    exit_match = _EXIT_RE.match(record.get("exit_status", "").strip())
    if not failed_match or not exit_match:
        return (State.UNKNOWN, None, None, None,
                f"unreadable qacct record: failed {failed_text!r}, "
                f"exit_status {record.get('exit_status', '')!r}")
    failed, status = int(failed_match.group(1)), int(exit_match.group(1))
    note = f"failed {failed}: {failed_match.group(2) or ''}".rstrip(": ")
    signal = status - 128 if 128 < status <= 128 + 64 else None
    done = State.TERMINATED
    if failed == 0 or failed in _AFTER_JOB:
        return done, TerminationReason.EXITED, status, None, None if failed == 0 else note
    if failed == 30:
        return done, TerminationReason.EXITED, status, None, note
    if failed in _BEFORE_JOB:
        return done, TerminationReason.SUBMISSION_FAILED, None, None, note
    if failed in _LOST:
        return done, TerminationReason.NODE_FAILURE, None, signal, note
    if failed in (24, 25):
        return State.SUBMITTED, None, None, None, note
    if failed == 17:
        return done, TerminationReason.CANCELLED, None, signal, note
    if failed == 37:
        reason = _limit_exceeded(record)
        if reason is None:
            only = set(_category_limits(record.get("category", ""))) & {"h_rt", "h_cpu", "h_vmem"}
            reason = (TerminationReason.MEMORY_EXCEEDED if only == {"h_vmem"}
                      else TerminationReason.WALLTIME_EXCEEDED)
        return done, reason, None, signal, note
    if failed == 100:
        if signal is None:
            return done, TerminationReason.NODE_FAILURE, None, None, note
        reason = _limit_exceeded(record)
        if reason is None:
            reason = TerminationReason.CANCELLED if signal == 9 else TerminationReason.SIGNALLED
        return done, reason, None, signal, note
    return done, TerminationReason.UNKNOWN, None, signal, note


def _qacct_records(text: str) -> list[dict[str, str]]:
    records: list[dict[str, str]] = []
    current: dict[str, str] | None = None
    for line in text.splitlines():
        if _SEPARATOR.match(line):
            current = {}
            records.append(current)
            continue
        if current is None or not line.strip():
            continue  # text before the first record (e.g. "Total System Usage")
        key, *value = line.split(None, 1)
        current[key] = value[0].strip() if value else ""
    return records


def _raw_state(record: dict[str, str]) -> str:
    """``failed=100 exit_status=137``: qacct has no state word, these two decide."""
    failed = record.get("failed", "").partition(":")[0].strip()
    status = (record.get("exit_status", "").split() or [""])[0]
    return f"failed={failed} exit_status={status}"


def parse_qacct(text: str) -> list[JobReport]:
    """One :class:`JobReport` per ``qacct -j`` record, in the order printed.

    ``native_id`` is ``jobnumber``, or ``jobnumber.taskid`` for an array task.
    Grid Engine writes a record per attempt (a rescheduled job has several),
    oldest first: the last record of an id is its final outcome.  Usage:
    ``ru_wallclock`` -> walltime, ``cpu`` -> cputime, ``maxvmem`` -> max_memory.
    Text with no record (``error: job id 123 not found``) gives ``[]``.
    """
    reports: list[JobReport] = []
    for record in _qacct_records(text):
        number = record.get("jobnumber", "")
        if not number.isdigit():
            raise ValueError(f"qacct record without a valid jobnumber: {number!r}")
        task = record.get("taskid", "undefined")
        native_id = number if task in ("undefined", "", "0") else f"{number}.{task}"
        state, reason, exitcode, signal, message = qacct_outcome(record)
        reports.append(JobReport(
            native_id=native_id, state=state, raw_state=_raw_state(record),
            exitcode=exitcode, signal=signal, reason=reason,
            walltime=_duration(record.get("ru_wallclock", "")),
            cputime=_duration(record.get("cpu", "")),
            max_memory=_usage_memory(record.get("maxvmem", "")),
            message=message,
        ))
    return reports


def parse_qacct_accounts(text: str) -> list[tuple[str, str]]:
    """``(jobnumber, account)`` of each ``qacct -j`` record, in the order printed.

    Blocks without a job number (the summary table ``qacct -A ACCOUNT -j`` ends
    with) are skipped.
    """
    return [(record["jobnumber"], record.get("account", ""))
            for record in _qacct_records(text) if record.get("jobnumber", "").isdigit()]
