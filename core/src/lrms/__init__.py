"""lrms: run jobs on batch systems and shell hosts, locally or over SSH.

The public API (see ``docs/``)::

    import lrms
    config = lrms.load_config()
    res = config.resource("localhost")
    job = res.submit_job(app, lrms.Job(app))
"""

from __future__ import annotations

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
    "HostKeyError",
    "InvalidJobState",
    "Job",
    "JobStore",
    "LRMSError",
    "LimitExceeded",
    "Memory",
    "Option",
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
    "unregister",
]
