"""Python functions as lrms jobs: :class:`Executor`, a :class:`concurrent.futures.Executor`.

Each call is one job in the job store, run by :mod:`~lrms.executor.runner` under
the resource's Python; its future resolves when the job ends, and any process
can attach to it later by job id (:meth:`Executor.attach`, :func:`result`).
"""

from __future__ import annotations

from .driver import JobFuture
from .errors import ExecutorError, JobDied, PythonMismatch, RemoteTraceback
from .executor import Executor, result

__all__ = ["Executor", "ExecutorError", "JobDied", "JobFuture", "PythonMismatch",
           "RemoteTraceback", "result"]
