"""The sge backend over SSH: the project's Grid Engine cell driven from its test sshd.

Commands run on 127.0.0.1:2222 as the unprivileged ``lrmstest`` user, so jobs
run as ``lrmstest`` through the same backend code as locally: only the
transport differs.  Waits are generous (other sessions share the cell's 2
slots) and every test cancels what it submitted.
"""

from __future__ import annotations

import contextlib
import datetime
import io
import json
import time
import uuid

import pytest

import lrms
from lrms import Application, Dependency, Job, State, TerminationReason

pytestmark = [pytest.mark.ssh, pytest.mark.sge]
WAIT = 90.0
HOSTILE = ["'q'", '"d"', "$(id)", "`id`", "; rm -rf ~", "a\nb", "\n#$ -N evil\n", "*",
           "--x", "-N", "", "ünï ✓", "$HOME", "back\\slash"]


@pytest.fixture
def remote(sge, sshd, ssh_auth):
    res = lrms.LRMS("sge-remote", ["x86_64", "aarch64"], 2, 2, "1GiB", "1h", ssh_auth,
                    backend="sge", transport="ssh", frontend=sshd.host, port=sshd.port,
                    max_gpus_per_job=1,
                    spool=f"~/lrms-test/{uuid.uuid4().hex[:8]}")
    submitted: list[Job] = []
    res.submitted = submitted
    yield res
    try:
        for job in submitted:
            if job.state != State.TERMINATED:
                with contextlib.suppress(lrms.LRMSError):
                    res.cancel_job(job)
        res.transport.remove(res.backend.spool, recursive=True)
    finally:
        res.close()


def submit(res, app):
    job = res.submit_job(app, Job(app))
    job.state = State.SUBMITTED
    res.submitted.append(job)
    return job


def wait(res, jobs, until=(State.TERMINATED,), timeout=WAIT):
    deadline = time.monotonic() + timeout
    while any(s not in until for s in res.update_job_states(jobs)):
        assert time.monotonic() < deadline, f"not {until} after {timeout}s: {jobs}"
        time.sleep(0.5)


def read(res, job, name):
    out = io.BytesIO()
    res.peek(job, name, out)
    return out.getvalue()


def test_end_to_end_over_ssh(remote, tmp_path):
    data = tmp_path / "in.txt"
    data.write_text("remote input\n")
    app = Application(["sh", "-c", "id -un; cat in.txt > out.txt; echo oops >&2; exit 3"],
                      inputs=[str(data)], outputs=["out.txt", "stdout"])
    job = submit(remote, app)
    wait(remote, [job])
    assert (job.exitcode, job.termination_reason) == (3, TerminationReason.EXITED)
    assert job.used_walltime is not None and job.used_cputime is not None
    assert job.sandbox.startswith("/home/lrmstest/")
    assert read(remote, job, "stdout") == b"lrmstest\n"
    assert read(remote, job, "stderr") == b"oops\n"
    owner = remote.transport.check(["qacct", "-j", job.native_id]).text
    assert any(line.split()[:2] == ["owner", "lrmstest"] for line in owner.splitlines())
    down = tmp_path / "down"
    down.mkdir()
    assert sorted(remote.get_results(job, down)) == [str(down / "out.txt"), str(down / "stdout")]
    assert (down / "out.txt").read_text() == "remote input\n"
    remote.free(job)
    assert not remote.transport.exists(job.sandbox)


def test_hostile_argv_and_error_state_over_ssh(remote, tmp_path):
    code = "import sys, json; json.dump(sys.argv[1:], open('argv.json', 'w'))"
    echo = submit(remote, Application(["python3", "-c", code, *HOSTILE], outputs=["argv.json"],
                                      jobname="ünï $(id)"))
    # /root is not lrmstest's to enter: the job cannot start and waits in Eqw.
    stuck = submit(remote, Application(["true"], extra={"sge": {"extra_args": ["-wd", "/root"]}}))
    wait(remote, [stuck], until=(State.STOPPED,))
    assert "can't chdir to /root: Permission denied" in stuck.status_message
    remote.cancel_job(stuck)
    wait(remote, [echo, stuck])
    assert echo.exitcode == 0, read(remote, echo, "stderr")
    remote.get_results(echo, tmp_path)
    assert json.loads((tmp_path / "argv.json").read_text()) == HOSTILE
    assert stuck.termination_reason == TerminationReason.SUBMISSION_FAILED


def test_batched_states_status_and_cancel_over_ssh(remote):
    hold = {"sge": {"extra_args": ["-h"]}}
    held = [submit(remote, Application(["true"], extra=hold)) for _ in range(5)]
    running = submit(remote, Application(["sleep", "60"]))
    wait(remote, [running], until=(State.RUNNING,))
    calls = []
    real_run = remote.transport.run

    def counting_run(argv, **kwargs):
        calls.append(argv)
        return real_run(argv, **kwargs)

    remote.transport.run = counting_run
    try:
        assert remote.update_job_states([*held, running]) == [State.STOPPED] * 5 + [
            State.RUNNING]
    finally:
        del remote.transport.run
    assert [argv[:4] for argv in calls] == [["qstat", "-xml", "-u", "lrmstest"]]
    status = remote.get_resource_status()
    assert status.total_slots == 2 and status.user_run == 1
    assert status.running >= 1 and status.free_slots <= 1
    for job in [*held, running]:
        remote.cancel_job(job)
    wait(remote, [*held, running])
    assert {job.termination_reason for job in [*held, running]} == {TerminationReason.CANCELLED}
    assert running.signal == 9


def test_find_jobs_over_ssh(remote, tmp_path):
    """Jobs whose native id was never recorded, found by job id through the remote shell:
    a held one by qstat -j, a finished one by qacct (its account string)."""
    held = submit(remote, Application(["true"], extra={"sge": {"extra_args": ["-h"]}}))
    done = submit(remote, Application(["sh", "-c", "echo out > out.txt"], outputs=["out.txt"]))
    wait(remote, [done])
    fresh = [Job(job.app, jobid=job.jobid) for job in (held, done)]
    never = Job(Application(["true"]))
    assert remote.find_jobs([*fresh, never]) == [True, True, False]
    assert [(job.native_id, job.sandbox) for job in fresh] == [
        (job.native_id, job.sandbox) for job in (held, done)]
    for job in fresh:
        job.state = State.SUBMITTED
    assert remote.update_job_states(fresh) == [State.STOPPED, State.TERMINATED]
    remote.get_results(fresh[1], tmp_path)
    assert (tmp_path / "out.txt").read_text() == "out\n"


def qacct_times(res, job):
    text = res.transport.check(["qacct", "-j", job.native_id]).text
    fields = {line.split(None, 1)[0]: line.split(None, 1)[1].strip()
              for line in text.splitlines() if len(line.split(None, 1)) == 2}
    return [datetime.datetime.strptime(fields[key], "%a %b %d %H:%M:%S %Y")
            for key in ("start_time", "end_time")]


def test_template_hold_release_and_dependency_over_ssh(remote):
    """As lrmstest: a held job with a GPU and a start time (qsub -a under TZ=UTC0 through
    the remote shell), a second one waiting for it with -hold_jid; qrls starts both."""
    first = submit(remote, Application(["sleep", "2"], hold=True, requested_gpus=1,
                                       earliest_start=time.time() - 60))
    second = submit(remote, Application(
        ["true"], after=[Dependency(first.jobid, "any", first.native_id)]))
    shown = remote.transport.check(["qstat", "-j", first.native_id]).text
    assert "hard resource_list:         gpu=1" in shown and "execution_time:" in shown
    wait(remote, [first, second], until=(State.STOPPED, State.SUBMITTED))
    remote.release_job(first)
    wait(remote, [first, second])
    assert first.exitcode == 0 and second.exitcode == 0
    assert qacct_times(remote, second)[0] >= qacct_times(remote, first)[1]


def test_array_over_ssh(remote, sge):
    """An array of two tasks through SSH as lrmstest: one ``qsub -t 1-2``, each task its
    own id, stdout, exit code and qacct record."""
    apps = [Application(["sh", "-c", f'echo "$LRMS_TASK_INDEX $(id -un)"; exit {n}'])
            for n in range(2)]
    jobs = remote.submit_jobs(apps, [Job(app) for app in apps])
    for job in jobs:
        job.state = State.SUBMITTED
    remote.submitted.extend(jobs)
    array = jobs[0].backend_data["array"]
    assert [job.native_id for job in jobs] == [f"{array}.1", f"{array}.2"]
    assert remote.backend.max_array_size() == int(sge["LRMS_SGE_MAX_ARRAY_SIZE"])
    wait(remote, jobs)
    for index, job in enumerate(jobs):
        assert read(remote, job, "stdout") == f"{index + 1} lrmstest\n".encode()
        assert (job.exitcode, job.termination_reason) == (index, TerminationReason.EXITED)
        assert job.used_walltime is not None
    owners = remote.transport.check(["qacct", "-j", array]).text
    assert owners.count("owner        lrmstest") == 2
