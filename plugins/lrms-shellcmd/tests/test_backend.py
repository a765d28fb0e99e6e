"""The shellcmd backend through the public LRMS API, against real local processes."""

from __future__ import annotations

import io
import json
import os
import signal
import subprocess
import sys
import textwrap
import time

import pytest

import lrms
from lrms import Application, Job, State, TerminationReason


def submit(res, app):
    job = res.submit_job(app, Job(app))
    job.state = State.SUBMITTED
    return job


def wait(res, job, timeout=20.0):
    deadline = time.monotonic() + timeout
    while res.update_job_state(job) != State.TERMINATED:
        assert time.monotonic() < deadline, f"{job} did not terminate in {timeout}s"
        time.sleep(0.05)
    return job


def test_success_records_outcome_and_usage(resource, tmp_path):
    data = tmp_path / "in.txt"
    data.write_text("hello input\n")
    app = Application(["sh", "-c", "cat in.txt; cat in.txt > copy.txt"], inputs=[str(data)],
                      outputs=["copy.txt"])
    job = wait(resource, submit(resource, app))
    assert (job.exitcode, job.signal, job.returncode) == (0, None, 0)
    assert job.termination_reason == TerminationReason.EXITED
    assert job.used_walltime is not None and job.used_walltime.seconds < 10
    assert job.used_cputime is not None
    assert job.max_used_memory is not None and job.max_used_memory.bytes > 0
    out = io.BytesIO()
    resource.peek(job, "stdout", out)
    assert out.getvalue() == b"hello input\n"
    assert [s for s, _ in job.history] == [State.NEW, State.SUBMITTED, State.TERMINATED] or (
        State.RUNNING in [s for s, _ in job.history])


def test_exit_code_three(resource):
    job = wait(resource, submit(resource, Application(["sh", "-c", "exit 3"])))
    assert (job.exitcode, job.signal, job.returncode) == (3, None, 3)
    assert job.termination_reason == TerminationReason.EXITED


def test_killed_by_signal(resource):
    job = wait(resource, submit(resource, Application(["sh", "-c", "kill -9 $$"])))
    assert (job.exitcode, job.signal, job.returncode) == (None, 9, 137)
    assert job.termination_reason == TerminationReason.SIGNALLED


def test_walltime_exceeded_is_killed_and_reported(resource):
    app = Application(["sleep", "60"], requested_walltime="1s")
    started = time.monotonic()
    job = wait(resource, submit(resource, app))
    assert time.monotonic() - started < 10
    assert job.termination_reason == TerminationReason.WALLTIME_EXCEEDED
    assert job.signal is not None


def test_cancel_running_job(resource):
    job = submit(resource, Application(["sh", "-c", "sleep 60 & sleep 60; wait"]))
    deadline = time.monotonic() + 10
    while resource.update_job_state(job) != State.RUNNING:
        assert time.monotonic() < deadline
        time.sleep(0.05)
    resource.cancel_job(job)
    assert job.state == State.TERMINATING
    wait(resource, job)
    assert job.termination_reason == TerminationReason.CANCELLED


def wait_running(res, job, timeout=10.0):
    deadline = time.monotonic() + timeout
    while res.update_job_state(job) != State.RUNNING:
        assert time.monotonic() < deadline, f"{job} did not start in {timeout}s"
        time.sleep(0.05)


def test_killed_supervisor_is_reported_lost_and_frees_its_cores(resource):
    job = submit(resource, Application(["sleep", "60"], requested_cores=2))
    wait_running(resource, job)
    assert resource.get_resource_status().free_slots == 0
    os.kill(int(job.native_id), signal.SIGKILL)  # the supervisor (kill -9, OOM killer, ...)
    wait(resource, job)
    assert job.termination_reason == TerminationReason.LOST
    assert (job.exitcode, job.signal, job.returncode) == (None, None, None)
    assert "died" in job.status_message and "outcome is unknown" in job.status_message
    assert resource.get_resource_status().free_slots == 2


def test_memory_over_the_request_is_memory_exceeded(resource):
    grab = "b = b'x' * (300 << 20)"
    job = wait(resource, submit(resource, Application([sys.executable, "-c", grab],
                                                      requested_memory="100MiB")), 30)
    assert job.termination_reason == TerminationReason.MEMORY_EXCEEDED
    assert job.signal == signal.SIGKILL and job.exitcode is None
    fits = wait(resource, submit(resource, Application([sys.executable, "-c", grab],
                                                       requested_memory="1GiB")), 30)
    assert (fits.termination_reason, fits.exitcode) == (TerminationReason.EXITED, 0)


def test_a_one_core_job_sees_one_cpu(resource):
    job = wait(resource, submit(resource, Application(["nproc"], requested_cores=1)))
    out = io.BytesIO()
    resource.peek(job, "stdout", out)
    assert out.getvalue() == b"1\n"


def test_running_state_and_second_process_sees_the_job(resource, tmp_path):
    job = submit(resource, Application(["sleep", "2"]))
    # Another Python process, with its own LRMS object, reads the same job.
    script = textwrap.dedent(f"""
        import json, sys, time, lrms
        res = lrms.LRMS("local", ["x86_64", "aarch64"], 2, 2, "1GiB", "1h",
                        backend="shellcmd", spool={str(tmp_path / "spool")!r})
        job = lrms.Job.from_json(sys.stdin.read())
        seen = [res.update_job_state(job).value]
        while job.state != lrms.State.TERMINATED:
            time.sleep(0.1)
            seen.append(res.update_job_state(job).value)
        print(json.dumps([seen[0], seen[-1], job.exitcode]))
    """)
    done = subprocess.run([sys.executable, "-c", script], input=job.to_json(), text=True,
                          capture_output=True, timeout=30, check=True)
    first, last, code = json.loads(done.stdout)
    assert first == "RUNNING" and last == "TERMINATED" and code == 0


def test_job_survives_submitting_process(tmp_path):
    spool = tmp_path / "spool"
    script = textwrap.dedent(f"""
        import lrms
        res = lrms.LRMS("local", ["x86_64", "aarch64"], 2, 2, "1GiB", "1h",
                        backend="shellcmd", spool={str(spool)!r})
        app = lrms.Application(["sh", "-c", "sleep 1; echo survived"])
        job = res.submit_job(app, lrms.Job(app))
        job.state = lrms.State.SUBMITTED
        print(job.to_json())
    """)
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          timeout=30, check=True)
    job = Job.from_json(done.stdout)
    res = lrms.LRMS("local", ["x86_64", "aarch64"], 2, 2, "1GiB", "1h", backend="shellcmd",
                    spool=str(spool))
    wait(res, job)
    out = io.BytesIO()
    res.peek(job, "stdout", out)
    assert out.getvalue() == b"survived\n" and job.exitcode == 0


def test_resource_full_refuses_and_status_counts(resource):
    status = resource.get_resource_status()
    assert (status.free_slots, status.total_slots, status.user_run) == (2, 2, 0)
    assert status.details["host_cpus"] == os.cpu_count()
    first = submit(resource, Application(["sleep", "30"], requested_cores=2))
    try:
        assert resource.get_resource_status().free_slots == 0
        app = Application(["true"])
        with pytest.raises(lrms.ResourceFull, match="full"):
            resource.submit_job(app, Job(app))
        assert resource.get_resource_status().user_run == 1
    finally:
        resource.cancel_job(first)
        wait(resource, first)
    assert resource.get_resource_status().free_slots == 2


def test_peek_offsets_and_sizes(resource, tmp_path):
    job = wait(resource, submit(resource, Application(["printf", "0123456789"])))
    for offset, size, expected in ((0, None, b"0123456789"), (-3, None, b"789"),
                                   (2, 3, b"234"), (-100, 2, b"01"), (20, None, b"")):
        out = io.BytesIO()
        assert resource.peek(job, "stdout", out, offset=offset, size=size) == len(expected)
        assert out.getvalue() == expected
    target = tmp_path / "peeked"
    target.write_bytes(b"old content that is longer")
    resource.peek(job, "stdout", str(target), offset=-4)
    assert target.read_bytes() == b"6789"
    with pytest.raises(FileNotFoundError):
        resource.peek(job, "no-such-file", io.BytesIO())
    with pytest.raises(ValueError, match="escapes"):
        resource.peek(job, "../x", io.BytesIO())


def test_get_results_overwrite_and_changed_only(resource, tmp_path):
    app = Application(["sh", "-c", "echo new > a.txt; mkdir -p d/e; echo new > d/e/b.txt"],
                      outputs=["a.txt", "d"])
    job = wait(resource, submit(resource, app))
    down = tmp_path / "down"
    down.mkdir()
    assert sorted(resource.get_results(job, down)) == sorted(
        [str(down / "a.txt"), str(down / "d" / "e" / "b.txt")])
    assert (down / "d" / "e" / "b.txt").read_text() == "new\n"

    def reset(content, mtime):
        for path in (down / "a.txt", down / "d" / "e" / "b.txt"):
            path.write_text(content)
            os.utime(path, (mtime, mtime))

    # overwrite=False: existing files (in subfolders too) are never touched.
    reset("mine\n", time.time())
    assert resource.get_results(job, down, overwrite=False) == []
    assert (down / "d" / "e" / "b.txt").read_text() == "mine\n"
    # overwrite=True, changed_only=True: same size and newer locally -> kept ...
    reset("old\n", time.time() + 100)
    assert resource.get_results(job, down, overwrite=True, changed_only=True) == []
    # ... older locally -> replaced.
    reset("old\n", time.time() - 1000)
    assert len(resource.get_results(job, down, overwrite=True, changed_only=True)) == 2
    assert (down / "a.txt").read_text() == "new\n"
    # overwrite=True, changed_only=False: always copied.
    reset("new\n", time.time() + 100)
    assert len(resource.get_results(job, down, overwrite=True, changed_only=False)) == 2
    # Missing files are always copied, even with overwrite=False.
    (down / "a.txt").unlink()
    assert resource.get_results(job, down, overwrite=False) == [str(down / "a.txt")]
    assert not [p for p in down.rglob("*") if "lrms-part" in p.name]
    with pytest.raises(lrms.LRMSError, match="does not exist"):
        resource.get_results(job, tmp_path / "nowhere")


def test_free_refuses_unfinished_then_deletes(resource):
    job = submit(resource, Application(["sleep", "30"]))
    with pytest.raises(lrms.InvalidJobState, match="TERMINATED"):
        resource.free(job)
    resource.cancel_job(job)
    wait(resource, job)
    assert os.path.isdir(job.sandbox)
    resource.free(job)
    assert not os.path.exists(job.sandbox)


def test_hostile_argv_arrives_byte_for_byte(resource, tmp_path):
    hostile = ["'quoted'", '"double"', "$(id)", "`id`", "; rm -rf ~", "a\nb", "*", "?[a]",
               "--flag", "-", "", "ünïcödé ✓", "back\\slash", "$HOME", "tab\there"]
    code = "import sys, json; json.dump(sys.argv[1:], open('argv.json', 'w'))"
    app = Application([sys.executable, "-c", code, *hostile], outputs=["argv.json"])
    job = wait(resource, submit(resource, app))
    assert job.exitcode == 0
    resource.get_results(job, tmp_path)
    assert json.loads((tmp_path / "argv.json").read_text()) == hostile


def test_sandbox_is_private(resource):
    job = wait(resource, submit(resource, Application(["true"])))
    assert os.stat(job.sandbox).st_mode & 0o777 == 0o700


def test_missing_program_is_reported(resource):
    job = wait(resource, submit(resource, Application(["/no/such/program"])))
    assert job.termination_reason == TerminationReason.SUBMISSION_FAILED
    assert job.exitcode == 127
    assert job.status_message


# -- recovering interrupted submissions (find_jobs) ------------------------------------------


def test_find_jobs_recovers_running_and_finished_jobs(resource, tmp_path):
    """Jobs whose native id was never recorded are found by their job id alone."""
    done = wait(resource, submit(resource, Application(["sh", "-c", "echo x > out.txt"],
                                                       outputs=["out.txt"])))
    running = submit(resource, Application(["sleep", "30"]))
    fresh = [Job(job.app, jobid=job.jobid) for job in (done, running)]
    never = Job(Application(["true"]))
    assert resource.find_jobs([*fresh, never]) == [True, True, False]
    for old, new in zip((done, running), fresh, strict=True):
        assert (new.native_id, new.sandbox, new.resource) == (old.native_id, old.sandbox,
                                                               "local")
        assert new.backend_data == old.backend_data
        assert new.state == State.NEW  # the caller moves it
    assert (never.native_id, never.sandbox, never.resource) == (None, None, None)
    recovered_done, recovered_running = fresh
    for job in fresh:
        job.state = State.SUBMITTED
    assert resource.update_job_state(recovered_done) == State.TERMINATED
    assert resource.update_job_state(recovered_running) in (State.SUBMITTED, State.RUNNING)
    assert recovered_done.exitcode == 0
    down = tmp_path / "down"
    down.mkdir()
    assert resource.get_results(recovered_done, down) == [str(down / "out.txt")]
    resource.cancel_job(recovered_running)
    wait(resource, recovered_running)
    assert recovered_running.termination_reason == TerminationReason.CANCELLED
    assert resource.update_job_state(running) == State.TERMINATED  # the same process


KILLED_SUBMITTER = textwrap.dedent("""
    import os, signal, sys, lrms
    from lrms_shellcmd import wrapper
    spool, jobid, when = sys.argv[1:]
    res = lrms.LRMS("local", ["x86_64", "aarch64"], 2, 2, "1GiB", "1h", backend="shellcmd",
                    spool=spool)
    launch = wrapper.launch

    def launch_and_die(spool, sandbox):  # kill -9 of the submitting process
        if when == "after":
            launch(spool, sandbox)
        os.kill(os.getpid(), signal.SIGKILL)

    wrapper.launch = launch_and_die
    app = lrms.Application(["sh", "-c", "echo $0 > out.txt", when], outputs=["out.txt"])
    res.submit_job(app, lrms.Job(app, jobid=jobid))
""")


@pytest.mark.parametrize("when", ["before", "after"])
def test_find_jobs_after_the_submitter_was_killed(resource, tmp_path, when):
    """A submitting process killed (SIGKILL) just before or just after starting the job."""
    app = Application(["sh", "-c", "echo $0 > out.txt", when], outputs=["out.txt"])
    job = Job(app)
    died = subprocess.run([sys.executable, "-c", KILLED_SUBMITTER, str(tmp_path / "spool"),
                           job.jobid, when], capture_output=True, timeout=30, check=False)
    assert died.returncode == -9, died.stderr
    sandbox = tmp_path / "spool" / "jobs" / job.jobid
    assert (sandbox / ".lrms" / "job.json").exists()
    found = resource.find_jobs([job])
    assert found == [when == "after"]
    assert sandbox.is_dir()  # a half-made sandbox is left for the next submission
    if when == "before":
        assert (job.native_id, job.sandbox) == (None, None)
        resource.submit_job(app, job)  # the caller submits it again, into the same sandbox
    assert job.native_id and job.native_id.isdigit() and job.sandbox == str(sandbox)
    job.state = State.SUBMITTED
    wait(resource, job)
    assert job.exitcode == 0
    resource.get_results(job, tmp_path)
    assert (tmp_path / "out.txt").read_text() == f"{when}\n"
    assert resource.get_resource_status().free_slots == 2  # no core left reserved
