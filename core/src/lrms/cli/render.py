"""How the command line shows things: colours, tables, durations, progress and JSON.

Colours and the progress bar appear only when the stream is a terminal and the
``NO_COLOR`` environment variable is not set (then jobs' state changes are
plain lines); JSON is indented only on a terminal.  Text that is not ours
(names, tags, paths, job and scheduler messages) goes through
:func:`terminal_text` in tables and messages; JSON output stays raw.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import sys
import time
from collections.abc import Callable, Iterable, Sequence
from typing import IO, Any

from ..job import Job
from ..state import State, TerminationReason

RESET = "\x1b[0m"
COLOURS = {"red": "\x1b[31m", "green": "\x1b[32m", "yellow": "\x1b[33m", "blue": "\x1b[34m",
           "magenta": "\x1b[35m", "cyan": "\x1b[36m", "dim": "\x1b[2m", "bold": "\x1b[1m"}
STATE_COLOURS = {State.NEW: "dim", State.SUBMITTED: "yellow", State.RUNNING: "cyan",
                 State.STOPPED: "magenta", State.TERMINATING: "yellow",
                 State.UNKNOWN: "magenta", State.TERMINATED: "green"}

Cell = str | tuple[str, str | None]


# C0 and C1 controls, DEL, line/paragraph separators, bidirectional marks, overrides and
# isolates, and lone surrogates (undecodable bytes of a command line or file name).
_UNSAFE = re.compile(r"[\x00-\x1f\x7f-\x9f\u061c\u200e\u200f\u2028-\u202e\u2066-\u2069"
                     r"\ud800-\udfff]")
_NAMED = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}


def _escape(match: re.Match[str]) -> str:
    char = match.group()
    if char in _NAMED:
        return _NAMED[char]
    code = ord(char)
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def terminal_text(text: str) -> str:
    """``text`` safe to show on a terminal: controls, bidi overrides and lone surrogates
    escaped (``\\n``, ``\\x1b``, ``\\u202e``), so they neither move the cursor nor break a
    line."""
    if text.isprintable():  # the common case, checked in C
        return text
    return _UNSAFE.sub(_escape, text)


def is_terminal(stream: IO[str]) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False


def colour_on(stream: IO[str]) -> bool:
    """True if ``stream`` is a terminal and NO_COLOR is not set."""
    return is_terminal(stream) and "NO_COLOR" not in os.environ


def paint(text: str, colour: str | None, on: bool) -> str:
    return f"{COLOURS[colour]}{text}{RESET}" if on and colour else text


# -- jobs ------------------------------------------------------------------------------


def ok(job: Job) -> bool:
    """True for a job that terminated by exiting 0."""
    return (job.state == State.TERMINATED and job.returncode == 0
            and job.termination_reason in (None, TerminationReason.EXITED))


def state_colour(job: Job) -> str | None:
    if job.state == State.TERMINATED and not ok(job):
        return "red"
    return STATE_COLOURS.get(job.state)


def runtime(job: Job) -> float | None:
    """Seconds the job ran: as the resource reported, else from its state history."""
    if job.used_walltime is not None:
        return float(job.used_walltime.seconds)
    start = next((stamp for state, stamp in job.history if state == State.RUNNING), None)
    if start is None:
        return None
    end = job.history[-1][1] if job.state == State.TERMINATED else time.time()
    return max(0.0, end - start)


def duration(seconds: float | None) -> str:
    """``12s``, ``3m04s``, ``1h02m03s``, ``2d03h``; ``-`` if unknown."""
    if seconds is None:
        return "-"
    whole = round(seconds)
    days, rest = divmod(whole, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    if days:
        return f"{days}d{hours:02d}h"
    if hours:
        return f"{hours}h{minutes:02d}m{secs:02d}s"
    if minutes:
        return f"{minutes}m{secs:02d}s"
    return f"{secs}s"


def exit_text(job: Job) -> str:
    """The return code, followed by the termination reason unless it simply exited."""
    code = "-" if job.returncode is None else str(job.returncode)
    reason = job.termination_reason
    if reason is not None and reason != TerminationReason.EXITED:
        return f"{code} {reason.value}"
    return code


def ending(job: Job) -> str:
    """How a terminated job ended: ``exit 4``, ``exit 143, cancelled``, ``cancelled``."""
    parts = [] if job.returncode is None else [f"exit {job.returncode}"]
    reason = job.termination_reason
    if reason is not None and (reason != TerminationReason.EXITED or not parts):
        parts.append(reason.value)
    return ", ".join(parts) or "unknown outcome"


def job_dict(job: Job) -> dict[str, Any]:
    """:meth:`Job.to_dict` plus what the table shows: state, name, returncode, runtime,
    failed, and ``array`` (the scheduler array of a task, else None)."""
    data = job.to_dict()
    data.update(state=job.state.value, name=job.app.jobname, returncode=job.returncode,
                runtime=runtime(job), failed=job.failed, unfetched=job.unfetched,
                array=job.backend_data.get("array"))
    return data


def counts(jobs: Iterable[Job]) -> str:
    """``3 jobs: 1 RUNNING, 2 TERMINATED (1 failed), 1 outputs not fetched``."""
    by_state: dict[State, int] = {}
    total = bad = owed = 0
    for job in jobs:
        total += 1
        by_state[job.state] = by_state.get(job.state, 0) + 1
        bad += job.state == State.TERMINATED and not ok(job)
        owed += job.unfetched
    parts = [f"{by_state[state]} {state.value}" for state in State if state in by_state]
    text = f"{total} job{'s' if total != 1 else ''}"
    if parts:
        text += ": " + ", ".join(parts)
    if bad:
        text += f" ({bad} failed or cancelled)"
    if owed:
        text += f", outputs of {owed} not fetched"
    return text


def _name(job: Job) -> str:
    name = job.app.jobname or "job"
    return name if len(name) <= 30 else name[:29] + "…"


#: The columns of the jobs' table, by their ``--format`` names: header and cell.
COLUMNS: dict[str, tuple[str, Callable[[Job], Cell]]] = {
    "jobid": ("JOBID", lambda job: job.jobid),
    "name": ("NAME", _name),
    "state": ("STATE", lambda job: (job.state.value, state_colour(job))),
    "resource": ("RESOURCE", lambda job: job.resource or "-"),
    "native_id": ("NATIVE ID", lambda job: job.native_id or "-"),
    "array": ("ARRAY", lambda job: str(job.backend_data.get("array") or "-")),
    "exit": ("EXIT", lambda job: exit_text(job)),
    "runtime": ("RUNTIME", lambda job: duration(runtime(job))),
    "tag": ("TAG", lambda job: job.tag or "-"),
    "attempt": ("ATTEMPT", lambda job: str(job.attempt)),
    "sandbox": ("SANDBOX", lambda job: job.sandbox or "-"),
    "output_dir": ("OUTPUT DIR", lambda job: job.output_dir or "-"),
    "message": ("MESSAGE", lambda job: job.status_message or "-"),
}
#: The table's columns unless ``--format`` names others (``array`` only if some job is an
#: array task).
DEFAULT_COLUMNS = ("jobid", "name", "state", "resource", "native_id", "array", "exit",
                   "runtime", "tag")


def columns(text: str) -> tuple[str, ...]:
    """The column names of a ``--format`` value (comma-separated); ValueError names an
    unknown one and lists the known ones."""
    names = tuple(word.strip().lower() for word in text.split(","))
    for name in names:
        if name not in COLUMNS:
            raise ValueError(f"unknown column {name!r} (known: {','.join(COLUMNS)})")
    return names


def job_table(jobs: Sequence[Job], colour: bool, names: Sequence[str] | None = None) -> str:
    """The table of ``jobs`` with the columns ``names`` (default :data:`DEFAULT_COLUMNS`,
    with the ARRAY column only when some of the jobs are scheduler array tasks)."""
    if names is None:
        arrays = any(job.backend_data.get("array") for job in jobs)
        names = [name for name in DEFAULT_COLUMNS if arrays or name != "array"]
    cells = [COLUMNS[name][1] for name in names]
    return table([COLUMNS[name][0] for name in names],
                 ([cell(job) for cell in cells] for job in jobs), colour)


def table(headers: Sequence[str], rows: Iterable[Sequence[Cell]], colour: bool) -> str:
    """Rows as aligned columns (cells shown with :func:`terminal_text`); a cell may be
    ``(text, colour)``."""
    texts: list[list[str]] = []
    colours: list[list[str | None]] = []
    for row in rows:
        row_texts = [cell if isinstance(cell, str) else cell[0] for cell in row]
        if not "".join(row_texts).isprintable():  # one check per row in the common case
            row_texts = [terminal_text(text) for text in row_texts]
        texts.append(row_texts)
        if colour:
            colours.append([None if isinstance(cell, str) else cell[1] for cell in row])
    by_column = zip(*texts, strict=True) if texts else [()] * len(headers)
    widths = [max([len(header), *map(len, column)])
              for header, column in zip(headers, by_column, strict=True)]
    if not colour:  # one format per line, padded in C
        line = "  ".join([*(f"{{:<{width}}}" for width in widths[:-1]), "{}"])
        return "\n".join(line.format(*row) for row in [list(headers), *texts])
    last = len(headers) - 1
    lines = ["  ".join(paint(h.ljust(widths[i]) if i < last else h, "bold", colour)
                       for i, h in enumerate(headers))]
    for row_texts, row_colours in zip(texts, colours, strict=True):
        lines.append("  ".join(
            paint(text.ljust(widths[i]) if i < last else text, row_colours[i], colour)
            for i, text in enumerate(row_texts)))
    return "\n".join(lines)


def print_json(data: Any) -> None:
    """Indented on a terminal; compact (C-encoded: fast for thousands of jobs) elsewhere.
    ``data`` is plain JSON values, never circular: that check is skipped."""
    indent = 2 if is_terminal(sys.stdout) else None
    sys.stdout.write(json.dumps(data, indent=indent, check_circular=False) + "\n")


# -- progress ----------------------------------------------------------------------------


class Progress:
    """Shows how far a set of jobs has got, once per round.

    On a terminal (without NO_COLOR): one bar redrawn in place.  Elsewhere: a
    line per job whose state changed since the last round.
    """

    def __init__(self, stream: IO[str]) -> None:
        self.stream = stream
        self.bar = colour_on(stream) and os.environ.get("TERM") != "dumb"
        self.started = time.monotonic()
        self.seen: dict[str, State] = {}
        self.drawn = False

    def update(self, jobs: Sequence[Job]) -> None:
        if self.bar:
            self._draw(jobs)
            return
        for job in jobs:
            if self.seen.get(job.jobid) != job.state:
                self.seen[job.jobid] = job.state
                extra = f" ({ending(job)})" if job.state == State.TERMINATED else ""
                print(terminal_text(f"{job.jobid}  {job.app.jobname}  {job.state.value}{extra}"),
                      file=self.stream, flush=True)

    def _draw(self, jobs: Sequence[Job]) -> None:
        total = len(jobs)
        ended = sum(job.state == State.TERMINATED for job in jobs)
        bad = sum(job.state == State.TERMINATED and not ok(job) for job in jobs)
        running = sum(job.state == State.RUNNING for job in jobs)
        waiting = total - ended - running
        text = (f" {ended}/{total} done, {running} running, {waiting} waiting"
                + (f", {bad} failed" if bad else "")
                + f"  {duration(time.monotonic() - self.started)}")
        width = max(10, min(40, shutil.get_terminal_size().columns - len(text) - 3))
        filled = width * ended // total if total else width
        self.stream.write(f"\r[{'#' * filled}{'.' * (width - filled)}]{text}\x1b[K")
        self.stream.flush()
        self.drawn = True

    def close(self) -> None:
        if self.drawn:
            self.stream.write("\n")
            self.stream.flush()
            self.drawn = False
