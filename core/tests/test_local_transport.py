"""The local transport runs argv lists; a program that cannot be run is a command result
(exit 127 or 126, as a shell and so every command over SSH says it), not a lost host."""

from __future__ import annotations

import pytest

from lrms import CommandFailed
from lrms.transport import LocalTransport


def test_a_missing_program_exits_127(tmp_path):
    done = LocalTransport().run([str(tmp_path / "no-such-program"), "-x"])
    assert (done.returncode, done.stdout) == (127, b"")
    assert done.stderr.decode() == f"{tmp_path / 'no-such-program'}: command not found\n"
    with pytest.raises(CommandFailed, match="exit 127"):
        LocalTransport().check([str(tmp_path / "no-such-program")])


def test_a_file_that_is_not_executable_exits_126(tmp_path):
    script = tmp_path / "script.sh"
    script.write_text("#!/bin/sh\necho hi\n")
    script.chmod(0o644)
    done = LocalTransport().run([str(script)])
    assert done.returncode == 126 and b"Permission denied" in done.stderr


def test_a_program_that_runs_gives_its_own_status():
    done = LocalTransport().run(["sh", "-c", "echo out; echo err >&2; exit 3"])
    assert (done.returncode, done.stdout, done.stderr) == (3, b"out\n", b"err\n")
