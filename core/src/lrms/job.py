"""One execution of an :class:`~lrms.Application` on a resource: :class:`Job`."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable, Mapping
from typing import Any

from .application import Application
from .quantity import Duration, Memory
from .state import State, TerminationReason

__all__ = ["Job"]

_BOOKKEEPING = ("tag", "output_dir", "attempt", "retry_of", "replaced_by", "fetched",
                "fetch_error", "single")
# Record fields whose default is not None (a record leaves out every field at its default).
_DEFAULTS: dict[str, Any] = {"backend_data": {}, "attempt": 1, "single": False}
# Names to members, looked up directly (a record holds thousands of them).
_STATES = {state.value: state for state in State}
_REASONS = {reason.value: reason for reason in TerminationReason}
_NOT_ATTRIBUTES = frozenset({"app", "jobid"})  # record fields decoded apart


def _history(value: Any) -> list[tuple[State, float]]:
    history = [(_STATES[state], float(stamp)) for state, stamp in value]
    if not history:
        raise ValueError("a job's history cannot be empty")
    return history


#: How a record's value becomes the job's attribute (the others are kept as they are).
_DECODE: dict[str, Callable[[Any], Any]] = {
    "termination_reason": _REASONS.__getitem__, "used_walltime": Duration,
    "used_cputime": Duration, "max_used_memory": Memory, "backend_data": dict,
    "history": _history,
}


class Job:
    """A job's identity, state (with its history), outcome and usage.

    ``jobid`` is lrms's own unique id (also the sandbox's name); ``native_id``
    is the id the backend's scheduler gave it.  ``returncode`` follows the
    shell: the exit code, or 128 + N for a job killed by signal N.
    ``backend_data`` holds what a backend needs later (JSON values only).

    The engine's bookkeeping: ``tag`` (a user label), ``output_dir`` (where
    outputs are fetched to), ``attempt`` (1 for the first submission),
    ``retry_of`` / ``replaced_by`` (the previous / next attempt's id),
    ``fetched`` (when the terminated job's outputs were fetched), ``fetch_error``
    (why the last fetch failed; None after one succeeds) and ``single`` (submit it on its
    own, never in a scheduler array: ``lrms submit --no-array``).
    """

    def __init__(self, app: Application, *, jobid: str | None = None) -> None:
        if not isinstance(app, Application):
            raise TypeError(f"Job() needs an Application, not {app!r}")
        self.app = app
        self.jobid: str = jobid or f"{time.strftime('%Y%m%d%H%M%S')}-{uuid.uuid4().hex[:10]}"
        self.resource: str | None = None
        self.native_id: str | None = None
        self.sandbox: str | None = None
        self.exitcode: int | None = None
        self.signal: int | None = None
        self.termination_reason: TerminationReason | None = None
        self.status_message: str | None = None
        self.used_walltime: Duration | None = None
        self.used_cputime: Duration | None = None
        self.max_used_memory: Memory | None = None
        self.backend_data: dict[str, Any] = {}
        self.tag: str | None = None
        self.output_dir: str | None = None
        self.attempt: int = 1
        self.retry_of: str | None = None
        self.replaced_by: str | None = None
        self.fetched: float | None = None
        self.fetch_error: str | None = None
        self.single: bool = False
        self.history: list[tuple[State, float]] = [(State.NEW, time.time())]

    @property
    def state(self) -> State:
        return self.history[-1][0]

    @state.setter
    def state(self, new: State) -> None:
        new = State(new)
        if new != self.state:
            self.history.append((new, time.time()))

    @property
    def unfetched(self) -> bool:
        """True for a terminated job whose declared outputs were never fetched from its sandbox."""
        return (self.state == State.TERMINATED and bool(self.app.outputs)
                and self.native_id is not None and self.sandbox is not None
                and self.fetched is None)

    @property
    def failed(self) -> bool:
        """True for a terminated job that did not exit 0 (a cancelled one has not failed)."""
        if self.state != State.TERMINATED or self.termination_reason == TerminationReason.CANCELLED:
            return False
        return self.returncode != 0 or self.termination_reason not in (
            None, TerminationReason.EXITED)

    @property
    def returncode(self) -> int | None:
        if self.signal is not None:
            return 128 + self.signal
        return self.exitcode

    def record_outcome(
        self,
        *,
        exitcode: int | None = None,
        signal: int | None = None,
        reason: TerminationReason | None = None,
        walltime: Duration | None = None,
        cputime: Duration | None = None,
        max_memory: Memory | None = None,
    ) -> None:
        """Store what a backend learnt of a finished job (None keeps what is known)."""
        if exitcode is not None or signal is not None:
            self.exitcode, self.signal = exitcode, signal
        if reason is not None:
            self.termination_reason = reason
        if walltime is not None:
            self.used_walltime = walltime
        if cputime is not None:
            self.used_cputime = cputime
        if max_memory is not None:
            self.max_used_memory = max_memory

    def __repr__(self) -> str:
        where = f" {self.resource}:{self.native_id}" if self.resource else ""
        return f"<Job {self.jobid} {self.app.jobname!r} {self.state.value}{where}>"

    def to_dict(self) -> dict[str, Any]:
        return {
            "jobid": self.jobid,
            "app": self.app.to_dict(),
            "resource": self.resource,
            "native_id": self.native_id,
            "sandbox": self.sandbox,
            "exitcode": self.exitcode,
            "signal": self.signal,
            "termination_reason": None if self.termination_reason is None
            else self.termination_reason.value,
            "status_message": self.status_message,
            "used_walltime": None if self.used_walltime is None else self.used_walltime.seconds,
            "used_cputime": None if self.used_cputime is None else self.used_cputime.seconds,
            "max_used_memory": None if self.max_used_memory is None
            else self.max_used_memory.bytes,
            "backend_data": dict(self.backend_data),
            **{name: getattr(self, name) for name in _BOOKKEEPING},
            "history": [[state.value, stamp] for state, stamp in self.history],
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Job:
        """A job from ``to_dict()`` output; its application is checked as if new."""
        return cls._from(data, Application.from_dict(data["app"]))

    def to_json(self) -> str:
        """The job as the job store keeps it: ``to_dict()`` as compact JSON, without
        the fields at their default (:meth:`from_json` reads it back)."""
        data = self.to_dict()
        data["app"] = self.app.to_record()
        record = {name: value for name, value in data.items()
                  if value is not None and not (name in _DEFAULTS and value == _DEFAULTS[name])}
        return json.dumps(record, sort_keys=True, separators=(",", ":"))

    @classmethod
    def from_json(cls, text: str) -> Job:
        """A job from a record lrms wrote (:meth:`to_json`, or ``to_dict()`` as JSON).

        Trusted, as the job store's records are: the application is not checked field by
        field again (:meth:`Application.from_record`), only the record's shape; a
        damaged record raises :class:`ValueError`, :class:`TypeError` or
        :class:`KeyError`.  Use ``from_dict()`` for data from anywhere else.
        """
        data = json.loads(text)
        return cls._from(data, Application.from_record(data["app"]))

    @classmethod
    def _from(cls, data: Mapping[str, Any], app: Application) -> Job:
        """The job ``data`` describes, running ``app``."""
        jobid = data["jobid"]
        if type(jobid) is not str:
            raise TypeError(f"jobid must be a string, got {jobid!r}")
        job = cls(app, jobid=jobid)
        attributes = vars(job)
        for name, value in data.items():
            if name in _NOT_ATTRIBUTES or name not in attributes or value is None:
                continue  # an unknown or absent field keeps its default
            decode = _DECODE.get(name)
            attributes[name] = value if decode is None else decode(value)
        return job
