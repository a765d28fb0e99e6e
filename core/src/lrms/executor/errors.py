"""What a future of :class:`lrms.Executor` raises when its call gave no result."""

from __future__ import annotations

from ..errors import LRMSError

__all__ = ["ExecutorError", "JobDied", "PythonMismatch", "RemoteTraceback"]


class RemoteTraceback(Exception):
    """The traceback text of an exception raised on the resource (its ``__cause__``)."""

    def __init__(self, text: str) -> None:
        super().__init__(text)
        self.text = text

    def __str__(self) -> str:
        return self.text


class ExecutorError(LRMSError):
    """The call could not be run on the resource (the message says why)."""


class JobDied(ExecutorError):
    """The call's job ended without writing a result (killed, out of walltime, refused...)."""


class PythonMismatch(ExecutorError):
    """The resource's Python is another minor version than the caller's: the call's
    payload cannot be loaded there."""
