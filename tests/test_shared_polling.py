"""Polite, shared polling on the real Slurm: every ``squeue``/``sacct`` is counted.

The resource's ``squeue_command`` and ``sacct_command`` are recording shims
(``shim/squeue`` logs the time, the caller (``$LRMS_TEST_CALLER``) and its
arguments, then runs the real command), so the test sees exactly which
process asked the scheduler and when.  A ``fail`` file makes ``squeue`` fail
the way an overloaded slurmctld does.
"""

from __future__ import annotations

import itertools
import os
import shutil
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

import lrms
from lrms import agent

pytestmark = pytest.mark.slurm

LRMS = str(Path(sys.executable).parent / "lrms")
INTERVAL = 3.0
QUERIES = ("squeue", "sacct")


def shims(tmp_path: Path) -> Path:
    folder = tmp_path / "shim"
    folder.mkdir()
    for name in (*QUERIES, "sbatch"):
        real = shutil.which(name)
        assert real, f"{name} is not installed"
        failing = textwrap.dedent(f"""\
            if [ -e {tmp_path}/fail ]; then
                echo "slurm_load_jobs error: Socket timed out on send/recv operation" >&2
                exit 1
            fi
            """) if name == "squeue" else ""
        path = folder / name
        path.write_text(f"#!/bin/sh\necho \"$(date +%s.%N) ${{LRMS_TEST_CALLER:-?}} {name}\" "
                        f">> {tmp_path}/calls.log\n{failing}exec {real} \"$@\"\n")
        path.chmod(0o755)
    return folder


@pytest.fixture
def site(slurm, tmp_path) -> Path:
    folder = shims(tmp_path)
    config = tmp_path / "site.yaml"
    config.write_text(
        "agent:\n  linger: 1s\n"
        "resources:\n  cluster:\n    backend: slurm\n"
        f"    partition: {slurm['LRMS_SLURM_PARTITION']}\n    spool: {tmp_path / 'spool'}\n"
        f"    poll_interval: {INTERVAL}s\n"
        + "".join(f"    {name}_command: {folder / name}\n" for name in (*QUERIES, "sbatch"))
        + "    max_cores: 2\n    max_cores_per_job: 1\n    max_memory_per_core: 1GiB\n"
        "    max_walltime: 1h\n    architecture: [x86_64]\n")
    return config


def calls(tmp_path: Path) -> list[tuple[float, str, str]]:
    """(time, caller, command) of each scheduler command run so far."""
    path = tmp_path / "calls.log"
    lines = path.read_text().splitlines() if path.exists() else []
    return [(float(when), caller, name) for when, caller, name in
            (line.split() for line in lines)]


def environment(tmp_path: Path, caller: str, *, agent_on: bool = False) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not (agent_on and k == "LRMS_NO_AGENT")}
    env.update(LRMS_TEST_CALLER=caller, LRMS_STORE=str(tmp_path / "jobs.db"),
               LRMS_CONFIG=str(tmp_path / "site.yaml"), XDG_STATE_HOME=str(tmp_path / "state"))
    return env


def test_concurrent_waits_share_one_query_per_poll_interval(site, tmp_path):
    with lrms.Engine(site, tmp_path / "jobs.db", output_root=tmp_path / "out") as engine:
        engine.add([lrms.Application(["sleep", "10"], requested_cores=1)] * 3)
    code = ("import lrms, os; lrms.Engine(os.environ['LRMS_CONFIG'], os.environ['LRMS_STORE'], "
            "output_root='out').wait(timeout=240)")
    started = time.time()
    waits = [subprocess.Popen([sys.executable, "-c", code], cwd=tmp_path,
                              env=environment(tmp_path, f"wait{i}")) for i in range(4)]
    assert [wait.wait(timeout=300) for wait in waits] == [0] * 4
    elapsed = time.time() - started
    squeues = [when for when, _, name in calls(tmp_path) if name == "squeue"]
    # Four processes polling on their own would query in every round (the first
    # rounds 0.1 s apart); shared, at most one squeue per interval for all of them.
    assert len(squeues) <= elapsed / INTERVAL + 1, (len(squeues), elapsed)
    gaps = [later - earlier for earlier, later in itertools.pairwise(squeues)]
    assert min(gaps) >= INTERVAL - 0.5, gaps
    assert len({caller for _, caller, name in calls(tmp_path) if name == "squeue"}) >= 1
    with lrms.JobStore(tmp_path / "jobs.db") as store:
        assert store.counts() == {"TERMINATED": 3}


def test_waits_ask_no_scheduler_while_the_agent_runs(site, tmp_path):
    submit = subprocess.run(
        [LRMS, "--no-agent", "submit", "--params", "-", "--", "sleep", "{}"], input="6\n6\n6\n",
        cwd=tmp_path, env=environment(tmp_path, "submit"), capture_output=True, text=True,
        timeout=120, check=False)
    assert submit.returncode == 0, submit.stderr
    started = subprocess.run([LRMS, "agent", "start"], cwd=tmp_path, capture_output=True,
                             env=environment(tmp_path, "agent", agent_on=True), text=True,
                             timeout=60, check=False)
    assert started.returncode == 0, started.stderr
    try:
        waits = [subprocess.Popen([LRMS, "wait"], cwd=tmp_path, stderr=subprocess.PIPE,
                                  text=True, env=environment(tmp_path, f"wait{i}",
                                                             agent_on=True))
                 for i in range(4)]
        outcomes = [wait.communicate(timeout=300) for wait in waits]
        assert [wait.returncode for wait in waits] == [0] * 4, outcomes
    finally:
        agent.stop(str(tmp_path / "jobs.db"))
    askers = {caller for _, caller, name in calls(tmp_path) if name in QUERIES}
    assert askers == {"agent"}  # the four waits only read the store


def test_failed_queries_back_off_and_leave_jobs_as_they_were(site, tmp_path, monkeypatch):
    monkeypatch.setenv("LRMS_TEST_CALLER", "test")
    with lrms.Engine(site, tmp_path / "jobs.db", output_root=tmp_path / "out") as engine:
        [job] = engine.add(lrms.Application(["sleep", "2"], requested_cores=1))
        engine.progress()  # submits
        (tmp_path / "fail").touch()
        done = engine.progress(urgent=["cluster"])
        assert any("Socket timed out" in text and "asked again in" in text
                   for text in done.errors), done.errors
        assert engine.get(job.jobid).state == lrms.State.SUBMITTED  # never marked failed
        poll = engine.store.poll("cluster")
        assert poll.failures == 1 and poll.retry_at - time.time() > INTERVAL
        before = len(calls(tmp_path))
        engine.progress(urgent=["cluster"])  # backing off: not even an urgent round asks
        assert len(calls(tmp_path)) == before
        engine.store.poll_done("cluster", "again", interval=INTERVAL)
        assert engine.store.poll("cluster").failures == 2  # the pause doubles
        (tmp_path / "fail").unlink()
        engine.store.poll_done("cluster")  # as a successful query does
        [ended] = engine.wait([job], timeout=120)
        assert (ended.state, ended.returncode) == (lrms.State.TERMINATED, 0)
        assert engine.store.poll("cluster").failures == 0
