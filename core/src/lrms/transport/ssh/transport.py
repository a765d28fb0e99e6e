"""The SSH transport handle: commands and SFTP on a pooled connection, reconnecting once."""

from __future__ import annotations

import contextlib
import errno
import logging
import weakref
from collections.abc import Callable, Sequence
from typing import IO, TypeVar, cast

import paramiko

from ...auth import SshAuth
from ...errors import AuthenticationError, HostKeyError, TransportError
from ..base import CommandResult, FileStat, Transport
from . import files
from .commands import collect, remote_command
from .pool import acquire, release, sftp_lost
from .settings import load_config, resolve
from .workarounds import NETWORK_ERRORS

log = logging.getLogger(__name__)

_T = TypeVar("_T")


class _Dropped(Exception):
    """The connection went away during an operation (the cause is chained)."""


class SshTransport(Transport):
    """Commands and files on ``host`` over a pooled SSH connection.

    ``ssh_config`` names an OpenSSH client config file to read instead of
    ``$LRMS_SSH_CONFIG`` / ``~/.ssh/config`` (``"none"``: read none).  The
    connection is opened (or joined) here, so login problems raise at once.
    """

    is_local = False

    def __init__(
        self,
        host: str,
        port: int | None = None,
        auth: SshAuth | None = None,
        *,
        ssh_config: str | None = None,
    ) -> None:
        auth = auth or SshAuth()
        self.host = host
        self._target = resolve(host, port, auth.username, auth, load_config(ssh_config))
        self._conn = acquire(self._target)
        self._finalizer = weakref.finalize(self, release, self._conn)
        try:
            self._conn.transport()
        except BaseException:
            self.close()
            raise

    def __repr__(self) -> str:
        state = "" if self._finalizer.alive else " closed"
        return f"<SshTransport {self._target}{state}>"

    @property
    def paramiko_transport(self) -> paramiko.Transport:
        """The shared paramiko transport (connected), for diagnostics."""
        return self._live()

    def close(self) -> None:
        self._finalizer()

    def _live(self) -> paramiko.Transport:
        if not self._finalizer.alive:
            raise TransportError(f"the SSH transport to {self._target} is closed")
        return self._conn.transport()

    def _retry(self, what: str, operation: Callable[[paramiko.Transport], _T]) -> _T:
        """Run ``operation``; on a dropped connection reconnect once and run it again."""
        for attempt in (1, 2):
            if not self._finalizer.alive:
                raise TransportError(f"the SSH transport to {self._target} is closed")
            try:
                transport = self._conn.transport()
            except (AuthenticationError, HostKeyError):
                raise
            except TransportError as exc:
                raise TransportError(f"lost connection to {self._target} ({what}): {exc}") from exc
            try:
                return operation(transport)
            except _Dropped as dropped:
                self._conn.discard(transport)
                cause = dropped.__cause__
                if attempt == 2:
                    raise TransportError(
                        f"lost connection to {self._target} again after reconnecting ({what}): "
                        f"{cause or type(cause).__name__}") from cause
                log.warning("connection to %s dropped (%s: %s); reconnecting",
                            self._target, what, cause or type(cause).__name__)
        raise AssertionError("unreachable")

    def _sftp(self, what: str, operation: Callable[[paramiko.SFTPClient], _T], *,
              lend: bool = False) -> _T:
        def attempt(transport: paramiko.Transport) -> _T:
            try:
                sftp = self._conn.checkout(transport)
            except NETWORK_ERRORS as exc:
                if not transport.is_active():
                    raise _Dropped() from exc
                raise TransportError(f"cannot start SFTP on {self._target}: {exc}") from exc
            try:
                result = operation(sftp)
            except NETWORK_ERRORS as exc:
                if sftp_lost(sftp, transport):
                    sftp.close()
                    raise _Dropped() from exc
                self._conn.checkin(sftp, transport)
                raise
            self._conn.checkin(sftp, transport, cast(paramiko.SFTPFile, result) if lend else None)
            return result

        return self._retry(what, attempt)

    # -- commands

    def run(
        self,
        argv: Sequence[str],
        *,
        stdin: bytes | None = None,
        timeout: float | None = None,
    ) -> CommandResult:
        return self._exec(argv, stdin, timeout, idempotent=False)

    def _exec(self, argv: Sequence[str], stdin: bytes | None, timeout: float | None,
              idempotent: bool) -> CommandResult:
        command = remote_command(argv)

        def attempt(transport: paramiko.Transport) -> CommandResult:
            try:
                channel = transport.open_session(timeout=self._target.connect_timeout)
            except NETWORK_ERRORS as exc:
                raise _Dropped() from exc  # nothing was started: safe to retry
            try:
                channel.exec_command(command)
                result = collect(channel, argv, stdin, timeout, self.host)
            except NETWORK_ERRORS as exc:
                if idempotent and not transport.is_active():
                    raise _Dropped() from exc
                lost = "lost connection" if not transport.is_active() else "failure"
                raise TransportError(
                    f"{lost} on {self._target} while running {argv[0]} (not retried: it may "
                    f"have started): {exc or type(exc).__name__}") from exc
            finally:
                with contextlib.suppress(*NETWORK_ERRORS):
                    channel.close()
            if result is None:  # closed without an exit status
                if idempotent and not transport.is_active():
                    raise _Dropped() from EOFError("connection closed")
                raise TransportError(
                    f"lost connection to {self._target} while running {argv[0]} (not retried: "
                    "it may have run)")
            return result

        return self._retry(f"running {argv[0]}", attempt)

    # -- files

    def put(self, local_path: str, remote_path: str) -> None:
        self._sftp(f"uploading {remote_path}",
                   lambda sftp: files.upload(sftp, local_path, remote_path))

    def get(self, remote_path: str, local_path: str) -> None:
        self._sftp(f"downloading {remote_path}",
                   lambda sftp: files.download(sftp, remote_path, local_path))

    def open(self, path: str, mode: str = "rb") -> IO[bytes]:
        """A paramiko ``SFTPFile``; writes are pipelined (errors surface at close)."""
        if mode not in ("rb", "wb", "ab"):
            raise ValueError(f"unsupported mode {mode!r}")
        handle = self._sftp(f"opening {path}", lambda sftp: files.open_file(sftp, path, mode),
                            lend=True)
        return cast(IO[bytes], handle)

    def read_bytes(self, path: str) -> bytes:
        return self._sftp(f"reading {path}", lambda sftp: files.read_all(sftp, path))

    def stat(self, path: str) -> FileStat:
        return self._sftp(f"stat {path}", lambda sftp: files.filestat(sftp.stat(path)))

    def listdir(self, path: str) -> list[str]:
        return self._sftp(f"listing {path}", lambda sftp: sftp.listdir(path))

    def makedirs(self, path: str, mode: int = 0o700) -> None:
        self._sftp(f"creating {path}", lambda sftp: files.makedirs(sftp, path, mode))

    def remove(self, path: str, recursive: bool = False) -> None:
        if recursive:
            result = self._exec(["rm", "-rf", "--", path], None, None, idempotent=True)
            if result.returncode != 0:
                code = errno.EACCES if b"Permission denied" in result.stderr else errno.EIO
                raise OSError(code, f"rm -rf failed on {self.host}: {result.error_text}", path)
            return
        self._sftp(f"removing {path}", lambda sftp: files.unlink(sftp, path))

    def rename(self, source: str, target: str) -> None:
        self._sftp(f"renaming {source}", lambda sftp: files.rename(sftp, source, target))

    def home(self) -> str:
        if self._conn.home is None:
            self._conn.home = self._sftp("home", lambda sftp: sftp.normalize("."))
        return self._conn.home

    def walk_files(self, top: str) -> list[tuple[str, FileStat]]:
        """Like the base class, with one round trip per directory instead of per file."""
        return self._sftp(f"listing {top}", lambda sftp: files.walk(sftp, top))


def open_transport(
    host: str,
    port: int | None,
    auth: SshAuth | None,
    *,
    ssh_config: str | None = None,
) -> Transport:
    """A connected :class:`SshTransport` handle on the pooled connection for this login."""
    return SshTransport(host, port, auth, ssh_config=ssh_config)
