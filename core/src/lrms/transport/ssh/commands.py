"""Running one command on an open session channel: stdin, output, exit status, time limit."""

from __future__ import annotations

import select
import shlex
import threading
import time
from collections.abc import Sequence

import paramiko

from ...errors import TransportError
from ..base import CommandResult
from .workarounds import NETWORK_ERRORS, kill

_CHUNK = 1 << 16
_INLINE_STDIN = 1 << 15  # larger stdin is fed by a thread while output is read


def remote_command(argv: Sequence[str]) -> str:
    """``argv`` quoted for the remote login shell, which runs ``$SHELL -c COMMAND``."""
    if not argv:
        raise ValueError("empty argv")
    command = shlex.join(argv)
    # a leading "-" would be read as one of the shell's options
    return f" {command}" if command.startswith("-") else command


def collect(channel: paramiko.Channel, argv: Sequence[str], stdin: bytes | None,
            timeout: float | None, host: str) -> CommandResult | None:
    """Feed stdin, read stdout and stderr together, wait for the exit status.

    None if the connection died before the exit status came.  Past ``timeout`` the
    command is killed and :class:`TransportError` raised.
    """
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
            raise _timed_out(channel, argv, timeout, host)
        select.select([channel], [], [], remaining)
    # the exit status follows the end of the output (a little grace at the deadline)
    remaining = None if deadline is None else max(deadline - time.monotonic(), 1.0)
    if not channel.status_event.wait(remaining):
        raise _timed_out(channel, argv, timeout, host)
    if channel.exit_status == -1 and not channel.get_transport().is_active():
        return None  # the connection died: there is no exit status
    # -1 with a live connection: killed by a signal (paramiko ignores exit-signal)
    return CommandResult(tuple(argv), channel.recv_exit_status(), b"".join(out), b"".join(err))


def _timed_out(channel: paramiko.Channel, argv: Sequence[str], timeout: float | None,
               host: str) -> TransportError:
    failure = kill(channel)
    outcome = "killed" if failure is None else f"could not kill it: {failure}"
    return TransportError(f"{argv[0]} did not finish within {timeout} s on {host}; {outcome}")


def _feed(channel: paramiko.Channel, data: bytes) -> None:
    """Write stdin and EOF; a command that exits without reading it all is no error."""
    try:
        sent = 0
        while sent < len(data):  # not sendall: it copies the rest of data for every packet
            count = channel.send(data[sent:sent + _CHUNK])
            if count == 0:
                return  # the channel closed
            sent += count
        channel.shutdown_write()
    except NETWORK_ERRORS:
        pass  # the command stopped reading or the channel died: the reader sees that
