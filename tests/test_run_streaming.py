"""``lrms run`` streams the job's output while it runs on real resources: the single-node
Slurm cluster, and a shellcmd host over SSH (the test sshd).

The installed script runs as a subprocess; its stdout and stderr are read as they come.
The job prints a line, then waits for a file the test creates only after it has read that
line, so the order of events is checked, not their timing.
"""

from __future__ import annotations

import os
import select
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

LRMS = str(Path(sys.executable).parent / "lrms")
WAIT = 120  # seconds to wait for a line before the test fails: a safety net, not a measure
LIMITS = ("    max_cores: 2\n    max_cores_per_job: 1\n    max_memory_per_core: 1GiB\n"
          "    max_walltime: 1h\n    architecture: [x86_64]\n")


@pytest.fixture
def shared() -> Iterator[Path]:
    """A folder every local user can look into (the job's go-ahead file goes there)."""
    path = Path(tempfile.mkdtemp(prefix="lrms-stream-", dir="/tmp"))
    path.chmod(0o755)
    yield path
    shutil.rmtree(path, ignore_errors=True)


def slurm_config(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    slurm = request.getfixturevalue("slurm")
    return (f"resources:\n  here:\n    backend: slurm\n"
            f"    partition: {slurm['LRMS_SLURM_PARTITION']}\n    poll_interval: 0\n"
            f"    spool: {tmp_path}/spool\n"
            + LIMITS)


def ssh_config(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    sshd = request.getfixturevalue("sshd")
    return (f"resources:\n  here:\n    backend: shellcmd\n    transport: ssh\n"
            f"    frontend: {sshd.host}\n    port: {sshd.port}\n    auth: test\n"
            f"    spool: ~/lrms-test/{uuid.uuid4().hex[:8]}\n" + LIMITS
            + f"auths:\n  test:\n    type: ssh\n    username: {sshd.user}\n"
            f"    keyfile: {sshd.key}\n    known_hosts: {sshd.known_hosts}\n")


@pytest.mark.parametrize("config", [
    pytest.param(slurm_config, marks=pytest.mark.slurm, id="slurm"),
    pytest.param(ssh_config, marks=pytest.mark.ssh, id="shellcmd-over-ssh"),
])
def test_run_streams_while_the_job_runs(request, tmp_path, shared, config):
    site = tmp_path / "site.yaml"
    site.write_text(config(request, tmp_path))
    env = {k: v for k, v in os.environ.items() if k not in ("LRMS_CONFIG", "LRMS_RESOURCE")}
    env.update(LRMS_STORE=str(tmp_path / "jobs.db"), LRMS_CONFIG=str(site))
    go = shared / "go"
    script = ("echo first; echo first-err >&2; "
              f"while [ ! -e {go} ]; do sleep 0.2; done; echo second; echo second-err >&2; "
              "exit 6")
    proc = subprocess.Popen([LRMS, "run", "--", "sh", "-c", script], env=env, cwd=tmp_path,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert proc.stdout is not None and proc.stderr is not None
    names = {proc.stdout.fileno(): "out", proc.stderr.fileno(): "err"}
    got = {"out": b"", "err": b""}
    deadline = time.monotonic() + WAIT
    try:
        while b"first\n" not in got["out"] or b"first-err\n" not in got["err"]:
            left = deadline - time.monotonic()
            assert left > 0 and proc.poll() is None, f"the first lines never came: {got}"
            ready, _, _ = select.select(list(names), [], [], left)
            for fd in ready:
                got[names[fd]] += os.read(fd, 65536)
        assert b"second" not in got["out"]  # the job is still waiting for 'go'
    finally:
        go.touch()
        out, err = proc.communicate(timeout=WAIT)
    assert proc.returncode == 6, err
    assert (got["out"] + out, got["err"] + err) == (b"first\nsecond\n", b"first-err\nsecond-err\n")
