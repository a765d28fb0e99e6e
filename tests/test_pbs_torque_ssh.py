"""The pbs backend (torque flavour) over SSH, as the unprivileged test user.

The frontend is the test sshd on 127.0.0.1:2222 (user ``lrmstest``); the PBS
server is Slurm's Torque compatibility wrappers on the test Slurm cluster
(tests/services/setup-torque-wrappers.sh).  Every command and file transfer goes
through the SSH transport; jobs run as ``lrmstest``.
"""

from __future__ import annotations

import io
import time
from pathlib import Path

import pytest

import lrms
from lrms import Application, Dependency, Job, State, TerminationReason

REPO_ROOT = Path(__file__).resolve().parent.parent
DEADLINE = 90.0


@pytest.fixture
def resource(torque, sshd, ssh_auth):
    commands = {f"{name}_command": f"{torque}/{name}"
                for name in ("qsub", "qstat", "qdel", "qrls", "pbsnodes")}
    res = lrms.LRMS("torque-ssh", ["x86_64"], 2, 1, "1GiB", "1h", ssh_auth, backend="pbs",
                    transport="ssh", frontend=sshd.host, port=sshd.port, flavour="torque",
                    max_gpus_per_job=1,
                    spool="~/.lrms/pbs-ssh-tests", **commands)
    yield res
    res.transport.remove(res.backend.spool, recursive=True)
    res.close()


def wait(res, jobs, until=(State.TERMINATED,)):
    deadline = time.monotonic() + DEADLINE
    while True:
        res.update_job_states(jobs)
        if all(job.state in until for job in jobs):
            return
        assert time.monotonic() < deadline, f"{jobs} not {until} after {DEADLINE} s"
        time.sleep(0.5)


def test_jobs_over_ssh(resource, sshd, tmp_path):
    argv = ["a b", "'", '"', "$HOME", "`id`", "\n", "é"]
    code = "import sys; open('args', 'w').write(repr(sys.argv[1:]))"
    done_app = Application(["python3", "-c", code + "; sys.exit(3)", *argv],
                           requested_walltime="5min", outputs=["args"])
    sleeper = Application(["sleep", "300"], requested_walltime="5min")
    jobs = []
    try:
        for app in (done_app, sleeper):
            job = resource.submit_job(app, Job(app))
            job.state = State.SUBMITTED
            jobs.append(job)
        done, sleeping = jobs
        assert done.sandbox.startswith(f"{sshd.home}/.lrms/pbs-ssh-tests/jobs/")
        wait(resource, [done])
        assert (done.exitcode, done.termination_reason) == (3, TerminationReason.EXITED)
        out = io.BytesIO()
        resource.peek(done, "args", out)
        assert out.getvalue().decode() == repr(argv)
        assert resource.get_results(done, str(tmp_path)) == [str(tmp_path / "args")]

        wait(resource, [sleeping], until=(State.RUNNING, State.TERMINATED))
        status = resource.get_resource_status()
        assert status.user_run >= 1 and status.total_slots >= 1
        resource.cancel_job(sleeping)
        wait(resource, [sleeping])
        assert sleeping.termination_reason == TerminationReason.CANCELLED
        for job in jobs:
            resource.free(job)
    finally:
        for job in jobs:
            if job.state != State.TERMINATED:
                resource.cancel_job(job)


def test_find_jobs_over_ssh(resource, tmp_path):
    """A finished job whose native id was never recorded: the wrappers' qstat -f shows no
    Output_Path, so the id its script recorded in the sandbox (read remotely) finds it."""
    app = Application(["sh", "-c", "echo out > out.txt"], requested_walltime="5min",
                      outputs=["out.txt"])
    done = resource.submit_job(app, Job(app))
    done.state = State.SUBMITTED
    wait(resource, [done])
    fresh, never = Job(app, jobid=done.jobid), Job(app)
    assert resource.find_jobs([fresh, never]) == [True, False]
    assert (fresh.native_id, fresh.sandbox) == (done.native_id, done.sandbox)
    fresh.state = State.SUBMITTED
    wait(resource, [fresh])
    assert fresh.exitcode == 0
    assert resource.get_results(fresh, str(tmp_path)) == [str(tmp_path / "out.txt")]


def test_template_hold_release_and_dependency_over_ssh(resource):
    """As lrmstest: a held job with a GPU and a mail address, a second one waiting for it
    (-W depend=afterany); Slurm got both as asked, and qrls starts them in order."""
    held_app = Application(["sleep", "2"], requested_walltime="5min", requested_gpus=1,
                           email="lrmstest@localhost", email_events=["end"], hold=True)
    first = resource.submit_job(held_app, Job(held_app))
    after_app = Application(["true"], requested_walltime="5min",
                            after=[Dependency(first.jobid, "any", first.native_id)])
    second = resource.submit_job(after_app, Job(after_app))
    jobs = [first, second]
    try:
        for job in jobs:
            job.state = State.SUBMITTED
        shown = "".join(resource.transport.check(["scontrol", "show", "job", job.native_id]).text
                        for job in jobs)
        assert "Reason=JobHeldUser" in shown and "TresPerNode=gres:gpu:1" in shown
        assert "MailUser=lrmstest@localhost MailType=END" in shown
        assert f"Dependency=afterany:{first.native_id}" in shown
        resource.release_job(first)
        wait(resource, jobs)
        assert [job.exitcode for job in jobs] == [0, 0]
        times = dict(line.split("|", 1) for line in resource.transport.check(
            ["sacct", "-X", "-n", "-P", "-o", "JobID,Start,End", "-j",
             f"{first.native_id},{second.native_id}"]).text.splitlines())
        assert times[second.native_id].split("|")[0] >= times[first.native_id].split("|")[1]
    finally:
        for job in jobs:
            if job.state != State.TERMINATED:
                resource.cancel_job(job)


def test_array_over_ssh(resource, torque, sshd, ssh_auth):
    """An array of two subjobs through SSH as lrmstest (``qsub -t 0-1`` on the wrappers).
    The wrappers have no qmgr: without the max_array_size option, submit_jobs refuses the
    jobs (not a transient failure the engine would retry) before anything is sent."""
    apps = [Application(["sh", "-c", 'echo "$LRMS_TASK_INDEX $(id -un)"'],
                        requested_walltime="5min") for _ in range(2)]
    with pytest.raises(lrms.SubmissionRefused, match=r"qmgr .*set the max_array_size option"):
        resource.submit_jobs(apps, [Job(app) for app in apps])
    commands = {f"{name}_command": f"{torque}/{name}" for name in ("qsub", "qstat", "qdel")}
    res = lrms.LRMS("torque-ssh", ["x86_64"], 2, 1, "1GiB", "1h", ssh_auth, backend="pbs",
                    transport="ssh", frontend=sshd.host, port=sshd.port, flavour="torque",
                    max_array_size=500, tracejob_days=0, spool=resource.backend.spool,
                    **commands)
    try:
        jobs = res.submit_jobs(apps, [Job(app) for app in apps])
        array = jobs[0].backend_data["array"]
        assert [job.native_id for job in jobs] == [f"{array}[0]", f"{array}[1]"]
        assert all(job.sandbox.startswith(f"{sshd.home}/.lrms/pbs-ssh-tests/") for job in jobs)
        for job in jobs:
            job.state = State.SUBMITTED
        wait(res, jobs)
        for index, job in enumerate(jobs):
            out = io.BytesIO()
            res.peek(job, "stdout", out)
            assert out.getvalue() == f"{index} lrmstest\n".encode()
            assert (job.exitcode, job.termination_reason) == (0, TerminationReason.EXITED)
    finally:
        res.close()
