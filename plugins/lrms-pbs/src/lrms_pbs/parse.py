"""Parsers for PBS Professional / OpenPBS and Torque output: pure functions, no I/O.

``qstat -f`` text and PBS Pro ``qstat -f -F json`` become attribute dicts
(:func:`parse_qstat_f`, :func:`parse_qstat_json`); an attribute dict becomes a
:class:`~lrms.report.JobReport` (:func:`report_from_attributes`); ``tracejob``
output of a finished job becomes a report too (:func:`parse_tracejob`).
:func:`legal_job_name` and :func:`parse_qsub_id` serve submission;
:func:`parse_pbsnodes`, :func:`node_slots`, :func:`parse_queue_totals` and
:func:`count_job_states` read ``pbsnodes -a``, ``qstat -q`` and ``qstat -u`` for
the resource status.

The two dialects ("flavours") are ``"pbspro"`` (PBS Professional and OpenPBS)
and ``"torque"``.  Where they differ (negative exit codes, job-name rules) the
tables below have one entry per flavour.

Decisions (see the tables for sources):

* ``E`` (exiting) is TERMINATING: the job's processes are gone or being
  killed, but PBS is still staging out files and running the epilogue, so the
  sandbox is not final yet.  The terminal letters are ``F``/``X`` (PBS Pro)
  and ``C`` (Torque).
* ``H`` is STOPPED (message names the ``Hold_Types``), except substate 22
  (``JOB_SUBSTATE_DEPNHOLD``, the system hold PBS puts on a job waiting for a
  ``depend=`` condition) without a user/operator hold, which is SUBMITTED: it
  will start by itself, nobody has to release it.
* ``B`` (array parent, PBS Pro) is RUNNING if ``array_state_count`` shows a
  running or exiting subjob, SUBMITTED if it shows only queued ones (the rest
  expired), RUNNING if that attribute is absent (``B`` = "has begun").
* ``M`` (moved to another server, PBS Pro) is UNKNOWN: the job is no longer here.
* Exit status ``256+N`` (1 <= N <= 64) is "killed by signal N": the MoM records
  ``WTERMSIG + 0x100`` when the job's top shell itself dies of a signal (both
  dialects; Torque's ``271`` for a cancelled job is 256+15).  Every other
  non-negative status is a shell's, read by the core's one rule
  (:func:`lrms.exitstatus.split_status`: 129..192 is signal 1..64, 255 is exit
  255); PBS RG Table 11-1 reads ``128+N`` as a signal too.  A signalled report
  has ``exitcode=None`` and ``signal=N``.
* A negative exit status is the server's own ``JOB_EXEC_*`` code: no program
  exit code exists, so ``exitcode`` is None; the reason comes from the table
  and the code's name goes into ``message``.
* A signal 9/15 after the job used at least its ``Resource_List.walltime`` is
  WALLTIME_EXCEEDED (PBS kills an over-time job exactly that way); a finished
  PBS Pro job in substate 91 (``JOB_SUBSTATE_TERMINATED``: deleted) is
  CANCELLED.
* Exit status 254 stays an exit code (EXITED): the PBS RG lists it as an
  execve() failure, but a script's own ``exit 254`` cannot be told apart.
* ``tracejob``: MoM messages "<walltime|cput|mem> N exceeded limit M" and
  "deleted at request of" override a signal/non-zero exit's reason.
* ``max_memory`` is ``resources_used.mem`` (resident), else
  ``resources_used.vmem``, read by :meth:`lrms.Memory.from_pbs` (binary units,
  a word ``w`` is 8 bytes).
"""

from __future__ import annotations

import json
import re
import sys
from collections.abc import Mapping
from typing import Literal

from lrms.exitstatus import SIGNAL_MAX, split_status
from lrms.quantity import Duration, Memory
from lrms.report import JobReport
from lrms.state import State, TerminationReason

__all__ = [
    "FULL_NODE_STATES",
    "JOB_EXEC_CODES",
    "JOB_ID",
    "JOB_NAME_RULES",
    "NODE",
    "STATES",
    "UNUSABLE_NODE_STATES",
    "Flavour",
    "count_job_states",
    "decode_exit_status",
    "legal_job_name",
    "max_array_size",
    "node_gpus",
    "node_slots",
    "parse_duration",
    "parse_pbsnodes",
    "parse_qstat_f",
    "parse_qstat_json",
    "parse_qsub_id",
    "parse_queue_totals",
    "parse_size",
    "parse_tracejob",
    "report_from_attributes",
    "short_id",
    "split_tracejob",
    "tracejob_records",
]

Flavour = Literal["pbspro", "torque"]
FLAVOURS: tuple[str, ...] = ("pbspro", "torque")

#: Key under which both qstat parsers store the job id (``Job Id:`` line / JSON key).
JOB_ID = "Job_Id"

_R = TerminationReason

# ---------------------------------------------------------------------------
# Tables
# ---------------------------------------------------------------------------

#: ``job_state`` letter -> lrms state.  PBS Pro letters: PBS Professional 2024.1
#: Reference Guide (RG) "Job Attributes: job_state" and Table 8-1 (B E F H M Q R
#: S T U W X).  Torque letters: Torque 6.1.2 Admin Guide, qstat (C E H Q R T W S).
#: ``B`` and ``H`` are refined in :func:`report_from_attributes` (see module doc).
STATES: dict[str, State] = {
    "Q": State.SUBMITTED,    # queued, eligible to run or be routed
    "W": State.SUBMITTED,    # waiting for its Execution_Time (or a failed stage-in retry)
    "T": State.SUBMITTED,    # in transit to a new location
    "H": State.STOPPED,      # held (user / operator / system)
    "S": State.STOPPED,      # suspended
    "U": State.STOPPED,      # PBS Pro: suspended, workstation busy (cycle harvesting)
    "R": State.RUNNING,
    "B": State.RUNNING,      # PBS Pro array parent: at least one subjob has begun
    "E": State.TERMINATING,  # exiting after having run: stage-out, epilogue
    "F": State.TERMINATED,   # PBS Pro: finished (done, failed or deleted); history
    "X": State.TERMINATED,   # PBS Pro: subjob finished ("expired")
    "C": State.TERMINATED,   # Torque: completed (success, failure and qdel alike)
    "M": State.UNKNOWN,      # PBS Pro: moved to another server
}

#: PBS substates used here (OpenPBS src/include/job.h; same numbers in Torque's job.h).
SUBSTATE_DEPNHOLD = "22"   # held, waiting on a dependency
SUBSTATE_TERMINATED = "91"  # PBS Pro history: job was deleted / terminated
SUBSTATE_FAILED = "93"      # PBS Pro history: job failed

#: ``Hold_Types`` letters (RG "Hold_Types"; Torque qhold(1)): u user, o other
#: (operator), s system, p bad password (PBS Pro), n none.
HOLD_TYPES: dict[str, str] = {
    "u": "user hold", "o": "operator hold", "s": "system hold",
    "p": "bad-password hold", "a": "array hold",
}

#: Negative ``Exit_status`` values per flavour: code -> (name, meaning, reason).
#:
#: pbspro -1..-20: PBS Professional 2024.1 Reference Guide, Table 11-2 "Job Exit
#: Codes" (RG-374).  -21..-30 are defined in OpenPBS ``src/include/job.h`` (not in
#: that table); -24..-29 are the MoM's resource-limit kills.
#:
#: torque -1..-12: TORQUE Administrator Guide "Job Exit Status", "TORQUE Supplied
#: Exit Codes" (docs.adaptivecomputing.com/torque/3-0-5/2.7jobexitstatus.php);
#: -13, -14 added in Torque 6.1.2 (.../torque/6-1-2/adminGuide/.../jobExitStatus.htm).
#:
#: The two lists agree up to -7 and then diverge: -10 is a bad uid on PBS Pro but
#: a memory-limit kill on Torque, -11 a rerun vs a walltime kill.
JOB_EXEC_CODES: dict[str, dict[int, tuple[str, str, TerminationReason]]] = {
    "pbspro": {
        -1: ("JOB_EXEC_FAIL1", "job exec failed, before files, no retry", _R.SUBMISSION_FAILED),
        -2: ("JOB_EXEC_FAIL2", "job exec failed, after files, no retry", _R.SUBMISSION_FAILED),
        -3: ("JOB_EXEC_RETRY", "job execution failed, do retry", _R.NODE_FAILURE),
        -4: ("JOB_EXEC_INITABT", "job aborted on MoM initialization", _R.NODE_FAILURE),
        -5: ("JOB_EXEC_INITRST", "job aborted on MoM init, checkpoint, no migrate",
             _R.NODE_FAILURE),
        -6: ("JOB_EXEC_INITRMG", "job aborted on MoM init, checkpoint, ok migrate",
             _R.NODE_FAILURE),
        -7: ("JOB_EXEC_BADRESRT", "job restart failed", _R.NODE_FAILURE),
        -10: ("JOB_EXEC_FAILUID", "invalid UID/GID for job", _R.SUBMISSION_FAILED),
        -11: ("JOB_EXEC_RERUN", "job was rerun", _R.NODE_FAILURE),
        -12: ("JOB_EXEC_CHKP", "job was checkpointed and killed", _R.NODE_FAILURE),
        -13: ("JOB_EXEC_FAIL_PASSWORD", "job failed due to a bad password",
              _R.SUBMISSION_FAILED),
        -14: ("JOB_EXEC_RERUN_ON_SIS_FAIL",
              "requeued or deleted: mother superior lost contact with a sister MoM",
              _R.NODE_FAILURE),
        -15: ("JOB_EXEC_QUERST", "requeue job for restart from checkpoint", _R.NODE_FAILURE),
        -16: ("JOB_EXEC_FAILHOOK_RERUN", "execution failed due to hook rejection; requeued",
              _R.SUBMISSION_FAILED),
        -17: ("JOB_EXEC_FAILHOOK_DELETE", "execution failed due to hook rejection; deleted",
              _R.SUBMISSION_FAILED),
        -18: ("JOB_EXEC_HOOK_RERUN", "a hook requested the job be requeued", _R.NODE_FAILURE),
        -19: ("JOB_EXEC_HOOK_DELETE", "a hook requested the job be deleted", _R.NODE_FAILURE),
        -20: ("JOB_EXEC_RERUN_MS_FAIL",
              "requeued: server could not contact the primary execution host MoM",
              _R.NODE_FAILURE),
        -21: ("JOB_EXEC_FAIL_SECURITY", "security breach in PBS directory",
              _R.SUBMISSION_FAILED),
        -22: ("JOB_EXEC_HOOKERROR", "hook raised an exception or timed out",
              _R.SUBMISSION_FAILED),
        -23: ("JOB_EXEC_FAIL_KRB5", "no Kerberos credentials supplied", _R.SUBMISSION_FAILED),
        -24: ("JOB_EXEC_KILL_NCPUS_BURST", "killed for exceeding ncpus (burst)", _R.SIGNALLED),
        -25: ("JOB_EXEC_KILL_NCPUS_SUM", "killed for exceeding ncpus (sum)", _R.SIGNALLED),
        -26: ("JOB_EXEC_KILL_VMEM", "killed for exceeding vmem", _R.MEMORY_EXCEEDED),
        -27: ("JOB_EXEC_KILL_MEM", "killed for exceeding mem", _R.MEMORY_EXCEEDED),
        -28: ("JOB_EXEC_KILL_CPUT", "killed for exceeding cput", _R.WALLTIME_EXCEEDED),
        -29: ("JOB_EXEC_KILL_WALLTIME", "killed for exceeding walltime",
              _R.WALLTIME_EXCEEDED),
        -30: ("JOB_EXEC_JOINJOB", "join job error", _R.NODE_FAILURE),
    },
    "torque": {
        -1: ("JOB_EXEC_FAIL1", "job exec failed, before files, no retry", _R.SUBMISSION_FAILED),
        -2: ("JOB_EXEC_FAIL2", "job exec failed, after files, no retry", _R.SUBMISSION_FAILED),
        -3: ("JOB_EXEC_RETRY", "job execution failed, do retry", _R.NODE_FAILURE),
        -4: ("JOB_EXEC_INITABT", "job aborted on MOM initialization", _R.NODE_FAILURE),
        -5: ("JOB_EXEC_INITRST", "job aborted on MOM init, chkpt, no migrate", _R.NODE_FAILURE),
        -6: ("JOB_EXEC_INITRMG", "job aborted on MOM init, chkpt, ok migrate", _R.NODE_FAILURE),
        -7: ("JOB_EXEC_BADRESRT", "job restart failed", _R.NODE_FAILURE),
        -8: ("JOB_EXEC_CMDFAIL", "exec() of user command failed", _R.SUBMISSION_FAILED),
        -9: ("JOB_EXEC_STDOUTFAIL", "could not create/open stdout stderr files",
             _R.SUBMISSION_FAILED),
        -10: ("JOB_EXEC_OVERLIMIT_MEM", "job exceeded a memory limit", _R.MEMORY_EXCEEDED),
        -11: ("JOB_EXEC_OVERLIMIT_WT", "job exceeded a walltime limit", _R.WALLTIME_EXCEEDED),
        -12: ("JOB_EXEC_OVERLIMIT_CPUT", "job exceeded a CPU time limit",
              _R.WALLTIME_EXCEEDED),
        -13: ("JOB_EXEC_RETRY_CGROUP", "could not create the job's cgroups", _R.NODE_FAILURE),
        -14: ("JOB_EXEC_RETRY_PROLOGUE", "prologue failed", _R.NODE_FAILURE),
    },
}

#: Job-name rules per flavour: (max length, regex of characters replaced by ``_``).
#: pbspro: OpenPBS ``src/lib/Libcmds/ck_job_name.c`` (qsub -N): at most
#: PBS_MAXJOBNAME = 236 characters (``pbs_ifl.h``), first alphabetic, the rest
#: alphanumeric or ``-`` ``_`` ``+`` (so ``.`` is rejected).
#: torque: Torque ``ck_job_name.c`` accepts any visible (``isgraph``) characters
#: with the first alphabetic, up to 256 in 6.x; the Torque 2.x qsub(1B) page
#: limits ``-N`` to 15 characters, so 15 is used to work on every version.
#: Of the visible characters only ``.`` is kept beyond PBS Pro's set: shell
#: metacharacters (``;`` ``$`` quotes ...) are replaced because qsub front ends
#: pass ``-N`` through a shell (Slurm's Torque wrapper builds an ``sbatch``
#: command line from it unquoted).
JOB_NAME_RULES: dict[str, tuple[int, str]] = {
    "pbspro": (236, r"[^A-Za-z0-9_+-]"),
    "torque": (15, r"[^A-Za-z0-9_.+-]"),
}

# ---------------------------------------------------------------------------
# qstat -f (text) and qstat -f -F json
# ---------------------------------------------------------------------------

_JOB_ID_LINE = re.compile(r"^Job Id:\s*(\S+)")
_ATTR_LINE = re.compile(r"^([^\s=]+)\s=(?: (.*)|)$")


def _indent(line: str) -> int:
    return len(line) - len(line.lstrip(" "))


def parse_qstat_f(text: str) -> list[dict[str, str]]:
    """Split ``qstat -f`` output into one raw attribute dict per job, in order.

    A ``Job Id: X`` line (column 0) starts a block (stored under :data:`JOB_ID`).
    The block's first ``key = value`` line fixes its attribute indentation (4
    spaces on PBS Pro and Torque; one TAB on Slurm's Torque wrapper); later
    ``key = value`` lines at exactly that indentation are attributes.  Every
    other line belongs to the value of the attribute before it:

    * a line starting with a TAB, or with 8 or more spaces (copies where the TAB
      was expanded) and deeper than the attributes, is qstat wrapping a long
      line: it is appended with no separator (one TAB, or 8 spaces, removed);
    * any other line (column 0, or indented by fewer than 8 spaces, e.g. the body
      of an exported bash function in ``Variable_List``) is a line of a
      multi-line value: it is appended after a newline, as it is, so a line that
      looks like ``job_state = C`` never sets an attribute.

    Empty lines are never job separators: inside a multi-line value they are kept
    (as newlines), before an attribute or a ``Job Id:`` line they are dropped.
    Lines before the first attribute of a block are ignored.  The text form
    cannot tell a value line indented exactly like the attributes and shaped
    ``key = value`` from an attribute; ``qstat -F json`` has no such ambiguity.
    """
    jobs: list[dict[str, str]] = []
    job: dict[str, str] | None = None
    key: str | None = None
    attr_indent: int | None = None
    tab_attrs = False
    blanks = 0
    for line in text.splitlines():
        if not line.strip():
            blanks += 1
            continue
        pending, blanks = blanks, 0
        match = _JOB_ID_LINE.match(line)
        if match:
            job = {JOB_ID: match.group(1)}
            jobs.append(job)
            key, attr_indent, tab_attrs = None, None, False
            continue
        if job is None:
            continue
        spaces = _indent(line)
        tabbed = line.startswith("\t") and not line[1:2].isspace()
        if attr_indent is None:
            match = _ATTR_LINE.match(line[1:] if tabbed else line[spaces:])
            if match:
                tab_attrs, attr_indent = tabbed, 8 if tabbed else spaces
        elif tab_attrs:
            match = _ATTR_LINE.match(line[1:]) if tabbed else None
        else:
            match = _ATTR_LINE.match(line[spaces:]) if spaces == attr_indent else None
        if match:
            key = match.group(1)
            job[key] = match.group(2) or ""
        elif key is None or attr_indent is None:
            continue
        elif line.startswith("\t"):
            job[key] += line[1:]
        elif spaces >= 8 and spaces > attr_indent:
            job[key] += line[min(spaces, 8 if attr_indent < 8 else attr_indent + 4):]
        else:
            job[key] += "\n" * (pending + 1) + line
    return jobs


def _json_text(value: object) -> str:
    if isinstance(value, bool):
        return "True" if value else "False"
    if value is None:
        return ""
    if isinstance(value, list):
        return ",".join(_json_text(item) for item in value)
    return str(value)


def _flatten(prefix: str, value: object, out: dict[str, str]) -> None:
    if isinstance(value, Mapping):
        if prefix == "Variable_List":   # one "K=V,K=V" string, as in the text form
            out[prefix] = ",".join(f"{k}={_json_text(v)}" for k, v in value.items())
            return
        for name, item in value.items():
            _flatten(f"{prefix}.{name}" if prefix else str(name), item, out)
    else:
        out[prefix] = _json_text(value)


def parse_qstat_json(text: str) -> list[dict[str, str]]:
    """Parse PBS Pro ``qstat -f -F json`` into the same dicts as :func:`parse_qstat_f`.

    Nested dicts are flattened to dotted keys (``Resource_List.walltime``,
    ``resources_used.mem``, ``estimated.start_time``); ``Variable_List``
    becomes one ``K=V,...`` string; JSON numbers and booleans become strings.
    A document without ``Jobs`` yields ``[]``; text that is not JSON raises
    :class:`ValueError`.
    """
    try:
        document = json.loads(text, strict=False)   # PBS does not escape control chars
    except json.JSONDecodeError as exc:
        raise ValueError(f"qstat -F json output is not valid JSON: {exc}") from None
    if not isinstance(document, Mapping):
        raise ValueError("qstat -F json output is not a JSON object")
    jobs = document.get("Jobs") or {}
    if not isinstance(jobs, Mapping):
        raise ValueError("qstat -F json: 'Jobs' is not an object")
    result: list[dict[str, str]] = []
    for job_id, attrs in jobs.items():
        flat: dict[str, str] = {JOB_ID: str(job_id)}
        if isinstance(attrs, Mapping):
            _flatten("", attrs, flat)
        result.append(flat)
    return result


# ---------------------------------------------------------------------------
# Attribute dict -> JobReport
# ---------------------------------------------------------------------------

def _check_flavour(flavour: str) -> None:
    if flavour not in FLAVOURS:
        raise ValueError(f"unknown PBS flavour {flavour!r}: use 'pbspro' or 'torque'")


def parse_size(text: str) -> Memory | None:
    """A PBS size (``13378420kb``, ``0b``, ``8gb``, ``512``, ``4mw``) or None."""
    try:
        return Memory.from_pbs(text)
    except ValueError:
        return None


def parse_duration(text: str) -> Duration | None:
    """A PBS time (``64:26:16``, ``4090:56:03``, seconds ``3600``) or None."""
    try:
        return Duration(text.strip())
    except (ValueError, TypeError):
        return None


def _get(attrs: Mapping[str, str], *keys: str) -> str | None:
    for key in keys:
        value = attrs.get(key)
        if value is not None and str(value).strip() != "":
            return str(value).strip()
    return None


def _exit_status(attrs: Mapping[str, str]) -> int | None:
    value = _get(attrs, "Exit_status", "exit_status")
    if value is None:
        return None
    try:
        return int(value)
    except ValueError:
        return None


def _usage(attrs: Mapping[str, str]) -> tuple[Duration | None, Duration | None, Memory | None]:
    walltime = _get(attrs, "resources_used.walltime")
    cput = _get(attrs, "resources_used.cput")
    mem = _get(attrs, "resources_used.mem")
    vmem = _get(attrs, "resources_used.vmem")
    memory = parse_size(mem) if mem is not None else None
    if memory is None and vmem is not None:
        memory = parse_size(vmem)
    return (parse_duration(walltime) if walltime else None,
            parse_duration(cput) if cput else None, memory)


def decode_exit_status(
    status: int, flavour: Flavour
) -> tuple[int | None, int | None, TerminationReason, str | None]:
    """``Exit_status`` -> (exitcode, signal, reason, message) for ``flavour``."""
    _check_flavour(flavour)
    if status < 0:
        entry = JOB_EXEC_CODES[flavour].get(status)
        if entry is None:
            return None, None, _R.UNKNOWN, f"PBS exit status {status} (unknown JOB_EXEC code)"
        name, meaning, reason = entry
        return None, None, reason, f"{name} ({status}): {meaning}"
    if 256 < status <= 256 + SIGNAL_MAX:
        return None, status - 256, _R.SIGNALLED, None
    exitcode, signal = split_status(status)
    return exitcode, signal, _R.EXITED if signal is None else _R.SIGNALLED, None


def _outcome(
    attrs: Mapping[str, str], flavour: Flavour, terminal: bool
) -> tuple[int | None, int | None, TerminationReason | None, str | None]:
    """Exit code, signal, reason and an outcome message from the attributes."""
    status = _exit_status(attrs)
    substate = _get(attrs, "substate")
    pbspro = flavour == "pbspro"
    if status is None:
        if not terminal:
            return None, None, None, None
        if pbspro and substate == SUBSTATE_TERMINATED:
            return None, None, _R.CANCELLED, None
        if pbspro and substate == SUBSTATE_FAILED:
            return None, None, _R.NODE_FAILURE, None
        return None, None, _R.UNKNOWN, None
    exitcode, signal, reason, message = decode_exit_status(status, flavour)
    if status >= 0 and pbspro and substate == SUBSTATE_TERMINATED:
        reason = _R.CANCELLED
    elif signal in (9, 15):
        used = parse_duration(_get(attrs, "resources_used.walltime") or "")
        limit = parse_duration(_get(attrs, "Resource_List.walltime") or "")
        if used is not None and limit is not None and limit.seconds > 0 and used >= limit:
            reason = _R.WALLTIME_EXCEEDED
    return exitcode, signal, reason, message


def _array_state(attrs: Mapping[str, str]) -> State:
    counts = dict(re.findall(r"(\w+):(\d+)", _get(attrs, "array_state_count") or ""))
    if not counts:
        return State.RUNNING
    if int(counts.get("Running", 0)) or int(counts.get("Exiting", 0)):
        return State.RUNNING
    if int(counts.get("Queued", 0)):
        return State.SUBMITTED
    return State.RUNNING


def _join(*parts: str | None) -> str | None:
    text = "; ".join(part for part in parts if part)
    return text or None


def report_from_attributes(attrs: Mapping[str, str], flavour: Flavour) -> JobReport:
    """Turn one job's attributes (from either qstat parser) into a report.

    Never raises on odd content: an unknown or missing ``job_state`` gives
    UNKNOWN, unparsable numbers are left out.  Exit status, signal, reason and
    usage are filled whenever present (``JobReport.apply`` only records them
    for TERMINATED).  ``flavour`` other than "pbspro"/"torque" raises ValueError.
    """
    _check_flavour(flavour)
    native_id = str(attrs.get(JOB_ID, ""))
    raw_state = _get(attrs, "job_state") or ""
    letter = raw_state.upper() if len(raw_state) == 1 else ""
    state = STATES.get(letter, State.UNKNOWN)
    comment = _get(attrs, "comment")
    message: str | None = None
    if letter == "H":
        holds = _get(attrs, "Hold_Types") or ""
        if _get(attrs, "substate") == SUBSTATE_DEPNHOLD and not set(holds) & set("uop"):
            state = State.SUBMITTED
            message = _join(f"waiting for dependency {_get(attrs, 'depend') or ''}".strip(),
                            comment)
        else:
            kinds = ", ".join(HOLD_TYPES.get(c, f"hold {c!r}") for c in holds if c != "n")
            message = _join(f"held ({kinds})" if kinds else "held", comment)
    elif letter == "B":
        state = _array_state(attrs)
    elif letter == "W":
        message = comment or "waiting for its execution time"
    elif letter == "M":
        message = _join("moved to another server", comment)
    elif state in (State.SUBMITTED, State.STOPPED, State.TERMINATED):
        message = comment
    elif state == State.UNKNOWN:
        message = _join(f"unknown PBS job_state {raw_state!r}" if raw_state
                        else "no job_state reported", comment)
    exitcode, signal, reason, outcome = _outcome(attrs, flavour, state == State.TERMINATED)
    walltime, cputime, memory = _usage(attrs)
    return JobReport(
        native_id=native_id, state=state, raw_state=raw_state, exitcode=exitcode,
        signal=signal, reason=reason, walltime=walltime, cputime=cputime,
        max_memory=memory, message=_join(outcome, message),
    )


# ---------------------------------------------------------------------------
# tracejob
# ---------------------------------------------------------------------------

_TRACE_JOB = re.compile(r"^Job:\s*(\S+)")
_TRACE_SPLIT = re.compile(r"^(?=Job:)", re.MULTILINE)
_TRACE_RECORD = re.compile(
    r"^(\d{2}/\d{2}/\d{4} \d{2}:\d{2}:\d{2}(?:\.\d+)?)\s+([A-Za-z])\s+(.*)$")
_TRACE_EXIT = re.compile(r"\bExit_status=(-?\d+)")
_TRACE_USAGE = re.compile(r"\b(resources_used\.\w+)=(\S+)")
#: MoM log text for limit kills (Torque Admin Guide 4.2 "Using tracejob to locate
#: job failures": "walltime 210 exceeded limit 100"; PBS "job killed: mem ...").
_TRACE_LIMITS: tuple[tuple[re.Pattern[str], TerminationReason], ...] = (
    (re.compile(r"\b(?:walltime|cput) \S+ exceeded limit\b"), _R.WALLTIME_EXCEEDED),
    (re.compile(r"\bp?v?mem \S+ exceeded limit\b"), _R.MEMORY_EXCEEDED),
)
_TRACE_DELETED = re.compile(r"\bdeleted at request of\b", re.IGNORECASE)


def tracejob_records(text: str) -> tuple[str | None, list[tuple[str, str, str]]]:
    """``tracejob`` output as (job id, [(timestamp, type, message)]).

    The id comes from the ``Job: X`` line (None if absent).  An indented line
    continues the previous record's message and is joined with one space.
    """
    job_id: str | None = None
    records: list[tuple[str, str, str]] = []
    for raw in text.splitlines():
        line = raw.rstrip()
        if not line.strip():
            continue
        match = _TRACE_JOB.match(line)
        if match:
            job_id = match.group(1)
            continue
        match = _TRACE_RECORD.match(line)
        if match:
            records.append((match.group(1), match.group(2), match.group(3).strip()))
        elif line[:1].isspace() and records:
            stamp, kind, message = records[-1]
            records[-1] = (stamp, kind, f"{message} {line.strip()}")
    return job_id, records


def split_tracejob(text: str) -> list[str]:
    """Output of several ``tracejob`` runs, one chunk per ``Job:`` header."""
    return [chunk for chunk in _TRACE_SPLIT.split(text) if _TRACE_JOB.match(chunk)]


def parse_tracejob(text: str, flavour: Flavour) -> JobReport | None:
    """The outcome of a finished job from ``tracejob`` output, or None.

    Records are ``MM/DD/YYYY HH:MM:SS  <type>  <message>``; an indented line
    continues the previous message (joined with a space).  The last
    ``Exit_status=N`` record gives the outcome and its ``resources_used.*``
    tokens the usage; limit-exceeded and "deleted at request of" messages
    refine the reason.  A job deleted before it ran (no Exit_status, but a
    deletion record) is TERMINATED/CANCELLED; otherwise no Exit_status or no
    ``Job:`` line means None (tracejob does not know the outcome yet).
    """
    _check_flavour(flavour)
    job_id, records = tracejob_records(text)
    if job_id is None:
        return None
    messages = [message for _, _, message in records]
    exits = [m for m in messages if _TRACE_EXIT.search(m)]
    deleted = any(_TRACE_DELETED.search(m) for m in messages)
    limit_reason = next((reason for m in messages for pattern, reason in _TRACE_LIMITS
                         if pattern.search(m)), None)
    if not exits:
        if deleted:
            return JobReport(native_id=job_id, state=State.TERMINATED,
                             reason=_R.CANCELLED, message="deleted before it finished")
        return None
    record = exits[-1]
    attrs: dict[str, str] = {JOB_ID: job_id}
    attrs["Exit_status"] = _TRACE_EXIT.findall(record)[-1]
    attrs.update(_TRACE_USAGE.findall(record))
    status = int(attrs["Exit_status"])
    exitcode, signal, reason, message = _outcome(attrs, flavour, True)
    if status > 0:   # a kill PBS logged explains a non-zero exit; JOB_EXEC codes stand
        if limit_reason is not None:
            reason = limit_reason
        elif deleted:
            reason = _R.CANCELLED
    walltime, cputime, memory = _usage(attrs)
    return JobReport(native_id=job_id, state=State.TERMINATED, exitcode=exitcode,
                     signal=signal, reason=reason, walltime=walltime, cputime=cputime,
                     max_memory=memory, message=message)


# ---------------------------------------------------------------------------
# Submission helpers
# ---------------------------------------------------------------------------

def legal_job_name(name: str, flavour: Flavour) -> str:
    """``name`` made acceptable to ``qsub -N`` on ``flavour`` (see :data:`JOB_NAME_RULES`).

    Characters the flavour rejects become ``_``; a name not starting with a
    letter gets a ``j`` prefix; the result is cut to the flavour's maximum.
    An empty name becomes ``job``.
    """
    _check_flavour(flavour)
    limit, bad = JOB_NAME_RULES[flavour]
    cleaned = re.sub(bad, "_", name)
    if not cleaned:
        cleaned = "job"
    if not ("a" <= cleaned[0].lower() <= "z"):
        cleaned = "j" + cleaned
    return cleaned[:limit]


_QSUB_ID = re.compile(r"^\s*(\d+(?:\[\d*\])?(?:\.[A-Za-z0-9][A-Za-z0-9_.-]*)?)\s*$")


def parse_qsub_id(text: str) -> str:
    """The job id ``qsub`` printed (``1234.pbs01``, ``1234[].server``), suffix kept.

    Other lines (warnings, banners) are ignored; the last line that is a job id
    wins.  Raises ValueError if there is none.
    """
    found = [m.group(1) for m in map(_QSUB_ID.match, text.splitlines()) if m]
    if not found:
        raise ValueError(f"no job id in qsub output: {text.strip()[:200]!r}")
    return found[-1]


#: The server attribute that bounds an array's subjobs, and its value when unset: PBS Pro
#: RG "Server Attributes" (max_array_size, default 10000); Torque 6.1 Admin Guide "Server
#: Parameters" (max_job_array_size, unset: no limit).
ARRAY_LIMITS: dict[str, tuple[str, int]] = {
    "pbspro": ("max_array_size", 10000),
    "torque": ("max_job_array_size", sys.maxsize),
}


def max_array_size(text: str, flavour: Flavour) -> int:
    """The most subjobs one array may have, from ``qmgr -c 'print server'`` output
    (``set server max_array_size = 500``); the flavour's default if it is not set."""
    _check_flavour(flavour)
    name, default = ARRAY_LIMITS[flavour]
    match = re.search(rf"^\s*set server {name}\s*=\s*(\d+)\s*$", text, re.MULTILINE)
    return int(match.group(1)) if match and int(match.group(1)) > 0 else default


def short_id(job_id: str) -> str:
    """The sequence part of a job id (``1234`` of ``1234.pbs01``, ``7[2]`` of ``7[2].s``).

    Servers print the suffix with or without the domain, and Slurm's Torque
    wrappers print none, so ids are matched on this part when the full id is not.
    """
    return job_id.split(".", 1)[0]


# ---------------------------------------------------------------------------
# Resource status: pbsnodes -a, qstat -q, qstat -u
# ---------------------------------------------------------------------------

NODE = "Node"
#: Node state words that make a node's cores unavailable (PBS RG "Vnode states";
#: Torque pbsnodes(8)); a node's ``state`` is a comma-separated list of them.
UNUSABLE_NODE_STATES = frozenset({
    "down", "offline", "unknown", "state-unknown", "stale", "unresolvable",
    "provisioning", "wait-provisioning", "maintenance", "sleep", "unavailable",
})
#: States whose node is full even when pbsnodes lists no jobs on it.
FULL_NODE_STATES = frozenset({"job-exclusive", "job-busy", "busy", "resv-exclusive"})
_NODE_ATTR = re.compile(r"^\s+([^\s=]+)\s=\s?(.*)$")
_TORQUE_SLOTS = re.compile(r"(?<![\w./-])(\d+)(?:-(\d+))?(?=[\d, -]*/)")


def parse_pbsnodes(text: str) -> list[dict[str, str]]:
    """``pbsnodes -a`` output: one attribute dict per node, its name under :data:`NODE`.

    An unindented line names a node; indented ``key = value`` lines are its
    attributes.  Other lines are ignored.
    """
    nodes: list[dict[str, str]] = []
    for line in text.splitlines():
        if not line.strip():
            continue
        if not line[0].isspace():
            nodes.append({NODE: line.strip()})
            continue
        match = _NODE_ATTR.match(line)
        if match and nodes:
            nodes[-1][match.group(1)] = match.group(2).strip()
    return nodes


def _int(text: str | None) -> int | None:
    try:
        return int(str(text).strip())
    except ValueError:
        return None


def node_gpus(node: Mapping[str, str], flavour: Flavour) -> int | None:
    """The GPUs of one :func:`parse_pbsnodes` node, if it says: Torque's ``gpus`` (None on
    PBS Pro, whose ``resources_available.ngpus`` no recorded output here shows)."""
    _check_flavour(flavour)
    return _int(node.get("gpus")) if flavour == "torque" and "gpus" in node else None


def node_slots(node: Mapping[str, str], flavour: Flavour) -> tuple[int, int, bool]:
    """(cores, cores in use, usable) of one :func:`parse_pbsnodes` node.

    pbspro: ``resources_available.ncpus`` (else ``pcpus``) and
    ``resources_assigned.ncpus``.  torque: ``np`` and the slots named in ``jobs``
    (``0/1.srv,1/1.srv`` in Torque 2-4, ``0-3/1.srv`` in 5-6).  A node without
    usage figures is full if its state says so (``job-exclusive``, ``busy``),
    else idle.  A node is unusable when any of its state words is in
    :data:`UNUSABLE_NODE_STATES`.
    """
    _check_flavour(flavour)
    states = {word.strip() for word in node.get("state", "").split(",")}
    usable = not states & UNUSABLE_NODE_STATES
    if flavour == "pbspro":
        total = _int(node.get("resources_available.ncpus")) or _int(node.get("pcpus")) or 0
        used = _int(node.get("resources_assigned.ncpus"))
    else:
        total = _int(node.get("np")) or 0
        jobs = node.get("jobs")
        used = None if jobs is None else sum(
            int(last or first) - int(first) + 1
            for first, last in _TORQUE_SLOTS.findall(jobs))
    if used is None:
        used = total if states & FULL_NODE_STATES else 0
    return total, min(used, total), usable


def parse_queue_totals(text: str) -> tuple[int, int] | None:
    """(running, queued) from the totals line ending ``qstat -q`` output, or None."""
    for line in reversed(text.splitlines()):
        words = line.split()
        if len(words) == 2 and all(word.isdigit() for word in words):
            return int(words[0]), int(words[1])
    return None


def count_job_states(text: str) -> dict[str, int]:
    """Jobs per state letter in ``qstat -a`` / ``qstat -u USER`` output.

    A job line starts with a digit (its id); the state is its second-to-last
    column (the last is the elapsed time), in PBS Pro, Torque and Slurm's wrapper.
    """
    counts: dict[str, int] = {}
    for line in text.splitlines():
        words = line.split()
        if len(words) >= 3 and words[0][:1].isdigit() and len(words[-2]) == 1:
            counts[words[-2]] = counts.get(words[-2], 0) + 1
    return counts
