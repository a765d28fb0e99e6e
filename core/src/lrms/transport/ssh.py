"""The SSH transport: commands and SFTP over one shared paramiko connection per login.

:func:`open_transport` (or :class:`SshTransport`) returns a *handle* on a
pooled connection: every handle for the same user, host, port and auth
settings shares one SSH connection (and its SFTP session), which is closed
when the last handle closes.

Settings come from the ``SshAuth`` object and the ``port`` argument first,
then from the OpenSSH client config (``HostName``, ``User``, ``Port``,
``IdentityFile``, ``ProxyJump``, ``ProxyCommand``).  The config file is the
``ssh_config`` argument, else ``$LRMS_SSH_CONFIG``, else ``~/.ssh/config``;
``none`` (or an empty value) reads no config file.

Host keys are checked against ``auth.known_hosts`` (else ``~/.ssh/known_hosts``).
Unknown keys are refused (``host_key_policy: reject``) or trusted on first use
and appended to that file (``accept-new``); a changed key is always refused.

Reconnects: when the connection drops during an operation, it is reopened
once and the operation retried; a second failure raises
:class:`~lrms.errors.TransportError`.  :meth:`SshTransport.run` is retried
only if the drop happened before the ``exec`` request was sent (opening the
channel failed), so a command such as a job submission never runs twice; a
drop after that raises ``TransportError`` (the command may or may not have run).
"""

from __future__ import annotations

import contextlib
import dataclasses
import errno
import getpass
import logging
import os
import posixpath
import select
import shlex
import socket
import stat as stat_module
import threading
import time
import weakref
from collections.abc import Callable, Sequence
from typing import IO, Any, TypeVar, cast

import paramiko
from paramiko.common import cMSG_CHANNEL_DATA, cMSG_CHANNEL_REQUEST

from ..auth import SshAuth
from ..errors import AuthenticationError, ConfigError, HostKeyError, TransportError
from .base import CommandResult, FileStat, Transport

__all__ = ["CONFIG_ENV", "SshTransport", "open_transport"]

log = logging.getLogger("lrms.transport.ssh")

#: Environment variable naming an alternative OpenSSH client config file.
CONFIG_ENV = "LRMS_SSH_CONFIG"

_T = TypeVar("_T")
_NETWORK_ERRORS = (EOFError, OSError, paramiko.SSHException)
_CHUNK = 1 << 16
_INLINE_STDIN = 1 << 15  # larger stdin is fed by a thread while output is read
_MAX_IDLE_SFTP = 4
_MAX_JUMPS = 8


@dataclasses.dataclass(frozen=True)
class _Target:
    """Where and how to log in; equal targets share a pooled connection."""

    hostname: str
    port: int
    username: str
    keyfiles: tuple[str, ...]
    explicit_key: bool
    known_hosts: str
    host_key_policy: str
    passphrase_env: str | None
    connect_timeout: float
    keepalive: int
    proxy_command: str | None = None
    jump: _Target | None = None

    def __str__(self) -> str:
        return f"{self.username}@{self.hostname}:{self.port}"

    @property
    def known_hosts_name(self) -> str:
        return self.hostname if self.port == 22 else f"[{self.hostname}]:{self.port}"


class _Dropped(Exception):
    """The connection went away during an operation (the cause is chained)."""


# -- resolving settings ---------------------------------------------------------


def _load_config(path: str | None) -> paramiko.SSHConfig | None:
    source = "the ssh_config argument"
    if path is None:
        path, source = os.environ.get(CONFIG_ENV), f"${CONFIG_ENV}"
    if path is None:
        default = os.path.expanduser("~/.ssh/config")
        path = default if os.path.isfile(default) else "none"
    elif path not in ("", "none") and not os.path.isfile(os.path.expanduser(path)):
        raise TransportError(f"ssh config file {path} (from {source}) does not exist")
    if path in ("", "none"):
        return None
    try:
        return paramiko.SSHConfig.from_path(os.path.expanduser(path))
    except (OSError, paramiko.SSHException) as exc:
        raise TransportError(f"cannot read ssh config file {path}: {exc}") from exc


def _resolve(
    host: str,
    port: int | None,
    user: str | None,
    auth: SshAuth,
    config: paramiko.SSHConfig | None,
    jumps: list[str] | None = None,
    depth: int = 0,
) -> _Target:
    """Explicit values first, then the ssh config; ``jumps`` overrides its ProxyJump."""
    if depth > _MAX_JUMPS:
        raise TransportError(f"ProxyJump chain to {host} has over {_MAX_JUMPS} hops (a loop?)")
    if auth.host_key_policy not in ("reject", "accept-new"):
        raise ConfigError(f"must be 'reject' or 'accept-new', not {auth.host_key_policy!r}",
                          key="host_key_policy")
    options: dict[str, Any] = dict(config.lookup(host)) if config is not None else {}
    if auth.keyfile:
        keyfiles: tuple[str, ...] = (os.path.expanduser(auth.keyfile),)
    else:
        keyfiles = tuple(os.path.expanduser(p) for p in options.get("identityfile", []))
    jump: _Target | None = None
    spec = ",".join(jumps) if jumps is not None else options.get("proxyjump", "")
    if spec and spec != "none":
        hops = spec.split(",")
        hop_user, hop_host, hop_port = _split_hop(hops[-1])
        jump = _resolve(hop_host, hop_port, hop_user, auth, config, hops[:-1], depth + 1)
    return _Target(
        hostname=options.get("hostname", host),
        port=port or int(options.get("port", 22)),
        username=user or options.get("user") or auth.username or getpass.getuser(),
        keyfiles=keyfiles,
        explicit_key=bool(auth.keyfile),
        known_hosts=os.path.expanduser(auth.known_hosts or "~/.ssh/known_hosts"),
        host_key_policy=auth.host_key_policy,
        passphrase_env=auth.passphrase_env,
        connect_timeout=auth.connect_timeout,
        keepalive=auth.keepalive,
        proxy_command=None if jump else options.get("proxycommand"),
        jump=jump,
    )


def _split_hop(spec: str) -> tuple[str | None, str, int | None]:
    """``[ssh://][user@]host[:port]`` (IPv6 hosts in brackets)."""
    spec = spec.strip()
    spec = spec[len("ssh://"):] if spec.startswith("ssh://") else spec
    user, _, hostport = spec.rpartition("@")
    if hostport.startswith("["):
        host, _, rest = hostport[1:].partition("]")
        port = rest[1:]
    else:
        host, _, port = hostport.partition(":")
    return user or None, host, int(port) if port else None


# -- keys and host keys -------------------------------------------------------------


def _passphrase_hint(what: str, env_name: str | None) -> str:
    hint = (f"{what} is protected by a passphrase: set passphrase_env in the auth section "
            "to the name of an environment variable holding it")
    if env_name:
        hint += f" (the variable {env_name} named by passphrase_env is unset or empty)"
    return hint


def _load_key(path: str, passphrase: str | None, env_name: str | None) -> paramiko.PKey:
    if not os.path.isfile(path):
        raise AuthenticationError(f"SSH key file {path} (auth keyfile) does not exist")
    try:
        try:
            return paramiko.PKey.from_path(path)
        except TypeError:  # cryptography: encrypted and no password given
            if not passphrase:
                hint = _passphrase_hint(f"SSH key file {path}", env_name)
                raise AuthenticationError(hint) from None
            return paramiko.PKey.from_path(path, cast(str, passphrase.encode()))
    except AuthenticationError:
        raise
    except (ValueError, TypeError, OSError, paramiko.SSHException) as exc:
        hint = f"; is the passphrase in ${env_name} right?" if passphrase else ""
        raise AuthenticationError(
            f"cannot load SSH key file {path}: {type(exc).__name__}: {exc}{hint}") from None


class _HostKeyPolicy(paramiko.MissingHostKeyPolicy):
    """Unknown host keys: refuse with instructions, or (accept-new) record them."""

    _append_lock = threading.Lock()

    def __init__(self, target: _Target) -> None:
        self.target = target

    def missing_host_key(
        self, client: paramiko.SSHClient, hostname: str, key: paramiko.PKey
    ) -> None:
        path = self.target.known_hosts
        if self.target.host_key_policy != "accept-new":
            raise HostKeyError(
                f"the host key of {hostname} is unknown (not in {path}); the server offered "
                f"{key.get_name()} {key.fingerprint}. Check this fingerprint with the host's "
                f"administrator, then add the key with: ssh-keyscan -p {self.target.port} "
                f"{self.target.hostname} >> {path} (compare: ssh-keygen -lf {path}), or set "
                "host_key_policy: accept-new in the auth section to trust it on first use")
        with self._append_lock:
            os.makedirs(os.path.dirname(path) or ".", mode=0o700, exist_ok=True)
            with open(path, "a+b", opener=lambda p, flags: os.open(p, flags, 0o644)) as handle:
                size = handle.seek(0, os.SEEK_END)
                if size and (handle.seek(size - 1), handle.read(1))[1] != b"\n":
                    handle.write(b"\n")
                handle.write(f"{hostname} {key.get_name()} {key.get_base64()}\n".encode())
        client.get_host_keys().add(hostname, key.get_name(), key)
        log.warning("accepted new host key for %s (%s %s) and added it to %s",
                    hostname, key.get_name(), key.fingerprint, path)


def _known_hosts_line(path: str, name: str) -> int | None:
    """The line of ``path`` holding a key for ``name`` (plain or hashed), if any."""
    try:
        with open(path, encoding="utf-8", errors="replace") as handle:
            lines = handle.read().splitlines()
    except OSError:
        return None
    for number, line in enumerate(lines, 1):
        fields = line.split()
        if fields and fields[0].startswith("@"):
            fields = fields[1:]
        if len(fields) < 3 or fields[0].startswith("#"):
            continue
        for pattern in fields[0].split(","):
            if pattern == name or (pattern.startswith("|1|")
                                   and paramiko.HostKeys.hash_host(name, pattern) == pattern):
                return number
    return None


def _changed_key_error(target: _Target, exc: paramiko.BadHostKeyException) -> HostKeyError:
    name, path = target.known_hosts_name, target.known_hosts
    line = _known_hosts_line(path, name)
    where = f"{path}:{line}" if line else path
    return HostKeyError(
        f"the host key of {name} has CHANGED: the server offered {exc.key.get_name()} "
        f"{exc.key.fingerprint} but {where} has {exc.expected_key.get_name()} "
        f"{exc.expected_key.fingerprint}. This may be an attack (someone intercepting the "
        "connection) or a reinstalled host; lrms refuses to connect whatever host_key_policy "
        f"says. If the change is expected, verify the new fingerprint, remove the old entry "
        f"(line {line or '?'} of {path}, or: ssh-keygen -R '{name}' -f {path}) and add the new key")


# -- pooled connections ---------------------------------------------------------------


class _Connection:
    """One SSH login shared by handles: the paramiko client, idle SFTP sessions, reconnects."""

    def __init__(self, target: _Target) -> None:
        self.target = target
        self.refs = 0
        self.home: str | None = None
        self._lock = threading.RLock()
        self._client: paramiko.SSHClient | None = None
        self._transport: paramiko.Transport | None = None
        self._jump: _Connection | None = None
        self._idle: list[paramiko.SFTPClient] = []
        self._lent: list[tuple[paramiko.SFTPClient, weakref.ref[paramiko.SFTPFile]]] = []

    def transport(self) -> paramiko.Transport:
        """The live paramiko transport, (re)connecting if needed."""
        with self._lock:
            if self._transport is not None and self._transport.is_active():
                return self._transport
            if self._transport is not None:
                log.warning("connection to %s was lost; reconnecting", self.target)
                self._drop_locked()
            self._client, self._transport = self._connect()
            return self._transport

    def discard(self, transport: paramiko.Transport) -> None:
        """Close ``transport`` after a failure, unless it was already replaced."""
        with self._lock:
            if transport is self._transport:
                self._drop_locked()

    def close(self) -> None:
        with self._lock:
            self._drop_locked()
            jump, self._jump = self._jump, None
        if jump is not None:
            _release(jump)

    def _drop_locked(self) -> None:
        client, self._client, self._transport = self._client, None, None
        self._idle, self._lent = [], []
        if client is not None:
            client.close()

    def _connect(self) -> tuple[paramiko.SSHClient, paramiko.Transport]:
        target, started = self.target, time.monotonic()
        passphrase = os.environ.get(target.passphrase_env) if target.passphrase_env else None
        kwargs: dict[str, Any] = {"passphrase": passphrase or None}
        if target.explicit_key:
            key = _load_key(target.keyfiles[0], passphrase, target.passphrase_env)
            kwargs.update(pkey=key, look_for_keys=False, allow_agent=False)
        elif target.keyfiles:  # IdentityFile from the ssh config, plus the agent
            kwargs.update(key_filename=[p for p in target.keyfiles if os.path.isfile(p)],
                          look_for_keys=False)
        sock = self._open_socket()
        client = paramiko.SSHClient()
        client.set_missing_host_key_policy(_HostKeyPolicy(target))
        if os.path.isfile(target.known_hosts):
            client.load_host_keys(target.known_hosts)
        try:
            client.connect(
                target.hostname, target.port, username=target.username, sock=sock,
                timeout=target.connect_timeout, banner_timeout=target.connect_timeout,
                auth_timeout=max(target.connect_timeout, 30.0), **kwargs)
        except BaseException as exc:
            client.close()
            error = self._connect_error(exc)
            if error is exc:
                raise
            raise error from exc
        transport = client.get_transport()
        assert transport is not None
        if target.keepalive > 0:
            transport.set_keepalive(target.keepalive)
        via = f" via {target.jump}" if target.jump else ""
        log.info("connected to %s%s in %.0f ms", target, via, (time.monotonic() - started) * 1000)
        return client, transport

    def _connect_error(self, exc: BaseException) -> BaseException:
        target = self.target
        if isinstance(exc, HostKeyError):
            return exc
        if isinstance(exc, paramiko.BadHostKeyException):
            return _changed_key_error(target, exc)
        if isinstance(exc, paramiko.PasswordRequiredException):
            hint = _passphrase_hint(f"an SSH key for {target}", target.passphrase_env)
            return AuthenticationError(hint)
        if isinstance(exc, paramiko.AuthenticationException) or (
                str(exc) == "No authentication methods available"):
            keys = ", ".join(target.keyfiles) or "ssh agent and default keys"
            return AuthenticationError(
                f"{target} refused the login ({exc}); keys tried: {keys}. Check username and "
                "keyfile in the auth section")
        if isinstance(exc, _NETWORK_ERRORS):
            return TransportError(f"cannot connect to {target}: {exc or type(exc).__name__}")
        return exc

    def _open_socket(self) -> socket.socket | paramiko.Channel | paramiko.ProxyCommand:
        target = self.target
        if target.jump is not None:
            if self._jump is None:
                self._jump = _acquire(target.jump)
            try:
                return self._jump.transport().open_channel(
                    "direct-tcpip", (target.hostname, target.port), ("127.0.0.1", 0),
                    timeout=target.connect_timeout)
            except _NETWORK_ERRORS as exc:
                raise TransportError(
                    f"cannot reach {target} through jump host {target.jump}: {exc}") from exc
        if target.proxy_command:
            return paramiko.ProxyCommand(target.proxy_command)
        try:
            sock = socket.create_connection((target.hostname, target.port), target.connect_timeout)
        except TimeoutError:
            raise TransportError(f"cannot connect to {target}: "
                                 f"no answer within {target.connect_timeout} s") from None
        except OSError as exc:
            raise TransportError(f"cannot connect to {target}: {exc.strerror or exc}") from None
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)  # else ~40 ms per round trip
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)
        if target.keepalive > 0 and hasattr(socket, "TCP_USER_TIMEOUT"):
            # with keep-alives flowing, a peer silent for 3 intervals is gone: close the
            # socket then, so that waiting operations fail (and reconnect) instead of hanging
            timeout_ms = max(3 * target.keepalive, 30) * 1000
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_USER_TIMEOUT, timeout_ms)
        return sock

    # SFTP sessions: one is normally enough; concurrent users (threads, open files) get more.

    def checkout(self, transport: paramiko.Transport) -> paramiko.SFTPClient:
        with self._lock:
            still_lent = []
            for sftp, ref in self._lent:
                handle = ref()
                if handle is None or handle.closed:
                    self._idle.append(sftp)
                else:
                    still_lent.append((sftp, ref))
            self._lent = still_lent
            while self._idle and transport is self._transport:
                sftp = self._idle.pop()
                if not _sftp_lost(sftp, transport):
                    return sftp
                sftp.close()
        session = paramiko.SFTPClient.from_transport(transport)
        if session is None:
            raise paramiko.SSHException("the server refused the SFTP subsystem")
        return session

    def checkin(self, sftp: paramiko.SFTPClient, transport: paramiko.Transport,
                handle: paramiko.SFTPFile | None = None) -> None:
        """Return a session; with ``handle``, only once that file is closed."""
        with self._lock:
            if transport is self._transport and not _sftp_lost(sftp, transport):
                if handle is not None:
                    self._lent.append((sftp, weakref.ref(handle)))
                    return
                if len(self._idle) < _MAX_IDLE_SFTP:
                    self._idle.append(sftp)
                    return
        if handle is None:
            sftp.close()


def _sftp_lost(sftp: paramiko.SFTPClient, transport: paramiko.Transport) -> bool:
    channel = sftp.get_channel()
    return (not transport.is_active() or channel is None or bool(channel.closed)
            or bool(channel.eof_received))


_POOL: dict[_Target, _Connection] = {}
_POOL_LOCK = threading.Lock()


def _acquire(target: _Target) -> _Connection:
    with _POOL_LOCK:
        connection = _POOL.get(target)
        if connection is None:
            connection = _POOL[target] = _Connection(target)
        connection.refs += 1
        return connection


def _release(connection: _Connection) -> None:
    with _POOL_LOCK:
        connection.refs -= 1
        if connection.refs > 0:
            return
        if _POOL.get(connection.target) is connection:
            del _POOL[connection.target]
    connection.close()


def _filestat(attrs: paramiko.SFTPAttributes) -> FileStat:
    return FileStat(attrs.st_size or 0, float(attrs.st_mtime or 0), attrs.st_mode or 0)


def _send_safely(channel: paramiko.Channel, build: Callable[[], paramiko.Message | None]) -> None:
    """Send ``build()`` on ``channel`` unless it is closed, and before any CLOSE of ours.

    paramiko builds channel messages under the channel lock but sends them after
    releasing it, so an EOF built just as the server's CLOSE arrives can follow the
    CLOSE paramiko sends back at once; OpenSSH then drops the whole connection
    ("packet referred to nonexistent channel").  Holding the transport's send lock
    while checking the channel keeps that CLOSE behind our message.
    """
    transport: Any = channel.get_transport()
    while transport.is_active():
        transport.clear_to_send.wait(0.1)
        with transport.clear_to_send_lock:
            if not transport.clear_to_send.is_set():
                continue  # key exchange in progress
            with cast(Any, channel).lock:
                message = None if channel.closed else build()
            if message is not None:
                transport._send_message(message)
            return


def _send_eof(channel: paramiko.Channel) -> None:
    """``channel.shutdown_write()`` without its race (see :func:`_send_safely`)."""
    _send_safely(channel, cast(Any, channel)._send_eof)


def _send_data(channel: paramiko.Channel, data: bytes) -> None:
    """``channel.sendall(data)`` without its race (see :func:`_send_safely`): a command
    that exits without reading its stdin must not take the connection down with it."""
    chan: Any = channel
    sent = 0

    def build() -> paramiko.Message | None:
        nonlocal sent
        size = min(len(data) - sent, chan.out_window_size, chan.out_max_packet_size - 64)
        if size <= 0:
            return None
        chan.out_window_size -= size
        message = paramiko.Message()
        message.add_byte(cMSG_CHANNEL_DATA)
        message.add_int(chan.remote_chanid)
        message.add_string(data[sent:sent + size])
        sent += size
        return message

    while sent < len(data) and not channel.closed and not chan.eof_sent:
        with chan.lock:  # paramiko notifies this condition on window adjusts and close
            while chan.out_window_size == 0 and not channel.closed:
                chan.out_buffer_cv.wait(1.0)
        _send_safely(channel, build)


def _kill(channel: paramiko.Channel) -> None:
    """Send SIGKILL to the remote command (an RFC 4254 ``signal`` request), then close."""
    message = paramiko.Message()
    message.add_byte(cMSG_CHANNEL_REQUEST)
    message.add_int(channel.remote_chanid)
    message.add_string("signal")
    message.add_boolean(False)
    message.add_string("KILL")
    with contextlib.suppress(*_NETWORK_ERRORS):
        _send_safely(channel, lambda: message)
    channel.close()


def _feed(channel: paramiko.Channel, data: bytes) -> None:
    """Write stdin and EOF; a command that exits without reading it all is no error."""
    try:
        _send_data(channel, data)
        _send_eof(channel)
    except _NETWORK_ERRORS:
        pass  # the command stopped reading or the channel died: the reader sees that


# -- the transport --------------------------------------------------------------------


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
        self._target = _resolve(host, port, auth.username, auth, _load_config(ssh_config))
        self._conn = _acquire(self._target)
        self._finalizer = weakref.finalize(self, _release, self._conn)
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
            except _NETWORK_ERRORS as exc:
                if not transport.is_active():
                    raise _Dropped() from exc
                raise TransportError(f"cannot start SFTP on {self._target}: {exc}") from exc
            try:
                result = operation(sftp)
            except _NETWORK_ERRORS as exc:
                if _sftp_lost(sftp, transport):
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
        if not argv:
            raise ValueError("empty argv")
        # the remote login shell runs `$SHELL -c COMMAND`: a leading "-" would be read as
        # one of its options, so such a command starts with a space
        command = shlex.join(argv)
        command = f" {command}" if command.startswith("-") else command

        def attempt(transport: paramiko.Transport) -> CommandResult:
            try:
                channel = transport.open_session(timeout=self._target.connect_timeout)
            except _NETWORK_ERRORS as exc:
                raise _Dropped() from exc  # nothing was started: safe to retry
            try:
                channel.exec_command(command)
                result = self._collect(channel, argv, stdin, timeout)
            except _NETWORK_ERRORS as exc:
                if idempotent and not transport.is_active():
                    raise _Dropped() from exc
                lost = "lost connection" if not transport.is_active() else "failure"
                raise TransportError(
                    f"{lost} on {self._target} while running {argv[0]} (not retried: it may "
                    f"have started): {exc or type(exc).__name__}") from exc
            finally:
                channel.close()
            if result is None:  # closed without an exit status
                if idempotent and not transport.is_active():
                    raise _Dropped() from EOFError("connection closed")
                raise TransportError(
                    f"lost connection to {self._target} while running {argv[0]} (not retried: "
                    "it may have run)")
            return result

        return self._retry(f"running {argv[0]}", attempt)

    def _collect(self, channel: paramiko.Channel, argv: Sequence[str], stdin: bytes | None,
                 timeout: float | None) -> CommandResult | None:
        """Feed stdin, read stdout and stderr together, wait for the exit status."""
        deadline = None if timeout is None else time.monotonic() + timeout
        if stdin and len(stdin) > _INLINE_STDIN:
            threading.Thread(target=_feed, args=(channel, stdin), daemon=True).start()
        else:
            _feed(channel, stdin or b"")
        out: list[bytes] = []
        err: list[bytes] = []
        while True:
            while channel.recv_ready():
                out.append(channel.recv(_CHUNK))
            while channel.recv_stderr_ready():
                err.append(channel.recv_stderr(_CHUNK))
            if channel.eof_received or channel.closed:
                if not channel.recv_ready() and not channel.recv_stderr_ready():
                    break
                continue
            remaining = None if deadline is None else deadline - time.monotonic()
            if remaining is not None and remaining <= 0:
                _kill(channel)
                raise TransportError(
                    f"{argv[0]} did not finish within {timeout} s on {self.host}; killed")
            select.select([channel], [], [], remaining)
        # the exit status follows the end of the output (a little grace at the deadline)
        remaining = None if deadline is None else max(deadline - time.monotonic(), 1.0)
        if not channel.status_event.wait(remaining):
            _kill(channel)
            raise TransportError(
                f"{argv[0]} did not finish within {timeout} s on {self.host}; killed")
        if channel.exit_status == -1 and not channel.get_transport().is_active():
            return None  # the connection died: there is no exit status
        # -1 with a live connection: killed by a signal (paramiko ignores exit-signal)
        return CommandResult(tuple(argv), channel.recv_exit_status(), b"".join(out), b"".join(err))

    # -- files

    def put(self, local_path: str, remote_path: str) -> None:
        self._sftp(f"uploading {remote_path}",
                   lambda sftp: sftp.put(local_path, remote_path, confirm=False))

    def get(self, remote_path: str, local_path: str) -> None:
        def fetch(sftp: paramiko.SFTPClient) -> None:
            sftp.stat(remote_path)  # fail before creating the local file
            sftp.get(remote_path, local_path)

        self._sftp(f"downloading {remote_path}", fetch)

    def open(self, path: str, mode: str = "rb") -> IO[bytes]:
        """A paramiko ``SFTPFile``; writes are pipelined (errors surface at close)."""
        if mode not in ("rb", "wb", "ab"):
            raise ValueError(f"unsupported mode {mode!r}")

        def opener(sftp: paramiko.SFTPClient) -> paramiko.SFTPFile:
            handle = sftp.open(path, mode)
            if mode != "rb":
                handle.set_pipelined(True)
            return handle

        return cast(IO[bytes], self._sftp(f"opening {path}", opener, lend=True))

    def read_bytes(self, path: str) -> bytes:
        def read(sftp: paramiko.SFTPClient) -> bytes:
            with sftp.open(path, "rb") as handle:
                handle.prefetch()
                return handle.read()

        return self._sftp(f"reading {path}", read)

    def stat(self, path: str) -> FileStat:
        return self._sftp(f"stat {path}", lambda sftp: _filestat(sftp.stat(path)))

    def listdir(self, path: str) -> list[str]:
        return self._sftp(f"listing {path}", lambda sftp: sftp.listdir(path))

    def makedirs(self, path: str, mode: int = 0o700) -> None:
        def make(sftp: paramiko.SFTPClient) -> None:
            missing: list[str] = []
            current = posixpath.normpath(path)
            while current not in ("", "/", "."):
                try:
                    info = sftp.stat(current)
                except FileNotFoundError:
                    missing.append(current)
                    current = posixpath.dirname(current)
                    continue
                if not stat_module.S_ISDIR(info.st_mode or 0):
                    raise FileExistsError(errno.EEXIST, "exists and is not a directory", current)
                break
            for directory in reversed(missing):
                try:
                    sftp.mkdir(directory, mode)
                except OSError:
                    if not stat_module.S_ISDIR(sftp.stat(directory).st_mode or 0):
                        raise
                    continue  # created meanwhile by someone else
                sftp.chmod(directory, mode)  # mkdir applied the remote umask

        self._sftp(f"creating {path}", make)

    def remove(self, path: str, recursive: bool = False) -> None:
        if recursive:
            result = self._exec(["rm", "-rf", "--", path], None, None, idempotent=True)
            if result.returncode != 0:
                code = errno.EACCES if b"Permission denied" in result.stderr else errno.EIO
                raise OSError(code, f"rm -rf failed on {self.host}: {result.error_text}", path)
            return

        def unlink(sftp: paramiko.SFTPClient) -> None:
            with contextlib.suppress(FileNotFoundError):
                sftp.remove(path)

        self._sftp(f"removing {path}", unlink)

    def rename(self, source: str, target: str) -> None:
        def move(sftp: paramiko.SFTPClient) -> None:
            try:
                sftp.posix_rename(source, target)
            except OSError as exc:
                if exc.errno is not None or "unsupported" not in str(exc).lower():
                    raise
                # no posix-rename@openssh.com: plain SFTP rename refuses to replace
                with contextlib.suppress(FileNotFoundError):
                    sftp.remove(target)
                sftp.rename(source, target)

        self._sftp(f"renaming {source}", move)

    def home(self) -> str:
        if self._conn.home is None:
            self._conn.home = self._sftp("home", lambda sftp: sftp.normalize("."))
        return self._conn.home

    def walk_files(self, top: str) -> list[tuple[str, FileStat]]:
        """Like the base class, with one round trip per directory instead of per file."""

        def walk(sftp: paramiko.SFTPClient) -> list[tuple[str, FileStat]]:
            info = _filestat(sftp.stat(top))
            if not info.is_dir:
                return [("", info)]
            found: list[tuple[str, FileStat]] = []
            pending = [""]
            while pending:
                relative = pending.pop()
                entries = sftp.listdir_attr(posixpath.join(top, relative) if relative else top)
                for entry in sorted(entries, key=lambda e: e.filename):
                    child = posixpath.join(relative, entry.filename) if relative else entry.filename
                    child_info = _filestat(entry)
                    if stat_module.S_ISLNK(child_info.mode):
                        child_info = _filestat(sftp.stat(posixpath.join(top, child)))
                    if child_info.is_dir:
                        pending.append(child)
                    else:
                        found.append((child, child_info))
            return found

        return self._sftp(f"listing {top}", walk)


def open_transport(
    host: str,
    port: int | None,
    auth: SshAuth | None,
    *,
    ssh_config: str | None = None,
) -> Transport:
    """A connected :class:`SshTransport` handle on the pooled connection for this login."""
    return SshTransport(host, port, auth, ssh_config=ssh_config)
