"""``lrms run`` shows the job's stdout and stderr while it runs (as ``srun`` does), through
the installed script on the built-in localhost resource: nothing held back until the job
ends, nothing lost or shown twice, in bounded memory, with the job's exit code."""

from __future__ import annotations

import os
import select
import subprocess
import sys
import time
from pathlib import Path

import pytest

LRMS = str(Path(sys.executable).parent / "lrms")
WAIT = 60  # seconds to wait for a line before the test fails: a safety net, not a measure


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    values = {k: v for k, v in os.environ.items() if k not in ("LRMS_CONFIG", "LRMS_RESOURCE")}
    values["LRMS_STORE"] = str(tmp_path / "jobs.db")
    return values


class Reader:
    """The output of a running process, read as it comes (stdout and stderr apart)."""

    def __init__(self, proc: subprocess.Popen[bytes]) -> None:
        assert proc.stdout is not None and proc.stderr is not None
        self.proc = proc
        self.names = {proc.stdout.fileno(): "out", proc.stderr.fileno(): "err"}
        self.got = {"out": b"", "err": b""}

    def until(self, name: str, wanted: bytes) -> None:
        """Read until ``wanted`` arrived on ``name`` (fail after WAIT seconds without it)."""
        deadline = time.monotonic() + WAIT
        while wanted not in self.got[name]:
            left = deadline - time.monotonic()
            assert left > 0, f"{wanted!r} never arrived on std{name}: {self.got}"
            ready, _, _ = select.select(list(self.names), [], [], left)
            for fd in ready:
                self.got[self.names[fd]] += os.read(fd, 65536)

    def finish(self) -> int:
        out, err = self.proc.communicate(timeout=WAIT)
        self.got["out"] += out
        self.got["err"] += err
        return self.proc.returncode


def test_run_shows_output_while_the_job_runs(env, tmp_path):
    go = tmp_path / "go"
    script = ("echo first; echo first-err >&2; "
              f"while [ ! -e {go} ]; do sleep 0.1; done; echo second; echo second-err >&2; "
              "exit 3")
    proc = subprocess.Popen([LRMS, "run", "--", "sh", "-c", script], env=env, cwd=tmp_path,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    reader = Reader(proc)
    try:
        reader.until("out", b"first\n")  # the job is still waiting for 'go' here
        reader.until("err", b"first-err\n")
        assert proc.poll() is None
        assert b"second" not in reader.got["out"]
    finally:
        go.touch()
    assert reader.finish() == 3
    assert reader.got == {"out": b"first\nsecond\n", "err": b"first-err\nsecond-err\n"}


def block(stream: str, index: int) -> bytes:
    """Block ``index`` (64 KiB) of a stream: every byte value, and a header that tells
    the blocks apart (a repeated or lost block shows)."""
    header = f"{stream}{index:010d}".encode()
    body = bytes(range(256)) * 256
    return header + body[len(header):]


WRITER = """
import sys
sys.path.insert(0, {here!r})
from test_cli_run_streaming import block
for index in range({count}):
    for stream, name in ((sys.stdout.buffer, "out"), (sys.stderr.buffer, "err")):
        if name == "out" or index % 4 == 0:
            data = block(name, index)
            stream.write(data[:1000]); stream.flush(); stream.write(data[1000:]); stream.flush()
sys.exit(5)
"""


def rusage_run(argv: list[str], env: dict[str, str], cwd: Path) -> tuple[int, bytes, bytes, int]:
    """Run ``argv`` to its end; (exit code, stdout, stderr, its peak memory in KiB)."""
    out_path, err_path = cwd / "run.out", cwd / "run.err"
    with out_path.open("wb") as out, err_path.open("wb") as err:
        proc = subprocess.Popen(argv, env=env, cwd=cwd, stdout=out, stderr=err)
        _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    return proc.returncode, out_path.read_bytes(), err_path.read_bytes(), usage.ru_maxrss


def test_run_copies_megabytes_exactly_in_bounded_memory(env, tmp_path):
    count = 1024  # 64 MiB on stdout, 16 MiB on stderr
    small = rusage_run([LRMS, "run", "--", "true"], env, tmp_path)
    assert small[:3] == (0, b"", b"")
    writer = WRITER.format(here=str(Path(__file__).parent), count=count)
    code, out, err, peak = rusage_run([LRMS, "run", "--", sys.executable, "-c", writer], env,
                                      tmp_path)
    assert code == 5
    assert out == b"".join(block("out", index) for index in range(count))
    assert err == b"".join(block("err", index) for index in range(0, count, 4))
    assert peak - small[3] < 32 * 1024, (peak, small[3])  # far below the 80 MiB copied
