"""What a shellcmd job sees: its environment, its working directory, a missing program."""

from __future__ import annotations

import json
import os
import time

import pytest

from lrms import Application, Job, State, TerminationReason

# LRMS_NO_AGENT is the test harness's own (conftest.py), inherited by every job.
ENV_DUMP = ("import json, os; json.dump({k: v for k, v in os.environ.items() "
            "if (k.startswith('LRMS_') and k != 'LRMS_NO_AGENT') or k == 'OMP_NUM_THREADS'}, "
            "open('env.json', 'w'))")


def run(res, app, timeout=20.0):
    job = res.submit_job(app, Job(app))
    job.state = State.SUBMITTED
    deadline = time.monotonic() + timeout
    while res.update_job_state(job) != State.TERMINATED:
        assert time.monotonic() < deadline, f"{job} did not terminate in {timeout}s"
        time.sleep(0.05)
    return job


def env_of(job) -> dict[str, str]:
    with open(os.path.join(job.sandbox, "env.json")) as f:
        return dict(json.load(f))


def test_job_sees_its_id_cores_gpus_sandbox_and_omp_threads(resource, monkeypatch):
    """(shellcmd has no GPUs to give: it refuses requested_gpus, so LRMS_GPUS is 0.)"""
    monkeypatch.setenv("OMP_NUM_THREADS", "64")  # the submitter's own is not the job's
    monkeypatch.setenv("LRMS_JOB_ID", "stale")
    job = run(resource, Application(["python3", "-c", ENV_DUMP], requested_cores=2))
    assert job.returncode == 0, job.status_message
    assert env_of(job) == {"LRMS_JOB_ID": job.jobid, "LRMS_CORES": "2", "LRMS_GPUS": "0",
                           "LRMS_SANDBOX": job.sandbox, "OMP_NUM_THREADS": "2"}


def test_the_application_sets_omp_threads(resource):
    app = Application(["python3", "-c", ENV_DUMP], environment={"OMP_NUM_THREADS": "7"})
    job = run(resource, app)
    assert env_of(job)["OMP_NUM_THREADS"] == "7"
    assert env_of(job)["LRMS_CORES"] == "1"


def test_a_launcher_starts_the_program(resource, tmp_path):
    """(mpiexec here is a stand-in script that prints how it was called.)"""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    launcher = bin_dir / "mpiexec"
    launcher.write_text('#!/bin/sh\necho "mpiexec $*"\n')
    launcher.chmod(0o755)
    path = f"{bin_dir}{os.pathsep}{os.environ['PATH']}"
    job = run(resource, Application(["hostname"], launcher="mpiexec",
                                    environment={"PATH": path}))
    with open(os.path.join(job.sandbox, "stdout")) as f:
        assert f.read() == "mpiexec -n 1 hostname\n"


def test_workdir_runs_the_program_there_and_keeps_the_streams_in_the_sandbox(
        resource, tmp_path):
    work = tmp_path / "project"
    work.mkdir()
    (work / "data.txt").write_text("shared data\n")
    app = Application(["sh", "-c", 'pwd; cat data.txt; echo made > made.txt; echo "$LRMS_SANDBOX"'],
                      workdir=str(work))
    job = run(resource, app)
    assert job.returncode == 0, job.status_message
    with open(os.path.join(job.sandbox, "stdout")) as f:
        assert f.read() == f"{work}\nshared data\n{job.sandbox}\n"
    assert (work / "made.txt").read_text() == "made\n"
    assert not os.path.exists(os.path.join(job.sandbox, "made.txt"))


def test_workdir_under_home_is_expanded_on_the_host(resource, tmp_path, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path))
    (tmp_path / "w").mkdir()
    job = run(resource, Application(["pwd"], workdir="~/w"))
    with open(os.path.join(job.sandbox, "stdout")) as f:
        assert f.read() == f"{tmp_path / 'w'}\n"


def test_a_missing_workdir_fails_the_job_with_one_clear_message(resource, tmp_path):
    job = run(resource, Application(["true"], workdir=str(tmp_path / "nowhere")))
    assert job.termination_reason == TerminationReason.SUBMISSION_FAILED
    assert job.status_message == (f"cannot run in workdir '{tmp_path / 'nowhere'}' on "
                                  "localhost: No such file or directory")


@pytest.mark.parametrize(("argv", "said"), [
    (["./run.sh"], "cannot execute './run.sh' on localhost: No such file or directory in the "
                   "job's sandbox; send it with the job (--input FILE on the command line, "
                   "Application inputs in Python)"),
    (["no-such-program-x"], "cannot execute 'no-such-program-x' on localhost: not found in the "
                            "job's PATH"),
    (["/no/such/program"], "cannot execute '/no/such/program' on localhost: No such file or "
                           "directory"),
])
def test_a_missing_program_is_named_with_what_to_do(resource, argv, said):
    job = run(resource, Application(argv))
    assert (job.termination_reason, job.exitcode) == (TerminationReason.SUBMISSION_FAILED, 127)
    assert job.status_message == said


def test_a_program_in_the_sandbox_named_without_dot_slash_is_pointed_at(resource, tmp_path):
    script = tmp_path / "tool.sh"
    script.write_text("#!/bin/sh\necho hi\n")
    script.chmod(0o755)
    job = run(resource, Application(["tool.sh"], inputs=[str(script)]))
    assert job.status_message == (
        f"cannot execute 'tool.sh' on localhost: not found in the job's PATH (there is a file "
        f"tool.sh in {job.sandbox}: run it as ./tool.sh)")


def test_a_missing_interpreter_is_not_called_a_missing_file(resource, tmp_path):
    script = tmp_path / "old.sh"
    script.write_text("#!/no/such/interpreter\n")
    script.chmod(0o755)
    job = run(resource, Application(["./old.sh"], inputs=[str(script)]))
    assert job.status_message == ("cannot execute './old.sh' on localhost: No such file or "
                                  "directory: the interpreter on its #! line is not there")


def test_a_staged_script_keeps_its_executable_bit(resource, tmp_path):
    script = tmp_path / "hello.sh"
    script.write_text("#!/bin/sh\necho hello from script\n")
    script.chmod(0o750)
    job = run(resource, Application(["./hello.sh"], inputs=[str(script)]))
    assert job.returncode == 0, job.status_message
    with open(os.path.join(job.sandbox, "stdout")) as f:
        assert f.read() == "hello from script\n"


def test_a_script_sent_without_its_executable_bit_is_said_so(resource, tmp_path):
    script = tmp_path / "plain.sh"
    script.write_text("echo hi\n")
    job = run(resource, Application(["./plain.sh"], inputs=[str(script)]))
    assert (job.exitcode, job.status_message) == (
        126, "cannot execute './plain.sh' on localhost: Permission denied: the file is not "
             "executable (chmod +x it, or run it with its interpreter)")
