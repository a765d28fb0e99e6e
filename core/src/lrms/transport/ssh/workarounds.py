"""Workarounds for two open paramiko bugs that take a shared connection down.

* paramiko#1115 (https://github.com/paramiko/paramiko/issues/1115, reproduced in
  #1705): a channel builds a message (data, EOF) under its lock but sends it after
  releasing the lock, so it can follow the CLOSE that the transport thread sends on
  the server's CLOSE.  OpenSSH then drops the whole connection ("packet referred to
  nonexistent channel").  :func:`send_data`, :func:`send_eof` and :func:`kill` build
  and send under the transport's send lock instead of ``Channel.sendall`` /
  ``shutdown_write``.
* paramiko#822 (https://github.com/paramiko/paramiko/issues/822, fix proposed in
  PR #833): when paramiko starts a re-key (every 512 MiB, or ``renegotiate_keys``)
  and a CLOSE arrives before the server's KEXINIT, the transport thread waits for
  the key exchange that only it can finish, then drops the connection after
  ``clear_to_send_timeout``.  :func:`defer_transport_thread_sends` queues such
  replies until the key exchange is over.

Paramiko's public API has no way to do either, so this module uses its private
members; :data:`PARAMIKO_MEMBERS` lists them and importing this module checks that
they exist.  Lock order everywhere: ``clear_to_send_lock``, then ``channel.lock``,
which is held only for non-blocking bookkeeping (paramiko's channel code warns that
holding it while waiting for ``clear_to_send_lock`` deadlocks during re-keys).
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable
from typing import Any

import paramiko
from paramiko.common import cMSG_CHANNEL_DATA, cMSG_CHANNEL_REQUEST

from ...errors import TransportError

#: The private paramiko members used here (methods, or attributes set in ``__init__``).
PARAMIKO_MEMBERS: dict[type, tuple[str, ...]] = {
    paramiko.Transport: ("_send_message", "_send_user_message", "clear_to_send",
                         "clear_to_send_lock", "clear_to_send_timeout"),
    paramiko.Channel: ("_send_eof", "lock", "out_buffer_cv", "out_window_size",
                       "out_max_packet_size", "remote_chanid", "eof_sent"),
}
#: paramiko major versions this module was tested with (core/pyproject.toml pins them).
TESTED_MAJORS = (3, 4, 5)

NETWORK_ERRORS = (EOFError, OSError, paramiko.SSHException)


def missing_members(members: dict[type, tuple[str, ...]] = PARAMIKO_MEMBERS) -> list[str]:
    """``Class.member`` names that are neither class attributes nor set by ``__init__``."""
    missing = []
    for cls, names in members.items():
        init = cls.__dict__.get("__init__")
        assigned = init.__code__.co_names if init is not None else ()
        missing += [f"{cls.__name__}.{name}" for name in names
                    if not hasattr(cls, name) and name not in assigned]
    return missing


def check_paramiko(members: dict[type, tuple[str, ...]] = PARAMIKO_MEMBERS) -> None:
    """Refuse a paramiko whose internals differ from what this module relies on."""
    missing = missing_members(members)
    if missing:
        tested = ", ".join(f"{major}.x" for major in TESTED_MAJORS)
        raise TransportError(
            f"the SSH transport does not work with paramiko {paramiko.__version__}: it lacks "
            f"{', '.join(missing)} (lrms works around paramiko bugs #1115 and #822 with them; "
            f"tested with paramiko {tested}). Install a tested version: "
            f"pip install 'paramiko>={TESTED_MAJORS[0]}.4,<{TESTED_MAJORS[-1] + 1}'")


check_paramiko()


def _send(channel: paramiko.Channel, build: Callable[[], paramiko.Message | None]) -> None:
    """Send ``build()`` on ``channel`` unless it is closed, and before any CLOSE of ours.

    ``build`` runs under the channel lock while the transport's send lock is held,
    so a CLOSE built meanwhile by the transport thread is sent after our message.
    Like paramiko, waits for a key exchange to end, at most ``clear_to_send_timeout``.
    """
    transport: Any = channel.get_transport()
    deadline = time.monotonic() + transport.clear_to_send_timeout
    while transport.is_active():
        transport.clear_to_send.wait(0.1)
        with transport.clear_to_send_lock:
            if transport.clear_to_send.is_set():
                with channel.lock:
                    message = None if channel.closed else build()
                if message is not None:
                    transport._send_message(message)
                return
        if time.monotonic() > deadline:
            raise paramiko.SSHException("Key-exchange timed out waiting for key negotiation")
    raise EOFError("the connection is closed")


def send_eof(channel: paramiko.Channel) -> None:
    """``channel.shutdown_write()`` without paramiko#1115."""
    _send(channel, channel._send_eof)  # type: ignore[attr-defined]


def send_data(channel: paramiko.Channel, data: bytes) -> None:
    """``channel.sendall(data)`` without paramiko#1115: a command that exits without
    reading its stdin must not take the connection down.  Stops quietly once the
    channel is closed; raises ``TimeoutError`` if the window stays shut longer than
    ``channel.gettimeout()`` (as ``sendall`` does)."""
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
        timeout = channel.gettimeout()
        with chan.lock:  # paramiko notifies this condition on window adjusts and close
            if not chan.out_buffer_cv.wait_for(
                    lambda: chan.out_window_size > 0 or channel.closed, timeout):
                raise TimeoutError("no send window within the channel timeout")
        _send(channel, build)


def kill(channel: paramiko.Channel) -> str | None:
    """Send SIGKILL to the remote command (an RFC 4254 ``signal`` request), then close.

    Returns why the signal could not be sent, or None.
    """
    message = paramiko.Message()
    message.add_byte(cMSG_CHANNEL_REQUEST)
    message.add_int(channel.remote_chanid)
    message.add_string("signal")
    message.add_boolean(False)
    message.add_string("KILL")
    failure = None
    try:
        _send(channel, lambda: message)
    except NETWORK_ERRORS as exc:
        failure = str(exc) or type(exc).__name__
    with contextlib.suppress(*NETWORK_ERRORS):
        channel.close()
    return failure


def defer_transport_thread_sends(transport: paramiko.Transport) -> None:
    """Work around paramiko#822 on ``transport``: its own thread never waits for a re-key.

    Replaces ``_send_user_message`` on this one object.  A message the transport
    thread would send during a key exchange (the reply to a CLOSE, a keep-alive) is
    queued and sent, in order, by a helper thread once the exchange is over; later
    messages of the transport thread queue behind it, so a channel's messages keep
    their order.  Other threads wait as before.
    """
    target: Any = transport
    send_now = target._send_user_message
    pending: list[paramiko.Message] = []
    lock = threading.Lock()

    def flush() -> None:
        while True:
            with lock:
                if not pending:
                    return
                message = pending[0]  # stays queued while sent: later ones wait behind it
            try:
                send_now(message)  # waits for the key exchange like any user message
            except NETWORK_ERRORS:
                with lock:
                    pending.clear()  # the connection is going: paramiko reports that
                return
            with lock:
                pending.pop(0)

    def send_user_message(data: paramiko.Message) -> None:
        if threading.current_thread() is not transport:
            send_now(data)
            return
        with lock:
            if not pending:
                with target.clear_to_send_lock:
                    if not transport.is_active():
                        return  # as paramiko does: the connection is gone
                    if target.clear_to_send.is_set():
                        target._send_message(data)
                        return
            pending.append(data)
            if len(pending) > 1:
                return  # a flusher is running
        threading.Thread(target=flush, name=f"{transport.name}-deferred", daemon=True).start()

    target._send_user_message = send_user_message
