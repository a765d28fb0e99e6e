"""Workarounds for two open paramiko bugs that take a shared connection down.

* paramiko#1115 (https://github.com/paramiko/paramiko/issues/1115, reproduced in
  #1705): a channel builds a message (data, EOF, window adjust) under its lock but
  sends it after releasing the lock, so it can follow the CLOSE that the transport
  thread sends on the server's CLOSE.  OpenSSH then drops the whole connection
  ("packet referred to nonexistent channel").  Here a message for a channel that
  is closed or gone by the time it is sent is dropped instead.
* paramiko#822 (https://github.com/paramiko/paramiko/issues/822, fix proposed in
  PR #833): when paramiko starts a re-key (every 512 MiB, or ``renegotiate_keys``)
  and a CLOSE arrives before the server's KEXINIT, the transport thread waits for
  the key exchange that only it can finish, then drops the connection after
  ``clear_to_send_timeout``.  Here its messages are queued until the exchange ends.

Both are fixed where paramiko sends every message of an established connection,
``Transport._send_user_message``, replaced on each transport lrms opens (never on
the class) by :func:`guard_sends`; channels are then used through their public API.
Paramiko has no public hook for this, nor for sending a signal (:func:`kill`), so
this module uses the private members in :data:`PARAMIKO_MEMBERS` and importing it
checks that they exist.  No channel lock is taken here: paramiko's channel code
warns that holding one while waiting for ``clear_to_send_lock`` deadlocks re-keys.
"""

from __future__ import annotations

import contextlib
import struct
import threading
import time
from typing import Any

import paramiko
from paramiko.common import (
    MSG_CHANNEL_DATA,
    MSG_CHANNEL_EOF,
    MSG_CHANNEL_EXTENDED_DATA,
    MSG_CHANNEL_FAILURE,
    MSG_CHANNEL_REQUEST,
    MSG_CHANNEL_SUCCESS,
    MSG_CHANNEL_WINDOW_ADJUST,
    cMSG_CHANNEL_REQUEST,
)
from paramiko.transport import ChannelMap

from ...errors import TransportError

#: The private paramiko members used here (methods, or attributes set in ``__init__``).
PARAMIKO_MEMBERS: dict[type, tuple[str, ...]] = {
    paramiko.Transport: ("_send_message", "_send_user_message", "_channels", "clear_to_send",
                         "clear_to_send_lock", "clear_to_send_timeout"),
    paramiko.Channel: ("remote_chanid", "active", "closed"),
    ChannelMap: ("values",),
}
#: paramiko major versions this module was tested with (core/pyproject.toml pins them).
TESTED_MAJORS = (3, 4, 5)

NETWORK_ERRORS = (EOFError, OSError, paramiko.SSHException)

# messages about an open channel; CLOSE is not one: it is always sent
_CHANNEL_MESSAGES = frozenset({MSG_CHANNEL_WINDOW_ADJUST, MSG_CHANNEL_DATA,
                               MSG_CHANNEL_EXTENDED_DATA, MSG_CHANNEL_EOF, MSG_CHANNEL_REQUEST,
                               MSG_CHANNEL_SUCCESS, MSG_CHANNEL_FAILURE})


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


def guard_sends(transport: paramiko.Transport) -> None:
    """Fix paramiko#1115 and #822 on ``transport`` (see the module docstring).

    Other threads wait for a key exchange as paramiko does, at most
    ``clear_to_send_timeout``.  The transport thread never waits: during a key
    exchange its messages are queued and sent in order by a helper thread once the
    exchange is over, and its later messages queue behind them, so a channel's
    messages keep their order.
    """
    target: Any = transport
    pending: list[paramiko.Message] = []
    pending_lock = threading.Lock()  # taken before clear_to_send_lock, never after

    def for_closed_channel(data: paramiko.Message) -> bool:
        raw = data.asbytes()
        if raw[0] not in _CHANNEL_MESSAGES:
            return False
        (remote_id,) = struct.unpack(">I", raw[1:5])
        return not any(channel.remote_chanid == remote_id and channel.active
                       and not channel.closed for channel in target._channels.values())

    def send_locked(data: paramiko.Message) -> None:
        """Send under ``clear_to_send_lock`` (held), unless its channel is closed."""
        if not for_closed_channel(data):
            target._send_message(data)

    def send_when_clear(data: paramiko.Message) -> None:
        """``Transport._send_user_message`` with the #1115 check."""
        deadline = time.monotonic() + target.clear_to_send_timeout
        while transport.is_active():
            target.clear_to_send.wait(0.1)
            with target.clear_to_send_lock:
                if target.clear_to_send.is_set():
                    send_locked(data)
                    return
            if time.monotonic() > deadline:
                raise paramiko.SSHException("Key-exchange timed out waiting for key negotiation")
        # as paramiko does: a message for a dead connection is dropped

    def flush() -> None:
        while True:
            with pending_lock:
                if not pending:
                    return
                message = pending[0]  # stays queued while sent: later ones wait behind it
            try:
                send_when_clear(message)
            except NETWORK_ERRORS:
                with pending_lock:
                    pending.clear()  # the connection is going: paramiko reports that
                return
            with pending_lock:
                pending.pop(0)

    def send_user_message(data: paramiko.Message) -> None:
        if threading.current_thread() is not transport:
            send_when_clear(data)
            return
        with pending_lock:
            if not pending:
                with target.clear_to_send_lock:
                    if not transport.is_active():
                        return  # as paramiko does
                    if target.clear_to_send.is_set():
                        send_locked(data)
                        return
            pending.append(data)
            if len(pending) > 1:
                return  # a flusher is running
        threading.Thread(target=flush, name=f"{transport.name}-deferred", daemon=True).start()

    target._send_user_message = send_user_message


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
        channel.get_transport()._send_user_message(message)  # type: ignore[attr-defined]
    except NETWORK_ERRORS as exc:
        failure = str(exc) or type(exc).__name__
    with contextlib.suppress(*NETWORK_ERRORS):
        channel.close()
    return failure
