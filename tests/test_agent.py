"""The per-store agent, for real: ``lrms`` commands as subprocesses, a local 2-core
shellcmd resource, the agent as the detached process ``lrms submit`` starts.

Each job appends its id to a file, so a job started twice or never is seen.
The store is read passively (:class:`lrms.JobStore`), never through an ``lrms``
command, which would start an agent itself.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from lrms import agent
from lrms.store import JobStore

LRMS = str(Path(sys.executable).parent / "lrms")


def write_config(tmp_path: Path, *, enabled: bool = True, linger: str = "1s") -> Path:
    path = tmp_path / "site.yaml"
    path.write_text(
        f"agent:\n  enabled: {str(enabled).lower()}\n  linger: {linger}\n"
        "resources:\n  local:\n    backend: shellcmd\n"
        f"    spool: {tmp_path / 'spool'}\n    max_cores: 2\n    max_cores_per_job: 2\n"
        "    max_memory_per_core: 1GiB\n    max_walltime: 1h\n    architecture: [x86_64]\n")
    return path


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    """The environment of the ``lrms`` commands: agent on, own store, config and log."""
    values = {k: v for k, v in os.environ.items() if k != "LRMS_NO_AGENT"}
    values.update(LRMS_STORE=str(tmp_path / "jobs.db"),
                  LRMS_CONFIG=str(write_config(tmp_path)),
                  XDG_STATE_HOME=str(tmp_path / "state"))
    yield values
    with contextlib.suppress(OSError, TimeoutError):  # never leave an agent behind
        agent.stop(values["LRMS_STORE"], timeout=30)


def lrms(env: dict[str, str], *args: str, stdin: str | None = None
         ) -> subprocess.CompletedProcess[str]:
    return subprocess.run([LRMS, *args], env=env, input=stdin, capture_output=True, text=True,
                          timeout=120, check=False, cwd=Path(env["LRMS_STORE"]).parent)


def until(check: Callable[[], bool], what: str, timeout: float = 90.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            pytest.fail(f"not within {timeout} s: {what}")
        time.sleep(0.1)


def counts(env: dict[str, str]) -> dict[str, int]:
    with JobStore(env["LRMS_STORE"]) as store:
        return store.counts()


def sweep(env: dict[str, str], tmp_path: Path, count: int, seconds: float,
          *options: str) -> list[str]:
    """Submit ``count`` jobs that each append their id to runs.txt; their ids."""
    params = tmp_path / "params.txt"
    params.write_text("".join(f"{i}\n" for i in range(count)))
    runs = tmp_path / "runs.txt"
    done = lrms(env, *options, "submit", "--params", str(params), "--", "sh", "-c",
                f'echo "$LRMS_JOB_ID" >> {runs}; sleep {seconds}', "job", "{}")
    assert done.returncode == 0, done.stderr
    return done.stdout.split()


def runs(tmp_path: Path) -> list[str]:
    path = tmp_path / "runs.txt"
    return path.read_text().split() if path.exists() else []


def test_submit_returns_and_the_agent_finishes_the_sweep_then_exits(env, tmp_path):
    ids = sweep(env, tmp_path, 40, 0.1)
    info = agent.running(env["LRMS_STORE"])
    assert info is not None and info.pid != os.getpid()
    assert counts(env).get("TERMINATED", 0) < 40  # submit did not wait for them
    # no other lrms command runs: the agent submits every job as cores free
    until(lambda: counts(env) == {"TERMINATED": 40}, "the agent ran all 40 jobs")
    assert sorted(runs(tmp_path)) == sorted(ids)  # each job ran exactly once
    until(lambda: agent.running(env["LRMS_STORE"]) is None, "the idle agent exited")
    log = lrms(env, "agent", "log", "-n", "50").stdout
    assert f"agent {info.pid} started" in log and "exiting" in log
    for jobid in ids:  # the agent fetched each job's stdout into its folder
        assert (tmp_path / "lrms-output" / jobid / "stdout").exists()
    status = lrms(env, "status", "--no-refresh")
    assert "40 TERMINATED" in status.stdout


def test_a_single_agent_under_concurrent_starts(env, tmp_path):
    sweep(env, tmp_path, 6, 2, "--no-agent")
    assert agent.running(env["LRMS_STORE"]) is None
    code = ("import lrms.agent as a, os; "
            "print(a.start(os.environ['LRMS_STORE'], os.environ['LRMS_CONFIG']).pid)")
    starters = [subprocess.Popen([sys.executable, "-c", code], env=env, stdout=subprocess.PIPE,
                                 text=True) for _ in range(6)]
    pids = {starter.communicate(timeout=60)[0].strip() for starter in starters}
    assert len(pids) == 1, pids

    def agents() -> list[str]:
        return subprocess.run(["pgrep", "-f", f"lrms.agent --store {env['LRMS_STORE']}"],
                              capture_output=True, text=True, check=False).stdout.split()

    # the agents that lost the race for the lock exit without running a round
    until(lambda: agents() == list(pids), "only the agent holding the lock is left")
    until(lambda: counts(env) == {"TERMINATED": 6}, "the six jobs ran")
    assert len(runs(tmp_path)) == 6
    log = lrms(env, "agent", "log", "-n", "100").stdout
    assert log.count("started for job store") == 1


def test_an_agent_killed_is_restarted_by_the_next_command_and_nothing_runs_twice(env, tmp_path):
    ids = sweep(env, tmp_path, 12, 0.5)
    first = agent.running(env["LRMS_STORE"])
    assert first is not None
    os.kill(first.pid, signal.SIGKILL)
    until(lambda: agent.running(env["LRMS_STORE"]) is None, "the lock was released")
    left = counts(env)
    assert left.get("TERMINATED", 0) < 12
    time.sleep(1.5)
    assert counts(env).get("NEW", 0) == left.get("NEW", 0)  # nobody submits meanwhile
    shown = lrms(env, "status")
    assert shown.returncode == 0, shown.stderr
    second = agent.running(env["LRMS_STORE"])
    assert second is not None and second.pid != first.pid
    until(lambda: counts(env) == {"TERMINATED": 12}, "the restarted agent ran the rest")
    assert sorted(runs(tmp_path)) == sorted(ids)


def test_wait_and_status_read_the_store_the_agent_keeps(env, tmp_path):
    ids = sweep(env, tmp_path, 8, 0.3)
    assert agent.running(env["LRMS_STORE"]) is not None
    done = lrms(env, "wait", *ids)
    assert done.returncode == 0, done.stderr
    assert "8 job(s) terminated, 8 ok" in done.stderr
    shown = lrms(env, "status", "--json")
    assert [job["state"] for job in json.loads(shown.stdout)] == ["TERMINATED"] * 8


def test_no_agent_by_flag_environment_or_configuration(env, tmp_path):
    sweep(env, tmp_path, 4, 0.1, "--no-agent")
    assert agent.running(env["LRMS_STORE"]) is None
    assert counts(env).get("NEW") == 2  # the submit's own round started two
    lrms(env, "status", "--no-agent")
    assert agent.running(env["LRMS_STORE"]) is None
    assert lrms(env | {"LRMS_NO_AGENT": "1"}, "status").returncode == 0
    assert agent.running(env["LRMS_STORE"]) is None
    off = tmp_path / "off"
    off.mkdir()
    assert lrms(env | {"LRMS_CONFIG": str(write_config(off, enabled=False))},
                "status").returncode == 0
    assert agent.running(env["LRMS_STORE"]) is None
    done = lrms(env, "--no-agent", "wait")  # the command runs the rounds itself
    assert done.returncode == 0 and agent.running(env["LRMS_STORE"]) is None
    assert len(runs(tmp_path)) == 4


def test_agent_status_start_stop_and_log(env, tmp_path):
    shown = lrms(env, "agent", "status")
    assert shown.returncode == 1 and "no agent is running" in shown.stdout
    sweep(env, tmp_path, 2, 30, "--no-agent")
    started = lrms(env, "agent", "start")
    assert started.returncode == 0 and "agent started" in started.stderr
    shown = lrms(env, "agent", "status", "--json")
    assert shown.returncode == 0
    record = json.loads(shown.stdout)
    assert record["running"] and record["agent"]["pid"] == agent.running(env["LRMS_STORE"]).pid
    assert sum(record["jobs"].values()) == 2 and "TERMINATED" not in record["jobs"]
    stopped = lrms(env, "agent", "stop")
    assert stopped.returncode == 0 and "stopped; jobs keep running" in stopped.stderr
    assert agent.running(env["LRMS_STORE"]) is None
    assert "stopped (SIGTERM)" in lrms(env, "agent", "log").stdout
    assert counts(env).get("TERMINATED", 0) == 0  # the jobs were not touched
    lrms(env, "--no-agent", "cancel", "--all-active")


def test_ctrl_c_of_run_waiting_for_a_slot_leaves_the_job_to_the_agent(env, tmp_path):
    busy = sweep(env, tmp_path, 2, 60, "--no-agent")  # both cores taken
    runs_file = tmp_path / "runs.txt"
    run = subprocess.Popen([LRMS, "run", "--", "sh", "-c", f'echo "$LRMS_JOB_ID" >> {runs_file}'],
                           env=env, cwd=tmp_path, stderr=subprocess.PIPE, text=True)
    assert run.stderr is not None
    said = [run.stderr.readline() for _ in range(1)]
    assert "free slot" in said[0], said
    run.send_signal(signal.SIGINT)
    rest = run.communicate(timeout=60)[1]
    assert run.returncode == 130
    found = agent.running(env["LRMS_STORE"])
    assert found is not None
    assert f"1 job(s) not yet started (the agent (pid {found.pid}) starts them" in rest, rest
    assert lrms(env, "--no-agent", "cancel", *busy).returncode == 0
    until(lambda: len(runs(tmp_path)) == 3, "the agent ran the interrupted job")


def test_an_agent_that_stops_as_jobs_are_added_hands_them_to_the_next(env, tmp_path, monkeypatch):
    """The race of an idle agent exiting while ``lrms submit`` still saw it running: after
    letting go of its lock, it compares the store with its last round's and starts the
    next agent if jobs came meanwhile (and only then)."""
    for name in ("LRMS_STORE", "LRMS_CONFIG", "XDG_STATE_HOME"):
        monkeypatch.setenv(name, env[name])
    monkeypatch.delenv("LRMS_NO_AGENT")
    sweep(env, tmp_path, 3, 0.1, "--no-agent")  # the submit's round starts two
    with JobStore(env["LRMS_STORE"]) as store:
        unchanged = store.fingerprint()
    agent._hand_over(env["LRMS_STORE"], env["LRMS_CONFIG"], unchanged, max_in_flight=None,
                     retries=0)
    assert agent.running(env["LRMS_STORE"]) is None  # nothing new since its last round
    agent._hand_over(env["LRMS_STORE"], env["LRMS_CONFIG"], (0, 0.0), max_in_flight=None,
                     retries=0)
    assert agent.running(env["LRMS_STORE"]) is not None
    until(lambda: counts(env) == {"TERMINATED": 3}, "the next agent ran the job left")


def test_any_command_that_opens_the_engine_restarts_a_dead_agent(env, tmp_path):
    sweep(env, tmp_path, 6, 0.5)
    first = agent.running(env["LRMS_STORE"])
    assert first is not None
    os.kill(first.pid, signal.SIGKILL)
    until(lambda: agent.running(env["LRMS_STORE"]) is None, "the lock was released")
    assert lrms(env, "resources").returncode == 0  # not a command about these jobs
    second = agent.running(env["LRMS_STORE"])
    assert second is not None and second.pid != first.pid
    until(lambda: counts(env) == {"TERMINATED": 6}, "the restarted agent ran the rest")
