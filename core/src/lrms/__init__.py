"""lrms: run jobs on batch systems and shell hosts, locally or over SSH.

The public API (see ``docs/``)::

    import lrms
    config = lrms.load_config()
    res = config.resource("localhost")
    job = res.submit_job(app, lrms.Job(app))

Each public name is imported from its module on first use (PEP 562), so
``import lrms`` and ``lrms --help`` load none of the engine, store,
configuration or plugin machinery until something needs it.
"""

from __future__ import annotations

import importlib

TYPE_CHECKING = False  # as typing.TYPE_CHECKING, without importing typing (mypy knows the name)
if TYPE_CHECKING:
    from typing import Any

    from .application import Application
    from .arch import Arch
    from .auth import Auth, SshAuth, authenticated
    from .backends import BackendInfo, list_backends
    from .config import Config, load_config
    from .dependency import Dependency
    from .engine import Engine, Round
    from .errors import (
        AuthenticationError,
        BackendError,
        BackendNotFound,
        CommandFailed,
        ConfigError,
        HostKeyError,
        InvalidJobState,
        LimitExceeded,
        LRMSError,
        ResourceFull,
        StoreError,
        SubmissionRefused,
        TransportError,
        UnknownJob,
    )
    from .executor import (
        Executor,
        ExecutorError,
        JobDied,
        JobFuture,
        PythonMismatch,
        RemoteTraceback,
        result,
    )
    from .hookspecs import API_VERSION, hookimpl
    from .job import Job
    from .options import Option
    from .plugins import register, unregister
    from .quantity import Duration, Memory
    from .resource import LRMS
    from .sandbox import Backend, SandboxBackend
    from .state import State, TerminationReason
    from .status import ResourceStatus
    from .store import JobStore

__version__ = "0.3.0"

#: The module (relative to this package) of each name in ``__all__``.
_MODULES = {
    "API_VERSION": "hookspecs",
    "LRMS": "resource",
    "Application": "application",
    "Arch": "arch",
    "Auth": "auth",
    "AuthenticationError": "errors",
    "Backend": "sandbox",
    "BackendError": "errors",
    "BackendInfo": "backends",
    "BackendNotFound": "errors",
    "CommandFailed": "errors",
    "Config": "config",
    "ConfigError": "errors",
    "Dependency": "dependency",
    "Duration": "quantity",
    "Engine": "engine",
    "HostKeyError": "errors",
    "InvalidJobState": "errors",
    "Job": "job",
    "JobStore": "store",
    "LRMSError": "errors",
    "LimitExceeded": "errors",
    "Memory": "quantity",
    "Option": "options",
    "ResourceFull": "errors",
    "ResourceStatus": "status",
    "Round": "engine",
    "SandboxBackend": "sandbox",
    "SshAuth": "auth",
    "State": "state",
    "StoreError": "errors",
    "SubmissionRefused": "errors",
    "TerminationReason": "state",
    "TransportError": "errors",
    "UnknownJob": "errors",
    "authenticated": "auth",
    "hookimpl": "hookspecs",
    "list_backends": "backends",
    "load_config": "config",
    "register": "plugins",
    "unregister": "plugins",
    "Executor": "executor",
    "ExecutorError": "executor",
    "JobDied": "executor",
    "JobFuture": "executor",
    "PythonMismatch": "executor",
    "RemoteTraceback": "executor",
    "result": "executor",
}

__all__ = [
    "API_VERSION",
    "LRMS",
    "Application",
    "Arch",
    "Auth",
    "AuthenticationError",
    "Backend",
    "BackendError",
    "BackendInfo",
    "BackendNotFound",
    "CommandFailed",
    "Config",
    "ConfigError",
    "Dependency",
    "Duration",
    "Engine",
    "Executor",
    "ExecutorError",
    "HostKeyError",
    "InvalidJobState",
    "Job",
    "JobDied",
    "JobFuture",
    "JobStore",
    "LRMSError",
    "LimitExceeded",
    "Memory",
    "Option",
    "PythonMismatch",
    "RemoteTraceback",
    "ResourceFull",
    "ResourceStatus",
    "Round",
    "SandboxBackend",
    "SshAuth",
    "State",
    "StoreError",
    "SubmissionRefused",
    "TerminationReason",
    "TransportError",
    "UnknownJob",
    "authenticated",
    "hookimpl",
    "list_backends",
    "load_config",
    "register",
    "result",
    "unregister",
]


def __getattr__(name: str) -> Any:
    """Import a public name from its module on first use, then keep it here."""
    module = _MODULES.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{module}", __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
