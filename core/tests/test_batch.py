"""The batch base: its job script (quoting that bash reads back exactly, one line per value,
the scheduler id recorded first) and its ``find_jobs`` template."""

from __future__ import annotations

import json
import socket
import subprocess
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from tinyq import AtOnce

import lrms
from lrms.batch import BatchBackend, Submission, bash_quote, render_script
from lrms.report import JobReport

TEXT = st.text(st.characters(blacklist_characters="\x00", blacklist_categories=("Cs",)))


@settings(max_examples=60, deadline=None)
@given(st.lists(TEXT, max_size=4))
def test_bash_quote_round_trips_on_one_line(values):
    words = " ".join(bash_quote(v) for v in values)
    assert "\n" not in words and "\r" not in words
    out = subprocess.run(["bash", "-c", f"printf '%s\\0' {words}"], capture_output=True,
                         check=True).stdout
    got = out.split(b"\0")[:-1] if values else []
    assert [g.decode() for g in got] == values


def test_script_runs_argv_exactly_and_records_exit(tmp_path):
    hostile = ["$(id)", "`id`", "a\n#SBATCH --x\n#$ -N y", "'", '"', "*", "--", "", "ü ✓", "\\"]
    app = lrms.Application(
        ["python3", "-c", "import sys, json; json.dump(sys.argv[1:], open('a.json', 'w'))",
         *hostile], environment={"X": "two\nlines"}, stdout="o u t")
    job = lrms.Job(app)
    (tmp_path / ".lrms").mkdir()
    script = render_script(app, job, str(tmp_path), epilogue=["true"])
    directive_lines = [line for line in script.splitlines() if line.startswith(("#SBATCH", "#$"))]
    assert directive_lines == []
    (tmp_path / "job.sh").write_text(script)
    subprocess.run(["bash", str(tmp_path / "job.sh")], check=True, timeout=30)
    assert json.loads((tmp_path / "a.json").read_text()) == hostile
    assert (tmp_path / ".lrms" / "exit").read_text() == "0\n"
    assert (tmp_path / "o u t").exists()


# -- the scheduler id record and the find_jobs template ---------------------------------


class Tiny(AtOnce):
    """Runs each job script at once; finds jobs by their recorded scheduler ids."""

    @lrms.hookimpl
    def find_jobs(self, jobs):
        return self.find_recorded(jobs)


class Broken(Tiny):
    """Its one search always fails."""

    def searches(self):
        return [self.tinyq]

    def tinyq(self, wanted):
        raise lrms.LRMSError(f"resource {self.resource.name}: tinyq failed: no server")


class Recordless(BatchBackend):
    """A batch backend written before API 1.1: the template alone offers no find_jobs."""

    submit_command, parse_job_id, query, cancel_command = (
        Tiny.submit_command, Tiny.parse_job_id, Tiny.query, Tiny.cancel_command)
    get_resource_status = Tiny.get_resource_status


@pytest.fixture
def make(tmp_path):
    """``make(backend_class, **options)``: a local resource whose spool is under tmp_path."""
    made = []

    def make(backend, **options):
        res = lrms.LRMS(backend.__name__, ["x86_64"], 1, 1, "1GiB", "1h", backend=backend,
                        spool=str(tmp_path / "spool"), **options)
        made.append(res)
        return res

    yield make
    for res in made:
        res.close()


def submitted(res):
    job = lrms.Job(lrms.Application(["true"]))
    res.submit_job(job.app, job)
    return job


def forget(job):
    """The job as a store has it when its submitter died before recording the native id."""
    return lrms.Job(job.app, jobid=job.jobid)


def test_script_records_the_scheduler_id_before_the_prologue(make):
    res = make(Tiny, prologue=["echo first"])
    app = lrms.Application(["true"])
    script, _ = res.backend.dry_run(app, lrms.Job(app))
    lines = script.splitlines()
    assert lines[2].startswith("cd ")
    assert lines[3:6] == ["date +%s > .lrms/started", 'echo "$TINY_JOB_ID" > .lrms/native_id',
                          "echo first"]
    job = submitted(res)
    assert job.native_id and job.native_id.isdigit()
    assert Path(job.sandbox, ".lrms", "native_id").read_text() == f"{job.native_id}\n"
    script, _ = make(Recordless).backend.dry_run(app, lrms.Job(app))
    assert "native_id" not in script


def test_find_jobs_from_the_records_alone(make):
    res = make(Tiny)
    job, never = submitted(res), lrms.Job(lrms.Application(["true"]))
    fresh = forget(job)
    assert res.find_jobs([fresh, never]) == [True, False]
    assert (fresh.native_id, fresh.sandbox) == (job.native_id, job.sandbox)
    assert (never.native_id, never.sandbox) == (None, None)


def test_each_search_gets_the_jobs_still_missing(make, tmp_path):
    asked = []

    class Listed(Tiny):
        def searches(self):
            return [lambda wanted: {first.jobid: "77"},
                    lambda wanted: asked.append(sorted(wanted)) or {}]

    res = make(Listed)
    first, recorded = submitted(res), submitted(res)
    never = lrms.Job(lrms.Application(["true"]))
    jobs = [forget(first), forget(recorded), never]
    assert res.find_jobs(jobs) == [True, True, False]
    assert [job.native_id for job in jobs] == ["77", recorded.native_id, None]
    jobs_dir = tmp_path / "spool" / "jobs"
    assert asked == [sorted([str(jobs_dir / recorded.jobid), str(jobs_dir / never.jobid)])]


def test_a_failed_search_makes_a_job_found_nowhere_an_error(make):
    job = submitted(make(Tiny))
    broken = make(Broken)
    fresh = forget(job)
    assert broken.find_jobs([fresh]) == [True]  # its record answers despite the search
    assert fresh.native_id == job.native_id
    again, never = forget(job), lrms.Job(lrms.Application(["true"]))
    with pytest.raises(lrms.LRMSError) as failed:
        broken.find_jobs([again, never])
    message = str(failed.value)
    assert f"cannot tell whether tinyq accepted job(s) {never.jobid} " in message
    assert "tinyq failed: no server" in message and job.jobid not in message
    assert (again.native_id, never.native_id) == (None, None)


def test_find_jobs_is_offered_only_by_a_backend_that_implements_it(make):
    res = make(Recordless)
    assert not res.can("find_jobs")  # never "not found" for jobs it cannot look up
    with pytest.raises(lrms.BackendError, match="does not implement find_jobs"):
        res.find_jobs([lrms.Job(lrms.Application(["true"]))])
    assert make(Tiny).can("find_jobs")


def test_a_backend_with_searches_offers_find_jobs_without_writing_the_hook(make):
    class Searching(Recordless):
        def searches(self):
            return [lambda wanted: {}]

    assert "find_jobs" not in Recordless.__dict__ and make(Searching).can("find_jobs")


# -- the template: required methods, submissions, cancel, after-cancel outcome ------------


def test_a_missing_required_method_is_refused_when_the_backend_loads(make):
    class Partial(BatchBackend):
        name = "partial"
        submit_command, parse_job_id = Tiny.submit_command, Tiny.parse_job_id
        get_resource_status = Tiny.get_resource_status

    with pytest.raises(lrms.BackendError) as refused:
        make(Partial)
    message = str(refused.value)
    assert "backend 'partial'" in message and "Partial) does not implement" in message
    assert "cancel_command, query" in message


class Piped(Tiny):
    """Submits like ``bsub < script``: the job script on standard input, plus a file."""

    def submit_command(self, app, job, sandbox, script):
        with open(script, "rb") as handle:
            text = handle.read()
        return Submission(
            ["/bin/sh", "-c", 'cd "$1" && TINY_JOB_ID=$$ bash -s > /dev/null 2>&1; echo "$$"',
             "sh", sandbox], stdin=text, files={"submit.desc": b"executable = job.sh\n"})


def test_a_submission_gives_the_command_its_stdin_and_extra_files(make):
    res = make(Piped)
    job = lrms.Job(lrms.Application(["sh", "-c", "echo ran from stdin"]))
    res.submit_job(job.app, job)
    control = Path(job.sandbox, ".lrms")
    assert (control / "submit.desc").read_text() == "executable = job.sh\n"
    assert (control / "exit").read_text() == "0\n"
    assert (control / "native_id").read_text() == f"{job.native_id}\n"
    assert Path(job.sandbox, "stdout").read_text() == "ran from stdin\n"


class Cancelling(Tiny):
    """A job that never ends: the scheduler "forgets" it; cancel says what is set."""

    said = ("", 0)

    def submit_command(self, app, job, sandbox, script):
        return Submission(["echo", "4242"])

    def query(self, jobs):
        return {job.native_id: JobReport(job.native_id, lrms.State.RUNNING)
                for job in jobs if job.state != lrms.State.TERMINATING}

    def cancel_command(self, job):
        text, code = self.said
        return ["/bin/sh", "-c", f'echo "{text}" >&2; exit {code}']

    def cancel_gone(self, result):
        return "already gone" in result.error_text


def test_cancel_runs_the_cancel_command_and_reads_already_gone(make):
    res = make(Cancelling)
    job = submitted(res)
    job.state = lrms.State.SUBMITTED
    assert res.update_job_states([job]) == [lrms.State.RUNNING]
    res.backend.said = ("no such server", 3)
    with pytest.raises(lrms.CommandFailed, match=r"resource Cancelling: .* \(exit 3\): no such"):
        res.cancel_job(job)
    assert job.state == lrms.State.RUNNING
    res.backend.said = ("already gone", 1)
    res.cancel_job(job)
    assert job.state == lrms.State.TERMINATING
    # Forgotten by the scheduler, no exit file: the cancellation ended it.
    assert res.update_job_states([job]) == [lrms.State.TERMINATED]
    assert job.termination_reason == lrms.TerminationReason.CANCELLED
    assert (job.exitcode, job.signal) == (None, None)


@pytest.mark.parametrize(("code", "exitcode", "signal"), [
    (0, 0, None), (255, 255, None), (137, None, 9), (129, None, 1), (192, None, 64),
    (193, 193, None), (128, 128, None)])
def test_the_exit_file_follows_the_one_exit_status_rule(make, code, exitcode, signal):
    res = make(Tiny)
    job = lrms.Job(lrms.Application(["sh", "-c", f"exit {code}"]))
    if 128 < code <= 192:  # a real signal, sent by the job to itself
        job = lrms.Job(lrms.Application(["sh", "-c", f"kill -{code - 128} $$"]))
    res.submit_job(job.app, job)
    job.state = lrms.State.SUBMITTED
    assert res.update_job_states([job]) == [lrms.State.TERMINATED]
    assert (job.exitcode, job.signal) == (exitcode, signal)


@pytest.mark.parametrize(("argv", "code", "why"), [
    (["./nope.sh"], 127, "no such file in {sandbox}; send it with the job (--input FILE"),
    (["nosuchprog-lrms", "x"], 127, "not found in the job's PATH"),
    (["here.sh"], 127, "not found in the job's PATH (there is a file here.sh in {sandbox}: "
     "run it as ./here.sh)"),
    (["./here.sh"], 126, "not executable"),
])
def test_a_program_that_cannot_start_is_named_with_the_host_and_the_fix(make, tmp_path, argv,
                                                                        code, why):
    script = tmp_path / "here.sh"
    script.write_text("echo hi\n")
    res = make(Tiny)
    job = lrms.Job(lrms.Application(argv, inputs={str(script): "here.sh"}))
    res.submit_job(job.app, job)
    job.state = lrms.State.SUBMITTED
    assert res.update_job_states([job]) == [lrms.State.TERMINATED]
    assert job.exitcode == code
    assert job.termination_reason == lrms.TerminationReason.SUBMISSION_FAILED
    expected = f"cannot execute {argv[0]} on {socket.gethostname()}: " + why.format(
        sandbox=job.sandbox)
    assert job.status_message.startswith(expected), job.status_message
    assert Path(job.sandbox, "stderr").read_text().startswith(f"lrms: {expected}")


def test_a_program_that_exits_127_by_itself_keeps_its_exit(make):
    res = make(Tiny)
    job = lrms.Job(lrms.Application(["sh", "-c", "exit 127"]))
    res.submit_job(job.app, job)
    job.state = lrms.State.SUBMITTED
    res.update_job_states([job])
    assert (job.exitcode, job.termination_reason) == (127, lrms.TerminationReason.EXITED)


def test_a_backend_with_array_command_but_not_the_rest_is_refused_when_it_loads(make):
    class HalfArrays(Tiny):
        def array_command(self, app, array_dir, script, first, last, throttle):
            return Submission(["true"])

    with pytest.raises(lrms.BackendError, match=(
            r"does not implement the required method\(s\) max_array_size, task_id, "
            r"task_id_variable, task_index_variable")):
        make(HalfArrays)


def test_a_backend_with_release_command_offers_release_job(make, tmp_path):
    released = tmp_path / "released"

    class Releasing(Tiny):
        def release_command(self, job):
            return ["touch", str(released)]

    assert not make(Tiny).can("release_job")
    res = make(Releasing)
    assert res.can("release_job")
    job = submitted(res)
    job.state = lrms.State.SUBMITTED
    res.release_job(job)
    assert released.exists() and job.backend_data["released"] is True
