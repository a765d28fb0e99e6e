"""The one rule that reads a shell's exit status: ``128 + N`` is "killed by signal N".

A job script (or any shell) reports a program killed by signal N as exit
status ``128 + N``.  Linux numbers signals 1 to 64 (``SIGRTMAX``), so only
129 to 192 are read as signals; every other status, 255 included, is the
program's own exit code.  (A program that itself exits 130 reads as signal 2:
the shell gives no way to tell the two apart.)  Every backend turns a shell
status into an outcome with :func:`split_status`.
"""

from __future__ import annotations

__all__ = ["SIGNAL_MAX", "split_status"]

#: The highest signal number (Linux ``SIGRTMAX``).
SIGNAL_MAX = 64


def split_status(status: int) -> tuple[int | None, int | None]:
    """``(exitcode, signal)`` of a shell's exit status: one of them is None."""
    if 128 < status <= 128 + SIGNAL_MAX:
        return None, status - 128
    return status, None
