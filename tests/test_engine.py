"""``lrms.Engine`` against real resources: shellcmd on this machine and the test Slurm cluster.

Covers resource selection, in-flight limits, one batched query per resource
per round, events, per-job output folders, retries, a resource deleted from
the configuration, and recovery of a submission whose process was killed.
"""

from __future__ import annotations

import itertools
import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
import yaml

import lrms
from lrms.store import JobStore

LIMITS = {"max_memory_per_core": "1GiB", "architecture": ["x86_64"]}


def write_config(tmp_path, resources: dict[str, dict[str, object]]) -> str:
    sections = {}
    for name, values in resources.items():
        sections[name] = {"max_cores": 2, "max_cores_per_job": 2, "max_walltime": "1h",
                          "spool": str(tmp_path / "spool" / name), **LIMITS, **values}
    path = tmp_path / "site.yaml"
    path.write_text(yaml.safe_dump({"resources": sections}, sort_keys=False))
    return str(path)


@pytest.fixture
def engine(tmp_path):
    config = write_config(tmp_path, {"local": {"backend": "shellcmd"}})
    with lrms.Engine(config, tmp_path / "jobs.db", output_root=tmp_path / "out") as engine:
        yield engine


def sh(script: str, **kwargs: object) -> lrms.Application:
    return lrms.Application(["/bin/sh", "-c", script], **kwargs)


class Recorder:
    def __init__(self) -> None:
        self.changes: list[tuple[str, str, str]] = []
        self.queries: list[int] = []

    @lrms.hookimpl
    def job_state_changed(self, job, old, new):
        self.changes.append((job.jobid, old.value, new.value))

    @lrms.hookimpl(wrapper=True)
    def update_job_states(self, jobs):
        self.queries.append(len(jobs))
        return (yield)


@pytest.fixture
def recorder():
    plugin = Recorder()
    lrms.register(plugin)
    yield plugin
    lrms.unregister(plugin)


def test_jobs_run_events_fire_and_outputs_land_in_per_job_folders(engine, recorder, tmp_path):
    jobs = engine.add([sh(f"echo out {i} > result.txt; echo log {i}", outputs=["result.txt",
                                                                               "stdout"])
                       for i in range(4)], tag="sweep")
    done = engine.wait(timeout=60)
    assert [job.jobid for job in done] == [job.jobid for job in jobs]
    for i, job in enumerate(done):
        assert (job.state, job.returncode, job.resource) == (lrms.State.TERMINATED, 0, "local")
        folder = tmp_path / "out" / job.jobid
        assert (folder / "result.txt").read_text() == f"out {i}\n"
        assert (folder / "stdout").read_text() == f"log {i}\n"
        assert job.fetched is not None and job.tag == "sweep"
        # every state change the job went through was announced once, in order
        history = [state.value for state, _ in job.history]
        announced = [(old, new) for jobid, old, new in recorder.changes if jobid == job.jobid]
        assert announced == list(itertools.pairwise(history))
        assert history[0] == "NEW" and history[-1] == "TERMINATED"


def test_one_batched_query_per_resource_per_round(tmp_path, recorder):
    config = write_config(tmp_path, {"local": {"backend": "shellcmd", "poll_interval": 0}})
    with lrms.Engine(config, tmp_path / "jobs.db", output_root=tmp_path / "out") as engine:
        engine.add([sh("sleep 2")] * 2)
        engine.progress()
        recorder.queries.clear()
        engine.progress()
        engine.progress()
    assert recorder.queries == [2, 2]  # both jobs in one update_job_states call each round


def test_rounds_within_the_poll_interval_use_the_stored_states(tmp_path, recorder):
    config = write_config(tmp_path, {"local": {"backend": "shellcmd", "poll_interval": "1h"}})
    with lrms.Engine(config, tmp_path / "jobs.db", output_root=tmp_path / "out") as engine:
        jobs = engine.add([sh("sleep 2")] * 2)
        engine.progress()  # submits
        engine.progress()  # the first query
        recorder.queries.clear()
        engine.progress()
        with lrms.Engine(config, tmp_path / "jobs.db") as other:  # another user of the store
            other.progress()
            assert [job.state for job in other.jobs()] == [engine.get(j.jobid).state
                                                            for j in jobs]
        assert recorder.queries == []
        # a local job's end wakes a waiting engine, which asks at once despite the interval
        engine.cancel(engine.get(jobs[0].jobid))
        woken = engine.pause(30)
        assert woken == {"local"}
        engine.progress(woken)
        assert recorder.queries == [2]
        engine.cancel(engine.get(jobs[1].jobid))


def test_in_flight_limit_is_kept(tmp_path, recorder):
    config = write_config(tmp_path, {"local": {"backend": "shellcmd"}})
    with lrms.Engine(config, tmp_path / "jobs.db", max_in_flight=1,
                     output_root=tmp_path / "out") as engine:
        engine.add([sh("sleep 0.3")] * 3)
        first = engine.progress()
        assert len(first.submitted) == 1
        assert first.counts == {"SUBMITTED": 1, "NEW": 2}
        engine.wait(timeout=60)
        submitted = [c for c in recorder.changes if c[1:] == ("NEW", "SUBMITTED")]
        assert len(submitted) == 3


def test_resource_is_chosen_by_its_limits(tmp_path):
    config = write_config(tmp_path, {
        "small": {"backend": "shellcmd", "max_cores": 1, "max_cores_per_job": 1},
        "big": {"backend": "shellcmd", "max_walltime": "10min"},
    })
    with lrms.Engine(config, tmp_path / "jobs.db", output_root=tmp_path / "out") as engine:
        assert engine.candidates(sh("true")) == ["small", "big"]
        assert engine.candidates(sh("true", requested_cores=2)) == ["big"]
        assert engine.candidates(sh("true", requested_walltime="30min")) == ["small"]
        with pytest.raises(lrms.LimitExceeded) as refused:
            engine.add(sh("true", requested_cores=2, requested_walltime="30min"))
        message = str(refused.value)
        assert "resource small" in message and "max_cores_per_job is 1" in message
        assert "resource big" in message and "max_walltime is 10m" in message
        with pytest.raises(lrms.LimitExceeded, match=r"resource small.*max_cores_per_job"):
            engine.add(sh("true", requested_cores=2), resource="small")
        with pytest.raises(lrms.ConfigError, match="no resource named 'nowhere'"):
            engine.add(sh("true"), resource="nowhere")
        assert engine.jobs() == []  # refused requests are not recorded

        job, = engine.add(sh("true", requested_cores=2))
        finished, = engine.wait([job], timeout=60)
        assert finished.resource == "big" and finished.returncode == 0


def test_failed_jobs_are_resubmitted_up_to_the_limit(tmp_path):
    config = write_config(tmp_path, {"local": {"backend": "shellcmd"}})
    with lrms.Engine(config, tmp_path / "jobs.db", retries=2,
                     output_root=tmp_path / "out") as engine:
        flaky, good = engine.add([sh("exit 3"), sh("exit 0")])
        last, ok = engine.wait(timeout=60)
        assert (last.attempt, last.returncode, ok.attempt) == (3, 3, 1)
        chain = [job for job in engine.jobs(current_only=False) if job.jobid != good.jobid]
        assert [job.attempt for job in chain] == [1, 2, 3]
        assert chain[0].jobid == flaky.jobid and chain[1].retry_of == flaky.jobid
        assert [job.jobid for job in engine.jobs()] == [good.jobid, last.jobid]


def test_a_new_job_is_cancelled_without_being_submitted(engine):
    job, = engine.add(sh("true"))
    engine.cancel(job)
    stored = engine.get(job.jobid)
    assert stored.state == lrms.State.TERMINATED and stored.native_id is None
    assert stored.termination_reason == lrms.TerminationReason.CANCELLED
    assert engine.progress().submitted == []


def test_a_resource_deleted_from_the_config_is_reported_not_fatal(tmp_path):
    config = write_config(tmp_path, {"local": {"backend": "shellcmd"}})
    store = JobStore(tmp_path / "jobs.db")
    orphan = lrms.Job(sh("true"))
    orphan.resource, orphan.native_id, orphan.state = "gone", "1234", lrms.State.RUNNING
    store.add([orphan])
    with lrms.Engine(config, store, output_root=tmp_path / "out") as engine:
        engine.add(sh("true"))
        done = engine.progress()
        assert len(done.submitted) == 1
        assert any("'gone'" in e and "no longer configured" in e for e in done.errors)
        assert engine.get(orphan.jobid).state == lrms.State.RUNNING  # left as it was


# -- a submitting process killed with SIGKILL ----------------------------------------

KILLED_SUBMITTER = textwrap.dedent("""
    import os, signal, sys
    import lrms
    config, store, jobid, resource, step = sys.argv[1:]
    engine = lrms.Engine(config, store)
    job = engine.get(jobid)
    assert engine.store.claim(job, resource)
    if step == "after-submit":
        engine.resource(resource).submit_job(job.app, job)
        print(job.native_id, flush=True)
    os.kill(os.getpid(), signal.SIGKILL)  # before the store learns the native id
""")


def killed_submission(config: str, store: str, job: lrms.Job, resource: str, step: str) -> str:
    done = subprocess.run([sys.executable, "-c", KILLED_SUBMITTER, config, store, job.jobid,
                           resource, step], capture_output=True, text=True, timeout=120)
    assert done.returncode == -9, done.stderr
    return done.stdout.strip()


def check_recovery(config: str, store_path: str, output_root: str, resource: str) -> list[str]:
    """Kill a submitter after and before the scheduler accepted a job; the next round
    finds the first by its job id and submits the second: each runs exactly once."""
    with lrms.Engine(config, store_path, output_root=output_root) as engine:
        accepted, never = engine.add([sh("echo once >> ../count; echo done",
                                         outputs=["stdout"]), sh("echo second")])
        native = killed_submission(config, store_path, accepted, resource, "after-submit")
        assert native
        killed_submission(config, store_path, never, resource, "before-submit")
        assert engine.get(accepted.jobid).native_id is None  # the store never learnt it

        first = engine.progress()
        assert [job.jobid for job in first.recovered] == [accepted.jobid]
        assert [job.jobid for job in first.submitted] == [never.jobid]
        recovered = engine.get(accepted.jobid)
        assert recovered.native_id == native
        finished = engine.wait([accepted, never], timeout=300)
        assert [job.returncode for job in finished] == [0, 0]
        assert os.path.exists(os.path.join(finished[0].output_dir, "stdout"))
        return [job.sandbox or "" for job in finished]


def test_killed_submission_is_recovered_on_shellcmd(tmp_path):
    config = write_config(tmp_path, {"local": {"backend": "shellcmd"}})
    sandboxes = check_recovery(config, str(tmp_path / "jobs.db"), str(tmp_path / "out"), "local")
    count = Path(sandboxes[0]).parent / "count"
    assert count.read_text() == "once\n"  # the recovered job ran exactly once


@pytest.mark.slurm
def test_killed_submission_is_recovered_on_slurm(slurm, tmp_path):
    config = write_config(tmp_path, {"cluster": {
        "backend": "slurm", "partition": slurm["LRMS_SLURM_PARTITION"],
        "poll_interval": 0}})
    sandboxes = check_recovery(config, str(tmp_path / "jobs.db"), str(tmp_path / "out"),
                               "cluster")
    count = Path(sandboxes[0]).parent / "count"
    assert count.read_text() == "once\n"
    for _ in range(60):  # slurmdbd may record a finished job a moment later
        listed = subprocess.run(
            ["sacct", "-X", "-n", "-P", "-S", "now-1days", "-o", "WorkDir"],
            capture_output=True, text=True, check=True).stdout.splitlines()
        if all(sandbox in listed for sandbox in sandboxes):
            break
        time.sleep(0.5)
    for sandbox in sandboxes:
        assert listed.count(sandbox) == 1  # Slurm ran each job once


@pytest.mark.slurm
def test_engine_on_slurm_with_retries_and_fetch(slurm, tmp_path, recorder):
    config = write_config(tmp_path, {"cluster": {
        "backend": "slurm", "partition": slurm["LRMS_SLURM_PARTITION"],
        "poll_interval": 0}})
    with lrms.Engine(config, tmp_path / "jobs.db", retries=1,
                     output_root=tmp_path / "out") as engine:
        jobs = engine.add([sh(f"echo {i} > r.txt; exit {i}", outputs=["r.txt"])
                           for i in range(3)])
        done = engine.wait(interval=0.5, timeout=300)
        assert [job.returncode for job in done] == [0, 1, 2]
        assert [job.attempt for job in done] == [1, 2, 2]
        for i, job in enumerate(done):
            assert (tmp_path / "out" / jobs[i].jobid / "r.txt").read_text() == f"{i}\n"
        assert recorder.queries and max(recorder.queries) <= 3


# -- every state change goes through the facade ---------------------------------------


class EventLog:
    """An extension plugin that records each job_submitted and job_state_changed event."""

    def __init__(self) -> None:
        self.events: list[tuple[str, ...]] = []

    @lrms.hookimpl
    def job_submitted(self, resource, job):
        self.events.append((job.jobid, "submitted", resource.name))

    @lrms.hookimpl
    def job_state_changed(self, resource, job, old, new):
        assert job.state == new
        self.events.append((job.jobid, old.value, new.value))


@pytest.fixture
def event_log():
    plugin = EventLog()
    lrms.register(plugin)
    yield plugin
    lrms.unregister(plugin)


def test_every_state_change_the_engine_makes_reaches_extension_plugins(tmp_path, event_log):
    """Submitted, recovered, refused (the config changed since it was added) and cancelled
    before submission: each job's every move, and each acceptance, is announced once."""
    log = event_log
    added = write_config(tmp_path, {"local": {"backend": "shellcmd"}})
    now = str(tmp_path / "now.yaml")
    Path(now).write_text(Path(added).read_text().replace("max_cores_per_job: 2",
                                                         "max_cores_per_job: 1"))
    store = str(tmp_path / "jobs.db")
    with lrms.Engine(added, store) as engine:
        ran, recovered, cancelled, refused = engine.add(
            [sh("true"), sh("true"), sh("true"), sh("true", requested_cores=2)])
    killed_submission(added, store, recovered, "local", "after-submit")
    with lrms.Engine(now, store, output_root=tmp_path / "out") as engine:
        engine.cancel(cancelled)
        first = engine.progress()
        assert [job.jobid for job in first.recovered] == [recovered.jobid]
        assert {job.jobid for job in first.submitted} == {ran.jobid}
        finished = engine.wait([ran, recovered, cancelled, refused], timeout=60)
    assert finished[3].termination_reason == lrms.TerminationReason.SUBMISSION_FAILED
    for job in finished:
        mine = [event[1:] for event in log.events if event[0] == job.jobid]
        moves = list(itertools.pairwise(state.value for state, _ in job.history))
        assert [event for event in mine if event[0] != "submitted"] == moves, mine
        if job.jobid in (ran.jobid, recovered.jobid):  # accepted, announced before moving
            assert mine[:2] == [("submitted", "local"), ("NEW", "SUBMITTED")], mine
        else:
            assert mine == [("NEW", "TERMINATED")]
