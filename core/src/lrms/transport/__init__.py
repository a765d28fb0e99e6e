"""Transports: how a backend runs commands and moves files on its resource.

Backends speak only to :class:`Transport`; :class:`LocalTransport` runs on this
machine and ``SshTransport`` (:mod:`lrms.transport.ssh`, needs paramiko) on a
remote frontend, so every backend works both ways with no code of its own.
"""

from __future__ import annotations

from .base import CommandResult, FileStat, Transport
from .local import LocalTransport

__all__ = ["CommandResult", "FileStat", "LocalTransport", "Transport"]
