"""The ``lrms`` command with a shellcmd job whose supervisor is killed: ``lrms wait``
returns, the job is TERMINATED (lost), its process and its cores are freed."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

LRMS = str(Path(sys.executable).with_name("lrms"))


def test_lrms_wait_returns_for_a_job_whose_supervisor_was_killed(tmp_path):
    config = tmp_path / "site.yaml"
    config.write_text(
        "resources:\n  here:\n    backend: shellcmd\n"
        f"    spool: {tmp_path / 'spool'}\n    max_cores: 2\n    max_cores_per_job: 2\n"
        "    max_memory_per_core: 1GiB\n    max_walltime: 1h\n"
        f"    architecture: [{os.uname().machine}]\n")
    env = dict(os.environ, LRMS_STORE=str(tmp_path / "jobs.db"), HOME=str(tmp_path),
               NO_COLOR="1")

    def lrms(*args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
        return subprocess.run([LRMS, "--config", str(config), *args], capture_output=True,
                              text=True, env=env, cwd=tmp_path, timeout=timeout)

    jobid = lrms("submit", "--cores", "2", "--", "sleep", "60").stdout.strip()
    deadline = time.monotonic() + 20
    while (job := json.loads(lrms("status", "--json", jobid).stdout)[0])["state"] != "RUNNING":
        assert time.monotonic() < deadline, job
        time.sleep(0.1)
    supervisor = int(job["native_id"])
    with open(f"/proc/{supervisor}/cmdline", "rb") as f:
        assert f.read().split(b"\0")[0] == f"lrms-job {jobid}".encode()
    sleeper = json.loads(Path(job["sandbox"], ".lrms", "started").read_text())["pgid"]
    os.kill(supervisor, signal.SIGKILL)
    waited = lrms("wait", jobid)  # used to hang: the job stayed RUNNING
    assert waited.returncode == 1, waited
    assert "outcome is unknown" in waited.stderr + waited.stdout
    job = json.loads(lrms("status", "--json", jobid).stdout)[0]
    assert (job["state"], job["termination_reason"]) == ("TERMINATED", "lost")
    assert (job["exitcode"], job["signal"]) == (None, None)
    assert not Path(f"/proc/{sleeper}").exists() or Path(
        f"/proc/{sleeper}/stat").read_text().rsplit(")", 1)[1].split()[0] in ("Z", "X")
    free = json.loads(lrms("resources", "--json").stdout)[0]["status"]["free_slots"]
    assert free == 2
