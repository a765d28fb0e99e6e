"""The thread that moves an executor's jobs on and resolves their futures.

One :class:`Driver` per :class:`~lrms.Executor` runs in its own thread with its
own :class:`~lrms.Engine` (and so its own job store connection), used only
there.  While futures are pending it runs rounds (:func:`run_round`, the one
place that decides what moves jobs on) and resolves each future whose job has
terminated.  Rounds come quickly while the calls are young and more slowly as
they age (a fifth of the oldest pending call's age, at most ``poll_interval``):
short calls resolve soon, long sweeps cost few scheduler queries.
"""

from __future__ import annotations

import contextlib
import logging
import queue
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Future, InvalidStateError
from typing import Any

from ..engine import Engine
from ..errors import LRMSError, UnknownJob
from ..job import Job
from ..state import State, TerminationReason
from ..store import ACTIVE
from .errors import ExecutorError
from .payload import outcome

__all__ = ["Driver", "JobFuture", "run_round"]

log = logging.getLogger(__name__)
FIRST_PAUSE = 0.05  # seconds between the first rounds after calls are added
AGE_FRACTION = 0.2  # later pauses: this fraction of the oldest pending call's age


class JobFuture(Future[Any]):
    """A :class:`concurrent.futures.Future` for one executor call; ``jobid`` names its job
    in the job store (give it to :meth:`lrms.Executor.attach` from any process)."""

    def __init__(self, jobid: str) -> None:
        super().__init__()
        self.jobid = jobid


def run_round(engine: Engine) -> None:
    """Move the store's jobs on by one round (submit, refresh, fetch outputs)."""
    done = engine.progress()
    for error in done.errors:
        log.warning("%s", error)


def settle(future: JobFuture, job: Job) -> None:
    """Resolve ``future`` from its terminated ``job`` (a cancelled job cancels it)."""
    if job.termination_reason == TerminationReason.CANCELLED:
        future.cancel()
        return
    value, error = outcome(job)
    try:
        if error is None:
            future.set_result(value)
        else:
            future.set_exception(error)
    except InvalidStateError:  # cancelled meanwhile
        pass


class Driver:
    """Runs rounds in a background thread while futures are pending."""

    def __init__(self, open_engine: Callable[[], Engine], poll_interval: float) -> None:
        self._open_engine = open_engine
        self.poll_interval = poll_interval
        self._commands: queue.SimpleQueue[tuple[str, Any]] = queue.SimpleQueue()
        self._wake = threading.Event()
        self._pending: dict[str, tuple[JobFuture, float]] = {}
        self._stopping = False
        self._thread = threading.Thread(target=self._run, name="lrms-executor", daemon=True)
        self._thread.start()

    # -- called from any thread ------------------------------------------------------

    def watch(self, futures: Sequence[JobFuture]) -> None:
        """Resolve ``futures`` when their jobs terminate (a cancelled future cancels its job)."""
        self._send("watch", list(futures))
        for future in futures:
            future.add_done_callback(self._cancelled)

    def _cancelled(self, future: Future[Any]) -> None:
        if future.cancelled() and isinstance(future, JobFuture):
            self._send("cancel", [future.jobid])

    def forget(self, futures: Sequence[JobFuture]) -> None:
        """Stop following ``futures`` (their jobs go on; another process may attach them)."""
        self._send("forget", [future.jobid for future in futures])

    def stop(self, *, cancel: bool = False) -> None:
        """Stop once nothing is pending; with ``cancel``, cancel every pending call first."""
        self._send("stop", cancel)

    def join(self) -> None:
        self._thread.join()

    def _send(self, command: str, argument: Any) -> None:
        self._commands.put((command, argument))
        self._wake.set()

    # -- the thread ---------------------------------------------------------------------

    def _run(self) -> None:
        engine = self._open_engine()
        try:
            while True:
                self._wake.clear()
                self._obey(engine)
                if not self._pending:
                    if self._stopping:
                        return
                    self._wake.wait()
                    continue
                try:
                    run_round(engine)
                    self._settle(engine)
                except LRMSError as exc:
                    log.warning("executor round failed: %s", exc)
                self._wake.wait(self._pause())
        except BaseException as exc:  # a bug: fail the futures rather than leave them hanging
            log.exception("the executor's thread failed")
            for future, _ in self._pending.values():
                with contextlib.suppress(InvalidStateError):
                    future.set_exception(ExecutorError(f"the executor's thread failed: {exc!r}"))
            raise
        finally:
            engine.close()

    def _pause(self) -> float:
        oldest = min((started for _, started in self._pending.values()), default=time.monotonic())
        return min(self.poll_interval, max(FIRST_PAUSE,
                                           AGE_FRACTION * (time.monotonic() - oldest)))

    def _obey(self, engine: Engine) -> None:
        cancels: list[str] = []
        while True:
            try:
                command, argument = self._commands.get_nowait()
            except queue.Empty:
                break
            if command == "watch":
                now = time.monotonic()
                for future in argument:
                    self._pending[future.jobid] = (future, now)
            elif command == "forget":
                for jobid in argument:
                    self._pending.pop(jobid, None)
            elif command == "cancel":
                cancels += argument
            elif command == "stop":
                self._stopping = True
                if argument:
                    cancels += list(self._pending)
        if cancels:
            self._cancel(engine, cancels)

    def _cancel(self, engine: Engine, jobids: list[str]) -> None:
        """Cancel the jobs still active (arrays with one request each where whole)."""
        jobs = []
        for jobid in dict.fromkeys(jobids):
            try:
                job = engine.get(jobid)
            except LRMSError as exc:
                log.warning("cannot cancel job %s: %s", jobid, exc)
                continue
            if job.state != State.TERMINATED:
                jobs.append(job)
        done = {job.jobid for job in engine.cancel_arrays(jobs)}
        for job in jobs:
            if job.jobid not in done:
                try:
                    engine.cancel(job)
                except LRMSError as exc:
                    log.warning("cannot cancel job %s: %s", job.jobid, exc)
        for jobid in jobids:
            future, _ = self._pending.pop(jobid, (None, 0.0))
            if future is not None:
                future.cancel()

    def _settle(self, engine: Engine) -> None:
        """Resolve the futures whose jobs are no longer active (one store query for all)."""
        active = {job.jobid for job in engine.jobs(states=[State.NEW, *ACTIVE])}
        for jobid in [jobid for jobid in self._pending if jobid not in active]:
            try:
                job = engine.get(jobid)
            except UnknownJob as exc:
                self._pending.pop(jobid)[0].set_exception(exc)
                continue
            if job.state != State.TERMINATED:
                continue  # it changed between the two queries
            if job.unfetched:  # ended in another process whose fetch failed: try once more
                with contextlib.suppress(LRMSError):  # job.fetch_error says why
                    engine.fetch(job)
            settle(self._pending.pop(jobid)[0], job)
