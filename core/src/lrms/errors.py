"""The error hierarchy: everything lrms raises on purpose is an :class:`LRMSError`.

Messages name the resource, the job and the cause, and end with the fix
where one is known, so that the CLI can print them as they are.
"""

from __future__ import annotations

__all__ = [
    "AuthenticationError",
    "BackendError",
    "BackendNotFound",
    "CommandFailed",
    "ConfigError",
    "HostKeyError",
    "InvalidJobState",
    "LRMSError",
    "LimitExceeded",
    "ResourceFull",
    "StoreError",
    "SubmissionRefused",
    "TransportError",
    "UnknownJob",
]


def one_line(text: str, limit: int = 600) -> str:
    """``text`` fit for a one-line message: control characters escaped (a newline shows
    as ``\\n``), and at most ``limit`` characters, the middle cut out."""
    if not text.isprintable():
        text = "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)
    if len(text) > limit:
        half = (limit - 5) // 2
        text = f"{text[:half]} ... {text[-half:]}"
    return text


class LRMSError(Exception):
    """Base of every error lrms raises on purpose."""


class ConfigError(LRMSError):
    """A configuration file (or value) is wrong; ``str()`` reads ``file:line: key: problem``,
    on one line."""

    def __init__(
        self,
        problem: str,
        *,
        path: str | None = None,
        line: int | None = None,
        key: str | None = None,
    ) -> None:
        self.problem, self.path, self.line, self.key = problem, path, line, key
        where = ":".join(str(p) for p in (path, line) if p is not None)
        prefix = ": ".join(p for p in (where, key) if p)
        super().__init__(one_line(f"{prefix}: {problem}" if prefix else problem))


class BackendNotFound(LRMSError):
    """No installed distribution provides the named backend."""


class BackendError(LRMSError):
    """A backend is installed but cannot be loaded or used (import error, bad hooks)."""


class LimitExceeded(LRMSError):
    """A request is over one of the resource's limits; refused before anything is sent."""


class ResourceFull(LRMSError):
    """The resource has no free slot for the job right now; submit again later."""


class SubmissionRefused(LRMSError):
    """The scheduler rejected the job (its own message is part of this one)."""


class StoreError(LRMSError):
    """The job store cannot be used (not a store, newer schema, unwritable)."""


class UnknownJob(LRMSError):
    """No job with that id in the job store."""


class InvalidJobState(LRMSError):
    """The operation is not valid in the job's current state."""


class TransportError(LRMSError):
    """Running a command or moving a file on the resource failed."""


class CommandFailed(TransportError):
    """A command on the resource exited non-zero where success was required."""

    def __init__(self, message: str, *, returncode: int, stdout: bytes, stderr: bytes) -> None:
        super().__init__(message)
        self.returncode, self.stdout, self.stderr = returncode, stdout, stderr


class AuthenticationError(TransportError):
    """The resource refused our credentials, or they could not be used."""


class HostKeyError(TransportError):
    """The SSH host key is unknown or has changed; nothing was sent to the host."""


def cannot_honour(resource: str, backend: str, field: str, jobname: str | None,
                  why: str) -> str:
    """The one message for a job template request a resource refuses before submission."""
    return (f"resource {resource} (backend {backend}) cannot honour {field} of job "
            f"{jobname!r}: {why}")
