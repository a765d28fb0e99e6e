""":class:`Executor`: Python calls as lrms jobs, behind the ``concurrent.futures`` API."""

from __future__ import annotations

import atexit
import concurrent.futures
import logging
import os
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from typing import Any

from ..application import Application
from ..config import Config, load_config
from ..engine import Engine
from ..errors import LRMSError
from ..store import JobStore, default_store_path
from . import runner
from .driver import Driver, JobFuture
from .payload import dump_call, write_call
from .requests import application_fields

__all__ = ["Executor", "result"]

log = logging.getLogger(__name__)
Call = tuple[Callable[..., Any], Sequence[Any], Mapping[str, Any]]


def _run_chunk(function: Callable[..., Any]) -> Callable[[list[tuple[Any, ...]]], list[Any]]:
    """A function calling ``function`` on each argument tuple of a chunk.  It is local,
    so cloudpickle sends it by value: the resource needs no lrms to run it."""
    def chunk(calls: list[tuple[Any, ...]]) -> list[Any]:
        return [function(*args) for args in calls]
    return chunk


class _Shared:
    """What an executor and the executors :meth:`Executor.options` makes share: the
    configuration, the caller's engine (used under ``lock``, for adding and looking
    up jobs only: the driver's engine uses the resources and closes them) and the
    driver thread."""

    def __init__(self, config: Config, store: str, python: str, output_root: str,
                 agent_can_run: bool) -> None:
        self.config, self.store, self.python = config, store, python
        self.output_root, self.agent_can_run = output_root, agent_can_run
        self.lock = threading.Lock()
        self.engine = Engine(config, store, output_root=output_root)
        self.closed = False

    def start(self) -> None:
        config, store, root = self.config, self.store, self.output_root
        self.driver = Driver(lambda: Engine(config, store, output_root=root))
        atexit.register(self.hand_over)

    def hand_over(self) -> None:
        """Leave the pending calls to the store's agent (started unless one runs)."""
        if self.driver.pending and self.agent_can_run:
            try:
                self.engine.start_agent()
            except (OSError, LRMSError) as exc:
                log.warning("cannot start the agent of job store %s: %s; its pending "
                            "calls move on again when a process attaches them or runs "
                            "'lrms wait'", self.store, exc)


def _configured_python(config: Config, resource: str | None) -> str | None:
    """The ``python`` setting of ``resource`` (else of the first configured one)."""
    return config.resource(resource or config.resource_names[0]).python


class Executor(concurrent.futures.Executor):
    """Runs Python calls as lrms jobs on a resource; each call's future outlives the process.

    ``config`` is a :class:`~lrms.Config`, a path or None (the usual search
    order; with no file, the built-in ``localhost``); ``resource`` names the
    configured resource (None: the first that fits the requests); ``store`` is
    the job store (a :class:`~lrms.JobStore`, a path or None: the default one).
    ``requests`` are the jobs' requests: ``cores``, ``gpus``, ``memory``,
    ``walltime``, ``architecture`` or any template field of
    :class:`~lrms.Application` (``account``, ``qos``, ``nodes``, ``extra``...).
    ``python`` is the Python the resource runs the calls with (default: the
    resource's ``python`` setting, else this interpreter on the built-in local
    resource, else ``python3``); it needs
    cloudpickle and the modules the calls use, and the caller's minor version.
    ``output_root`` holds each job's result folder (default: ``executor`` next to
    the store); ``tag`` labels the calls' jobs in the store (``lrms status --tag``,
    ``lrms clean --tag``).  Calls still pending when the process exits (or after
    ``shutdown(wait=False)``) are left to the store's agent, started if needed
    (not for a :class:`~lrms.Config` made without a file: the agent could not load it).
    """

    def __init__(
        self,
        config: Config | str | os.PathLike[str] | None = None,
        resource: str | None = None,
        store: JobStore | str | os.PathLike[str] | None = None,
        *,
        python: str | None = None,
        output_root: str | os.PathLike[str] | None = None,
        tag: str | None = "executor",
        **requests: Any,
    ) -> None:
        loaded = config if isinstance(config, Config) else load_config(config)
        path = (store.path if isinstance(store, JobStore) else default_store_path()
                if store is None else os.path.abspath(os.fspath(store)))
        root = os.path.abspath(os.fspath(output_root) if output_root is not None
                               else os.path.join(os.path.dirname(path), "executor"))
        chosen = python or _configured_python(loaded, resource) or (
            sys.executable if loaded.path is None else "python3")
        self._resource, self._tag = resource, tag
        self._requests = application_fields(requests)
        self._futures: set[JobFuture] = set()
        self._closed = False
        agent_can_run = not isinstance(config, Config) or config.path is not None
        self._shared = _Shared(loaded, path, chosen, root, agent_can_run)
        self._owner = True
        try:
            self._check()
        except BaseException:
            self._shared.engine.store.close()
            raise
        self._shared.start()

    def _check(self) -> None:
        """Refuse requests no resource (or not the named one) can satisfy, at once."""
        self._shared.engine.candidates(self._application("check", None), self._resource)

    def options(self, **requests: Any) -> Executor:
        """An executor with these requests added (e.g. ``cores=4, gpus=1, walltime="1h"``),
        sharing this one's jobs thread; its ``shutdown`` waits for its own calls only."""
        view = object.__new__(Executor)
        view._resource, view._shared, view._owner = self._resource, self._shared, False
        view._tag = self._tag
        view._requests = {**self._requests, **application_fields(requests)}
        view._futures, view._closed = set(), False
        view._check()
        return view

    # -- the Executor API --------------------------------------------------------

    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> JobFuture:
        """Run ``fn(*args, **kwargs)`` as a job; its future resolves with the return value
        or raises the same exception (the remote traceback is its ``__cause__``)."""
        return self._submit_all([(fn, args, kwargs)])[0]

    def map(self, fn: Callable[..., Any], *iterables: Iterable[Any],
            timeout: float | None = None, chunksize: int = 1) -> Iterator[Any]:
        """Results of ``fn`` over ``iterables`` in order; every call is added at once, so a
        backend with arrays runs them as one array (``chunksize`` calls per job)."""
        if isinstance(chunksize, bool) or not isinstance(chunksize, int) or chunksize < 1:
            raise ValueError(f"chunksize must be a positive int, got {chunksize!r}")
        calls = list(zip(*iterables, strict=False))
        if chunksize == 1:
            futures = self._submit_all([(fn, args, {}) for args in calls])
        else:
            chunk = _run_chunk(fn)
            futures = self._submit_all([(chunk, (calls[i:i + chunksize],), {})
                                        for i in range(0, len(calls), chunksize)])
        return self._results(futures, timeout, chunksize > 1)

    @staticmethod
    def _results(futures: list[JobFuture], timeout: float | None,
                 chunked: bool) -> Iterator[Any]:
        deadline = None if timeout is None else timeout + time.monotonic()
        try:
            for future in futures:
                left = None if deadline is None else deadline - time.monotonic()
                value = future.result(left)
                if chunked:
                    yield from value
                else:
                    yield value
        finally:
            for future in futures:
                future.cancel()

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        """No more calls; ``cancel_futures`` cancels the pending ones (and their jobs);
        ``wait`` returns once every call of this executor has resolved."""
        with self._shared.lock:
            self._closed = True
        if cancel_futures:
            for future in list(self._futures):
                future.cancel()
        if wait:
            concurrent.futures.wait(list(self._futures))
        if self._owner and not self._shared.closed:
            self._shared.closed = True
            self._shared.driver.stop(cancel=cancel_futures)
            if wait:
                self._shared.driver.join()
            else:
                self._shared.hand_over()
            atexit.unregister(self._shared.hand_over)
            with self._shared.lock:  # the configuration is the driver's to close
                self._shared.engine.store.close()

    def attach(self, jobid: str) -> JobFuture:
        """The future of the executor call whose job is ``jobid`` (added by any process)."""
        with self._shared.lock:
            self._open()
            job = self._shared.engine.get(jobid)
        if tuple(job.app.arguments[1:3]) != (runner.RUNNER_FILE, runner.CALL_FILE):
            raise ValueError(f"job {job.jobid} is not an executor call")
        future = JobFuture(job.jobid)
        self._track([future])
        return future

    # -- internals ---------------------------------------------------------------------

    def _open(self) -> None:
        if self._closed or self._shared.closed:
            raise RuntimeError("cannot add calls after the executor was shut down")

    def _application(self, name: str, call_file: str | None) -> Application:
        """The job of one call (``call_file``: its payload; None to check the requests)."""
        inputs: dict[str | os.PathLike[str], str] = {runner.__file__: runner.RUNNER_FILE}
        if call_file is not None:
            inputs[call_file] = runner.CALL_FILE
        return Application(
            [self._shared.python, runner.RUNNER_FILE, runner.CALL_FILE], inputs=inputs,
            outputs=[runner.RESULT_FILE, "stdout", "stderr"], jobname=name, **self._requests)

    def _submit_all(self, calls: list[Call]) -> list[JobFuture]:
        """Pickle every call (refusing all if one cannot be), then add them in one go."""
        self._open()
        payloads = [dump_call(function, args, kwargs) for function, args, kwargs in calls]
        folder = os.path.join(self._shared.output_root, "calls")
        apps = []
        for (function, _, _), payload in zip(calls, payloads, strict=True):
            path = os.path.join(folder, uuid.uuid4().hex)
            write_call(path, payload)
            name = str(getattr(function, "__name__", "call"))
            apps.append(self._application(name, path))
        with self._shared.lock:
            self._open()
            jobs = self._shared.engine.add(apps, resource=self._resource, tag=self._tag)
        futures = [JobFuture(job.jobid) for job in jobs]
        self._track(futures)
        return futures

    def _track(self, futures: list[JobFuture]) -> None:
        self._futures.update(futures)
        for future in futures:
            future.add_done_callback(self._futures.discard)
        self._shared.driver.watch(futures)


def result(jobid: str, *, config: Config | str | os.PathLike[str] | None = None,
           store: JobStore | str | os.PathLike[str] | None = None,
           timeout: float | None = None) -> Any:
    """The value of the executor call whose job is ``jobid`` (waiting for it), or its
    exception raised; another process may have added the call."""
    executor = Executor(config, store=store)
    future = executor.attach(jobid)
    try:
        return future.result(timeout)
    finally:
        if not future.done():
            executor._shared.driver.forget([future])
        executor.shutdown(wait=False)
