"""Python functions as lrms jobs: ``Executor``, a :class:`concurrent.futures.Executor`.

Each call is one job in the job store, run by the ``lrms.executor.runner`` script
under the resource's Python; its future resolves when the job ends, and any
process can attach to it later by job id (``Executor.attach``, ``result``).
See ``docs/executor.md``.
"""

from __future__ import annotations

from .driver import JobFuture
from .errors import ExecutorError, JobDied, PythonMismatch, RemoteTraceback
from .executor import Executor, result

__all__ = ["Executor", "ExecutorError", "JobDied", "JobFuture", "PythonMismatch",
           "RemoteTraceback", "result"]
