"""The connection pool: one paramiko connection per login, shared by every handle."""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
import weakref
from typing import Any

import paramiko

from ...errors import AuthenticationError, HostKeyError, TransportError
from .keys import HostKeyPolicy, changed_key_error, load_key, passphrase_hint
from .settings import Target
from .workarounds import NETWORK_ERRORS, guard_sends

log = logging.getLogger(__name__)

_MAX_IDLE_SFTP = 4


class Connection:
    """One SSH login shared by handles: the paramiko client, idle SFTP sessions, reconnects."""

    def __init__(self, target: Target) -> None:
        self.target = target
        self.refs = 0
        self.home: str | None = None
        self._lock = threading.RLock()
        self._client: paramiko.SSHClient | None = None
        self._transport: paramiko.Transport | None = None
        self._jump: Connection | None = None
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
            release(jump)

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
            key = load_key(target.keyfiles[0], passphrase, target.passphrase_env)
            kwargs.update(pkey=key, look_for_keys=False, allow_agent=False)
        elif target.keyfiles:  # IdentityFile from the ssh config, plus the agent
            kwargs.update(key_filename=[p for p in target.keyfiles if os.path.isfile(p)],
                          look_for_keys=False)
        sock = self._open_socket()
        client = paramiko.SSHClient()
        client.set_missing_host_key_policy(HostKeyPolicy(target))
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
        guard_sends(transport)
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
            return changed_key_error(target, exc)
        if isinstance(exc, paramiko.PasswordRequiredException):
            hint = passphrase_hint(f"an SSH key for {target}", target.passphrase_env)
            return AuthenticationError(hint)
        if isinstance(exc, paramiko.AuthenticationException) or (
                str(exc) == "No authentication methods available"):
            keys = ", ".join(target.keyfiles) or "ssh agent and default keys"
            return AuthenticationError(
                f"{target} refused the login ({exc}); keys tried: {keys}. Check username and "
                "keyfile in the auth section")
        if isinstance(exc, NETWORK_ERRORS):
            return TransportError(f"cannot connect to {target}: {exc or type(exc).__name__}")
        return exc

    def _open_socket(self) -> socket.socket | paramiko.Channel | paramiko.ProxyCommand:
        target = self.target
        if target.jump is not None:
            if self._jump is None:
                self._jump = acquire(target.jump)
            try:
                return self._jump.transport().open_channel(
                    "direct-tcpip", (target.hostname, target.port), ("127.0.0.1", 0),
                    timeout=target.connect_timeout)
            except NETWORK_ERRORS as exc:
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
                if not sftp_lost(sftp, transport):
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
            if transport is self._transport and not sftp_lost(sftp, transport):
                if handle is not None:
                    self._lent.append((sftp, weakref.ref(handle)))
                    return
                if len(self._idle) < _MAX_IDLE_SFTP:
                    self._idle.append(sftp)
                    return
        if handle is None:
            sftp.close()


def sftp_lost(sftp: paramiko.SFTPClient, transport: paramiko.Transport) -> bool:
    """Whether ``sftp`` can no longer be used (its channel or connection is gone)."""
    channel = sftp.get_channel()
    return (not transport.is_active() or channel is None or bool(channel.closed)
            or bool(channel.eof_received))


_POOL: dict[Target, Connection] = {}
_POOL_LOCK = threading.Lock()


def acquire(target: Target) -> Connection:
    """The pooled connection for ``target`` (created unconnected), with one more user."""
    with _POOL_LOCK:
        connection = _POOL.get(target)
        if connection is None:
            connection = _POOL[target] = Connection(target)
        connection.refs += 1
        return connection


def release(connection: Connection) -> None:
    """One user fewer; the last one closes the connection."""
    with _POOL_LOCK:
        connection.refs -= 1
        if connection.refs > 0:
            return
        if _POOL.get(connection.target) is connection:
            del _POOL[connection.target]
    connection.close()

