"""Dependencies (``after``) and holds kept by the engine, on the real shellcmd resource.

shellcmd maps neither, so the engine keeps a dependent job NEW until the jobs it
waits for have ended, ends it ``dependency_failed`` when an ``ok`` dependency
failed, and keeps a held job NEW until ``lrms release``.  Each job's program
stamps the time it starts and ends into a shared folder; a job waited for is
kept running until the test creates its go-file, so the dependent job is seen
waiting while it runs.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

import lrms
from lrms import Dependency, State, TerminationReason


@pytest.fixture
def config(tmp_path) -> str:
    path = tmp_path / "site.yaml"
    path.write_text(yaml.safe_dump({"resources": {"local": {
        "backend": "shellcmd", "max_cores": 4, "max_cores_per_job": 1, "max_walltime": "1h",
        "max_memory_per_core": "1GiB", "architecture": ["x86_64"],
        "spool": str(tmp_path / "spool")}}}))
    return str(path)


@pytest.fixture
def engine(tmp_path, config):
    with lrms.Engine(config, tmp_path / "jobs.db", output_root=tmp_path / "out") as engine:
        yield engine


def stamped(stamps: Path, name: str, body: str = "true", *, gate: bool = False,
            **kwargs: object) -> lrms.Application:
    """A job that writes ``<name>.start`` and ``<name>.end`` (ns since the epoch) around
    ``body``; with ``gate`` it first waits for ``<name>.go``."""
    wait = f'while [ ! -e "$1/{name}.go" ]; do sleep 0.02; done; ' if gate else ""
    script = (f'date +%s%N > "$1/{name}.start"; {wait}{body}; rc=$?; '
              f'date +%s%N > "$1/{name}.end"; exit $rc')
    return lrms.Application(["/bin/sh", "-c", script, "sh", str(stamps)], jobname=name,
                            **kwargs)


def stamp(stamps: Path, name: str, which: str) -> int:
    return int((stamps / f"{name}.{which}").read_text())


def when(job: lrms.Job, state: State) -> float:
    return next(stamp for seen, stamp in job.history if seen == state)


def rounds(engine: lrms.Engine, count: int = 3) -> None:
    for _ in range(count):
        engine.progress()


def test_a_job_starts_only_after_the_one_it_waits_for_ended(engine, tmp_path):
    a, = engine.add(stamped(tmp_path, "a", gate=True))
    b, = engine.add(stamped(tmp_path, "b", after=[a.jobid]))
    rounds(engine)
    a, b = engine.get(a.jobid), engine.get(b.jobid)
    assert a.state in (State.SUBMITTED, State.RUNNING)
    assert b.state == State.NEW and b.native_id is None
    assert b.status_message == f"waiting for job {a.jobid} to end (after {a.jobid}:ok)"
    assert not (tmp_path / "b.start").exists()
    (tmp_path / "a.go").touch()
    a, b = engine.wait([a, b], timeout=60)
    assert (a.returncode, b.returncode) == (0, 0)
    assert stamp(tmp_path, "b", "start") >= stamp(tmp_path, "a", "end")
    assert when(b, State.SUBMITTED) >= when(a, State.TERMINATED)


def test_ok_on_a_failed_job_ends_the_dependent_job_unrun(engine, tmp_path):
    a, = engine.add(stamped(tmp_path, "a", "(exit 3)"))
    b, = engine.add(stamped(tmp_path, "b", after=[f"{a.jobid}:ok"]))
    a, b = engine.wait([a, b], timeout=60)
    assert a.returncode == 3
    assert b.state == State.TERMINATED
    assert b.termination_reason == TerminationReason.DEPENDENCY_FAILED
    assert b.native_id is None and not (tmp_path / "b.start").exists()
    assert b.status_message == (f"dependency not met (after {a.jobid}:ok): job {a.jobid} ('a') "
                                "ended exited, return code 3; never run")


def test_any_runs_the_dependent_job_whatever_the_first_one_did(engine, tmp_path):
    a, = engine.add(stamped(tmp_path, "a", "(exit 3)"))
    b, = engine.add(stamped(tmp_path, "b", after=[f"{a.jobid}:any"]))
    a, b = engine.wait([a, b], timeout=60)
    assert (a.returncode, b.returncode) == (3, 0)
    assert stamp(tmp_path, "b", "start") >= stamp(tmp_path, "a", "end")


def test_a_chain_of_three_runs_in_order(engine, tmp_path):
    a, = engine.add(stamped(tmp_path, "a", gate=True))
    b, = engine.add(stamped(tmp_path, "b", after=[a.jobid]))
    c, = engine.add(stamped(tmp_path, "c", after=[Dependency(b.jobid, "ok")]))
    rounds(engine)
    assert [engine.get(j.jobid).state for j in (b, c)] == [State.NEW, State.NEW]
    (tmp_path / "a.go").touch()
    jobs = engine.wait([a, b, c], timeout=90)
    assert [job.returncode for job in jobs] == [0, 0, 0]
    assert stamp(tmp_path, "b", "start") >= stamp(tmp_path, "a", "end")
    assert stamp(tmp_path, "c", "start") >= stamp(tmp_path, "b", "end")


def test_a_failure_ends_the_rest_of_a_chain(engine, tmp_path):
    a, = engine.add(stamped(tmp_path, "a", "false"))
    b, = engine.add(stamped(tmp_path, "b", after=[a.jobid]))
    c, = engine.add(stamped(tmp_path, "c", after=[b.jobid]))
    jobs = engine.wait([a, b, c], timeout=60)
    assert [job.termination_reason for job in jobs] == [
        TerminationReason.EXITED, TerminationReason.DEPENDENCY_FAILED,
        TerminationReason.DEPENDENCY_FAILED]
    assert f"job {b.jobid} ('b') ended dependency_failed" in (jobs[2].status_message or "")


def test_a_dependency_on_a_job_not_in_the_store_is_refused(engine):
    with pytest.raises(lrms.UnknownJob, match="no job '20260101-nosuchjob'"):
        engine.add(lrms.Application(["true"], after=["20260101-nosuchjob"]))
    assert engine.jobs() == []


def test_a_unique_ending_of_a_job_id_names_the_dependency(engine, tmp_path):
    a, = engine.add(stamped(tmp_path, "a"))
    b, = engine.add(lrms.Application(["true"], after=[f"{a.jobid[-8:]}:any"]))
    assert b.app.after == (Dependency(a.jobid, "any"),)


def test_a_held_job_waits_for_release(engine, tmp_path):
    job, = engine.add(stamped(tmp_path, "h", hold=True))
    rounds(engine)
    job = engine.get(job.jobid)
    assert job.state == State.NEW and job.status_message == (
        "held: release it with 'lrms release'")
    engine.release(job)
    job, = engine.wait([job], timeout=60)
    assert job.returncode == 0 and (tmp_path / "h.end").exists()
    with pytest.raises(lrms.InvalidJobState, match="was not submitted held"):
        engine.release(engine.add(lrms.Application(["true"]))[0])


# -- through the command line ---------------------------------------------------------------


def lrms_cli(tmp_path: Path, config: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "LRMS_CONFIG": config, "LRMS_STORE": str(tmp_path / "jobs.db")}
    env.pop("LRMS_RESOURCE", None)
    return subprocess.run([sys.executable, "-m", "lrms.cli", *args], capture_output=True,
                          text=True, env=env, cwd=tmp_path, timeout=120)


def test_cli_hold_release_and_after(tmp_path, config):
    held = lrms_cli(tmp_path, config, "submit", "--json", "--hold", "--name", "first", "--",
                    "/bin/sh", "-c", f"date +%s%N > {tmp_path}/first.end")
    assert held.returncode == 0, held.stderr
    first = json.loads(held.stdout)[0]["jobid"]
    after = lrms_cli(tmp_path, config, "submit", "--json", "--after", f"{first[-10:]}:ok",
                     "--name", "second", "--",
                     "/bin/sh", "-c", f"date +%s%N > {tmp_path}/second.start")
    assert after.returncode == 0, after.stderr
    second = json.loads(after.stdout)[0]
    assert second["app"]["after"] == [{"jobid": first, "condition": "ok", "native_id": None}]
    status = lrms_cli(tmp_path, config, "status", "--json")
    assert [job["state"] for job in json.loads(status.stdout)] == ["NEW", "NEW"]
    released = lrms_cli(tmp_path, config, "release", first)
    assert (released.returncode, released.stdout) == (0, f"{first}  released\n"), (
        released.stderr)
    assert lrms_cli(tmp_path, config, "wait").returncode == 0
    assert stamp(tmp_path, "second", "start") >= stamp(tmp_path, "first", "end")
    again = lrms_cli(tmp_path, config, "release", first)
    assert again.returncode == 2
    assert again.stderr == f"lrms: error: job {first} was not submitted held: nothing to release\n"
