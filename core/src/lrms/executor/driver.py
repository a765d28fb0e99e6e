"""The thread that moves an executor's jobs on and resolves their futures.

One :class:`Driver` per :class:`~lrms.Executor` runs in its own thread with its
own :class:`~lrms.Engine` (and so its own job store connection), used only
there.  While futures are pending, :func:`drive` moves the store's jobs on (or
leaves that to the store's agent when one runs) and the driver resolves each
future whose job has terminated, read from the store.  Rounds follow the
engine's pacing: a resource is queried once per poll interval (shared by every
process using the store), local jobs that end wake the driver at once, and new
calls are submitted within a moment.
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

from .. import agent
from ..engine import Engine
from ..errors import LRMSError, UnknownJob
from ..job import Job
from ..state import State, TerminationReason
from .errors import ExecutorError
from .payload import outcome

__all__ = ["Driver", "JobFuture", "drive"]

log = logging.getLogger(__name__)
SLICE = 0.05  # seconds: the longest a new call waits for the driver to notice it
WATCH = 0.2  # seconds between two looks at the store while the agent moves the jobs
AGENT_CHECK = 2.0  # seconds between two checks whether an agent runs for the store


class JobFuture(Future[Any]):
    """A :class:`concurrent.futures.Future` for one executor call; ``jobid`` names its job
    in the job store (give it to :meth:`lrms.Executor.attach` from any process)."""

    def __init__(self, jobid: str) -> None:
        super().__init__()
        self.jobid = jobid


def drive(engine: Engine, urgent: frozenset[str], agent_runs: bool) -> float:
    """Move the store's jobs on by one round, unless the store's agent does it; return
    the seconds until another round is worth running.  ``urgent`` names resources
    one of whose local jobs may have ended (asked at once)."""
    if agent_runs:
        return WATCH
    done = engine.progress(urgent)
    for error in done.errors:
        log.warning("%s", error)
    return agent.next_poll(engine, sum(engine.store.active_by_resource().values()))


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

    def __init__(self, open_engine: Callable[[], Engine]) -> None:
        self._open_engine = open_engine
        self._commands: queue.SimpleQueue[tuple[str, Any]] = queue.SimpleQueue()
        self._wake = threading.Event()
        #: jobs followed until they terminate: their futures (None: a cancelled call's job)
        self._pending: dict[str, JobFuture | None] = {}
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

    @property
    def pending(self) -> bool:
        """True while some watched future has not resolved."""
        return any(self._pending.values()) or not self._commands.empty()

    def join(self) -> None:
        self._thread.join()

    def _send(self, command: str, argument: Any) -> None:
        self._commands.put((command, argument))
        self._wake.set()

    # -- the thread ---------------------------------------------------------------------

    def _run(self) -> None:
        engine = self._open_engine()
        urgent: frozenset[str] = frozenset()
        agent_runs, checked = False, 0.0
        try:
            while True:
                self._wake.clear()
                self._obey(engine)
                if not self._pending:
                    if self._stopping:
                        return
                    self._wake.wait()
                    continue
                if time.monotonic() - checked >= AGENT_CHECK:
                    agent_runs = agent.running(engine.store.path) is not None
                    checked = time.monotonic()
                try:
                    wait = drive(engine, urgent, agent_runs)
                    self._settle(engine)
                except LRMSError as exc:
                    log.warning("executor round failed: %s", exc)
                    wait = 1.0
                urgent = self._pause(engine, wait, agent_runs)
        except BaseException as exc:  # a bug: fail the futures rather than leave them hanging
            log.exception("the executor's thread failed")
            for future in filter(None, self._pending.values()):
                with contextlib.suppress(InvalidStateError):
                    future.set_exception(ExecutorError(f"the executor's thread failed: {exc!r}"))
            raise
        finally:
            engine.close()

    def _pause(self, engine: Engine, seconds: float, agent_runs: bool) -> frozenset[str]:
        """Wait up to ``seconds`` for a local job to end (its resource is returned), a
        command, or a future resolved (a new round then runs at once)."""
        deadline = time.monotonic() + seconds
        while not self._wake.is_set() and self._pending:
            left = deadline - time.monotonic()
            if left <= 0:
                break
            if agent_runs:
                self._wake.wait(min(left, WATCH))
                self._settle(engine)
                continue
            woken = engine.pause(min(left, SLICE))
            if woken:
                return woken
        return frozenset()

    def _obey(self, engine: Engine) -> None:
        cancels: list[str] = []
        while True:
            try:
                command, argument = self._commands.get_nowait()
            except queue.Empty:
                break
            if command == "watch":
                for future in argument:
                    self._pending[future.jobid] = future
            elif command == "forget":
                for jobid in argument:
                    self._pending.pop(jobid, None)
            elif command == "cancel":
                cancels += argument
            elif command == "stop":
                self._stopping = True
                if argument:
                    cancels += [jobid for jobid, future in self._pending.items() if future]
        if cancels:
            self._cancel(engine, cancels)

    def _cancel(self, engine: Engine, jobids: list[str]) -> None:
        """Cancel the calls' futures and their jobs still active (arrays with one request
        each where whole); those jobs are followed until they have terminated."""
        for future in [self._pending.get(jobid) for jobid in jobids]:
            if future is not None:
                future.cancel()
        jobs = []
        for jobid in dict.fromkeys(jobids):
            try:
                job = engine.get(jobid)
            except LRMSError as exc:
                log.warning("cannot cancel job %s: %s", jobid, exc)
                continue
            if job.state != State.TERMINATED:
                jobs.append(job)
                self._pending[jobid] = None
        done = {job.jobid for job in engine.cancel_arrays(jobs)}
        for job in jobs:
            if job.jobid not in done:
                try:
                    engine.cancel(job)
                except LRMSError as exc:
                    log.warning("cannot cancel job %s: %s", job.jobid, exc)

    def _settle(self, engine: Engine) -> None:
        """Resolve the futures whose jobs have terminated (one cheap store query)."""
        states = engine.store.states_of(list(self._pending))
        for jobid, future in list(self._pending.items()):
            state, replaced_by = states.get(jobid, (None, None))
            if replaced_by:  # resubmitted (lrms resubmit): follow the new attempt
                self._pending[replaced_by] = self._pending.pop(jobid)
                continue
            if state not in (None, State.TERMINATED):
                continue
            del self._pending[jobid]
            if future is None:
                continue
            if state is None:
                with contextlib.suppress(InvalidStateError):
                    future.set_exception(UnknownJob(
                        f"job {jobid} is no longer in job store {engine.store.path}"))
                continue
            job = engine.get(jobid)
            if job.unfetched:  # ended in another process whose fetch failed: try again
                with contextlib.suppress(LRMSError):  # job.fetch_error says why
                    engine.fetch(job)
            settle(future, job)
