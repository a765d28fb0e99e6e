"""The shellcmd backend on a remote host over SSH, against the project's real test sshd.

Every job here runs as the unprivileged ``lrmstest`` user on 127.0.0.1:2222,
through the same backend code as locally: only the transport differs.
"""

from __future__ import annotations

import io
import json
import os
import signal
import subprocess
import time
import uuid
from pathlib import Path

import pytest

import lrms
from lrms import Application, Job, State, TerminationReason

pytestmark = pytest.mark.ssh
SERVICES = Path(__file__).resolve().parent / "services"


@pytest.fixture
def remote(sshd, ssh_auth):
    spool = f"~/lrms-test/{uuid.uuid4().hex[:8]}"
    res = lrms.LRMS("remote", ["x86_64", "aarch64"], 4, 4, "1GiB", "1h", ssh_auth,
                    backend="shellcmd", transport="ssh", frontend=sshd.host, port=sshd.port,
                    spool=spool, grace=1)
    yield res
    try:
        res.transport.remove(res.backend.spool, recursive=True)
    finally:
        res.close()


def submit(res, app):
    job = res.submit_job(app, Job(app))
    job.state = State.SUBMITTED
    return job


def wait(res, jobs, timeout=30.0):
    deadline = time.monotonic() + timeout
    while any(s != State.TERMINATED for s in res.update_job_states(jobs)):
        assert time.monotonic() < deadline, f"jobs did not terminate in {timeout}s: {jobs}"
        time.sleep(0.1)


def test_end_to_end_over_ssh(remote, tmp_path):
    data = tmp_path / "in.txt"
    data.write_text("remote input\n")
    app = Application(["sh", "-c", "id -un; cat in.txt > out.txt; echo oops >&2; exit 3"],
                      inputs=[str(data)], outputs=["out.txt", "stdout"])
    job = submit(remote, app)
    wait(remote, [job])
    assert (job.exitcode, job.termination_reason) == (3, TerminationReason.EXITED)
    assert job.used_walltime is not None and job.max_used_memory is not None
    assert job.sandbox.startswith("/home/")
    out = io.BytesIO()
    remote.peek(job, "stdout", out)
    assert out.getvalue() == b"lrmstest\n"
    err = io.BytesIO()
    assert remote.peek(job, "stderr", err, offset=-3) == 3
    assert err.getvalue() == b"ps\n"
    down = tmp_path / "down"
    down.mkdir()
    assert sorted(remote.get_results(job, down)) == [str(down / "out.txt"), str(down / "stdout")]
    assert (down / "out.txt").read_text() == "remote input\n"
    (down / "out.txt").write_text("mine\n")
    assert remote.get_results(job, down, overwrite=False) == []
    assert (down / "out.txt").read_text() == "mine\n"
    remote.free(job)
    assert not remote.transport.exists(job.sandbox)


def test_private_modes_and_resource_status(remote):
    status = remote.get_resource_status()
    assert (status.free_slots, status.total_slots) == (4, 4)
    # The remote machine's own figures (it is this machine, seen as lrmstest).
    with open("/proc/meminfo") as meminfo:
        total = int(meminfo.readline().split()[1]) * 1024
    assert status.details == {"host_cpus": os.cpu_count(), "host_memory": total,
                              "enforced": {"memory": None, "cores": "CPU affinity"}}
    # lrmstest may write no cgroup: said once, for memory only.
    assert status.notes == (f"requested_memory is not enforced on {remote.transport.host}: no "
                            "cgroup with the memory controller is writable for this user there",)
    job = submit(remote, Application(["sleep", "30"], requested_cores=3))
    try:
        assert remote.get_resource_status().free_slots == 1
        assert remote.transport.stat(remote.backend.spool).mode & 0o777 == 0o700
        assert remote.transport.stat(job.sandbox).mode & 0o777 == 0o700
        app = Application(["true"], requested_cores=2)
        with pytest.raises(lrms.ResourceFull):
            remote.submit_job(app, Job(app))
    finally:
        remote.cancel_job(job)
    wait(remote, [job])
    assert job.termination_reason == TerminationReason.CANCELLED
    assert remote.get_resource_status().free_slots == 4


def test_walltime_and_hostile_argv_over_ssh(remote, tmp_path):
    hostile = ["'q'", '"d"', "$(id)", "`id`", "; rm -rf ~", "a\nb", "*", "--x", "", "ünï ✓",
               "$HOME", "back\\slash"]
    code = "import sys, json; json.dump(sys.argv[1:], open('argv.json', 'w'))"
    echo = submit(remote, Application(["python3", "-c", code, *hostile], outputs=["argv.json"]))
    slow = submit(remote, Application(["sleep", "60"], requested_walltime="1s"))
    wait(remote, [echo, slow])
    remote.get_results(echo, tmp_path)
    assert json.loads((tmp_path / "argv.json").read_text()) == hostile
    assert slow.termination_reason == TerminationReason.WALLTIME_EXCEEDED


def test_many_jobs_answered_by_one_remote_command(remote):
    apps = [Application(["true"]) for _ in range(4)]
    jobs = [submit(remote, app) for app in apps]
    wait(remote, jobs)
    # Count the commands the transport runs for one batched update.
    calls = []
    real_run = remote.transport.run

    def counting_run(argv, **kwargs):
        calls.append(argv)
        return real_run(argv, **kwargs)

    remote.transport.run = counting_run
    try:
        for job in jobs:
            job.state = State.RUNNING  # make the facade ask again
        assert remote.update_job_states(jobs) == [State.TERMINATED] * 4
    finally:
        del remote.transport.run
    assert len(calls) == 1


def test_unwritable_spool_is_a_clear_error(sshd, ssh_auth):
    res = lrms.LRMS("remote", ["x86_64", "aarch64"], 1, 1, "1GiB", "1h", ssh_auth,
                    backend="shellcmd", transport="ssh", frontend=sshd.host, port=sshd.port,
                    spool="/root/not-for-lrmstest/spool")
    try:
        app = Application(["true"])
        with pytest.raises(lrms.LRMSError, match="cannot create the spool directory"):
            res.submit_job(app, Job(app))
    finally:
        res.close()


def test_sshd_restart_loses_no_job(remote, sshd):
    job = submit(remote, Application(["sh", "-c", "sleep 4; echo done"]))
    assert remote.update_job_state(job) in (State.SUBMITTED, State.RUNNING)
    subprocess.run(["bash", str(SERVICES / "stop-sshd.sh")], check=True, capture_output=True)
    try:
        with pytest.raises(lrms.TransportError):
            remote.update_job_state(job)
        assert job.state == State.UNKNOWN
    finally:
        subprocess.run(["bash", str(SERVICES / "start-sshd.sh")], check=True,
                       capture_output=True)
    wait(remote, [job])
    assert job.exitcode == 0
    out = io.BytesIO()
    remote.peek(job, "stdout", out)
    assert out.getvalue() == b"done\n"


def test_find_jobs_over_ssh_in_one_remote_command(remote, tmp_path):
    """Interrupted submissions (no native id recorded) are found by job id, all at once."""
    done = submit(remote, Application(["sh", "-c", "echo found > out.txt"],
                                      outputs=["out.txt"]))
    wait(remote, [done])
    running = submit(remote, Application(["sleep", "30"]))
    jobs = [done, running]
    fresh = [Job(job.app, jobid=job.jobid) for job in jobs]
    never = Job(Application(["true"]))
    calls = []
    real_run = remote.transport.run

    def counting_run(argv, **kwargs):
        calls.append(argv)
        return real_run(argv, **kwargs)

    remote.transport.run = counting_run
    try:
        assert remote.find_jobs([*fresh, never]) == [True, True, False]
    finally:
        del remote.transport.run
    assert len(calls) == 1 and calls[0][4:5] == ["find"]  # python -I -S wrapper.py find ...
    for old, new in zip(jobs, fresh, strict=True):
        assert (new.native_id, new.sandbox, new.backend_data) == (
            old.native_id, old.sandbox, old.backend_data)
    assert never.native_id is None and never.sandbox is None
    recovered_done, recovered_running = fresh
    for job in fresh:
        job.state = State.SUBMITTED
    assert remote.update_job_state(recovered_done) == State.TERMINATED
    down = tmp_path / "down"
    down.mkdir()
    assert remote.get_results(recovered_done, down) == [str(down / "out.txt")]
    assert (down / "out.txt").read_text() == "found\n"
    remote.cancel_job(recovered_running)
    wait(remote, [recovered_running])
    assert recovered_running.termination_reason == TerminationReason.CANCELLED


# -- supervision over SSH: lost supervisors, process trees, ps title, cores ------------------


def remote_json(res, job, name):
    return json.loads(res.transport.read_bytes(f"{job.sandbox}/.lrms/{name}"))


def wait_running(res, job, timeout=15.0):
    deadline = time.monotonic() + timeout
    while res.update_job_state(job) != State.RUNNING:
        assert time.monotonic() < deadline, f"{job} did not start in {timeout}s"
        time.sleep(0.1)


def live_in_group(pgid):
    found = []
    for name in os.listdir("/proc"):
        try:
            with open(f"/proc/{name}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        if int(fields[2]) == pgid and fields[0] not in ("Z", "X"):
            found.append(int(name))
    return found


def test_killed_remote_supervisor_is_lost_and_cancel_ends_it(remote):
    """kill -9 of the supervisor lrmstest runs: the job ends LOST, its cores and
    processes are freed; a lost job's cancel ends it instead of hanging."""
    read = submit(remote, Application(["sh", "-c", "sleep 60 & sleep 60; wait"],
                                      requested_cores=3))
    cancelled = submit(remote, Application(["sleep", "60"]))
    for job in (read, cancelled):
        wait_running(remote, job)
    assert remote.get_resource_status().free_slots == 0
    pgid = remote_json(remote, read, "started")["pgid"]
    assert len(live_in_group(pgid)) == 3
    for job in (read, cancelled):
        os.kill(int(job.native_id), signal.SIGKILL)  # root here; the supervisor is lrmstest's
    remote.cancel_job(cancelled)
    assert cancelled.state == State.TERMINATING
    wait(remote, [read, cancelled])
    for job in (read, cancelled):
        assert job.termination_reason == TerminationReason.LOST
        assert (job.exitcode, job.signal) == (None, None)
        assert "outcome is unknown" in job.status_message
    assert live_in_group(pgid) == []
    assert remote.get_resource_status().free_slots == 4


def test_remote_job_title_cores_and_setsid_children(remote):
    """ps shows the remote supervisor as lrms-job <jobid>; a 1-core job sees one CPU;
    a setsid child of the job dies at its walltime."""
    script = "nproc > cpus; setsid sleep 1000 & echo $! > escaped.pid; sleep 1000"
    job = submit(remote, Application(["sh", "-c", script], requested_walltime="3s"))
    wait_running(remote, job)
    args = subprocess.run(["ps", "-o", "user=,args=", "-p", job.native_id], capture_output=True,
                          text=True, check=True).stdout.split()
    assert args == ["lrmstest", "lrms-job", job.jobid]
    wait(remote, [job])
    assert job.termination_reason == TerminationReason.WALLTIME_EXCEEDED
    assert remote.transport.read_bytes(f"{job.sandbox}/cpus") == b"1\n"
    escaped = int(remote.transport.read_bytes(f"{job.sandbox}/escaped.pid"))
    try:
        with open(f"/proc/{escaped}/stat") as f:
            state = f.read().rsplit(")", 1)[1].split()[0]
    except OSError:
        state = "gone"
    assert state in ("gone", "Z", "X")
