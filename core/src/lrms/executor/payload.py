"""The caller's side of an executor call: the call file it sends, the result it reads back.

This module and :mod:`~lrms.executor.runner` are the one place lrms uses pickle.
The caller unpickles only the result file of its own job, fetched from that job's
sandbox into the job's output folder; nothing else is ever unpickled.
"""

from __future__ import annotations

import json
import os
import pickle
import platform
import sys
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import cloudpickle  # type: ignore[import-untyped]

from ..job import Job
from ..state import TerminationReason
from .errors import ExecutorError, JobDied, PythonMismatch, RemoteTraceback
from .runner import FORMAT, RESULT_FILE

__all__ = ["Outcome", "dump_call", "outcome", "write_call"]

#: What a call gave: its value and None, or None and the exception to raise.
Outcome = tuple[Any, BaseException | None]
STDERR_TAIL = 2000  # characters of the job's stderr quoted when it died without a result


def _describe(function: Callable[..., Any]) -> str:
    return getattr(function, "__qualname__", None) or repr(function)


def dump_call(function: Callable[..., Any], args: Sequence[Any],
              kwargs: Mapping[str, Any]) -> bytes:
    """The call file's bytes; :class:`TypeError` naming what cannot be pickled."""
    try:
        body = cloudpickle.dumps((function, tuple(args), dict(kwargs)))
    except Exception as exc:
        parts: list[tuple[str, Any]] = [(f"the function {_describe(function)}", function)]
        parts += [(f"argument {i + 1} of {_describe(function)}", a) for i, a in enumerate(args)]
        parts += [(f"keyword argument {k!r} of {_describe(function)}", v)
                  for k, v in kwargs.items()]
        what = "the call"
        for label, part in parts:
            try:
                cloudpickle.dumps(part)
            except Exception:
                what = label
                break
        raise TypeError(f"cannot send {what} to the resource: it cannot be pickled "
                        f"({type(exc).__name__}: {exc})") from None
    header = {"format": FORMAT, "python": platform.python_version(),
              "version": list(sys.version_info[:2])}
    return json.dumps(header).encode() + b"\n" + bytes(body)


def write_call(path: str, call: bytes) -> None:
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb") as out:
        out.write(call)


def _where(job: Job, header: Mapping[str, Any]) -> str:
    return (f"resource {job.resource} (Python {header.get('python')}, "
            f"{header.get('executable')})")


def _died(job: Job) -> JobDied:
    reason = job.termination_reason.value if job.termination_reason else "unknown"
    code = "" if job.returncode is None else f", return code {job.returncode}"
    text = [f"job {job.jobid} on {job.resource} ended ({reason}{code}) without a result"]
    for note in (job.status_message, job.fetch_error):
        if note:
            text.append(note)
    tail = ""
    if job.output_dir:
        try:
            with open(os.path.join(job.output_dir, job.app.stderr), "rb") as err:
                err.seek(0, os.SEEK_END)
                err.seek(max(0, err.tell() - STDERR_TAIL))
                tail = err.read().decode("utf-8", "replace").strip()
        except OSError:
            pass
    message = "; ".join(text)
    return JobDied(message + (f"; its stderr ends with:\n{tail}" if tail else "; no stderr"))


def outcome(job: Job) -> Outcome:
    """What the terminated ``job``'s call gave, read from its fetched result file."""
    if job.termination_reason == TerminationReason.CANCELLED:
        return None, _died(job)
    try:
        with open(os.path.join(job.output_dir or "", RESULT_FILE), "rb") as source:
            header = json.loads(source.readline().decode())
            body = source.read()
    except FileNotFoundError:
        return None, _died(job)
    except (OSError, ValueError) as exc:
        return None, ExecutorError(f"job {job.jobid}: its result file cannot be read: {exc}")
    kind = header.get("outcome")
    if kind in ("value", "raised") and body:
        try:
            loaded = pickle.loads(body)  # noqa: S301  (this job's own result: see the docstring)
        except Exception as exc:
            return None, ExecutorError(
                f"job {job.jobid}: its result cannot be loaded here "
                f"({type(exc).__name__}: {exc})")
        if kind == "value":
            return loaded, None
        if isinstance(loaded, BaseException):
            loaded.__cause__ = RemoteTraceback(header.get("traceback", ""))
            return None, loaded
    if kind == "raised":
        error = ExecutorError(
            f"job {job.jobid}: the call raised {header.get('type')}: {header.get('message')} "
            "(the exception itself cannot be sent back)")
        error.__cause__ = RemoteTraceback(header.get("traceback", ""))
        return None, error
    if kind == "mismatch":
        return None, PythonMismatch(
            f"job {job.jobid}: the call was pickled by Python {header.get('caller')} but "
            f"{_where(job, header)} cannot load it: run it with a Python "
            f"{header.get('caller', '').rsplit('.', 1)[0]}.x there (the executor's python)")
    if kind == "missing-module":
        module = header.get("module")
        return None, ModuleNotFoundError(
            f"job {job.jobid}: module {module!r} is missing on {_where(job, header)}: "
            "install it there", name=module)
    if kind == "unsendable":
        return None, TypeError(f"job {job.jobid}: the return value cannot be sent back: "
                               f"{header.get('message')}")
    last = str(header.get("traceback", "")).strip().splitlines()[-1:] or [f"outcome {kind!r}"]
    return None, ExecutorError(
        f"job {job.jobid}: the call cannot be loaded on {_where(job, header)}: {last[0]}")
