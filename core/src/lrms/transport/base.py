"""The transport interface every backend uses, and what it returns."""

from __future__ import annotations

import abc
import dataclasses
import posixpath
import shlex
import stat as stat_module
from collections.abc import Sequence
from typing import IO

from ..errors import CommandFailed

__all__ = ["CommandResult", "FileStat", "Transport"]

_SHOWN_ARGV = 200  # characters of a failed command shown in its error


@dataclasses.dataclass(frozen=True)
class CommandResult:
    """What a command printed and how it exited."""

    argv: tuple[str, ...]
    returncode: int
    stdout: bytes
    stderr: bytes

    @property
    def text(self) -> str:
        """stdout decoded as UTF-8 (undecodable bytes replaced)."""
        return self.stdout.decode("utf-8", "replace")

    @property
    def error_text(self) -> str:
        return self.stderr.decode("utf-8", "replace").strip()


@dataclasses.dataclass(frozen=True)
class FileStat:
    """The parts of ``stat()`` that transfers need."""

    size: int
    mtime: float
    mode: int

    @property
    def is_dir(self) -> bool:
        return stat_module.S_ISDIR(self.mode)


class Transport(abc.ABC):
    """Run argv lists and move files on one host.

    Paths on the resource side are POSIX strings.  File operations raise
    :class:`OSError` subclasses (``FileNotFoundError`` ...) like the ``os``
    module does; failures to reach the host raise
    :class:`~lrms.errors.TransportError`.
    """

    #: True when commands run on this machine (files are local paths).
    is_local: bool = False
    #: The host commands run on, for messages.
    host: str = "localhost"

    @abc.abstractmethod
    def run(
        self,
        argv: Sequence[str],
        *,
        stdin: bytes | None = None,
        timeout: float | None = None,
    ) -> CommandResult:
        """Run ``argv`` (never through a local shell) and wait for it.

        A command that outlives ``timeout`` seconds is killed and raises
        :class:`~lrms.errors.TransportError`.
        """

    def check(
        self,
        argv: Sequence[str],
        *,
        stdin: bytes | None = None,
        timeout: float | None = None,
    ) -> CommandResult:
        """Like :meth:`run`, but raise :class:`~lrms.errors.CommandFailed` on a non-zero exit."""
        result = self.run(argv, stdin=stdin, timeout=timeout)
        if result.returncode != 0:
            raise self.failure(result)
        return result

    def failure(self, result: CommandResult, context: str = "", command: str | None = None,
                said: str | None = None) -> CommandFailed:
        """The :class:`~lrms.errors.CommandFailed` for ``result``: ``context`` (e.g.
        ``"resource hpc: "``), the command (``command``, or the argv), the host, its exit
        status and what it said (``said``, or its stderr, else its stdout)."""
        shown = command or shlex.join(result.argv)
        if len(shown) > _SHOWN_ARGV:
            shown = shown[:_SHOWN_ARGV] + " ..."
        said = said or result.error_text or result.text.strip() or "no output"
        return CommandFailed(
            f"{context}{shown} failed on {self.host} (exit {result.returncode}): {said}",
            returncode=result.returncode, stdout=result.stdout, stderr=result.stderr)

    @abc.abstractmethod
    def put(self, local_path: str, remote_path: str) -> None:
        """Copy one local file to ``remote_path`` (overwritten); an executable file keeps
        its permission bits."""

    @abc.abstractmethod
    def get(self, remote_path: str, local_path: str) -> None:
        """Copy one file from the resource to ``local_path`` (overwritten)."""

    @abc.abstractmethod
    def open(self, path: str, mode: str = "rb") -> IO[bytes]:
        """Open a file on the resource in binary mode (``rb``, ``wb`` or ``ab``)."""

    @abc.abstractmethod
    def stat(self, path: str) -> FileStat:
        """Stat a path on the resource (following links)."""

    @abc.abstractmethod
    def listdir(self, path: str) -> list[str]:
        """Names in a directory on the resource."""

    @abc.abstractmethod
    def makedirs(self, path: str, mode: int = 0o700) -> None:
        """Create a directory and its parents (new ones get ``mode``); fine if it exists."""

    @abc.abstractmethod
    def remove(self, path: str, recursive: bool = False) -> None:
        """Delete a file, or a directory tree with ``recursive``; fine if it is gone."""

    @abc.abstractmethod
    def rename(self, source: str, target: str) -> None:
        """Rename ``source`` to ``target``, replacing it."""

    @abc.abstractmethod
    def home(self) -> str:
        """The login user's home directory on the resource."""

    def close(self) -> None:  # noqa: B027 - nothing to release by default
        """Release connections; idempotent."""

    def exists(self, path: str) -> bool:
        try:
            self.stat(path)
        except FileNotFoundError:
            return False
        return True

    def expanduser(self, path: str) -> str:
        """``~`` and ``~/x`` relative to :meth:`home` (other users' ``~name`` unsupported)."""
        if path == "~":
            return self.home()
        if path.startswith("~/"):
            return posixpath.join(self.home(), path[2:])
        return path

    def read_bytes(self, path: str) -> bytes:
        with self.open(path, "rb") as handle:
            return handle.read()

    def write_bytes(self, path: str, data: bytes) -> None:
        """Write a file atomically (a temporary name, then a rename)."""
        temporary = f"{path}.part"
        with self.open(temporary, "wb") as handle:
            handle.write(data)
        self.rename(temporary, path)

    def put_tree(self, local_dir: str, remote_dir: str) -> None:
        """Copy a local directory tree to ``remote_dir``."""
        import os

        self.makedirs(remote_dir)
        for root, dirs, files in os.walk(local_dir):
            relative = os.path.relpath(root, local_dir)
            target = remote_dir if relative == "." else posixpath.join(
                remote_dir, *relative.split(os.sep))
            for name in dirs:
                self.makedirs(posixpath.join(target, name))
            for name in files:
                self.put(os.path.join(root, name), posixpath.join(target, name))

    def walk_files(self, top: str) -> list[tuple[str, FileStat]]:
        """Every file below ``top`` as (path relative to ``top``, stat); ``top`` may be a file."""
        info = self.stat(top)
        if not info.is_dir:
            return [("", info)]
        found: list[tuple[str, FileStat]] = []
        pending = [""]
        while pending:
            relative = pending.pop()
            for name in sorted(self.listdir(posixpath.join(top, relative) if relative else top)):
                child = posixpath.join(relative, name) if relative else name
                child_info = self.stat(posixpath.join(top, child))
                if child_info.is_dir:
                    pending.append(child)
                else:
                    found.append((child, child_info))
        return found
