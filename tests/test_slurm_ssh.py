"""The Slurm backend over SSH: the project's test sshd in front of the real Slurm 22.05.

Jobs are submitted as the unprivileged ``lrmstest`` user on 127.0.0.1:2222
and run as that user on the cluster; every command (the sbatch argv, the
scontrol loop, the exit-file reader) crosses the remote shell, so this is
where quoting is proven.  Every job is cancelled when its test ends.
"""

from __future__ import annotations

import contextlib
import io
import json
import subprocess
import time
import types
import uuid
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest

import lrms
from lrms import Application, Job, State, TerminationReason
from lrms.auth import SshAuth

pytestmark = pytest.mark.ssh
Why = TerminationReason
HOSTILE = ["", "'", '"', "$(id)", "`id`", "${HOME}", "a\nb", "*", "-e", "--", "\\", "ü ✓",
           "x; echo injected", "%j%%"]


class Tracker:
    """An extension plugin that remembers every submitted job, to cancel them afterwards."""

    def __init__(self) -> None:
        self.ids: list[str] = []

    @lrms.hookimpl
    def job_submitted(self, resource: lrms.LRMS, job: Job) -> None:
        self.ids.append(job.native_id or "")


@pytest.fixture
def remote_slurm(slurm: dict[str, str], sshd: types.SimpleNamespace,
                 ssh_auth: SshAuth) -> Iterator[Any]:
    """A factory of Slurm resources reached over SSH; their spools and jobs go afterwards."""
    tracker, made = Tracker(), []
    lrms.register(tracker)

    def make(**options: Any) -> lrms.LRMS:
        res = lrms.LRMS("ssh-slurm", ["x86_64"], 2, 2, "1GiB", "1h", ssh_auth, backend="slurm",
                        transport="ssh", frontend=sshd.host, port=sshd.port,
                        partition=slurm["LRMS_SLURM_PARTITION"],
                        spool=f"~/lrms-test/slurm-{uuid.uuid4().hex[:8]}", **options)
        made.append(res)
        return res

    try:
        yield make
    finally:
        lrms.unregister(tracker)
        if tracker.ids:
            subprocess.run(["scancel", *tracker.ids], check=False, capture_output=True)
        for res in made:
            try:
                res.transport.remove(res.backend.spool, recursive=True)
            finally:
                res.close()


def submit(res: lrms.LRMS, app: Application) -> Job:
    job = res.submit_job(app, Job(app))
    job.state = State.SUBMITTED
    return job


def wait(res: lrms.LRMS, jobs: Sequence[Job], until: State = State.TERMINATED,
         timeout: float = 90) -> None:
    deadline = time.monotonic() + timeout
    while any(state != until for state in res.update_job_states(jobs)):
        assert time.monotonic() < deadline, f"not {until} after {timeout}s: {jobs}"
        time.sleep(0.3)



@contextlib.contextmanager
def commands_run(res: lrms.LRMS) -> Iterator[list[str]]:
    """The programs (argv[0]) ``res`` runs through its transport while the block runs."""
    calls: list[str] = []
    real_run = res.transport.run

    def counting_run(argv: Sequence[str], **kwargs: Any) -> Any:
        calls.append(argv[0])
        return real_run(argv, **kwargs)

    res.transport.run = counting_run
    try:
        yield calls
    finally:
        del res.transport.run


def test_end_to_end_over_ssh(remote_slurm: Any, tmp_path: Path) -> None:
    res = remote_slurm()
    data = tmp_path / "in.txt"
    data.write_text("remote input\n")
    dump = "import json, sys; json.dump(sys.argv[1:], open('argv.json', 'w'))"
    app = Application(
        ["sh", "-c", 'id -un; cat in.txt > out.txt; python3 -c "$0" "$@"; exit 200', dump,
         *HOSTILE],
        inputs=[str(data)], outputs=["out.txt", "argv.json"], requested_memory="100MiB",
        requested_walltime="5min", jobname="ssh\njob $(id)")
    job = submit(res, app)
    assert job.sandbox is not None and job.sandbox.startswith("/home/lrmstest/lrms-test/")
    wait(res, [job])
    assert (job.exitcode, job.termination_reason) == (200, Why.EXITED)
    out = io.BytesIO()
    assert res.peek(job, "stdout", out, offset=-9) == 9
    assert out.getvalue() == b"lrmstest\n"
    down = tmp_path / "down"
    down.mkdir()
    assert sorted(res.get_results(job, down)) == [str(down / "argv.json"), str(down / "out.txt")]
    assert (down / "out.txt").read_text() == "remote input\n"
    assert json.loads((down / "argv.json").read_text()) == HOSTILE
    res.free(job)
    assert not res.transport.exists(job.sandbox)


def test_cancel_hold_and_status_over_ssh(remote_slurm: Any) -> None:
    res = remote_slurm()
    running = submit(res, Application(["sleep", "300"], requested_memory="100MiB"))
    held = submit(res, Application(["true"], requested_memory="100MiB",
                                   extra={"slurm": {"extra_args": ["--hold"]}}))
    wait(res, [running], State.RUNNING)
    assert res.update_job_state(held) == State.STOPPED
    status = res.get_resource_status()
    assert status.user_run >= 1 and status.user_queued >= 1 and status.total_slots == 2
    for job in (running, held):
        res.cancel_job(job)
    wait(res, [running, held])
    assert (running.termination_reason, running.signal) == (Why.CANCELLED, 15)
    assert (held.termination_reason, held.exitcode) == (Why.CANCELLED, None)


def test_without_accounting_over_ssh(remote_slurm: Any) -> None:
    """scontrol (looped in one remote shell) and the exit files carry the outcome."""
    res = remote_slurm(accounting=False)
    killed = submit(res, Application(["sh", "-c", "kill -9 $$"], requested_memory="100MiB"))
    five = submit(res, Application(["sh", "-c", "exit 5"], requested_memory="100MiB"))
    wait(res, [killed, five])
    assert (killed.signal, killed.termination_reason) == (9, Why.SIGNALLED)
    assert (five.exitcode, five.termination_reason) == (5, Why.EXITED)
    forgotten = Job.from_dict({**five.to_dict(), "native_id": "67000000", "exitcode": None})
    forgotten.state = State.SUBMITTED
    assert res.update_job_state(forgotten) == State.TERMINATED
    assert forgotten.exitcode == 5


def test_find_jobs_over_ssh(remote_slurm: Any, sshd: types.SimpleNamespace,
                            ssh_auth: SshAuth, tmp_path: Path) -> None:
    """Jobs whose native id was never recorded, found by job id: squeue and sacct through
    the remote shell, then the id the job script recorded (the loop quoted remotely)."""
    res = remote_slurm()
    held = submit(res, Application(["true"], requested_memory="100MiB",
                                   extra={"slurm": {"extra_args": ["--hold"]}}))
    done = submit(res, Application(["sh", "-c", "echo out > out.txt"], outputs=["out.txt"],
                                   requested_memory="100MiB"))
    wait(res, [done])
    fresh = [Job(job.app, jobid=job.jobid) for job in (held, done)]
    never = Job(Application(["true"]))
    with commands_run(res) as calls:
        assert res.find_jobs([*fresh, never]) == [True, True, False]
    assert calls == ["squeue", "sacct", "/bin/sh"]  # one each, for all jobs
    assert [(job.native_id, job.sandbox) for job in fresh] == [
        (job.native_id, job.sandbox) for job in (held, done)]
    recovered_held, recovered_done = fresh
    recovered_held.state = recovered_done.state = State.SUBMITTED
    assert res.update_job_states(fresh) == [State.STOPPED, State.TERMINATED]
    down = tmp_path / "down"
    down.mkdir()
    assert res.get_results(recovered_done, down) == [str(down / "out.txt")]
    res.cancel_job(recovered_held)
    forgetful = lrms.LRMS("ssh-slurm", ["x86_64"], 2, 2, "1GiB", "1h", ssh_auth,
                          backend="slurm", transport="ssh", frontend=sshd.host, port=sshd.port,
                          spool=res.backend.spool, squeue_command="true", accounting=False)
    try:
        again = Job(done.app, jobid=done.jobid)
        assert forgetful.find_jobs([again]) == [True]  # from the script's record alone
        assert (again.native_id, again.sandbox) == (done.native_id, done.sandbox)
    finally:
        forgetful.close()


def test_template_job_over_ssh_as_the_test_user(remote_slurm: Any, slurm: dict[str, str]) -> None:
    """lrmstest's association gives it the test account and QoS; the held GPU job shows them
    in the controller, then lrms release (scontrol over SSH) lets it run on two tasks."""
    res = remote_slurm(max_gpus_per_job=2)
    app = Application(
        ["sh", "-c", 'echo "$SLURM_NTASKS tasks, GPUs $CUDA_VISIBLE_DEVICES"'],
        requested_memory="100MiB", requested_gpus=1, tasks_per_node=2, hold=True,
        account=slurm["LRMS_SLURM_ACCOUNT"], qos=slurm["LRMS_SLURM_QOS"])
    job = submit(res, app)
    line = subprocess.run(["scontrol", "--oneliner", "show", "job", job.native_id or ""],
                          check=True, capture_output=True, text=True).stdout
    for field in ("UserId=lrmstest(", "Account=lrms-test ", "QOS=lrms-high ", "Priority=0 ",
                  "NumTasks=2 ", "TresPerNode=gres:gpu:1"):
        assert field in line
    assert res.update_job_state(job) == State.STOPPED
    res.release_job(job)
    wait(res, [job])
    assert job.exitcode == 0
    out = io.BytesIO()
    res.peek(job, "stdout", out)
    assert out.getvalue().decode().startswith("2 tasks, GPUs ")


def test_a_script_missing_on_the_resource_is_named_with_the_fix(remote_slurm: Any) -> None:
    """A program that is not on the remote host: no bare exit 127, but a message naming the
    program and the host and saying how to send it."""
    res = remote_slurm()
    job = submit(res, Application(["./not-sent.sh"], requested_memory="100MiB"))
    wait(res, [job])
    assert (job.exitcode, job.termination_reason) == (127, Why.SUBMISSION_FAILED)
    assert job.status_message is not None
    assert job.status_message.startswith("cannot execute ./not-sent.sh on ")
    assert "send it with the job (--input FILE" in job.status_message


def test_array_over_ssh_and_found_again(remote_slurm: Any, tmp_path: Path) -> None:
    """Three tasks in one array over SSH (hostile argv through the dispatcher and each
    task's script): their own outcomes and outputs; then, their ids forgotten as by a
    submitter killed during the submission, find_jobs finds the array and every task
    (squeue, then the task records read in one remote shell), so nothing is sent twice."""
    res = remote_slurm()
    dump = "import json, sys; json.dump(sys.argv[1:], open('argv.json', 'w'))"
    sizes = (1, 7, len(HOSTILE))
    apps = [Application(["sh", "-c", 'python3 -c "$0" "$@"; exit $LRMS_TASK_INDEX', dump,
                         *HOSTILE[:n]], outputs=["argv.json"], requested_memory="100MiB",
                        jobname=f"task\n{n} $(id)") for n in sizes]
    jobs = [Job(app) for app in apps]
    res.submit_jobs(apps, jobs)
    array = jobs[0].backend_data["array"]
    assert [job.native_id for job in jobs] == [f"{array}_{i}" for i in range(3)]
    for job in jobs:
        job.state = State.SUBMITTED
    wait(res, jobs)
    assert [(job.exitcode, job.termination_reason) for job in jobs] == [
        (0, Why.EXITED), (1, Why.EXITED), (2, Why.EXITED)]
    for index, (job, size) in enumerate(zip(jobs, sizes, strict=True)):
        down = tmp_path / f"task{index}"
        down.mkdir()
        res.get_results(job, down)
        assert json.loads((down / "argv.json").read_text()) == HOSTILE[:size]
    fresh = [Job(job.app, jobid=job.jobid) for job in jobs]
    with commands_run(res) as calls:
        assert res.find_jobs(fresh) == [True, True, True]
    assert calls.count("squeue") == 1 and "sbatch" not in calls
    assert [(job.native_id, job.sandbox, job.backend_data) for job in fresh] == [
        (job.native_id, job.sandbox, job.backend_data) for job in jobs]
